package build

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func job(bc *v1alpha1.BuildConfigSpec) *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb1", Namespace: "team-a", UID: types.UID("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")},
		Spec: v1alpha1.NotebookValidationJobSpec{
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "python:3.12", BuildConfig: bc},
		},
	}
}

func TestTimeout(t *testing.T) {
	cases := []struct {
		bc      *v1alpha1.BuildConfigSpec
		want    time.Duration
		wantErr bool
	}{
		{nil, 15 * time.Minute, false},
		{&v1alpha1.BuildConfigSpec{}, 15 * time.Minute, false},
		{&v1alpha1.BuildConfigSpec{Timeout: "1h30m"}, 90 * time.Minute, false},
		{&v1alpha1.BuildConfigSpec{Timeout: "soon"}, 0, true},
		{&v1alpha1.BuildConfigSpec{Timeout: "0s"}, 0, true},
	}
	for _, c := range cases {
		got, err := Timeout(job(c.bc))
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("Timeout(%+v) = %v, %v; want %v, err=%v", c.bc, got, err, c.want, c.wantErr)
		}
	}
}

func TestChildMeta(t *testing.T) {
	m := ChildMeta(job(nil), "nb1-build-abc")
	if m.Name != "nb1-build-abc" || m.Namespace != "team-a" {
		t.Fatalf("name/namespace = %s/%s", m.Namespace, m.Name)
	}
	if m.Labels["mlops.mlops.dev/notebookvalidationjob"] != "nb1" {
		t.Errorf("labels = %v", m.Labels)
	}
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("ownerReferences = %v", m.OwnerReferences)
	}
	o := m.OwnerReferences[0]
	if o.APIVersion != "mlops.mlops.dev/v1alpha1" || o.Kind != "NotebookValidationJob" || o.Name != "nb1" ||
		o.UID != "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab" || o.Controller == nil || !*o.Controller {
		t.Errorf("ownerReference = %+v", o)
	}
}

func TestSpec(t *testing.T) {
	if _, err := Spec(job(nil)); err == nil {
		t.Error("no buildConfig: want error")
	}
	if _, err := Spec(job(&v1alpha1.BuildConfigSpec{Strategy: "tekton"})); err == nil {
		t.Error("disabled buildConfig: want error")
	}
	if bc, err := Spec(job(&v1alpha1.BuildConfigSpec{Enabled: true, Strategy: "tekton"})); err != nil || bc.Strategy != "tekton" {
		t.Errorf("enabled: %v, %v", bc, err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, s := range []string{"s2i", "tekton", "external"} {
		if err := Unsupported(s); err != nil {
			t.Errorf("Unsupported(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"kaniko", "shipwright", "custom", ""} {
		err := Unsupported(s)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Unsupported(%q) = %v, want ErrUnsupported", s, err)
			continue
		}
		for _, w := range []string{"tekton", "s2i", "external"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Unsupported(%q) message %q does not point to %s", s, err, w)
			}
		}
	}
}

func TestStateTerminal(t *testing.T) {
	for s, want := range map[State]bool{
		StatePending: false, StateRunning: false, StateSucceeded: true,
		StateFailed: true, StateCancelled: true, StateTimedOut: true,
	} {
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", s, !want)
		}
	}
}

func TestExpandOutputImage(t *testing.T) {
	j := job(nil)
	got, err := ExpandOutputImage("reg:5000/{namespace}/{name}:{uid}", j)
	if err != nil || got != "reg:5000/team-a/nb1:0f1e2d3c" {
		t.Errorf("got %q, %v", got, err)
	}
	j.UID = ""
	if _, err := ExpandOutputImage("reg/{name}:{uid}", j); err == nil {
		t.Error("{uid} without a UID accepted")
	}
	if got, err := ExpandOutputImage("reg/{name}:v1", j); err != nil || got != "reg/nb1:v1" {
		t.Errorf("no uid: %q, %v", got, err)
	}
	if _, err := ExpandOutputImage("reg/x:y\nFROM evil", j); err == nil {
		t.Error("newline accepted")
	}
}

func TestPinDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("c0", 32)
	cases := map[[2]string]string{
		{"q.io/a:t", d}:                   "q.io/a:t@" + d,
		{"q.io/a:t", ""}:                  "q.io/a:t",
		{"q.io/a:t", "sha256:xyz"}:        "q.io/a:t",
		{"q.io/a:t", "SHA256:" + d[7:]}:   "q.io/a:t",
		{"q.io/a@" + d, d}:                "q.io/a@" + d,
		{"q.io/a:t", "sha256:" + d[7:20]}: "q.io/a:t",
	}
	for in, want := range cases {
		if got := PinDigest(in[0], in[1]); got != want {
			t.Errorf("PinDigest(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}
