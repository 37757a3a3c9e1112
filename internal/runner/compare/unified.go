package compare

import (
	"fmt"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// MaxUnifiedLines bounds Diff.Unified: a notebook printing a large table must not turn the
// report into megabytes of diff.
const MaxUnifiedLines = 200

// unifiedDiff is the unified diff (golden to executed) of one kind of output of a cell pair, in
// the form compared (masked, normalized). Under "normalized" a line whose numbers agree within
// the tolerance still shows as changed here when its digits differ: the diff shows the texts,
// the Message which line failed the comparison.
func unifiedDiff(goldenLabel, executedLabel, want, got string) string {
	d := udiff.Unified(goldenLabel, executedLabel, withNewline(want), withNewline(got))
	lines := strings.SplitAfter(strings.TrimSuffix(d, "\n"), "\n")
	if len(lines) <= MaxUnifiedLines {
		return d
	}
	return strings.Join(lines[:MaxUnifiedLines], "") + fmt.Sprintf("\n… %d more lines of diff\n", len(lines)-MaxUnifiedLines)
}

// withNewline ends a non-empty text with a newline, so that a missing final newline (which
// normalization trims anyway) does not show as a difference of its own.
func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
