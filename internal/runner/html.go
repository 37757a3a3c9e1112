package runner

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/redact"
	"github.com/mlops-dev/nbv/internal/runner/report"
)

// HTMLFile is the self-contained HTML report written to the output directory.
const HTMLFile = "report.html"

// writeHTML renders the HTML report from what the other outputs hold once redacted: the
// report, the executed notebook as written (already redacted) and the golden notebook redacted
// the same way; the page is redacted once more as a whole. It is written to each path.
func writeHTML(r *report.Report, executedPath, goldenPath string, cmp compare.Config, red *redact.Redactor, paths ...string) error {
	executed, err := notebook.ReadFile(executedPath)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	in := report.HTMLInput{Executed: executed, Comparison: cmp}
	if goldenPath != "" {
		b, err := os.ReadFile(goldenPath)
		if err != nil {
			return fmt.Errorf("html report: read golden notebook: %w", err)
		}
		if in.Golden, err = notebook.Parse(red.Document(b)); err != nil {
			return fmt.Errorf("html report: golden notebook: %w", err)
		}
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page, in); err != nil {
		return err
	}
	out := []byte(red.String(page.String()))
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.WriteFile(p, out, 0o644); err != nil {
			return fmt.Errorf("write html report: %w", err)
		}
	}
	return nil
}
