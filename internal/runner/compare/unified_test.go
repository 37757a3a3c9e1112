package compare

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

// A differing output comes with the unified diff of the whole output, golden to executed: the
// changed lines with their context, not only the first differing line.
func TestDiffCarriesUnifiedDiff(t *testing.T) {
	cfg, _ := FromSpec(nil)
	golden := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stdout", "epoch 1\nloss 0.5\naccuracy 0.80\ndone\n"))}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stdout", "epoch 1\nloss 0.5\naccuracy 0.91\ndone\nextra line\n"))}}
	r := Compare(actual, golden, cfg)
	if len(r.Diffs) != 1 {
		t.Fatalf("diffs %+v, want one", r.Diffs)
	}
	d := r.Diffs[0]
	if d.Expected != "accuracy 0.80" || d.Actual != "accuracy 0.91" {
		t.Errorf("first differing line %q / %q", d.Expected, d.Actual)
	}
	want := "--- golden cell 0 stream:stdout\n+++ executed cell 0 stream:stdout\n@@ -1,4 +1,5 @@\n epoch 1\n loss 0.5\n-accuracy 0.80\n+accuracy 0.91\n done\n+extra line\n"
	if d.Unified != want {
		t.Errorf("unified diff:\n%s\nwant:\n%s", d.Unified, want)
	}

	missing := Compare(&notebook.Notebook{Cells: []notebook.Cell{cell()}}, golden, cfg).Diffs[0]
	if !strings.Contains(missing.Unified, "-accuracy 0.80\n") || strings.Contains(missing.Unified, "\n+e") {
		t.Errorf("a missing output shows as removed lines only:\n%s", missing.Unified)
	}
}

// A huge output does not make a huge diff.
func TestUnifiedDiffIsBounded(t *testing.T) {
	var want, got strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&want, "row %d a\n", i)
		fmt.Fprintf(&got, "row %d b\n", i)
	}
	d := unifiedDiff("g", "e", want.String(), got.String())
	if n := strings.Count(d, "\n"); n > MaxUnifiedLines+2 || !strings.Contains(d, "more lines of diff") {
		t.Errorf("diff of 5000 changed lines has %d lines, want at most %d and a note of the rest", n, MaxUnifiedLines+2)
	}
}
