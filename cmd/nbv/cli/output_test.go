package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// The table looks like kubectl's: upper-case headers, priority-1 columns only with wide, a
// date as an age, a missing value as <none>, a message on one line, never Go syntax.
func TestPrintTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string"}, {Name: "Phase", Type: "string"}, {Name: "Age", Type: "date"},
			{Name: "Message", Type: "string"}, {Name: "Git-URL", Type: "string", Priority: 1},
		},
		Rows: []metav1.TableRow{{
			Cells:  []any{"a", "Failed", now.Add(-90 * time.Second).Format(time.RFC3339), "cell 2\nfailed", map[string]any{"x": 1}},
			Object: runtime.RawExtension{Raw: []byte(`{"metadata": {"namespace": "team-a"}}`)},
		}, {
			Cells:  []any{"b", nil, now.Format(time.RFC3339), "", "https://x"},
			Object: runtime.RawExtension{Raw: []byte(`{"metadata": {"namespace": "team-b"}}`)},
		}},
	}
	var narrow, wide bytes.Buffer
	if err := printTable(&narrow, table, false, false, now); err != nil {
		t.Fatal(err)
	}
	if err := printTable(&wide, table, true, true, now); err != nil {
		t.Fatal(err)
	}
	wantNarrow := "NAME   PHASE    AGE   MESSAGE\na      Failed   90s   cell 2 failed\nb      <none>   0s    <none>\n"
	if narrow.String() != wantNarrow {
		t.Errorf("table:\n%s\nwant:\n%s", narrow.String(), wantNarrow)
	}
	if w := wide.String(); !strings.HasPrefix(w, "NAMESPACE   NAME   PHASE    AGE   MESSAGE         GIT-URL\nteam-a") ||
		!strings.Contains(w, `{"x":1}`) || strings.Contains(w, "map[") {
		t.Errorf("wide table with namespaces:\n%s", w)
	}
}

// A failed job's result shows each cell, the failing cell's traceback end and the golden
// differences, at most maxShownDiffs of them.
func TestPrintResult(t *testing.T) {
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
	job.Status.Phase, job.Status.Message = v1alpha1.PhaseFailed, "cell 1 raised ZeroDivisionError"
	job.Status.Results = []v1alpha1.CellResult{
		{CellIndex: 0, Status: v1alpha1.CellStatusSuccess, ExecutionTime: &metav1.Duration{Duration: 12 * time.Millisecond}},
		{CellIndex: 1, Status: v1alpha1.CellStatusFailure, ErrorMessage: "ZeroDivisionError: division by zero",
			Output: "----> 1 1/0\nZeroDivisionError: division by zero"},
	}
	job.Status.ComparisonResult = &v1alpha1.ComparisonResult{Strategy: "normalized", Result: "failed", TotalCells: 8, MatchedCells: 1}
	for i := range 7 {
		job.Status.ComparisonResult.Diffs = append(job.Status.ComparisonResult.Diffs, v1alpha1.CellDiff{CellIndex: i, DiffType: "output_mismatch",
			Severity: "major", Expected: "loss 0.5", Actual: "loss 0.7"})
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printResult(&b, &unstructured.Unstructured{Object: obj}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Failed: cell 1 raised ZeroDivisionError", "cell 1   Failure", "cell 1 traceback (end):\n  ----> 1 1/0\n  ZeroDivisionError: division by zero",
		"golden comparison (normalized): failed, 1 of 8 cells matched", "- expected: loss 0.5\n    + actual:   loss 0.7", "… 2 more differences",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("result lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "output_mismatch"); n != maxShownDiffs {
		t.Errorf("%d differences shown, want %d", n, maxShownDiffs)
	}
}

// describeProcesses prints pids by function, never a Go map.
func TestDescribeProcesses(t *testing.T) {
	if got := describeProcesses(map[string][]int{"sweep": {9}, "job-created": {3, 4}}); got != " (job-created: pid 3, 4; sweep: pid 9)" {
		t.Errorf("got %q", got)
	}
	if got := describeProcesses(nil); got != "" {
		t.Errorf("no process: %q", got)
	}
}

// The RoleBindings the hint names are those of config/rbac/opt-in/.
func TestOptInRoleBindingsMatchConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "rbac", "opt-in", "rolebindings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var rb struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &rb); err != nil {
			t.Fatal(err)
		}
		if rb.Kind == "RoleBinding" {
			names = append(names, rb.Metadata.Name)
		}
	}
	if strings.Join(names, " ") != strings.Join(optInRoleBindings, " ") {
		t.Errorf("config/rbac/opt-in/rolebindings.yaml binds %v; the hint names %v", names, optInRoleBindings)
	}
}
