package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// MaxInlineImageBytes caps an image embedded in the HTML report (base64 length).
const MaxInlineImageBytes = 4 << 20

// HTMLInput is what the HTML report shows besides the Report: the executed notebook (every
// cell, with its outputs), the golden notebook and the comparison settings (for the side-by-
// side view of differing cells). Golden may be nil.
type HTMLInput struct {
	Executed   *notebook.Notebook
	Golden     *notebook.Notebook
	Comparison compare.Config
}

// WriteHTML renders the report as one self-contained HTML page: inline CSS, images as data:
// URIs, no script and a Content-Security-Policy that forbids any. Everything that comes from
// the notebook is escaped: its outputs are shown as text, never as HTML, SVG or JavaScript;
// only PNG and JPEG images whose header reads are rendered.
func (r *Report) WriteHTML(w io.Writer, in HTMLInput) error {
	if err := htmlPage.Execute(w, r.htmlView(in)); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

type htmlView struct {
	R          *Report
	Verdict    string
	Cells      []htmlCell
	Diffs      []htmlDiff
	Comparison *Comparison
}

type htmlCell struct {
	Index    int
	Type     string
	Source   string
	Report   *Cell // nil for markdown and raw cells
	Failed   bool
	Outputs  []htmlOutput
	Injected bool
}

type htmlOutput struct {
	Label string
	Text  string
	Image template.URL // a data: URI, set only for a verified PNG or JPEG
	Error bool
}

type htmlDiff struct {
	Diff    compare.Diff
	Unified []diffLine
	Golden  []htmlOutput
	Actual  []htmlOutput
	Clipped bool
}

func (r *Report) htmlView(in HTMLInput) htmlView {
	v := htmlView{R: r, Comparison: r.Comparison}
	v.Verdict = map[string]string{summary.ResultPassed: "PASSED", summary.ResultFailed: "FAILED"}[r.Result]
	if v.Verdict == "" {
		v.Verdict = "ERROR"
	}
	byIndex := map[int]*Cell{}
	for i := range r.Cells {
		byIndex[r.Cells[i].Index] = &r.Cells[i]
	}
	if in.Executed != nil {
		for i, c := range in.Executed.Cells {
			hc := htmlCell{Index: i, Type: c.CellType, Source: clipText(string(c.Source)), Report: byIndex[i],
				Injected: c.HasTag(notebook.TagInjectedParameters)}
			hc.Failed = hc.Report != nil && hc.Report.Status == summary.CellFailure
			for _, o := range c.Outputs {
				hc.Outputs = append(hc.Outputs, htmlOutputs(o)...)
			}
			v.Cells = append(v.Cells, hc)
		}
	}
	if r.Comparison != nil && in.Golden != nil && in.Executed != nil {
		for _, d := range r.Comparison.Diffs {
			hd := htmlDiff{Diff: d, Unified: diffLines(d.Unified)}
			if d.GoldenIndex >= 0 && d.GoldenIndex < len(in.Golden.Cells) {
				hd.Golden = segmentsView(in.Comparison, in.Golden.Cells[d.GoldenIndex])
			}
			if d.DiffType != compare.DiffMissingCell && d.Index >= 0 && d.Index < len(in.Executed.Cells) {
				hd.Actual = segmentsView(in.Comparison, in.Executed.Cells[d.Index])
			}
			v.Diffs = append(v.Diffs, hd)
		}
	}
	return v
}

// diffLine is one line of a unified diff with the class that colours it.
type diffLine struct {
	Class string // del, ins, hunk or ctx
	Text  string
}

// diffLines splits a unified diff into lines classed by their first character.
func diffLines(unified string) []diffLine {
	if unified == "" {
		return nil
	}
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(unified, "\n"), "\n") {
		class := "ctx"
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "@@"):
			class = "hunk"
		case strings.HasPrefix(l, "-"):
			class = "del"
		case strings.HasPrefix(l, "+"):
			class = "ins"
		}
		out = append(out, diffLine{Class: class, Text: l})
	}
	return out
}

// htmlOutputs turns one notebook output into what the page shows: text as text, images
// only when they are what they claim to be.
func htmlOutputs(o notebook.Output) []htmlOutput {
	switch o.OutputType {
	case "stream":
		return []htmlOutput{{Label: o.Name, Text: clipText(string(o.Text)), Error: o.Name == "stderr"}}
	case "error":
		tb := notebook.StripANSI(strings.Join(o.Traceback, "\n"))
		return []htmlOutput{{Label: "error", Text: clipText(o.EName + ": " + o.EValue + "\n" + tb), Error: true}}
	}
	mimes := make([]string, 0, len(o.Data))
	for m := range o.Data {
		mimes = append(mimes, m)
	}
	slices.Sort(mimes)
	var out []htmlOutput
	for _, m := range mimes {
		out = append(out, mimeOutput(m, o.Data[m]))
	}
	return out
}

