package compare

import (
	"regexp"
	"testing"

	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

func TestNumbersClose(t *testing.T) {
	tests := []struct {
		a, b string
		tol  float64
		want bool
	}{
		{"loss 0.30000000000000004", "loss 0.3", 1e-4, true},
		{"loss 0.3002", "loss 0.3", 1e-4, false},
		// Relative above 1: 1e-4 of 10000 is 1.
		{"n=10000.5", "n=10001", 1e-4, true},
		{"n=10002", "n=10000", 1e-4, false},
		{"1e-9", "2e-9", 1e-4, true},
		{"-1.5", "-1.5001", 1e-4, true},
		{"x1 = 2", "x2 = 2", 1, false}, // digits inside names are text
		{"0x1f", "0x1e", 1, false},
		{"a 1 2", "a 1", 1, false},
		{"1.0", "1.00", 0, true},
		{"3rd", "4th", 10, false},
	}
	for _, tc := range tests {
		if got := NumbersClose(tc.a, tc.b, tc.tol); got != tc.want {
			t.Errorf("NumbersClose(%q, %q, %g) = %v", tc.a, tc.b, tc.tol, got)
		}
	}
}

func TestNormalizeMasks(t *testing.T) {
	c := Config{Strategy: StrategyNormalized, IgnoreTimestamps: true, IgnoreExecutionCount: true,
		TimestampPatterns: []*regexp.Regexp{regexp.MustCompile(`run-\d+`)}}
	pairs := [][2]string{
		{"at 2024-01-02T03:04:05.678+01:00 done", "at 2025-12-31 23:59:59 done"},
		{"Date: Mon, 02 Jan 2006 15:04:05 GMT", "Date: Tue, 03 Feb 2026 01:02:03 GMT"},
		{"Mon Jan  2 15:04:05 2006", "Fri Nov 21 08:00:00 2025"},
		{"Cell In [3], line 1", "Cell In [12], line 1"},
		{"Input In [3]\nOut[3]", "Input In [9]\nOut[9]"},
		{"<object at 0x7f00aa>", "<object at 0x7fbb11>"},
		{"id run-17\n", "id run-99   \r\n"},
		{"\x1b[31mred\x1b[0m", "red"},
	}
	for _, p := range pairs {
		if a, b := c.normalize(p[0]), c.normalize(p[1]); a != b {
			t.Errorf("%q and %q normalize to %q and %q", p[0], p[1], a, b)
		}
	}
	exact := c
	exact.Strategy = StrategyExact
	if exact.normalize("2024-01-02") == exact.normalize("2024-01-03") {
		t.Error("exact strategy masked a timestamp")
	}
	if exact.normalize("Cell In [3]") != exact.normalize("Cell In [4]") {
		t.Error("exact strategy compared execution counts in tracebacks")
	}
}

func cell(outputs ...notebook.Output) notebook.Cell {
	return notebook.Cell{CellType: "code", Outputs: outputs}
}

func stream(name, text string) notebook.Output {
	return notebook.Output{OutputType: "stream", Name: name, Text: notebook.Text(text)}
}

func TestCompareCells(t *testing.T) {
	cfg, _ := FromSpec(nil)
	md := notebook.Cell{CellType: "markdown", Source: "# t"}
	golden := &notebook.Notebook{Cells: []notebook.Cell{md,
		cell(stream("stdout", "a\nb\n")),
		cell(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": "AAAA", "text/plain": "<Figure>"}}),
	}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{md,
		cell(stream("stdout", "a\n"), stream("stdout", "b\n")), // chunked differently
		cell(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": "BBBB", "text/plain": "<Figure>"}}),
		{CellType: "code", Metadata: notebook.CellMeta{Tags: []string{notebook.TagInjectedParameters}}},
	}}
	// The injected cell is at the end here: left out, it must not count as extra. By default
	// an image is compared by its type only, as nbval does.
	if r := Compare(actual, golden, cfg); !r.Passed() || r.Total != 2 {
		t.Fatalf("images by type: %+v", r)
	}
	cfg.Images = ImagesByBytes
	r := Compare(actual, golden, cfg)
	if r.Passed() || len(r.Diffs) != 1 || r.Diffs[0].Index != 2 {
		t.Fatalf("images by bytes, without ignore: %+v", r)
	}
	cfg.IgnoreOutputTypes = []string{"image/png"}
	if r := Compare(actual, golden, cfg); !r.Passed() || r.Total != 2 || r.Matched != 2 {
		t.Fatalf("ignoring image/png: %+v", r)
	}

	actual.Cells = append(actual.Cells, cell(stream("stdout", "extra")))
	r = Compare(actual, golden, cfg)
	if len(r.Diffs) != 1 || r.Diffs[0].DiffType != DiffExtraCell || r.Diffs[0].Index != 4 {
		t.Fatalf("extra cell: %+v", r.Diffs)
	}
	withErr := &notebook.Notebook{Cells: []notebook.Cell{md,
		cell(stream("stdout", "a\nb\n"), notebook.Output{OutputType: "error", EName: "KeyError", EValue: "'x'"}), golden.Cells[2]}}
	r = Compare(withErr, golden, cfg)
	if len(r.Diffs) != 1 || r.Diffs[0].DiffType != DiffExecutionError || r.Diffs[0].Severity != SeverityCritical {
		t.Fatalf("error cell: %+v", r.Diffs)
	}
}
