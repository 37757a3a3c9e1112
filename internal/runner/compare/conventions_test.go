package compare

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/draw"
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

// As nbval does, outputs compare per kind (stream name, MIME type, error), in order within a
// kind only: streams chunked and interleaved differently, a figure drawn before or after a
// print, and the same data as display_data or execute_result all match.
func TestOutputsCompareByKindNotPositionOrOutputType(t *testing.T) {
	cfg, _ := FromSpec(nil)
	result := func(text string) notebook.Output {
		return notebook.Output{OutputType: "execute_result", Data: map[string]string{"text/plain": text}}
	}
	display := func(text string) notebook.Output {
		return notebook.Output{OutputType: "display_data", Data: map[string]string{"text/plain": text}}
	}
	figure := notebook.Output{OutputType: "display_data", Data: map[string]string{"image/png": encodeImage(t, "png", 4, 3, color.White), "text/plain": "<Figure>"}}
	for _, tc := range []struct {
		name           string
		golden, actual []notebook.Output
		diff           string // empty: they match
	}{
		{name: "streams interleaved differently",
			golden: []notebook.Output{stream("stdout", "x\n"), stream("stderr", "Foo!\nBar!\n")},
			actual: []notebook.Output{stream("stderr", "Foo!\n"), stream("stdout", "x\n"), stream("stderr", "Bar!\n")}},
		{name: "figure before or after a print",
			golden: []notebook.Output{stream("stdout", "done\n"), figure},
			actual: []notebook.Output{figure, stream("stdout", "done\n")}},
		{name: "execute_result stored as display_data",
			golden: []notebook.Output{display("42")}, actual: []notebook.Output{result("42")}},
		{name: "display_data stored as execute_result",
			golden: []notebook.Output{result("[1, 2]")}, actual: []notebook.Output{display("[1, 2]")}},
		{name: "same kind in another order",
			golden: []notebook.Output{display("a"), display("b")}, actual: []notebook.Output{display("b"), display("a")},
			diff: "cell 0 output text/plain #1 differs at line 1"},
		{name: "one output of a kind fewer",
			golden: []notebook.Output{display("a"), result("b")}, actual: []notebook.Output{result("b")},
			diff: "cell 0 has 1 text/plain outputs, the golden cell 2"},
		{name: "stream missing",
			golden: []notebook.Output{stream("stderr", "warn\n"), result("1")}, actual: []notebook.Output{result("1")},
			diff: "cell 0 lacks the golden cell's stream:stderr output"},
		{name: "figure extra",
			golden: []notebook.Output{stream("stdout", "done\n")}, actual: []notebook.Output{stream("stdout", "done\n"), figure},
			diff: "cell 0 has an extra image/png output"},
		{name: "other data",
			golden: []notebook.Output{result("42")}, actual: []notebook.Output{display("43")},
			diff: "cell 0 output text/plain differs at line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(&notebook.Notebook{Cells: []notebook.Cell{cell(tc.actual...)}}, &notebook.Notebook{Cells: []notebook.Cell{cell(tc.golden...)}}, cfg)
			switch {
			case tc.diff == "" && !r.Passed():
				t.Errorf("differ: %+v", r.Diffs)
			case tc.diff != "" && (r.Passed() || r.Diffs[0].Message != tc.diff):
				t.Errorf("diffs %+v, want %q", r.Diffs, tc.diff)
			}
		})
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

// Images compare by type alone unless comparisonConfig.imageComparison asks for more; under
// exact, by bytes unless it says otherwise.
func TestImageComparison(t *testing.T) {
	img := func(mime, b64 string) *notebook.Notebook {
		return &notebook.Notebook{Cells: []notebook.Cell{cell(notebook.Output{OutputType: "display_data",
			Data: map[string]string{mime: b64, "text/plain": "<Figure size 100x100 with 1 Axes>"}})}}
	}
	red := color.RGBA{255, 0, 0, 255}
	redPNG, bluePNG := encodeImage(t, "png", 40, 30, red), encodeImage(t, "png", 40, 30, color.RGBA{0, 0, 255, 255})
	widerPNG, redJPEG := encodeImage(t, "png", 41, 30, red), encodeImage(t, "jpeg", 40, 30, red)
	// The same pixels encoded otherwise: other bytes, as another matplotlib would write them.
	var b bytes.Buffer
	src := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	draw.Draw(src, src.Bounds(), image.NewUniform(red), image.Point{}, draw.Src)
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	reencoded := base64.StdEncoding.EncodeToString(b.Bytes())
	if strings.Join(strings.Fields(redPNG), "") == reencoded {
		t.Fatal("re-encoding kept the bytes")
	}
	const matches = ""
	for _, tc := range []struct {
		strategy, images string
		golden           *notebook.Notebook
		actual           *notebook.Notebook
		want             string // expected/actual of the diff; matches: none
	}{
		{"", "", img("image/png", redPNG), img("image/png", bluePNG), matches},
		{"", "", img("image/png", redPNG), img("image/png", widerPNG), matches},
		{"", "", img("image/png", "not an image"), img("image/png", widerPNG), matches},
		{"", "", img("image/png", redPNG), img("image/jpeg", redJPEG), "image/png/"},
		{"", "size", img("image/png", redPNG), img("image/png", bluePNG), matches},
		{"", "size", img("image/png", redPNG), img("image/png", widerPNG), "image/png 40x30/image/png 41x30"},
		{"", "pixels", img("image/png", redPNG), img("image/png", reencoded), matches},
		{"", "pixels", img("image/png", redPNG), img("image/png", bluePNG), "image/png 40x30 pixels sha256:"},
		{"", "bytes", img("image/png", redPNG), img("image/png", reencoded), strings.Join(strings.Fields(redPNG), "")[:40]},
		{"exact", "", img("image/png", redPNG), img("image/png", reencoded), strings.Join(strings.Fields(redPNG), "")[:40]},
		{"exact", "type", img("image/png", redPNG), img("image/png", widerPNG), matches},
	} {
		cfg, err := FromSpec(&v1alpha1.ComparisonConfigSpec{Strategy: tc.strategy, ImageComparison: tc.images})
		if err != nil {
			t.Fatal(err)
		}
		r := Compare(tc.actual, tc.golden, cfg)
		name := fmt.Sprintf("strategy %q, imageComparison %q", tc.strategy, tc.images)
		if tc.want == matches {
			if !r.Passed() {
				t.Errorf("%s: %+v", name, r.Diffs)
			}
			continue
		}
		if r.Passed() {
			t.Errorf("%s: matched, want a diff %s", name, tc.want)
			continue
		}
		if got := r.Diffs[0].Expected + "/" + r.Diffs[0].Actual; !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: diff %s, want it to start %s", name, got, tc.want)
		}
	}
	if _, err := FromSpec(&v1alpha1.ComparisonConfigSpec{ImageComparison: "perceptual"}); err == nil || !strings.Contains(err.Error(), `imageComparison "perceptual"`) {
		t.Errorf("unknown imageComparison: %v", err)
	}
}

// A widget's output holds a model id that is new on every run: only its presence compares.
func TestWidgetViewsCompareByPresence(t *testing.T) {
	widget := func(id string) notebook.Output {
		return notebook.Output{OutputType: "display_data", Data: map[string]string{widgetView: `{"model_id": "` + id + `", "version_major": 2}`, "text/plain": "IntSlider(value=3)"}}
	}
	for _, strategy := range []string{StrategyNormalized, StrategyExact} {
		cfg, _ := FromSpec(&v1alpha1.ComparisonConfigSpec{Strategy: strategy})
		golden := &notebook.Notebook{Cells: []notebook.Cell{cell(widget("8f1e"))}}
		if r := Compare(&notebook.Notebook{Cells: []notebook.Cell{cell(widget("03ab"))}}, golden, cfg); !r.Passed() {
			t.Errorf("%s: another model id differs: %+v", strategy, r.Diffs)
		}
		if r := Compare(&notebook.Notebook{Cells: []notebook.Cell{cell()}}, golden, cfg); r.Passed() {
			t.Errorf("%s: a missing widget matched", strategy)
		}
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