func mimeOutput(mime, data string) htmlOutput {
	if mime == "image/png" || mime == "image/jpeg" {
		uri, err := dataURI(mime, data)
		if err != nil {
			return htmlOutput{Label: mime, Text: "image not shown: " + err.Error()}
		}
		return htmlOutput{Label: mime, Image: uri}
	}
	label := mime
	if mime != "text/plain" {
		label += " (shown as text, not rendered)"
	}
	return htmlOutput{Label: label, Text: clipText(data)}
}

// dataURI returns a data: URI for a base64 image after checking the text is plain base64
// (no quote, bracket or other character that could leave the attribute) and the bytes are an
// image of that type.
func dataURI(mime, b64 string) (template.URL, error) {
	clean := strings.Join(strings.Fields(b64), "")
	if len(clean) > MaxInlineImageBytes {
		return "", fmt.Errorf("%d bytes of base64, over the %d embedded", len(clean), MaxInlineImageBytes)
	}
	for _, c := range clean {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return "", fmt.Errorf("not base64")
		}
	}
	if _, _, err := compare.ImageSize(clean); err != nil {
		return "", err
	}
	return template.URL("data:" + mime + ";base64," + clean), nil
}

// segmentsView shows a cell's outputs as the comparison sees them (streams coalesced,
// ignored types left out, images rendered).
func segmentsView(cfg compare.Config, c notebook.Cell) []htmlOutput {
	exact := cfg
	exact.Strategy = compare.StrategyExact // the real bytes, so images can be shown
	var out []htmlOutput
	for _, s := range exact.Segments(c) {
		mime := s.Key[strings.IndexByte(s.Key, ':')+1:]
		if strings.HasPrefix(s.Key, "stream:") || s.Key == "error" {
			out = append(out, htmlOutput{Label: s.Key, Text: clipText(s.Text), Error: s.Key != "stream:stdout"})
			continue
		}
		o := mimeOutput(mime, s.Text)
		o.Label = s.Key + strings.TrimPrefix(o.Label, mime)
		out = append(out, o)
	}
	return out
}

func clipText(s string) string {
	if c, clipped := Clip(s); clipped {
		return c + "\n… (clipped)"
	}
	return s
}

