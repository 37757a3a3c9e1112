// Package compare owns the golden-notebook comparison: it matches the executed notebook's cells
// to the golden notebook's by index and reports, per cell, missing, extra or mismatched outputs.
//
// What is compared: the outputs of code cells (stream text, rich outputs by MIME type, errors).
// Sources, markdown and metadata are not compared. Cells tagged injected-parameters are left
// out on both sides (parameter values legitimately differ), so indexes still line up when
// only one notebook carries the injected cell. A cell's stream outputs are coalesced per
// stream first (CoalesceStreams), because how a kernel chunks and interleaves streams varies
// between runs. Not compared, and reported as such: golden cells that never ran (no execution
// count, no outputs), cells whose nbval markers ignore their output (NBVAL_IGNORE_OUTPUT,
// nbval-ignore-output) and cells not run because of a skip marker (NBVAL_SKIP, nbval-skip,
// skip-execution), on either side.
//
// As in nbval, a cell's outputs are compared per kind (Segment.Key: a stream's name, a rich
// output's MIME type, "error"), in order within a kind but not across kinds, and the output
// type is not part of the kind: a figure shown before or after a print, stdout before or after
// stderr, the same data as display_data or execute_result all match.
//
// Masks (comparisonConfig.maskPatterns) rewrite text first, under both strategies.
// Strategy "exact" then compares texts byte for byte, except that execution counts are
// ignored (the execution_count fields always; "In [n]", "Cell In[n]", "Out[n]" in tracebacks
// when IgnoreExecutionCount). Strategy "normalized" additionally strips ANSI sequences, CRLF and
// trailing spaces, masks timestamps (built-in patterns plus custom ones, when IgnoreTimestamps)
// and object addresses ("at 0x7f..."), compares numbers with a tolerance (a and b match
// when |a-b| <= tol * max(1, |a|, |b|) — absolute below 1, relative above), and errors by
// name and value without their tracebacks (which name installation paths).
//
// PNG and JPEG images compare as Config.Images says: by type only (nbval's default, and ours
// under normalized), size, decoded pixels, or bytes (the default under exact). Jupyter widget
// views compare by presence under both strategies: their model ids are new on every run.
package compare

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

// Strategies.
const (
	StrategyExact      = "exact"
	StrategyNormalized = "normalized"
)

// Diff types and severities, as carried in summary.Diff.
const (
	DiffOutputMismatch = "output_mismatch"
	DiffExecutionError = "execution_error"
	DiffMissingCell    = "missing_cell"
	DiffExtraCell      = "extra_cell"

	SeverityMajor    = "major"
	SeverityCritical = "critical"
)

// DefaultTolerance applies when the spec names none (the CRD's default).
const DefaultTolerance = 1e-4

// Config is a resolved comparison configuration.
type Config struct {
	Strategy             string
	Tolerance            float64
	IgnoreTimestamps     bool
	IgnoreExecutionCount bool
	// TimestampPatterns are masked in addition to the built-in ones.
	TimestampPatterns []*regexp.Regexp
	// IgnoreOutputTypes holds output types (stream, execute_result, display_data, error),
	// stream names (stdout, stderr) or MIME types (image/png) to leave out.
	IgnoreOutputTypes []string
	// Masks rewrite output text before comparison, in order, under both strategies.
	Masks []Mask
	// Images is how PNG and JPEG outputs compare: ImagesByType, ImagesBySize,
	// ImagesByPixels or ImagesByBytes.
	Images string
}

// Mask is a regular-expression replacement (Go's Regexp.ReplaceAllString: $1 and ${name}
// expand capture groups).
type Mask struct {
	Pattern     *regexp.Regexp
	Replacement string
}

