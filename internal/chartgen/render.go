package chartgen

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sources are the kustomizations the chart installs, and the per-namespace files.
var (
	Kustomizations = []string{"config", "eventsources"}
	PerNamespace   = []string{"config/rbac/opt-in/rolebindings.yaml", "config/rbac/gitops/wave.yaml", "config/rbac/gitops/triggers.yaml"}
)

// Chart is the generated part of charts/nbv: file paths relative to the chart's directory.
type Chart struct {
	Files map[string][]byte
}

var marker = regexp.MustCompile(`__chartgen_(\d+)__`)

// Generate reads the sources under root and returns the chart's generated files: values.yaml,
// crds/ and templates/<source path>.
func Generate(root string) (*Chart, error) {
	var files []File
	for _, dir := range Kustomizations {
		fs, err := ReadKustomization(root, dir)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	for _, rel := range PerNamespace {
		f, err := ReadFile(root, rel)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	chart := &Chart{Files: map[string][]byte{}}
	var functions []Function
	var images []string
	for _, f := range files {
		if isCRDFile(f) {
			data, err := encodeDocs(f.Docs)
			if err != nil {
				return nil, fmt.Errorf("chartgen: %s: %w", f.Path, err)
			}
			chart.Files["crds/"+path.Base(f.Path)] = data
			continue
		}
		t := &templater{}
		text, err := t.file(f)
		if err != nil {
			return nil, err
		}
		chart.Files["templates/"+f.Path] = text
		functions = append(functions, t.functions...)
		images = append(images, t.images...)
	}
	slices.Sort(images)
	chart.Files["values.yaml"] = valuesYAML(functions, slices.Compact(images))
	return chart, nil
}

func isCRDFile(f File) bool {
	for _, d := range f.Docs {
		if str(object(d), "kind") != "CustomResourceDefinition" {
			return false
		}
	}
	return true
}

// file is the template of one source file.
func (t *templater) file(f File) ([]byte, error) {
	list, ranged := perNamespace[f.Path]
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Generated from %s by `go run ./hack/chartgen`; edit the source, not this file.\n", f.Path)
	gate := ""
	for prefix, value := range gates {
		if strings.HasPrefix(f.Path, prefix) {
			gate = value
		}
	}
	if gate != "" {
		fmt.Fprintf(&out, "{{- if .Values.%s }}\n", gate)
	}
	for _, doc := range f.Docs {
		obj := object(doc)
		kind := str(obj, "kind")
		namespaced := !clusterScoped[kind]
		switch {
		case ranged && namespaced:
			t.inline(setNamespace(obj), "$ns")
		case namespaced && f.Namespace != "":
			setNamespace(obj).Value = f.Namespace
		}
		switch {
		case kind == "Service" && strings.HasPrefix(str(obj, "apiVersion"), "serving.knative.dev/"):
			if err := t.knativeService(obj); err != nil {
				return nil, err
			}
		case kind == "ConfigMap" && str(obj, "metadata", "name") == "nbv-build-images":
			t.buildImages(obj)
		case kind == "ConfigMap" && str(obj, "metadata", "name") == "nbv-artifacts":
			t.artifacts(obj)
		}
		t.imageRefs(obj)
		text, err := encodeDocs([]*yaml.Node{doc})
		if err != nil {
			return nil, fmt.Errorf("chartgen: %s: %w", f.Path, err)
		}
		if bytes.Contains(text, []byte("{{")) {
			return nil, fmt.Errorf("chartgen: %s: %q would be read as a template action", f.Path, "{{")
		}
		body, err := t.substitute(text)
		if err != nil {
			return nil, fmt.Errorf("chartgen: %s: %w", f.Path, err)
		}
		switch {
		case ranged && namespaced:
			fmt.Fprintf(&out, "{{- range $ns := .Values.%s }}\n---\n%s{{- end }}\n", list, body)
		case ranged:
			fmt.Fprintf(&out, "{{- if .Values.%s }}\n---\n%s{{- end }}\n", list, body)
		default:
			fmt.Fprintf(&out, "---\n%s", body)
		}
	}
	if gate != "" {
		out.WriteString("{{- end }}\n")
	}
	return out.Bytes(), nil
}

// setNamespace returns metadata.namespace, adding it after metadata.name when missing.
func setNamespace(obj *yaml.Node) *yaml.Node {
	meta := lookup(obj, "metadata")
	if n := lookup(meta, "namespace"); n != nil {
		return n
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "namespace"}
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}
	at := 0
	for i := 0; i+1 < len(meta.Content); i += 2 {
		if meta.Content[i].Value == "name" {
			at = i + 2
		}
	}
	meta.Content = slices.Insert(meta.Content, at, key, value)
	return value
}

// substitute swaps each marker line of text for its template text.
func (t *templater) substitute(text []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(text), "\n")
	var out strings.Builder
	for _, line := range lines {
		m := marker.FindStringSubmatchIndex(line)
		if m == nil {
			out.WriteString(line)
			continue
		}
		var i int
		fmt.Sscan(line[m[2]:m[3]], &i)
		if rest := strings.TrimSpace(line[m[1]:]); rest != "" {
			return nil, fmt.Errorf("marker %d is followed by %q on its line", i, rest)
		}
		out.WriteString(t.subs[i](line[:m[0]]) + "\n")
	}
	return []byte(out.String()), nil
}

func encodeDocs(docs []*yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GeneratedDirs are the chart's directories that Write owns entirely (it removes what is no
// longer generated); values.yaml is its one generated file outside them.
var GeneratedDirs = []string{"crds", "templates/config", "templates/eventsources"}

// Write replaces the generated files under dir with c's.
func (c *Chart) Write(dir string) error {
	for _, d := range GeneratedDirs {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("chartgen: %w", err)
		}
	}
	for rel, data := range c.Files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("chartgen: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("chartgen: %w", err)
		}
	}
	return nil
}
