package chartgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// File is one manifest file of the repository: its objects as YAML nodes (comments kept).
type File struct {
	// Path is relative to the repository root, with slashes.
	Path string
	// Namespace is the kustomization's namespace for the file's namespaced objects, if any.
	Namespace string
	Docs      []*yaml.Node
}

// kustomization is the subset of kustomize this project uses; any other field is refused so
// that the chart never silently differs from `kubectl kustomize`.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
}

// ReadKustomization returns the files dir's kustomization.yaml lists, in its order.
func ReadKustomization(root, dir string) ([]File, error) {
	path := filepath.Join(root, dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chartgen: %w", err)
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("chartgen: %s: only apiVersion, kind, namespace and resources are supported: %w", path, err)
	}
	files := make([]File, 0, len(k.Resources))
	for _, r := range k.Resources {
		f, err := ReadFile(root, filepath.ToSlash(filepath.Join(dir, r)))
		if err != nil {
			return nil, err
		}
		f.Namespace = k.Namespace
		files = append(files, f)
	}
	return files, nil
}

// ReadFile reads the manifest at rel (relative to root), one node per YAML document.
func ReadFile(root, rel string) (File, error) {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return File{}, fmt.Errorf("chartgen: %w", err)
	}
	f := File{Path: rel}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return File{}, fmt.Errorf("chartgen: %s: %w", rel, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return File{}, fmt.Errorf("chartgen: %s: document %d is not an object", rel, len(f.Docs))
		}
		f.Docs = append(f.Docs, &doc)
	}
	if len(f.Docs) == 0 {
		return File{}, fmt.Errorf("chartgen: %s: no objects", rel)
	}
	return f, nil
}

// object is the mapping node at the top of a document.
func object(doc *yaml.Node) *yaml.Node { return doc.Content[0] }

// lookup returns the node at path under n (mapping keys; an integer-like segment of a
// sequence is not supported: rules address lists by walking them), or nil.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// str is the scalar value at path, or "".
func str(n *yaml.Node, path ...string) string {
	if v := lookup(n, path...); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}
