package statustext

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// hostile holds what a notebook, an image or a CI system can put in a message.
var hostile = map[string]struct{ in, want string }{
	"colours":                {"\x1b[1;31mError\x1b[0m: bad", "Error: bad"},
	"cursor and erase":       {"ok\x1b[2K\x1b[1Gfake line", "okfake line"},
	"OSC-8 link, BEL":        {"see \x1b]8;;https://evil.example/\x07here\x1b]8;;\x07 now", "see here now"},
	"OSC-8 link, ST":         {"see \x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\ now", "see here now"},
	"window title":           {"\x1b]0;pwned\x07title", "title"},
	"8-bit CSI and OSC":      {"a\u009b31mb\u009d0;t\u009cc", "abc"},
	"NUL, BEL, CR, DEL, BS":  {"a\x00b\x07c\rd\x7fe\bf", "abcdef"},
	"newline and tab stay":   {"line 1\n\tline 2", "line 1\n\tline 2"},
	"bidi override":          {"access \u202eadmin\u202c granted \u2066x\u2069", "access admin granted x"},
	"invalid UTF-8":          {"caf\xe9 \xff!", "caf\ufffd \ufffd!"},
	"unterminated OSC":       {"visible\x1b]8;;https://x", "visible"},
	"lone ESC at the end":    {"text\x1b", "text"},
	"charset escape":         {"\x1b(Bplain", "plain"},
	"unicode text unchanged": {"naïve café — ✓ 日本", "naïve café — ✓ 日本"},
	"DCS string":             {"a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
}

func TestCleanStripsWhatTerminalsInterpret(t *testing.T) {
	for name, c := range hostile {
		if got := Clean(c.in, 0); got != c.want {
			t.Errorf("%s: Clean(%q) = %q, want %q", name, c.in, got, c.want)
		}
	}
}

func TestCleanTruncatesWithAMarker(t *testing.T) {
	long := strings.Repeat("é", 1_500_000/2) // 1.5 MB of two-byte runes
	got := Clean(long, MaxMessage)
	if len(got) > MaxMessage || !utf8.ValidString(got) {
		t.Fatalf("len %d (limit %d), valid UTF-8 %v", len(got), MaxMessage, utf8.ValidString(got))
	}
	kept := strings.TrimRight(got[:strings.Index(got, "… [truncated")], "é")
	if kept != "" {
		t.Errorf("cut inside a rune: %q", kept)
	}
	dropped := len(long) - strings.Index(got, "… [truncated")
	if !strings.HasSuffix(got, fmt.Sprintf("… [truncated %d bytes]", dropped)) {
		t.Errorf("marker does not say %d bytes: %q", dropped, got[len(got)-40:])
	}
	if short := Clean("short", MaxMessage); short != "short" {
		t.Errorf("text within the limit changed: %q", short)
	}
	if tiny := Clean(strings.Repeat("x", 100), 10); tiny != strings.Repeat("x", 10) {
		t.Errorf("a limit smaller than the marker cuts without it: %q", tiny)
	}
}

func TestStatusBoundsEveryWrittenField(t *testing.T) {
	dirty := "\x1b[31m" + strings.Repeat("x", 40_000) + "\x00"
	st := v1alpha1.NotebookValidationJobStatus{
		Message:     dirty,
		Conditions:  []metav1.Condition{{Type: "Ready", Message: dirty}},
		BuildStatus: &v1alpha1.BuildStatus{Message: dirty, Reason: dirty},
		ComparisonResult: &v1alpha1.ComparisonResult{
			Diffs: make([]v1alpha1.CellDiff, MaxDiffs+10),
		},
	}
	for i := range MaxResults + 5 {
		st.Results = append(st.Results, v1alpha1.CellResult{CellIndex: i, ErrorMessage: dirty, Output: dirty})
	}
	for i := range st.ComparisonResult.Diffs {
		st.ComparisonResult.Diffs[i] = v1alpha1.CellDiff{Expected: dirty, Actual: dirty, Diff: dirty}
	}
	Status(&st)
	check := func(field, s string, limit int) {
		if len(s) > limit || strings.ContainsAny(s, "\x1b\x00") || !strings.Contains(s, "[truncated") {
			t.Errorf("%s: %d bytes (limit %d), clean %v, marked %v", field, len(s), limit,
				!strings.ContainsAny(s, "\x1b\x00"), strings.Contains(s, "[truncated"))
		}
	}
	check("message", st.Message, MaxMessage)
	check("conditions[0].message", st.Conditions[0].Message, MaxConditionMessage)
	check("buildStatus.message", st.BuildStatus.Message, MaxMessage)
	check("buildStatus.reason", st.BuildStatus.Reason, MaxReason)
	if len(st.Results) != MaxResults || len(st.ComparisonResult.Diffs) != MaxDiffs {
		t.Errorf("results %d (max %d), diffs %d (max %d)", len(st.Results), MaxResults, len(st.ComparisonResult.Diffs), MaxDiffs)
	}
	for _, r := range st.Results {
		check("results[].errorMessage", r.ErrorMessage, MaxCellText)
		check("results[].output", r.Output, MaxCellText)
	}
	for _, d := range st.ComparisonResult.Diffs {
		check("diffs[].expected", d.Expected, MaxCellText)
		check("diffs[].actual", d.Actual, MaxCellText)
		check("diffs[].diff", d.Diff, MaxCellText)
	}
}

// FuzzClean: whatever the input and limit, the output is valid UTF-8 within the limit, holds
// no control character but newline and tab, and is a fixed point of Clean.
func FuzzClean(f *testing.F) {
	for _, c := range hostile {
		f.Add(c.in, 0)
		f.Add(c.in, 12)
	}
	f.Add(strings.Repeat("é", 100), 33)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit %= 1 << 12
		got := Clean(s, limit)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		if limit > 0 && len(got) > limit {
			t.Fatalf("%d bytes, limit %d", len(got), limit)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || isBidiControl(r) {
				t.Fatalf("control character %U left in %q", r, got)
			}
		}
		if again := Clean(got, limit); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}
