package events

import (
	"errors"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func resourceEvent(t *testing.T, typ string, data []byte, ext map[string]string) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID("ev-1")
	e.SetType(typ)
	e.SetSource("https://10.96.0.1:443")
	for k, v := range ext {
		e.SetExtension(k, v)
	}
	if data != nil {
		if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func podExt() map[string]string {
	return map[string]string{ExtKind: "Pod", ExtAPIVersion: "v1", ExtName: "basic-validation-1", ExtNamespace: "team-a"}
}

func TestDecodeResourceEvent(t *testing.T) {
	e := resourceEvent(t, TypeResourceUpdate, readExample(t, TypeResourceUpdate), podExt())
	re, err := DecodeResourceEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if re.Type != TypeResourceUpdate || re.Kind != "Pod" || re.APIVersion != "v1" || re.Namespace != "team-a" || re.Name != "basic-validation-1" {
		t.Errorf("decoded %+v", re)
	}
	if got := re.Object.GetLabels()["mlops.mlops.dev/notebookvalidationjob"]; got != "basic" {
		t.Errorf("object label = %q", got)
	}
}

func TestDecodeResourceEventRejects(t *testing.T) {
	good := readExample(t, TypeResourceUpdate)
	without := func(k string) map[string]string { m := podExt(); delete(m, k); return m }
	with := func(k, v string) map[string]string { m := podExt(); m[k] = v; return m }
	cases := []struct {
		name string
		typ  string
		data []byte
		ext  map[string]string
		want string
	}{
		{"wrong type", TypePing, good, podExt(), "not an ApiServerSource"},
		{"missing kind", TypeResourceUpdate, good, without(ExtKind), `missing required extension attribute "kind"`},
		{"missing name", TypeResourceUpdate, good, without(ExtName), `"name"`},
		{"missing namespace", TypeResourceUpdate, good, without(ExtNamespace), `"namespace"`},
		{"missing apiversion", TypeResourceUpdate, good, without(ExtAPIVersion), `"apiversion"`},
		{"no data (Reference mode)", TypeResourceUpdate, nil, podExt(), "mode Resource"},
		{"data not JSON", TypeResourceUpdate, []byte(`{"kind":`), podExt(), `data starts "{\"kind\":"`},
		{"data an array", TypeResourceUpdate, []byte(`[]`), podExt(), "not a JSON object"},
		{"name disagrees", TypeResourceUpdate, good, with(ExtName, "other"), `extension name="other" but the data object says "basic-validation-1"`},
		{"kind disagrees", TypeResourceUpdate, good, with(ExtKind, "Build"), "extension kind"},
		{"namespace disagrees", TypeResourceUpdate, good, with(ExtNamespace, "team-b"), "extension namespace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeResourceEvent(resourceEvent(t, c.typ, c.data, c.ext))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestDecodeResourceEventNonStringExtension(t *testing.T) {
	e := resourceEvent(t, TypeResourceUpdate, readExample(t, TypeResourceUpdate), podExt())
	e.SetExtension(ExtName, 5)
	if _, err := DecodeResourceEvent(e); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "want a string") {
		t.Errorf("got %v", err)
	}
}

func TestNewTransitionEvent(t *testing.T) {
	at := time.Date(2026, 3, 1, 11, 2, 31, 500_000_000, time.FixedZone("CET", 3600))
	tr := Transition{Namespace: "team-a", Name: "basic", UID: "u-1", PreviousPhase: "ValidationRunning", Phase: "Succeeded",
		Reason: "NotebookPassed", Message: "ok", ObservedGeneration: 3, Time: at}
	e := NewTransitionEvent("/nbv/pod-completed", tr)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := ValidateData(e.Type(), e.Data()); err != nil {
		t.Fatalf("reply does not match its own schema: %v", err)
	}
	if e.ID() != "u-1.3.ValidationRunning.Succeeded" {
		t.Errorf("id = %q", e.ID())
	}
	if e.Subject() != "/apis/mlops.mlops.dev/v1alpha1/namespaces/team-a/notebookvalidationjobs/basic" {
		t.Errorf("subject = %q", e.Subject())
	}
	for k, want := range map[string]string{ExtJobNamespace: "team-a", ExtJobName: "basic", ExtPhase: "Succeeded", ExtPreviousPhase: "ValidationRunning"} {
		if got := e.Extensions()[k]; got != want {
			t.Errorf("extension %s = %v, want %s", k, got, want)
		}
	}
	back, err := DecodeTransition(e)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(at) || back.Time.Location() != time.UTC {
		t.Errorf("time round trip: %v", back.Time)
	}
	back.Time = tr.Time
	if back != tr {
		t.Errorf("round trip: %+v != %+v", back, tr)
	}

	first := NewTransitionEvent("/nbv/job-created", Transition{Namespace: "team-a", Name: "basic", UID: "u-1", Phase: "Initializing", Reason: "Accepted"})
	if _, ok := first.Extensions()[ExtPreviousPhase]; ok {
		t.Error("a new job's transition must not carry an empty nvjpreviousphase")
	}
	if first.Time().IsZero() || first.ID() != "u-1.0.None.Initializing" {
		t.Errorf("first transition: time %v id %q", first.Time(), first.ID())
	}
	if err := ValidateData(first.Type(), first.Data()); err != nil {
		t.Errorf("first transition: %v", err)
	}

	// Two infrastructure retries are the same phases and generation: the written
	// resourceVersion tells them apart.
	retry := Transition{Namespace: "team-a", Name: "basic", UID: "u-1", PreviousPhase: "ValidationRunning", Phase: "ValidationRunning", Reason: "ValidationRetried", ObservedGeneration: 1}
	retry.ResourceVersion = "41"
	one := NewTransitionEvent("/nbv/pod-completed", retry)
	retry.ResourceVersion = "57"
	two := NewTransitionEvent("/nbv/pod-completed", retry)
	if one.ID() == two.ID() || one.ID() != "u-1.41" {
		t.Errorf("retry ids %q and %q: want distinct ids naming the write", one.ID(), two.ID())
	}
	if err := ValidateData(two.Type(), two.Data()); err != nil {
		t.Errorf("transition with resourceVersion: %v", err)
	}
}

func TestDecodeBuildReport(t *testing.T) {
	e := cloudevents.NewEvent()
	e.SetID("b-1")
	e.SetType(TypeBuildReport)
	e.SetSource("https://ci.example.com")
	if err := e.SetData(cloudevents.ApplicationJSON, readExample(t, TypeBuildReport)); err != nil {
		t.Fatal(err)
	}
	r, err := DecodeBuildReport(e)
	if err != nil {
		t.Fatal(err)
	}
	if r.Job != "external-build" || r.Status != BuildSucceeded || r.Timestamp.IsZero() ||
		r.ImageReference() != "quay.io/example/notebook-env:4f2a9c1@sha256:3b1f0e6a8d2c4b7e9f1a0c3d5e7b9a1c2d4f6e8a0b1c3d5e7f9a2b4c6d8e0f1a" {
		t.Errorf("decoded %+v (%s)", r, r.ImageReference())
	}
	if err := e.SetData(cloudevents.ApplicationJSON, mutate(t, TypeBuildReport, func(m map[string]any) { delete(m, "job") })); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBuildReport(e); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "job") {
		t.Errorf("missing job: %v", err)
	}
	e.SetType(TypeTransitioned)
	if _, err := DecodeBuildReport(e); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong type: %v", err)
	}
	if got := (BuildReport{Image: "r/i@sha256:abc", Digest: "sha256:abc"}).ImageReference(); got != "r/i@sha256:abc" {
		t.Errorf("already pinned image: %s", got)
	}
}

// TestDecodeResourceEventRefusesInvalidNames: names an attacker would use to build another API
// path are refused by the decoder itself, consistently in the extensions and the data, naming
// the field; the schema refuses the same data.
func TestDecodeResourceEventRefusesInvalidNames(t *testing.T) {
	cases := []struct {
		name, ns, objName, want string
	}{
		{"name with a slash", "team-a", "a/b", `name "a/b" is invalid`},
		{"name climbing the path", "team-a", "../../api/v1/namespaces/x/secrets", `name "../../api/v1/namespaces/x/secrets" is invalid`},
		{"percent-encoded dots", "team-a", "%2e%2e", `name "%2e%2e" is invalid`},
		{"namespace climbing the path", "../kube-system", "basic-validation-1", `namespace "../kube-system" is invalid`},
		{"namespace with a dot", "team.a", "basic-validation-1", `namespace "team.a" is invalid`},
		{"upper case name", "team-a", "Basic", `name "Basic" is invalid`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := mutate(t, TypeResourceUpdate, func(m map[string]any) {
				md := m["metadata"].(map[string]any)
				md["name"], md["namespace"] = c.objName, c.ns
			})
			ext := podExt()
			ext[ExtName], ext[ExtNamespace] = c.objName, c.ns
			_, err := DecodeResourceEvent(resourceEvent(t, TypeResourceUpdate, data, ext))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("decoder: got %v, want ErrMalformed naming %s", err, c.want)
			}
			if err := ValidateData(TypeResourceUpdate, data); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "/metadata/") {
				t.Errorf("schema: got %v, want ErrMalformed naming the metadata field", err)
			}
		})
	}
}