func statusClass(status string) string {
	switch status {
	case summary.CellSuccess:
		return "ok"
	case summary.CellFailure:
		return "fail"
	}
	return "skip"
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"status": statusClass,
	"secs":   func(ms int64) string { return fmt.Sprintf("%.2fs", float64(ms)/1000) },
}).Parse(htmlTemplate))

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nbv {{.Verdict}}: {{.R.Notebook}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#1d1f21}
pre{background:#f6f8fa;padding:.5em;overflow:auto;white-space:pre-wrap;word-break:break-word;margin:.3em 0}
.verdict{font-size:1.4em;font-weight:600}.PASSED{color:#1a7f37}.FAILED,.ERROR{color:#cf222e}
.cell{border:1px solid #d0d7de;border-left-width:6px;border-radius:4px;margin:.8em 0;padding:.4em .8em}
.cell.ok{border-left-color:#1a7f37}.cell.fail{border-left-color:#cf222e;background:#fff8f8}.cell.skip{border-left-color:#9a6700}
.cell.md{border-left-color:#8c959f}.head{font-weight:600}.muted{color:#57606a}.err pre,pre.err{background:#ffebe9}
.label{font-size:.8em;color:#57606a;margin-top:.4em}img{max-width:100%;border:1px solid #d0d7de}
table.side{width:100%;table-layout:fixed;border-collapse:collapse}table.side td{vertical-align:top;width:50%;padding:.3em;border:1px solid #d0d7de}
table.side th{text-align:left;background:#f6f8fa;padding:.3em;border:1px solid #d0d7de}
.diffline{font-family:monospace;white-space:pre-wrap}
pre.udiff .del{background:#ffebe9}pre.udiff .ins{background:#dafbe1}pre.udiff .hunk{color:#57606a}
</style>
</head>
<body>
<p class="verdict {{.Verdict}}">{{.Verdict}} {{.R.Notebook}}</p>
<p>{{.R.Reason}}: {{.R.Message}}</p>
<p class="muted">{{.R.Counts.Passed}} passed, {{.R.Counts.Failed}} failed, {{.R.Counts.Skipped}} skipped of {{.R.Counts.Total}} code cells in {{secs .R.DurationMs}}
{{- if .R.Kernel}} · kernel {{.R.Kernel}}{{end}}{{if .R.PythonVersion}} · Python {{.R.PythonVersion}}{{end}}{{if .R.NBClient}} · nbclient {{.R.NBClient}}{{end}}
{{- if not .R.StartedAt.IsZero}} · started {{.R.StartedAt.UTC.Format "2006-01-02 15:04:05 UTC"}}{{end}}</p>
{{- with .R.ExitedEarly}}<p>The notebook exited early in <a href="#cell-{{.Cell}}">cell {{.Cell}}</a> (SystemExit{{if .Code}} {{.Code}}{{end}}): later cells were skipped, as papermill does.</p>{{end}}
{{- if .R.Findings}}<h2>Checks</h2><ul>{{range .R.Findings}}<li><b>{{.Severity}}</b> {{.Check}}{{if ge .Cell 0}} (<a href="#cell-{{.Cell}}">cell {{.Cell}}</a>){{end}}: {{.Message}}</li>{{end}}</ul>{{end}}
{{- with .Comparison}}
<h2>Golden comparison</h2>
<p>{{.Result}} ({{.Strategy}}, tolerance {{.Tolerance}}): {{.Matched}} of {{.Total}} code cells match.</p>
{{- if .NotCompared}}<p>Not compared:</p><ul>{{range .NotCompared}}<li><a href="#cell-{{.Index}}">cell {{.Index}}</a>: {{.Reason}}</li>{{end}}</ul>{{end}}
{{- end}}
{{- range .Diffs}}
<div class="cell fail" id="diff-{{.Diff.Index}}">
<p class="head">{{.Diff.Message}} <span class="muted">[{{.Diff.DiffType}}/{{.Diff.Severity}}]</span></p>
{{- if .Unified}}<pre class="udiff">{{range .Unified}}<span class="{{.Class}}">{{.Text}}</span>
{{end}}</pre>
{{- else if or .Diff.Expected .Diff.Actual}}<p class="diffline">- expected: {{.Diff.Expected}}
+ actual:   {{.Diff.Actual}}</p>{{end}}
<table class="side"><tr><th>golden{{if ge .Diff.GoldenIndex 0}} cell {{.Diff.GoldenIndex}}{{end}}</th><th>executed cell {{.Diff.Index}}</th></tr>
<tr><td>{{range .Golden}}{{template "output" .}}{{else}}<span class="muted">no outputs</span>{{end}}</td>
<td>{{range .Actual}}{{template "output" .}}{{else}}<span class="muted">no outputs</span>{{end}}</td></tr></table>
</div>
{{- end}}
<h2>Cells</h2>
{{- range .Cells}}
{{- if eq .Type "code"}}
<div class="cell {{if .Report}}{{status .Report.Status}}{{else}}skip{{end}}" id="cell-{{.Index}}">
<p class="head">cell {{.Index}}{{if .Injected}} (injected parameters){{end}}{{with .Report}} · {{.Status}} · {{secs .DurationMs}}{{if .TimedOut}} · timed out{{end}}{{end}}</p>
{{- with .Report}}{{if .SkipReason}}<p class="muted">skipped: {{.SkipReason}}</p>{{end}}
{{- with .AllowedError}}<p class="muted">raised {{.Name}}: {{.Value}}, allowed by {{.AllowedBy}}</p>{{end}}{{end}}
<pre>{{.Source}}</pre>
{{- range .Outputs}}{{template "output" .}}{{end}}
{{- if .Failed}}{{with .Report.Error}}<div class="err"><p class="head">{{.Name}}: {{.Value}}{{if .From}} (in {{.From}}){{end}}</p>{{if .Traceback}}<pre>{{.Traceback}}</pre>{{end}}</div>{{end}}{{end}}
</div>
{{- else}}
<div class="cell md" id="cell-{{.Index}}"><p class="head muted">cell {{.Index}} · {{.Type}}</p><pre>{{.Source}}</pre></div>
{{- end}}
{{- end}}
{{- if .R.ExecutedNotebook}}<p class="muted">executed notebook: {{.R.ExecutedNotebook}}</p>{{end}}
</body>
</html>
{{define "output"}}<div class="label">{{.Label}}</div>{{if .Image}}<img src="{{.Image}}" alt="{{.Label}}">{{else}}<pre{{if .Error}} class="err"{{end}}>{{.Text}}</pre>{{end}}{{end}}
`
