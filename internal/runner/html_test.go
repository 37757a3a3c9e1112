package runner_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// xss.ipynb prints and displays markup, SVG with a script and a fake PNG; its golden differs.
// The HTML report (in the output directory and at HTMLPath) shows all of it as text, the
// differing cells side by side.
func TestHTMLReportOfARealRun(t *testing.T) {
	out := t.TempDir()
	extra := filepath.Join(t.TempDir(), "mine.html")
	r := mustRun(t, runner.Options{Notebook: fixtures + "xss.ipynb", Golden: fixtures + "xss.golden.ipynb", OutputDir: out, HTMLPath: extra})
	if r.Reason != summary.ReasonGoldenMismatch {
		t.Fatalf("%s: %s", r.Reason, r.Message)
	}
	page, err := os.ReadFile(filepath.Join(out, runner.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := os.ReadFile(extra); err != nil || string(again) != string(page) {
		t.Errorf("HTMLPath differs from the output directory's report.html: %v", err)
	}
	lower := strings.ToLower(string(page))
	for _, bad := range []string{"<script", "<svg", "<img src=x", "src=\"http", "href=\"http"} {
		if strings.Contains(lower, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(&#39;stdout&#39;)&lt;/script&gt;",
		"&lt;img src=x onerror=alert(&#39;html&#39;)&gt;",
		"image not shown: not base64",
		"<th>golden cell 3</th><th>executed cell 3</th>",
		"&lt;script&gt;alert(&#39;golden&#39;)&lt;/script&gt;", // the golden side
		"&lt;b&gt;changed&lt;/b&gt;",                           // the executed side
		`id="cell-0"`, `id="cell-3"`, "cell 1 · Success · ",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// fail.ipynb: the failing cell's traceback, the skipped cell, and a figure rendered inline.
func TestHTMLReportShowsTracebackAndFigures(t *testing.T) {
	out := t.TempDir()
	mustRun(t, runner.Options{Notebook: fixtures + "fail.ipynb", OutputDir: out})
	page, err := os.ReadFile(filepath.Join(out, runner.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ValueError: bad value: 7", "raise ValueError", "cell 1 · Failure · ", "skipped: cell 1 failed"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}

	needMatplotlib(t)
	out = t.TempDir()
	mustRun(t, runner.Options{Notebook: fixtures + "plot.ipynb", OutputDir: out})
	page, err = os.ReadFile(filepath.Join(out, runner.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `<img src="data:image/png;base64,iVBORw0KGgo`) {
		t.Error("the figure is not embedded as a data: URI")
	}
}