// FromSpec resolves a ComparisonConfigSpec (nil allowed) with the CRD's defaults.
func FromSpec(spec *v1alpha1.ComparisonConfigSpec) (Config, error) {
	c := Config{Strategy: StrategyNormalized, Tolerance: DefaultTolerance, IgnoreTimestamps: true, IgnoreExecutionCount: true, Images: ImagesByType}
	if spec == nil {
		return c, nil
	}
	switch spec.Strategy {
	case "":
	case StrategyExact, StrategyNormalized:
		c.Strategy = spec.Strategy
	default:
		return c, fmt.Errorf("comparison strategy %q is not exact or normalized", spec.Strategy)
	}
	switch spec.ImageComparison {
	case "":
		if c.Strategy == StrategyExact {
			c.Images = ImagesByBytes
		}
	case ImagesByType, ImagesBySize, ImagesByPixels, ImagesByBytes:
		c.Images = spec.ImageComparison
	default:
		return c, fmt.Errorf("imageComparison %q is not type, size, pixels or bytes", spec.ImageComparison)
	}
	if spec.FloatingPointTolerance != nil && *spec.FloatingPointTolerance != "" {
		tol, err := strconv.ParseFloat(*spec.FloatingPointTolerance, 64)
		if err != nil || tol < 0 || math.IsNaN(tol) || math.IsInf(tol, 0) {
			return c, fmt.Errorf("floatingPointTolerance %q is not a non-negative number", *spec.FloatingPointTolerance)
		}
		c.Tolerance = tol
	}
	if spec.IgnoreTimestamps != nil {
		c.IgnoreTimestamps = *spec.IgnoreTimestamps
	}
	if spec.IgnoreExecutionCount != nil {
		c.IgnoreExecutionCount = *spec.IgnoreExecutionCount
	}
	for _, p := range spec.CustomTimestampPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return c, fmt.Errorf("customTimestampPatterns: %q: %w", p, err)
		}
		c.TimestampPatterns = append(c.TimestampPatterns, re)
	}
	c.IgnoreOutputTypes = slices.Clone(spec.IgnoreOutputTypes)
	for i, m := range spec.MaskPatterns {
		re, err := regexp.Compile(m.Pattern)
		if err != nil {
			return c, fmt.Errorf("maskPatterns[%d].pattern %q is not a valid regular expression: %w", i, m.Pattern, err)
		}
		c.Masks = append(c.Masks, Mask{Pattern: re, Replacement: m.Replacement})
	}
	return c, nil
}

// Result is the outcome of a comparison. Total counts the code cells compared; NotCompared
// lists the code cells left out, with why.
type Result struct {
	Strategy    string
	Total       int
	Matched     int
	Mismatched  int
	Diffs       []Diff
	NotCompared []NotCompared
}

// NotCompared is a code cell pair left out of the comparison. Index is the executed cell's
// index, GoldenIndex the golden cell's.
type NotCompared struct {
	Index       int    `json:"index"`
	GoldenIndex int    `json:"goldenIndex"`
	Reason      string `json:"reason"`
}

// Passed reports whether the notebooks matched.
func (r Result) Passed() bool { return len(r.Diffs) == 0 }

// Diff is one cell that differs. Index is the cell's index in the executed notebook (for a
// missing cell, in the golden notebook), GoldenIndex the golden cell's (-1: none). Expected
// and Actual are the first differing lines; Unified is the unified diff of the differing kind
// of output, golden to executed (at most MaxUnifiedLines lines).
type Diff struct {
	Index       int    `json:"index"`
	GoldenIndex int    `json:"goldenIndex"`
	CellType    string `json:"cellType"`
	DiffType    string `json:"diffType"`
	Severity    string `json:"severity"`
	Message     string `json:"message"`
	Expected    string `json:"expected,omitempty"`
	Actual      string `json:"actual,omitempty"`
	Unified     string `json:"unified,omitempty"`
}

type indexedCell struct {
	index int
	cell  notebook.Cell
}

func comparable(nb *notebook.Notebook) []indexedCell {
	var out []indexedCell
	for i, c := range nb.Cells {
		if c.HasTag(notebook.TagInjectedParameters) {
			continue
		}
		out = append(out, indexedCell{i, c})
	}
	return out
}

