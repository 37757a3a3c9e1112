package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleTypes lists every type we accept or emit; each must have a schema and an example.
var exampleTypes = []string{
	TypeResourceAdd, TypeResourceUpdate, TypeResourceDelete, TypePing, TypeTransitioned, TypeBuildReport,
}

func readExample(t *testing.T, eventType string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "examples", eventType+".json"))
	if err != nil {
		t.Fatalf("example of %s: %v", eventType, err)
	}
	return b
}

func TestEveryExampleValidates(t *testing.T) {
	for _, typ := range exampleTypes {
		if !HasSchema(typ) {
			t.Errorf("%s has no schema", typ)
			continue
		}
		if err := ValidateData(typ, readExample(t, typ)); err != nil {
			t.Errorf("example of %s: %v", typ, err)
		}
	}
	// Every example file must belong to a type with a schema, so no example silently goes untested.
	files, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "examples", "*.json"))
	for _, f := range files {
		typ := strings.TrimSuffix(filepath.Base(f), ".json")
		b, _ := os.ReadFile(f)
		if err := ValidateData(typ, b); err != nil {
			t.Errorf("example %s: %v", f, err)
		}
	}
}

// mutate decodes an example, applies fn and re-encodes it.
func mutate(t *testing.T, eventType string, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readExample(t, eventType), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMutatedExamplesFailNamingTheField(t *testing.T) {
	cases := []struct {
		name, typ string
		fn        func(m map[string]any)
		want      []string
	}{
		{"transition missing uid", TypeTransitioned, func(m map[string]any) { delete(m, "uid") }, []string{"uid"}},
		{"transition generation is a string", TypeTransitioned, func(m map[string]any) { m["observedGeneration"] = "1" }, []string{"/observedGeneration", "string"}},
		{"transition to a legacy phase", TypeTransitioned, func(m map[string]any) { m["phase"] = "Running" }, []string{"/phase"}},
		{"transition bad time", TypeTransitioned, func(m map[string]any) { m["time"] = "yesterday" }, []string{"/time", "date-time"}},
		{"transition unknown field", TypeTransitioned, func(m map[string]any) { m["extra"] = 1 }, []string{"extra"}},
		{"build missing buildId", TypeBuildReport, func(m map[string]any) { delete(m, "buildId") }, []string{"buildId"}},
		{"build status unknown", TypeBuildReport, func(m map[string]any) { m["status"] = "ok" }, []string{"/status"}},
		{"build succeeded without image", TypeBuildReport, func(m map[string]any) { m["image"] = "" }, []string{"/image"}},
		{"build namespace not a DNS label", TypeBuildReport, func(m map[string]any) { m["namespace"] = "Team_A" }, []string{"/namespace"}},
		{"build digest wrong type", TypeBuildReport, func(m map[string]any) { m["digest"] = 42 }, []string{"/digest", "number"}},
		{"resource missing kind", TypeResourceUpdate, func(m map[string]any) { delete(m, "kind") }, []string{"kind"}},
		{"resource name wrong type", TypeResourceAdd, func(m map[string]any) { m["metadata"].(map[string]any)["name"] = 7 }, []string{"/metadata/name"}},
		{"ping data an array", TypePing, nil, []string{"array"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var data []byte
			if c.fn != nil {
				data = mutate(t, c.typ, c.fn)
			} else {
				data = []byte(`[1]`)
			}
			err := ValidateData(c.typ, data)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFailedBuildMayHaveEmptyImage(t *testing.T) {
	data := mutate(t, TypeBuildReport, func(m map[string]any) {
		m["status"] = "failed"
		m["image"] = ""
		delete(m, "digest")
	})
	if err := ValidateData(TypeBuildReport, data); err != nil {
		t.Fatal(err)
	}
}

func TestValidateDataEdgeCases(t *testing.T) {
	if err := ValidateData("dev.example.unknown", []byte(`{}`)); !errors.Is(err, ErrUnknownType) || !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown type: got %v", err)
	}
	if err := ValidateData("../embed", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("path-like type: got %v", err)
	}
	if err := ValidateData(TypePing, nil); err != nil {
		t.Errorf("ping without data must be accepted: %v", err)
	}
	if err := ValidateData(TypeTransitioned, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("transition without data: got %v", err)
	}
	err := ValidateData(TypeTransitioned, []byte(`{"namespace":`))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("truncated JSON: got %v", err)
	}
}

func TestSchemaRefusesInvalidNamesNamingTheField(t *testing.T) {
	job := "mlops.mlops.dev/notebookvalidationjob"
	cases := []struct {
		name, typ string
		fn        func(m map[string]any)
		want      string
	}{
		{"job label with a slash", TypeResourceUpdate, func(m map[string]any) {
			m["metadata"].(map[string]any)["labels"] = map[string]any{job: "x/y"}
		}, "/metadata/labels/" + job},
		{"job label too long for a label", TypeResourceUpdate, func(m map[string]any) {
			m["metadata"].(map[string]any)["labels"] = map[string]any{job: strings.Repeat("a", 64)}
		}, "/metadata/labels/" + job},
		{"other label value invalid", TypeResourceUpdate, func(m map[string]any) {
			m["metadata"].(map[string]any)["labels"] = map[string]any{"app": "-x"}
		}, "/metadata/labels/app"},
		{"namespace missing", TypeResourceDelete, func(m map[string]any) { delete(m["metadata"].(map[string]any), "namespace") }, "namespace"},
		{"name %2e%2e", TypeResourceAdd, func(m map[string]any) { m["metadata"].(map[string]any)["name"] = "%2e%2e" }, "/metadata/name"},
		{"build report namespace ../kube-system", TypeBuildReport, func(m map[string]any) { m["namespace"] = "../kube-system" }, "/namespace"},
		{"build report job a/b", TypeBuildReport, func(m map[string]any) { m["job"] = "a/b" }, "/job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateData(c.typ, mutate(t, c.typ, c.fn))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrMalformed naming %s", err, c.want)
			}
		})
	}
	// Label values other than the job's may use what the API server allows in a value.
	data := mutate(t, TypeResourceUpdate, func(m map[string]any) {
		m["metadata"].(map[string]any)["labels"] = map[string]any{job: "basic", "app.kubernetes.io/version": "V1_2.3", "empty": ""}
	})
	if err := ValidateData(TypeResourceUpdate, data); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
}

