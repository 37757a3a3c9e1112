package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// maxManifestBytes bounds what -f reads: a job manifest is a few KiB, and stdin may be anything.
const maxManifestBytes = 8 << 20

// readJobs reads every job of the manifests named by paths ("-" is stdin), each file possibly
// holding several YAML documents ("---") or one JSON object. Decoding is strict, as kubectl
// apply's server-side field validation is: an unknown or duplicated field, a value of the
// wrong type, or a document that is not a NotebookValidationJob is an error naming the file,
// the document and the field path (spec.notebook.gitt). Nothing is returned unless every
// document is a job, so a bad file creates nothing.
//
// The jobs are returned as the documents wrote them (the typed decode only checks them): a
// round trip through the Go types would add the zero value of every field without omitempty,
// which the CRD's schema may refuse (git.ref: "").
func readJobs(paths []string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	var jobs []*unstructured.Unstructured
	var errs []error
	for _, path := range paths {
		raw, name, err := readManifest(path, stdin)
		if err != nil {
			return nil, err
		}
		found, ferrs := decodeJobs(raw, name)
		jobs = append(jobs, found...)
		errs = append(errs, ferrs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%s: no NotebookValidationJob in it", strings.Join(paths, ", "))
	}
	return jobs, nil
}

func readManifest(path string, stdin io.Reader) ([]byte, string, error) {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = stdin, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(raw) > maxManifestBytes {
		return nil, "", fmt.Errorf("%s is larger than %d bytes: not a job manifest", name, maxManifestBytes)
	}
	return raw, name, nil
}

// decodeJobs decodes each document of one file; empty documents (only comments) are skipped.
func decodeJobs(raw []byte, name string) ([]*unstructured.Unstructured, []error) {
	var jobs []*unstructured.Unstructured
	var errs []error
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for index := 1; ; index++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("%s, document %d", name, index)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			break
		}
		job, err := decodeJob(doc)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		case job != nil:
			jobs = append(jobs, job)
		}
	}
	return jobs, errs
}

// decodeJob checks one document strictly and returns it; an empty one is (nil, nil).
func decodeJob(doc []byte) (*unstructured.Unstructured, error) {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	if s := string(bytes.TrimSpace(data)); s == "null" || s == "" {
		return nil, nil
	}
	var typeMeta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &typeMeta); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	if typeMeta.APIVersion != v1alpha1.SchemeGroupVersion.String() || typeMeta.Kind != v1alpha1.Kind {
		return nil, fmt.Errorf("is a %s %q, want apiVersion %s kind %s", orNone(typeMeta.APIVersion), typeMeta.Kind,
			v1alpha1.SchemeGroupVersion, v1alpha1.Kind)
	}
	job := &v1alpha1.NotebookValidationJob{}
	strict, err := kjson.UnmarshalStrict(data, job)
	if err != nil {
		return nil, errors.Join(append([]error{err}, strict...)...)
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	obj := map[string]any{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &obj); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	// Status is the functions' to write; a manifest's would be dropped by the API server anyway.
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

func orNone(s string) string {
	if s == "" {
		return "(no apiVersion)"
	}
	return s
}