// Compare compares the executed notebook with the golden one.
func Compare(actual, golden *notebook.Notebook, cfg Config) Result {
	res := Result{Strategy: cfg.Strategy}
	a, g := comparable(actual), comparable(golden)
	for k := 0; k < max(len(a), len(g)); k++ {
		switch {
		case k >= len(a):
			gc := g[k]
			if gc.cell.CellType == "code" {
				res.Total++
			}
			res.Mismatched++
			res.Diffs = append(res.Diffs, Diff{Index: gc.index, GoldenIndex: gc.index, CellType: gc.cell.CellType, DiffType: DiffMissingCell,
				Severity: SeverityCritical, Message: fmt.Sprintf("golden cell %d has no counterpart in the executed notebook", gc.index),
				Expected: firstLine(string(gc.cell.Source))})
		case k >= len(g):
			ac := a[k]
			if ac.cell.CellType == "code" {
				res.Total++
			}
			res.Mismatched++
			res.Diffs = append(res.Diffs, Diff{Index: ac.index, GoldenIndex: -1, CellType: ac.cell.CellType, DiffType: DiffExtraCell,
				Severity: SeverityMajor, Message: fmt.Sprintf("cell %d is not in the golden notebook", ac.index),
				Actual: firstLine(string(ac.cell.Source))})
		default:
			ac, gc := a[k], g[k]
			if ac.cell.CellType != gc.cell.CellType {
				res.Mismatched++
				res.Diffs = append(res.Diffs, Diff{Index: ac.index, GoldenIndex: gc.index, CellType: ac.cell.CellType, DiffType: DiffOutputMismatch,
					Severity: SeverityMajor, Message: fmt.Sprintf("cell %d is %s, golden cell %d is %s", ac.index, ac.cell.CellType, gc.index, gc.cell.CellType)})
				continue
			}
			if ac.cell.CellType != "code" {
				continue
			}
			if why := notCompared(ac.cell, gc.cell); why != "" {
				res.NotCompared = append(res.NotCompared, NotCompared{Index: ac.index, GoldenIndex: gc.index, Reason: why})
				continue
			}
			res.Total++
			if d, ok := compareCell(ac, gc, cfg); !ok {
				res.Mismatched++
				res.Diffs = append(res.Diffs, d)
			} else {
				res.Matched++
			}
		}
	}
	return res
}

// notCompared says why a pair of code cells is left out of the comparison, or "".
func notCompared(actual, golden notebook.Cell) string {
	for _, side := range []struct {
		name string
		cell notebook.Cell
	}{{"cell", actual}, {"golden cell", golden}} {
		d, _ := side.cell.Directives()
		if d.Skip != "" {
			return "not run: " + side.name + " is marked " + d.Skip
		}
		if !d.Compare {
			return "output ignored: " + side.name + " is marked " + d.IgnoredBy
		}
	}
	if golden.NeverRan() {
		return "the golden cell never ran (no execution count, no outputs)"
	}
	return ""
}

// Segment is one comparable piece of a cell's outputs: Key names its kind ("stream:stdout",
// a MIME type such as "text/plain" or "image/png" whatever output type carried it, "error")
// and Text its content (an error's name and value, under exact also its traceback).
type Segment struct {
	Key  string
	Text string
}

// widgetView is a Jupyter widget's output: a model id that is new on every run.
const widgetView = "application/vnd.jupyter.widget-view+json"

// Segments flattens a cell's outputs into what the comparison sees, streams coalesced and
// ignored output types left out.
func (cfg Config) Segments(c notebook.Cell) []Segment {
	ignored := func(s string) bool { return slices.Contains(cfg.IgnoreOutputTypes, s) }
	var out []Segment
	for _, o := range CoalesceStreams(c.Outputs) {
		if ignored(o.OutputType) {
			continue
		}
		switch o.OutputType {
		case "stream":
			if !ignored(o.Name) {
				out = append(out, Segment{Key: "stream:" + o.Name, Text: string(o.Text)})
			}
		case "error":
			text := o.EName + ": " + o.EValue
			if cfg.Strategy == StrategyExact {
				text += "\n" + strings.Join(o.Traceback, "\n")
			}
			out = append(out, Segment{Key: "error", Text: text})
		default:
			mimes := make([]string, 0, len(o.Data))
			for m := range o.Data {
				if !ignored(m) {
					mimes = append(mimes, m)
				}
			}
			sort.Strings(mimes)
			for _, m := range mimes {
				out = append(out, Segment{Key: m, Text: o.Data[m]})
			}
		}
	}
	return out
}

func hasError(c notebook.Cell) (string, bool) {
	for _, o := range c.Outputs {
		if o.OutputType == "error" {
			return o.EName + ": " + o.EValue, true
		}
	}
	return "", false
}

