{{/*
nbv.image: the reference of the image named by the second argument: .Values.images.<name>
when set (a release writes them by digest), else <imageRegistry>/<name>:<appVersion>.
Called as (include "nbv.image" (list $ "job-created")).
*/}}
{{- define "nbv.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- with index $root.Values.images $name -}}
{{ . }}
{{- else -}}
{{ required (printf "set imageRegistry (or images.%s): where the nbv images are; make release writes _output/helm-values.yaml naming each by digest" $name) $root.Values.imageRegistry }}/{{ $name }}:{{ $root.Chart.AppVersion }}
{{- end -}}
{{- end -}}