func TestValidateDataRefusesInvalidUTF8(t *testing.T) {
	good := readExample(t, TypeBuildReport)
	i := bytes.Index(good, []byte("built in"))
	if i < 0 {
		i = bytes.IndexByte(good, '"') + 1
	}
	bad := append(append(append([]byte{}, good[:i]...), 0xff, 0xfe), good[i:]...)
	err := ValidateData(TypeBuildReport, bad)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("not valid UTF-8 (invalid byte at offset %d)", i)) {
		t.Errorf("got %v", err)
	}
	if InvalidUTF8([]byte("héllo")) != -1 || InvalidUTF8([]byte("h\xc3")) != 1 {
		t.Error("InvalidUTF8 offsets")
	}
}

func TestViolationsInAStableOrder(t *testing.T) {
	data := mutate(t, TypeBuildReport, func(m map[string]any) {
		m["job"], m["namespace"], m["timestamp"], m["status"] = "a/b", "../kube-system", "yesterday", "ok"
	})
	first := ValidateData(TypeBuildReport, data)
	for range 50 {
		if again := ValidateData(TypeBuildReport, data); again.Error() != first.Error() {
			t.Fatalf("same data, different answers:\n%v\n%v", first, again)
		}
	}
	msg := first.Error()
	if i, j := strings.Index(msg, "at '/job'"), strings.Index(msg, "at '/timestamp'"); i < 0 || j < i {
		t.Errorf("violations not in location order: %v", msg)
	}
}