func compareCell(a, g indexedCell, cfg Config) (Diff, bool) {
	d := Diff{Index: a.index, GoldenIndex: g.index, CellType: "code", DiffType: DiffOutputMismatch, Severity: SeverityMajor}
	// mismatch records the difference: want and got are the first differing lines, wantText
	// and gotText the whole outputs of kind key they come from.
	mismatch := func(msg, key, want, got, wantText, gotText string) (Diff, bool) {
		if e, ok := hasError(a.cell); ok {
			if _, gok := hasError(g.cell); !gok {
				d.DiffType, d.Severity = DiffExecutionError, SeverityCritical
				msg = "cell raised " + e + " where the golden cell did not"
			}
		}
		d.Message, d.Expected, d.Actual = msg, clip(want), clip(got)
		d.Unified = unifiedDiff(fmt.Sprintf("golden cell %d %s", g.index, key), fmt.Sprintf("executed cell %d %s", a.index, key), wantText, gotText)
		return d, false
	}
	as, gs := byKey(cfg.Segments(a.cell)), byKey(cfg.Segments(g.cell))
	shownAll := func(k string, texts []string) string {
		shown := make([]string, len(texts))
		for i, t := range texts {
			shown[i] = cfg.shownNormalized(k, t)
		}
		return strings.Join(shown, "\n")
	}
	for _, k := range gs.keys {
		if len(as.texts[k]) == 0 {
			want := shownAll(k, gs.texts[k])
			return mismatch(fmt.Sprintf("cell %d lacks the golden cell's %s output", a.index, k), k, firstLine(want), "", want, "")
		}
	}
	for _, k := range as.keys {
		if len(gs.texts[k]) == 0 {
			got := shownAll(k, as.texts[k])
			return mismatch(fmt.Sprintf("cell %d has an extra %s output", a.index, k), k, "", firstLine(got), "", got)
		}
	}
	for _, k := range gs.keys {
		at, gt := as.texts[k], gs.texts[k]
		if len(at) != len(gt) {
			return mismatch(fmt.Sprintf("cell %d has %d %s outputs, the golden cell %d", a.index, len(at), k, len(gt)), k,
				fmt.Sprintf("%d × %s", len(gt), k), fmt.Sprintf("%d × %s", len(at), k), shownAll(k, gt), shownAll(k, at))
		}
		for i := range gt {
			what := k
			if len(gt) > 1 {
				what = fmt.Sprintf("%s #%d", k, i+1)
			}
			if form, ok := cfg.asIs(k, gt[i]); ok {
				if got, _ := cfg.asIs(k, at[i]); got != form {
					return mismatch(fmt.Sprintf("cell %d output %s differs (images compared by %s)", a.index, what, cfg.Images), what, firstLine(form), firstLine(got), form, got)
				}
				continue
			}
			want, got := cfg.normalize(gt[i]), cfg.normalize(at[i])
			if line, ok := cfg.equal(want, got); !ok {
				return mismatch(fmt.Sprintf("cell %d output %s differs at line %d", a.index, what, line+1), what, lineAt(want, line), lineAt(got, line), want, got)
			}
		}
	}
	return d, true
}

// keyed is a cell's segments grouped by kind, kinds in order of first appearance.
type keyed struct {
	keys  []string
	texts map[string][]string
}

func byKey(segs []Segment) keyed {
	k := keyed{texts: map[string][]string{}}
	for _, s := range segs {
		if _, seen := k.texts[s.Key]; !seen {
			k.keys = append(k.keys, s.Key)
		}
		k.texts[s.Key] = append(k.texts[s.Key], s.Text)
	}
	return k
}

// asIs returns the form in which an output of kind key is compared when that is not its
// normalized text: images as Images says, widget views by presence.
func (c Config) asIs(key, text string) (string, bool) {
	switch {
	case comparedAsImage(key):
		return imageForm(c.Images, key, text), true
	case key == widgetView:
		return key, true
	}
	return "", false
}

// shownNormalized is what a diff shows of an output: an image's comparable form, not its
// base64; any other output's text as compared.
func (c Config) shownNormalized(key, text string) string {
	if form, ok := c.asIs(key, text); ok {
		return form
	}
	return c.normalize(text)
}

