package events

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// TestDecodeAgreesWithTheUnstructuredConverter: decoding the event's JSON gives the typed
// object runtime.DefaultUnstructuredConverter gave from the event's Object (which Decode used
// before, at several times the cold cost).
func TestDecodeAgreesWithTheUnstructuredConverter(t *testing.T) {
	cases := []struct {
		typ       string
		ext       map[string]string
		new       func() any
		populated func(any) bool
	}{
		{TypeResourceUpdate, podExt(), func() any { return &corev1.Pod{} },
			func(o any) bool { p := o.(*corev1.Pod); return len(p.Spec.Containers) > 0 && p.Status.Phase != "" }},
		{TypeResourceAdd, map[string]string{ExtKind: v1alpha1.Kind, ExtAPIVersion: v1alpha1.SchemeGroupVersion.String(), ExtName: "basic", ExtNamespace: "team-a"},
			func() any { return &v1alpha1.NotebookValidationJob{} },
			func(o any) bool { j := o.(*v1alpha1.NotebookValidationJob); return j.Spec.Notebook.Path != "" }},
	}
	for _, c := range cases {
		t.Run(c.ext[ExtKind], func(t *testing.T) {
			re, err := DecodeResourceEvent(resourceEvent(t, c.typ, readExample(t, c.typ), c.ext))
			if err != nil {
				t.Fatal(err)
			}
			got, want := c.new(), c.new()
			if err := re.Decode(got); err != nil {
				t.Fatal(err)
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(re.Object.Object, want); err != nil {
				t.Fatal(err)
			}
			if !c.populated(got) {
				t.Fatalf("decoded %+v: the example's fields are missing", got)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("Decode gave\n%+v\nthe unstructured converter\n%+v", got, want)
			}
		})
	}
}

// TestDecodeRefuses: an object that does not fit the type, or that gives a key twice (Object
// keeps the last value while a typed decode merges both), wraps ErrMalformed and says why.
func TestDecodeRefuses(t *testing.T) {
	good := string(readExample(t, TypeResourceUpdate))
	cases := []struct{ name, data, want string }{
		{"spec of the wrong type", strings.Replace(good, `"spec": {`, `"spec": 5, "x": {`, 1), "cannot unmarshal number"},
		{"spec twice", strings.Replace(good, `"spec": {`, `"spec": {"nodeName": "forged"}, "spec": {`, 1), `duplicate field "spec"`},
		{"a label twice", strings.Replace(good, `"labels": {`, `"labels": {"app": "a", "app": "b", `, 1), `duplicate field "metadata.labels.app"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.data == good {
				t.Fatal("the example did not change: the case tests nothing")
			}
			re, err := DecodeResourceEvent(resourceEvent(t, TypeResourceUpdate, []byte(c.data), podExt()))
			if err != nil {
				t.Fatal(err)
			}
			err = re.Decode(&corev1.Pod{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Decode: %v, want ErrMalformed saying %q", err, c.want)
			}
		})
	}
}
