package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/runner/execute"
)

// TestValidateWritesHTMLReport runs `nbv validate --html` on a notebook whose outputs differ
// from its golden copy: exit code 1, and the HTML file shows the differing cell side by side.
func TestValidateWritesHTMLReport(t *testing.T) {
	if err := exec.Command(execute.DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel: %v", execute.DefaultPython, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	html := filepath.Join(t.TempDir(), "report.html")
	fixtures := "../../test/fixtures/notebooks/"
	err := validate(ctx, []string{fixtures + "xss.ipynb", "--golden", fixtures + "xss.golden.ipynb", "--html", html, "--output-dir", t.TempDir()})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("validate: %v, want exit code 1", err)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<th>golden cell 3</th><th>executed cell 3</th>") || strings.Contains(strings.ToLower(string(page)), "<script") {
		t.Errorf("HTML report lacks the side-by-side diff or carries a script:\n%.2000s", page)
	}
}