func TestJobLabel(t *testing.T) {
	withLabel := func(v any) ResourceEvent {
		data := mutate(t, TypeResourceUpdate, func(m map[string]any) {
			md := m["metadata"].(map[string]any)
			if v == nil {
				delete(md, "labels")
			} else {
				md["labels"] = map[string]any{"mlops.mlops.dev/notebookvalidationjob": v}
			}
		})
		re, err := DecodeResourceEvent(resourceEvent(t, TypeResourceUpdate, data, podExt()))
		if err != nil {
			t.Fatal(err)
		}
		return re
	}
	if job, err := withLabel("basic").JobLabel(); err != nil || job != "basic" {
		t.Errorf("valid label: %q %v", job, err)
	}
	for v, want := range map[any]string{
		nil:                     "is missing",
		"":                      "is missing",
		"x/y":                   `"x/y" is invalid`,
		"..":                    `".." is invalid`,
		"UPPER":                 `"UPPER" is invalid`,
		strings.Repeat("a", 64): "must be no more than 63",
	} {
		_, err := withLabel(v).JobLabel()
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "label mlops.mlops.dev/notebookvalidationjob of Pod team-a/basic-validation-1") {
			t.Errorf("label %q: got %v, want ErrMalformed naming the label and %q", v, err, want)
		}
	}
}

func TestCheckEnvelopeListsProblemsInOrder(t *testing.T) {
	e := cloudevents.NewEvent()
	for range 20 {
		err := CheckEnvelope(e)
		if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "malformed event: invalid CloudEvent: id: ") ||
			!strings.Contains(err.Error(), "; source: ") || !strings.Contains(err.Error(), "; type: ") {
			t.Fatalf("got %v", err)
		}
	}
	if err := CheckEnvelope(resourceEvent(t, TypePing, nil, nil)); err != nil {
		t.Errorf("valid envelope: %v", err)
	}
}
