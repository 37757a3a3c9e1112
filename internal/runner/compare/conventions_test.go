package compare

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"regexp"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

func TestCoalesceStreams(t *testing.T) {
	outs := []notebook.Output{
		stream("stderr", "Foo!\n"),
		stream("stdout", "a\n"),
		{OutputType: "execute_result", Data: map[string]string{"text/plain": "1"}},
		stream("stderr", "Bar!\n"),
		stream("stdout", "progress 10%\rprogress 50%\rprogress 100%\n"),
		stream("stdout", "abx\bc\n"),
	}
	got := CoalesceStreams(outs)
	if len(got) != 3 {
		t.Fatalf("got %d outputs: %+v", len(got), got)
	}
	if got[0].Name != "stderr" || got[0].Text != "Foo!\nBar!\n" {
		t.Errorf("stderr %+v", got[0])
	}
	if got[1].Name != "stdout" || got[1].Text != "a\nprogress 100%\nabc\n" {
		t.Errorf("stdout %q", got[1].Text)
	}
	if got[2].OutputType != "execute_result" {
		t.Errorf("rich output moved: %+v", got[2])
	}
	if outs[0].Text != "Foo!\n" {
		t.Error("the input outputs were modified")
	}
	for in, want := range map[string]string{
		"a\r\nb":       "a\r\nb", // CRLF is a line end, not a redraw
		"x\ry\r":       "y\r",
		"ab\b\b\bc":    "\bc", // a backspace at the start of a line has nothing to erase
		"a\n\bb":       "a\n\bb",
		"no controls":  "no controls",
		"12\r34\n5\r6": "34\n6",
	} {
		if got := carriageReturns(backspaces(in)); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestStreamsChunkedDifferentlyMatch(t *testing.T) {
	cfg, _ := FromSpec(nil)
	golden := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stdout", "x\n"), stream("stderr", "Foo!\nBar!\n"))}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stderr", "Foo!\n"), stream("stdout", "x\n"), stream("stderr", "Bar!\n"))}}
	// Interleaved differently, stdout first in one and stderr first in the other: the order
	// of the two streams is the order of their first chunk.
	if r := Compare(actual, golden, cfg); r.Passed() {
		t.Fatalf("streams in a different first order matched: %+v", r)
	}
	actual.Cells[0].Outputs = []notebook.Output{stream("stdout", "x\n"), stream("stderr", "Foo!\n"), stream("stderr", "Bar!\n")}
	if r := Compare(actual, golden, cfg); !r.Passed() {
		t.Fatalf("stderr in two chunks did not match one chunk: %+v", r.Diffs)
	}
}

func encodeImage(t *testing.T, format string, w, h int, c color.Color) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	// nbformat wraps base64 in lines; ImageSize must accept that.
	s := base64.StdEncoding.EncodeToString(b.Bytes())
	return s[:10] + "\n" + s[10:]
}

func TestImageSize(t *testing.T) {
	for _, tc := range []struct {
		format string
		w, h   int
	}{{"png", 3, 2}, {"jpeg", 17, 9}} {
		w, h, err := ImageSize(encodeImage(t, tc.format, tc.w, tc.h, color.White))
		if err != nil || w != tc.w || h != tc.h {
			t.Errorf("%s: %dx%d, %v; want %dx%d", tc.format, w, h, err, tc.w, tc.h)
		}
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("GIF89a but not really")), ""} {
		if _, _, err := ImageSize(bad); err == nil {
			t.Errorf("ImageSize(%q) accepted", bad)
		}
	}
}