var (
	executionCount = regexp.MustCompile(`(Cell In ?|In ?|Out ?|Input In ?)\[\d+\]`)
	objectAddress  = regexp.MustCompile(`\bat 0x[0-9a-fA-F]+\b`)
	trailingSpace  = regexp.MustCompile(`[ \t]+\n`)
	// builtinTimestamps are masked when IgnoreTimestamps is set, longest forms first.
	builtinTimestamps = []*regexp.Regexp{
		// ISO 8601 / RFC 3339 and Python's str(datetime): 2024-01-02T03:04:05.678+01:00
		regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?`),
		// RFC 1123 (HTTP dates): Mon, 02 Jan 2006 15:04:05 GMT
		regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}( [A-Z]{2,5}|[+-]\d{4})?`),
		// time.ctime(): Mon Jan  2 15:04:05 2006
		regexp.MustCompile(`[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}`),
		// dates alone, and times of day alone: 2024-01-02, 03:04:05.123
		regexp.MustCompile(`\d{4}-\d{2}-\d{2}`),
		regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}(\.\d+)?\b`),
	}
)

const timestampMask = "<timestamp>"

func (c Config) normalize(s string) string {
	for _, m := range c.Masks {
		s = m.Pattern.ReplaceAllString(s, m.Replacement)
	}
	if c.IgnoreExecutionCount {
		s = executionCount.ReplaceAllStringFunc(s, func(m string) string { return m[:strings.IndexByte(m, '[')] + "[#]" })
	}
	if c.Strategy == StrategyExact {
		return s
	}
	s = notebook.StripANSI(s)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = trailingSpace.ReplaceAllString(s, "\n")
	s = strings.TrimRight(s, " \t\n")
	s = objectAddress.ReplaceAllString(s, "at 0x#")
	if c.IgnoreTimestamps {
		for _, re := range c.TimestampPatterns {
			s = re.ReplaceAllString(s, timestampMask)
		}
		for _, re := range builtinTimestamps {
			s = re.ReplaceAllString(s, timestampMask)
		}
	}
	return s
}

// equal reports whether two normalized texts match and, if not, the first line that differs.
func (c Config) equal(want, got string) (int, bool) {
	if want == got {
		return 0, true
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		if i >= len(wl) || i >= len(gl) {
			return i, false
		}
		if wl[i] == gl[i] {
			continue
		}
		if c.Strategy == StrategyExact || !NumbersClose(wl[i], gl[i], c.Tolerance) {
			return i, false
		}
	}
	return 0, true
}

// NumbersClose reports whether two lines are equal apart from numbers that agree within tol
// (|a-b| <= tol * max(1, |a|, |b|)).
func NumbersClose(a, b string, tol float64) bool {
	ta, tb := tokenize(a), tokenize(b)
	if len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		x, y := ta[i], tb[i]
		if x.num != y.num {
			return false
		}
		if !x.num {
			if x.text != y.text {
				return false
			}
			continue
		}
		if x.text == y.text {
			continue
		}
		if math.Abs(x.val-y.val) > tol*max(1, math.Abs(x.val), math.Abs(y.val)) {
			return false
		}
	}
	return true
}

type token struct {
	num  bool
	text string
	val  float64
}

var numberRE = regexp.MustCompile(`^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?`)

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// tokenize splits a line into numbers and the text between them. A number must stand alone:
// "x1", "0x1f" and "3rd" stay text.
func tokenize(s string) []token {
	var out []token
	text := 0
	for i := 0; i < len(s); {
		if (i == 0 || !isWordByte(s[i-1])) && (s[i] == '-' || s[i] == '+' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
			if m := numberRE.FindStringIndex(s[i:]); m != nil {
				end := i + m[1]
				if end == len(s) || !(isWordByte(s[end]) && s[end] != '.') {
					if v, err := strconv.ParseFloat(s[i:end], 64); err == nil {
						if text < i {
							out = append(out, token{text: s[text:i]})
						}
						out = append(out, token{num: true, text: s[i:end], val: v})
						i, text = end, end
						continue
					}
				}
			}
		}
		i++
	}
	if text < len(s) {
		out = append(out, token{text: s[text:]})
	}
	return out
}

func lineAt(s string, i int) string {
	lines := strings.Split(s, "\n")
	if i < len(lines) {
		return clip(lines[i])
	}
	return "(end of output)"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clip(s)
}

func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	for n2 := n; n2 > 0; n2-- {
		if s[n2]&0xC0 != 0x80 {
			return s[:n2] + "…"
		}
	}
	return ""
}
