package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzDecodeResourceEvent feeds the ApiServerSource decoder what an attacker controls: the
// type, the four extensions and the data. It checks that every refusal is ErrMalformed (a 400,
// never a panic or a retry), that whatever is accepted names an object the API server could
// hold and agrees with its extensions, that the schema never accepts what the decoder's name
// rules refuse, and that decoding is deterministic.
func FuzzDecodeResourceEvent(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "..", "schemas", "examples", TypeResourceUpdate+".json"))
	if err != nil {
		f.Fatal(err)
	}
	obj := func(name, ns, job string) []byte {
		md := map[string]any{"name": name, "namespace": ns}
		if job != "" {
			md["labels"] = map[string]any{"mlops.mlops.dev/notebookvalidationjob": job}
		}
		b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": md})
		return b
	}
	f.Add(TypeResourceUpdate, "Pod", "v1", "basic-validation-1", "team-a", example)
	for _, c := range []struct{ name, ns, job string }{
		{"a/b", "team-a", "basic"},
		{"../../api/v1/namespaces/x/secrets", "team-a", "basic"},
		{"%2e%2e", "team-a", "basic"},
		{"..", "team-a", "basic"},
		{"basic-validation-1", "../kube-system", "basic"},
		{"basic-validation-1", "team-a", "x/y"},
		{"basic-validation-1", "team-a", strings.Repeat("j", 64)},
		{"basic-validation-1", "team-a", ""},
		{"Basic", "team-a", "basic"},
		{"basic\n", "team-a", "basic"},
	} {
		f.Add(TypeResourceUpdate, "Pod", "v1", c.name, c.ns, obj(c.name, c.ns, c.job))
	}
	f.Add(TypeResourceAdd, "NotebookValidationJob", "mlops.mlops.dev/v1alpha1", "basic", "team-a", []byte(`{"apiVersion":"mlops.mlops.dev/v1alpha1","kind":"NotebookValidationJob","metadata":{"name":"basic","namespace":"team-a"}}`))
	f.Add(TypeResourceDelete, "Pod", "v1", "p", "team-a", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team-a","name":"a/b"}}`))
	f.Add(TypeResourceUpdate, "Pod", "v1", "p", "team-a", []byte("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"team-a\",\"labels\":{\"a\":\"\xff\"}}}"))
	f.Add(TypePing, "Pod", "v1", "p", "team-a", []byte(`[]`))

	f.Fuzz(func(t *testing.T, typ, kind, apiVersion, name, namespace string, data []byte) {
		ce := cloudevents.NewEvent()
		ce.SetID("fuzz")
		ce.SetType(typ)
		ce.SetSource("https://apiserver.test")
		for k, v := range map[string]string{ExtKind: kind, ExtAPIVersion: apiVersion, ExtName: name, ExtNamespace: namespace} {
			ce.SetExtension(k, v)
		}
		ce.DataEncoded = data

		schemaErr := ValidateData(typ, data)
		if schemaErr != nil && !errors.Is(schemaErr, ErrMalformed) {
			t.Fatalf("schema refusal is not ErrMalformed (would not be a 400): %v", schemaErr)
		}
		re, err := DecodeResourceEvent(ce)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoder refusal is not ErrMalformed (would not be a 400): %v", err)
			}
			if _, again := DecodeResourceEvent(ce); again == nil || again.Error() != err.Error() {
				t.Fatalf("decoding is not deterministic: %v, then %v", err, again)
			}
			return
		}
		if !IsResourceType(re.Type) || re.Name != name || re.Namespace != namespace || re.Kind != kind || re.APIVersion != apiVersion {
			t.Fatalf("accepted event decoded as %+v, extensions %s %s %s/%s", re, kind, apiVersion, namespace, name)
		}
		if re.Object.GetName() != name || re.Object.GetNamespace() != namespace {
			t.Fatalf("accepted event whose object %s/%s is not the one its extensions name %s/%s", re.Object.GetNamespace(), re.Object.GetName(), namespace, name)
		}
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			t.Fatalf("accepted namespace %q: %v", namespace, errs)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Fatalf("accepted name %q: %v", name, errs)
		}
		job, jobErr := re.JobLabel()
		switch {
		case jobErr != nil && !errors.Is(jobErr, ErrMalformed):
			t.Fatalf("job label refusal is not ErrMalformed: %v", jobErr)
		case jobErr == nil:
			if errs := append(validation.IsDNS1123Subdomain(job), validation.IsValidLabelValue(job)...); len(errs) > 0 {
				t.Fatalf("accepted job label %q: %v", job, errs)
			}
		case schemaErr == nil && job == "" && re.Object.GetLabels()["mlops.mlops.dev/notebookvalidationjob"] != "":
			// The schema accepted a job label that the decoder refuses: the two rules disagree.
			t.Fatalf("schema accepts job label %q, decoder refuses it: %v", re.Object.GetLabels()["mlops.mlops.dev/notebookvalidationjob"], jobErr)
		}
	})
}

// FuzzNameRules checks that the schema's patterns and the decoder's rules (the API server's
// own validation functions) agree on every name, namespace and job label: neither may accept
// what the other refuses.
func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"basic", "a/b", "../../api/v1/namespaces/x/secrets", "%2e%2e", "../kube-system", "x/y",
		"a.b", "a..b", "-a", "a-", "A", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", "", "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			field string
			goErr error
			data  map[string]any
		}{
			{"/metadata/name", CheckObjectName("name", s), map[string]any{"name": s, "namespace": "team-a"}},
			{"/metadata/namespace", CheckNamespace("namespace", s), map[string]any{"name": "p", "namespace": s}},
			{"/metadata/labels", CheckJobLabel("label", s), map[string]any{"name": "p", "namespace": "team-a", "labels": map[string]any{"mlops.mlops.dev/notebookvalidationjob": s}}},
		} {
			b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": c.data})
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := ValidateData(TypeResourceUpdate, b)
			if (schemaErr == nil) != (c.goErr == nil) {
				t.Fatalf("%s %q: schema says %v, decoder rule says %v", c.field, s, schemaErr, c.goErr)
			}
			if schemaErr != nil && !strings.Contains(schemaErr.Error(), c.field) {
				t.Fatalf("%s %q: schema error does not name the field: %v", c.field, s, schemaErr)
			}
		}
	})
}
