// Package yamldocs reads multi-document YAML manifests (CRDs, event sources, Triggers): one
// decoded object per non-empty document, with its raw bytes for strict typed decoding.
package yamldocs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Doc is one document of a manifest.
type Doc struct {
	// Index counts every document of the file from 0, empty ones included, for messages.
	Index  int
	Raw    []byte
	Object *unstructured.Unstructured
}

// ReadFile returns the non-empty documents of the YAML file at path. A document that is
// not a YAML mapping is an error naming the file and the document.
func ReadFile(path string) ([]Doc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Parse(path, data)
}

// Parse returns the non-empty documents of data, a YAML stream; name (a path, or the command
// that printed data) identifies it in errors.
func Parse(name string, data []byte) ([]Doc, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []Doc
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s document %d: %w", name, i, err)
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("parsing %s document %d: %w", name, i, err)
		}
		if len(obj) == 0 {
			continue // comment-only or empty document
		}
		docs = append(docs, Doc{Index: i, Raw: raw, Object: &unstructured.Unstructured{Object: obj}})
	}
}