func TestImagesCompareByShapeUnderNormalized(t *testing.T) {
	img := func(b64 string) notebook.Cell {
		return cell(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": b64, "text/plain": "<Figure size 100x100 with 1 Axes>"}})
	}
	red, blue := encodeImage(t, "png", 40, 30, color.RGBA{255, 0, 0, 255}), encodeImage(t, "png", 40, 30, color.RGBA{0, 0, 255, 255})
	wider := encodeImage(t, "png", 41, 30, color.RGBA{255, 0, 0, 255})
	jpg := encodeImage(t, "jpeg", 40, 30, color.RGBA{255, 0, 0, 255})
	normalized, _ := FromSpec(nil)
	exact, _ := FromSpec(&v1alpha1.ComparisonConfigSpec{Strategy: StrategyExact})
	nb := func(c notebook.Cell) *notebook.Notebook { return &notebook.Notebook{Cells: []notebook.Cell{c}} }

	if r := Compare(nb(img(blue)), nb(img(red)), normalized); !r.Passed() {
		t.Errorf("normalized: same size, other pixels differ: %+v", r.Diffs)
	}
	if r := Compare(nb(img(blue)), nb(img(red)), exact); r.Passed() {
		t.Error("exact: other pixels matched")
	}
	r := Compare(nb(img(wider)), nb(img(red)), normalized)
	if r.Passed() || r.Diffs[0].Expected != "image/png 40x30" || r.Diffs[0].Actual != "image/png 41x30" {
		t.Errorf("normalized: other size: %+v", r.Diffs)
	}
	jpegCell := cell(notebook.Output{OutputType: "display_data", Data: map[string]string{"image/jpeg": jpg, "text/plain": "<Figure size 100x100 with 1 Axes>"}})
	if r := Compare(nb(jpegCell), nb(img(red)), normalized); r.Passed() {
		t.Error("normalized: a JPEG matched a PNG")
	}
}

func TestMaskPatterns(t *testing.T) {
	spec := &v1alpha1.ComparisonConfigSpec{MaskPatterns: []v1alpha1.MaskPattern{
		{Pattern: `run id: [0-9a-f-]{36}`, Replacement: "run id: <uuid>"},
		{Pattern: `took (\d+\.\d+)s`, Replacement: "took ${1}s -> T"},
		{Pattern: `T`, Replacement: "<t>"}, // applied after the one before, in order
	}}
	for _, strategy := range []string{StrategyNormalized, StrategyExact} {
		spec.Strategy = strategy
		cfg, err := FromSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		got := cfg.normalize("run id: 0b3c1f0e-8a3e-4a51-9d6e-2f0c1d2e3f40 took 1.5s")
		if got != "run id: <uuid> took 1.5s -> <t>" {
			t.Errorf("%s: %q", strategy, got)
		}
	}
	spec.MaskPatterns = append(spec.MaskPatterns, v1alpha1.MaskPattern{Pattern: `id=(\d+`})
	if _, err := FromSpec(spec); err == nil || !strings.Contains(err.Error(), "maskPatterns[3].pattern") {
		t.Errorf("bad pattern: %v", err)
	}
	// Without masks, the same outputs differ.
	golden := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stdout", "session a81f\n"))}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{cell(stream("stdout", "session 03bc\n"))}}
	cfg, _ := FromSpec(nil)
	if Compare(actual, golden, cfg).Passed() {
		t.Fatal("different sessions matched without a mask")
	}
	cfg.Masks = []Mask{{Pattern: regexp.MustCompile(`session [0-9a-f]+`), Replacement: "session <id>"}}
	if r := Compare(actual, golden, cfg); !r.Passed() {
		t.Errorf("masked: %+v", r.Diffs)
	}
}

func TestCellsLeftOutOfTheComparison(t *testing.T) {
	one := 1
	ran := func(src string, tags []string, text string) notebook.Cell {
		c := cell(stream("stdout", text))
		c.Source, c.Metadata.Tags, c.ExecutionCount = notebook.Text(src), tags, &one
		return c
	}
	golden := &notebook.Notebook{Cells: []notebook.Cell{
		ran("# NBVAL_IGNORE_OUTPUT\nprint(random())", nil, "0.1\n"),
		ran("print(random())", []string{"nbval-ignore-output"}, "0.2\n"),
		{CellType: "code", Source: "print('new')"}, // saved without running
		ran("# NBVAL_SKIP\nprint(1)", nil, "1\n"),
		ran("print(2)", nil, "2\n"),
		ran("# NBVAL_CHECK_OUTPUT\nprint(3)", []string{"nbval-ignore-output"}, "3\n"),
	}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{
		ran("# NBVAL_IGNORE_OUTPUT\nprint(random())", nil, "0.7\n"),
		ran("print(random())", []string{"nbval-ignore-output"}, "0.8\n"),
		ran("print('new')", nil, "new\n"),
		{CellType: "code", Source: "# NBVAL_SKIP\nprint(1)"},
		ran("print(2)", nil, "2\n"),
		ran("# NBVAL_CHECK_OUTPUT\nprint(3)", []string{"nbval-ignore-output"}, "3 changed\n"),
	}}
	cfg, _ := FromSpec(nil)
	r := Compare(actual, golden, cfg)
	if r.Total != 2 || r.Matched != 1 || len(r.Diffs) != 1 || r.Diffs[0].Index != 5 {
		t.Fatalf("comparison %+v", r)
	}
	var reasons []string
	for _, n := range r.NotCompared {
		reasons = append(reasons, n.Reason)
	}
	want := []string{
		"output ignored: cell is marked # NBVAL_IGNORE_OUTPUT",
		"output ignored: cell is marked tag nbval-ignore-output",
		"the golden cell never ran (no execution count, no outputs)",
		"not run: cell is marked # NBVAL_SKIP",
	}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Errorf("not compared:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}
}

func TestErrorsCompareByNameAndValueUnderNormalized(t *testing.T) {
	errOut := func(tb string) notebook.Cell {
		return cell(notebook.Output{OutputType: "error", EName: "ZeroDivisionError", EValue: "division by zero", Traceback: []string{tb}})
	}
	golden := &notebook.Notebook{Cells: []notebook.Cell{errOut("File /opt/conda/lib/python3.9/x.py:3")}}
	actual := &notebook.Notebook{Cells: []notebook.Cell{errOut("File /usr/lib/python3/dist-packages/x.py:3")}}
	normalized, _ := FromSpec(nil)
	if r := Compare(actual, golden, normalized); !r.Passed() {
		t.Errorf("normalized compared traceback paths: %+v", r.Diffs)
	}
	exact, _ := FromSpec(&v1alpha1.ComparisonConfigSpec{Strategy: StrategyExact})
	if Compare(actual, golden, exact).Passed() {
		t.Error("exact ignored the traceback")
	}
}
