package transition

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func TestWrittenIsKeptPerVersion(t *testing.T) {
	var w written
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nb", ResourceVersion: "7"}}
	if w.at("ns", "nb", "7") != nil {
		t.Fatal("nothing written yet")
	}
	w.put(job)
	job.Status.Phase = "mutated after put"
	got := w.at("ns", "nb", "7")
	if got == nil || got.Status.Phase != "" {
		t.Fatalf("at the written version: %+v, want the job as written", got)
	}
	got.Status.Phase = "mutated after at"
	if again := w.at("ns", "nb", "7"); again.Status.Phase != "" {
		t.Errorf("a caller's change reached the remembered job")
	}
	for _, c := range []struct{ ns, name, rv string }{{"ns", "nb", "8"}, {"ns", "nb", ""}, {"other", "nb", "7"}, {"ns", "other", "7"}} {
		if w.at(c.ns, c.name, c.rv) != nil {
			t.Errorf("at(%q, %q, %q) found the job written at 7", c.ns, c.name, c.rv)
		}
	}
	for i := range 2 * maxWritten {
		w.put(&v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint("j", i), ResourceVersion: "1"}})
	}
	if n := len(w.jobs); n > maxWritten {
		t.Errorf("%d jobs remembered, want at most %d", n, maxWritten)
	}
}
