package chartgen

import (
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// koPrefix marks an image ko builds; the chart takes it from .Values.images instead.
const koPrefix = "ko://"

// perNamespace names the files whose namespaced objects are applied once per namespace the
// installer lists (cluster-scoped ones once, when the list is not empty), and that list.
var perNamespace = map[string]string{
	"config/rbac/opt-in/rolebindings.yaml": "optIn.namespaces",
	"config/rbac/gitops/wave.yaml":         "gitops.waveNamespaces",
	"config/rbac/gitops/triggers.yaml":     "gitops.triggerNamespaces",
}

// gates names the files rendered only when a value is true.
var gates = map[string]string{
	"eventsources/": "eventSources.enabled",
}

// clusterScoped are the kinds of this project's manifests that have no namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
}

// Function is what values.yaml says of one Knative Service of config/functions/ by default.
type Function struct {
	Name, Key            string // Service name; its key under .Values.functions
	MinScale, MaxScale   string
	ContainerConcurrency string
	Resources            *yaml.Node
}

// templater turns one file's nodes into template text, recording what it replaced.
type templater struct {
	subs      []func(prefix string) string
	functions []Function
	images    []string
}

// placeholder replaces n's value with a marker that render swaps for sub's text.
func (t *templater) placeholder(n *yaml.Node, sub func(prefix string) string) {
	marker := fmt.Sprintf("__chartgen_%d__", len(t.subs))
	t.subs = append(t.subs, sub)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: marker}
}

// inline makes n the value of the template expression expr.
func (t *templater) inline(n *yaml.Node, expr string) {
	t.placeholder(n, func(prefix string) string { return prefix + "{{ " + expr + " }}" })
}

// block makes n (a mapping's value) the YAML of expr, indented under its key.
func (t *templater) block(n *yaml.Node, expr string) {
	t.placeholder(n, func(prefix string) string {
		indent := len(prefix) - len(strings.TrimLeft(prefix, " "))
		return strings.TrimRight(prefix, " ") + "\n{{- toYaml " + expr + " | nindent " + fmt.Sprint(indent+2) + " }}"
	})
}

// images replaces every ko:// reference below n with the chart's image of that name.
func (t *templater) imageRefs(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, koPrefix) {
		name := path.Base(n.Value)
		t.images = append(t.images, name)
		t.inline(n, fmt.Sprintf(`include "nbv.image" (list $ %q)`, name))
		return
	}
	for _, c := range n.Content {
		t.imageRefs(c)
	}
}

// knativeService turns a function's settings into values (and records their defaults).
func (t *templater) knativeService(obj *yaml.Node) error {
	name := str(obj, "metadata", "name")
	fn := Function{Name: name, Key: valueKey(name)}
	values := "$.Values.functions." + fn.Key
	annotations := lookup(obj, "spec", "template", "metadata", "annotations")
	for _, a := range []struct {
		key  string
		into *string
		expr string
	}{
		{"autoscaling.knative.dev/min-scale", &fn.MinScale, values + ".minScale | quote"},
		{"autoscaling.knative.dev/max-scale", &fn.MaxScale, values + ".maxScale | quote"},
	} {
		n := lookup(annotations, a.key)
		if n == nil {
			return fmt.Errorf("chartgen: Service %s: no %s annotation", name, a.key)
		}
		*a.into = n.Value
		t.inline(n, a.expr)
	}
	concurrency := lookup(obj, "spec", "template", "spec", "containerConcurrency")
	if concurrency == nil {
		return fmt.Errorf("chartgen: Service %s: no containerConcurrency", name)
	}
	fn.ContainerConcurrency = concurrency.Value
	t.inline(concurrency, values+".containerConcurrency")
	containers := lookup(obj, "spec", "template", "spec", "containers")
	if containers == nil || len(containers.Content) != 1 {
		return fmt.Errorf("chartgen: Service %s: want exactly one container", name)
	}
	c := containers.Content[0]
	resources := lookup(c, "resources")
	if resources == nil {
		return fmt.Errorf("chartgen: Service %s: container has no resources", name)
	}
	copied := *resources
	fn.Resources = &copied
	t.block(resources, values+".resources")
	env := lookup(c, "env")
	if env == nil || env.Kind != yaml.SequenceNode {
		return fmt.Errorf("chartgen: Service %s: container has no env list", name)
	}
	extra := &yaml.Node{}
	env.Content = append(env.Content, extra)
	t.placeholder(extra, func(prefix string) string {
		indent := strings.Repeat(" ", len(prefix)-len(strings.TrimLeft(prefix, " ")))
		return "{{- with $.Values.otlp.endpoint }}\n" +
			indent + "- name: OTEL_EXPORTER_OTLP_ENDPOINT\n" +
			indent + "  value: {{ . | quote }}\n" +
			"{{- end }}\n" +
			"{{- with $.Values.otlp.podEndpoint }}\n" +
			indent + "- name: NBV_POD_OTLP_ENDPOINT\n" +
			indent + "  value: {{ . | quote }}\n" +
			"{{- end }}\n" +
			"{{- with " + values + ".env }}\n" +
			"{{ toYaml . | indent " + fmt.Sprint(len(indent)) + " }}\n" +
			"{{- end }}"
	})
	t.functions = append(t.functions, fn)
	return nil
}

// buildImages makes the allowlists of config/admission/build-images.yaml values (lists).
func (t *templater) buildImages(obj *yaml.Node) {
	for _, key := range []string{"builderImages", "gitImages"} {
		if n := lookup(obj, "data", key); n != nil {
			t.inline(n, fmt.Sprintf(`join "\n" $.Values.buildImages.%s | quote`, key))
		}
	}
}

// artifacts makes the run-record registry of config/artifacts/registry.yaml values.
func (t *templater) artifacts(obj *yaml.Node) {
	for _, key := range []string{"repository", "pushSecret", "insecure"} {
		if n := lookup(obj, "data", key); n != nil {
			t.inline(n, fmt.Sprintf(`printf "%%v" $.Values.artifacts.%s | quote`, key))
		}
	}
}

// valueKey is a Service name as a values key: job-created -> jobCreated.
func valueKey(name string) string {
	parts := strings.Split(name, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
