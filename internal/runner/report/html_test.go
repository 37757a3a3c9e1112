package report

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"regexp"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

func pngBase64(t *testing.T, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// Everything a notebook can put in its sources and outputs is attacker-controlled: none of
// it may become markup, script, a style or a URL in the report.
func TestHTMLReportEscapesNotebookContent(t *testing.T) {
	const attack = `</pre><script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a><style>body{}</style>`
	img := pngBase64(t, 7, 5)
	out := func(outputs ...notebook.Output) notebook.Cell {
		return notebook.Cell{CellType: "code", Source: notebook.Text("# " + attack), Outputs: outputs}
	}
	executed := &notebook.Notebook{Cells: []notebook.Cell{
		{CellType: "markdown", Source: attack},
		out(notebook.Output{OutputType: "stream", Name: "stdout", Text: attack}),
		out(notebook.Output{OutputType: "display_data", Data: map[string]string{
			"text/html":              attack,
			"image/svg+xml":          `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)"><script>alert(5)</script></svg>`,
			"application/javascript": "alert(6)",
			"text/plain":             attack,
		}}),
		out(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": `"><script>alert(7)</script>`}}),
		out(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": img}}),
		out(notebook.Output{OutputType: "error", EName: "ValueError", EValue: attack, Traceback: []string{"\x1b[31m" + attack + "\x1b[0m"}}),
	}}
	golden := &notebook.Notebook{Cells: slices3(executed.Cells)}
	golden.Cells[1].Outputs = []notebook.Output{{OutputType: "stream", Name: "stdout", Text: "<b>golden</b> " + attack}}
	r := &Report{Notebook: "nb<script>.ipynb", Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: attack,
		Cells: []Cell{
			{Index: 1, Status: summary.CellSuccess, DurationMs: 1234},
			{Index: 2, Status: summary.CellSuccess, AllowedError: &CellError{Name: "E", Value: attack, AllowedBy: "tag raises-exception"}},
			{Index: 3, Status: summary.CellSkipped, SkipReason: attack},
			{Index: 4, Status: summary.CellSuccess},
			{Index: 5, Status: summary.CellFailure, Error: &CellError{Name: "ValueError", Value: attack, Traceback: "Traceback:\n" + attack, From: "nbmake.post_cell_execute"}},
		},
		Comparison: &Comparison{Strategy: "normalized", Result: ComparisonFailed, Total: 1, Mismatched: 1,
			Diffs: []compare.Diff{{Index: 1, GoldenIndex: 1, DiffType: compare.DiffOutputMismatch, Severity: compare.SeverityMajor, Message: attack, Expected: attack, Actual: attack,
				Unified: "--- golden\n+++ executed\n@@ -1 +1 @@\n-" + attack + "\n+" + attack + "\n"}},
			NotCompared: []compare.NotCompared{{Index: 3, GoldenIndex: 3, Reason: attack}}},
	}
	cfg, _ := compare.FromSpec(nil)
	var b bytes.Buffer
	if err := r.WriteHTML(&b, HTMLInput{Executed: executed, Golden: golden, Comparison: cfg}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// Escaping turns every < from the notebook into &lt;: each tag left in the page is one the
	// template wrote. None may be a script, a frame, an object or a second stylesheet, or
	// carry an event handler or a javascript: URL.
	allowed := map[string]bool{"!doctype": true, "html": true, "head": true, "meta": true, "title": true, "style": true, "body": true,
		"p": true, "pre": true, "div": true, "span": true, "b": true, "a": true, "ul": true, "li": true, "h2": true,
		"table": true, "tr": true, "th": true, "td": true, "img": true}
	styles, imgs := 0, 0
	for _, m := range regexp.MustCompile(`<(/?)([!a-zA-Z][a-zA-Z0-9]*)([^>]*)>`).FindAllStringSubmatch(page, -1) {
		name := strings.ToLower(m[2])
		if !allowed[name] || regexp.MustCompile(`(?i)\bon[a-z]+\s*=|javascript:`).MatchString(m[3]) {
			t.Errorf("tag %q in the report", m[0])
		}
		if m[1] == "" && name == "style" {
			styles++
		}
		if name == "img" {
			imgs++
		}
	}
	if styles != 1 || imgs != 1 {
		t.Errorf("%d <style>, %d <img> in the report; want 1 and 1 (the valid PNG)", styles, imgs)
	}
	// Images are only verified data: URIs and links stay in the page: nothing is fetched.
	for _, m := range regexp.MustCompile(`(?i)(src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if m[2] != "data:image/png;base64,"+img && !strings.HasPrefix(m[2], "#cell-") {
			t.Errorf("%s=%q", m[1], m[2])
		}
	}
	for _, want := range []string{
		"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;", // shown, as text
		"text/html (shown as text, not rendered)",
		"image not shown: not base64",
		"ValueError", "(in nbmake.post_cell_execute)", "Traceback:",
		"1.23s", "allowed by tag raises-exception",
		"<th>golden cell 1</th><th>executed cell 1</th>",
		"&lt;b&gt;golden&lt;/b&gt;",
		`<span class="del">-&lt;/pre&gt;&lt;script&gt;`, `<span class="ins">&#43;&lt;/pre&gt;`, // the unified diff, coloured, as text
		`http-equiv="Content-Security-Policy" content="default-src 'none'`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func slices3(cells []notebook.Cell) []notebook.Cell {
	return append([]notebook.Cell(nil), cells...)
}
