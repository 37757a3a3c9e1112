package redact

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStringMasksEveryForm(t *testing.T) {
	key := "-----BEGIN KEY-----\nAAAAB3NzaC1yc2E\n-----END KEY-----\n"
	r := New("s3cr3t-t0ken", "abc", `pa"ss\word`, key)
	cases := map[string]string{
		"token=s3cr3t-t0ken!":                  "token=***!",
		"twice s3cr3t-t0kens3cr3t-t0ken":       "twice ******",
		"short values stay: abc":               "short values stay: abc",
		`json: "pa\"ss\\word"`:                 `json: "***"`,
		`raw: pa"ss\word`:                      `raw: ***`,
		"one line of the key: AAAAB3NzaC1yc2E": "one line of the key: ***",
		"whole key: " + key:                    "whole key: ***",
	}
	for in, want := range cases {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if !New("", "ab", "xyz").Empty() || (*Redactor)(nil).String("x") != "x" {
		t.Error("values under MinLen must redact nothing")
	}
}

func TestJSONAndFile(t *testing.T) {
	r := New("hunter2-password")
	type cell struct {
		Stdout string            `json:"stdout"`
		Params map[string]string `json:"params"`
	}
	v := &struct {
		Message string `json:"message"`
		Cells   []cell `json:"cells"`
	}{Message: "login with hunter2-password failed", Cells: []cell{{Stdout: "pw=hunter2-password\n", Params: map[string]string{"pw": "hunter2-password"}}}}
	if err := r.JSON(v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if strings.Contains(string(b), "hunter2") || v.Message != "login with *** failed" {
		t.Errorf("after JSON: %s", b)
	}

	path := filepath.Join(t.TempDir(), "executed.ipynb")
	nb := `{"cells": [{"outputs": [{"text": "hunter2-password\n"}]}]}`
	if err := os.WriteFile(path, []byte(nb), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := r.File(path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	info, _ := os.Stat(path)
	if string(got) != `{"cells": [{"outputs": [{"text": "***\n"}]}]}` || info.Mode().Perm() != 0o640 {
		t.Errorf("file = %s (mode %v)", got, info.Mode().Perm())
	}
}

func TestFromEnvAndDirs(t *testing.T) {
	environ := []string{EnvNames + "=DB_PASSWORD, API_TOKEN,MISSING", "DB_PASSWORD=pw-123456", "API_TOKEN=tok-abcdef", "HOME=/home/jovyan"}
	if got := FromEnv(environ); strings.Join(got, ",") != "pw-123456,tok-abcdef" {
		t.Errorf("FromEnv = %q", got)
	}
	// A Secret volume as the kubelet lays it out: keys are symlinks into ..data.
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_01_01")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "password"), []byte("from-a-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "password"), filepath.Join(dir, "password")); err != nil {
		t.Fatal(err)
	}
	got, err := FromDirs(dir, filepath.Join(dir, "not-mounted"), "")
	if err != nil || len(got) != 1 || got[0] != "from-a-file" {
		t.Errorf("FromDirs = %q, %v; want the one key once", got, err)
	}
}

func TestWriterFindsValuesSplitAcrossWrites(t *testing.T) {
	r := New("split-secret-value")
	var out bytes.Buffer
	w := r.Writer(&out)
	for _, part := range []string{"line 1: split-se", "cret-value\nline 2: ", "split-secret-value", " end"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "line 1: ***\nline 2: *** end" {
		t.Errorf("written %q", got)
	}

	// A line longer than the writer holds is written in pieces, never through a value.
	out.Reset()
	long := strings.Repeat("x", maxHeld-5) + "split-secret-value" + strings.Repeat("y", 100)
	for i := 0; i < len(long); i += 7 {
		_, _ = w.Write([]byte(long[i:min(i+7, len(long))]))
	}
	_ = w.Flush()
	if strings.Contains(out.String(), "secret") || !strings.Contains(out.String(), "x***y") {
		t.Errorf("long line leaked or lost the value's place (%d bytes written)", out.Len())
	}
}

// hostile holds every character some writer of the runner escapes: HTML and XML (& < > " '
// +), JSON (" \ and a C0 control), Python's ASCII-only JSON (non-ASCII, beyond the BMP) and
// Go's JSON (U+2028).
const hostile = "pa&ss<w>rd\"q'\\ü€😀+\x01\u2028"

// Each writer's spelling of hostile is found in what that writer writes, with the real
// encoders (Go's) and Python's as json.dumps writes it (copied from python3 3.x output).
func TestEveryEncodingOfAValueIsMasked(t *testing.T) {
	r := New(hostile)
	var goHTML, goPlain, tmpl, xmlAttr, xmlText bytes.Buffer
	_ = json.NewEncoder(&goHTML).Encode(map[string]string{"m": "x " + hostile + " y"})
	plain := json.NewEncoder(&goPlain)
	plain.SetEscapeHTML(false)
	_ = plain.Encode(map[string]string{"m": "x " + hostile + " y"})
	_ = template.Must(template.New("").Parse(`<p title="{{.}}">{{.}}</p>`)).Execute(&tmpl, "x "+hostile+" y")
	_ = xml.NewEncoder(&xmlAttr).Encode(struct {
		XMLName xml.Name `xml:"failure"`
		Message string   `xml:"message,attr"`
		Text    string   `xml:",chardata"`
	}{Message: "x " + hostile + " y", Text: "x " + hostile + " y"})
	xmlText.WriteString(xmlAttr.String())
	written := map[string]string{
		"encoding/json":                   goHTML.String(),
		"encoding/json, no HTML escaping": goPlain.String(),
		"html/template":                   tmpl.String(),
		"html.EscapeString":               html.EscapeString("x " + hostile + " y"),
		"encoding/xml":                    xmlText.String(),
		"python json.dumps ensure_ascii=False (nbformat)": `"x pa&ss<w>rd\"q'\\ü€😀+\u0001` + "\u2028" + ` y"`,
		"python json.dumps": `"x pa&ss<w>rd\"q'\\\u00fc\u20ac\ud83d\ude00+\u0001\u2028 y"`,
	}
	for writer, text := range written {
		got := r.String(text)
		if strings.Contains(got, "ss<w") || strings.Contains(got, "ss&lt;w") || strings.Contains(got, `ss\u003cw`) || !strings.Contains(got, "x *** y") {
			t.Errorf("%s wrote %q; redacted %q, want x *** y", writer, text, got)
		}
	}
}

// A JSON document is redacted string by string: the value is found whatever the escaping
// (here Python's ASCII-only one and a \u escape of a plain letter, which no needle spells),
// and the result is valid JSON with its layout kept.
func TestDocumentRedactsJSONStringByString(t *testing.T) {
	r := New(hostile, "plain-token")
	doc := "{\n \"cells\": [\n  {\n   \"text\": [\n    \"x pa&ss<w>rd\\\"q'\\\\\\u00fc\\u20ac\\ud83d\\ude00+\\u0001\\u2028 y\\n\",\n    \"\\u0070lain-token\"\n   ]\n  }\n ]\n}\n"
	got := string(r.Document([]byte(doc)))
	want := "{\n \"cells\": [\n  {\n   \"text\": [\n    \"x *** y\\n\",\n    \"***\"\n   ]\n  }\n ]\n}\n"
	if got != want {
		t.Errorf("Document:\n%s\nwant\n%s", got, want)
	}
	// Not JSON (a notebook cut short): as text.
	if got := string(r.Document([]byte(`{"text": "plain-token`))); got != `{"text": "***` {
		t.Errorf("Document of a cut document = %q", got)
	}

	// JSON on a Go value: encoding/json spells & as \u0026, the value is found all the same.
	v := &struct{ Message string }{Message: "refused " + hostile}
	if err := r.JSON(v); err != nil || v.Message != "refused ***" {
		t.Errorf("JSON: %q, %v", v.Message, err)
	}
}

// A multi-line value is also masked line by line where nbformat splits lines (here \r and
// U+2028 as well as \n), each line as its own JSON string.
func TestMultiLineValueMaskedPerLine(t *testing.T) {
	r := New("first-line&1\r\nsecond<line>\u2028third-line\n")
	for in, want := range map[string]string{
		`["first-line&1\r\n", "second<line>` + "\u2028" + `third-line\n"]`: `["***\r\n", "***` + "\u2028" + `***\n"]`,
		`second&lt;line&gt;`: `***`,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// Python's repr of a string, what a cell ending in that string shows, is masked too (the
// expected texts are python3's repr output).
func TestPythonReprMasked(t *testing.T) {
	for value, shown := range map[string]string{
		hostile:  `'pa&ss<w>rd"q\'\\ü€😀+\x01\u2028'`,
		"it's-a": `"it's-a"`,
	} {
		if got := New(value).String("Out: " + shown); got != "Out: '***'" && got != `Out: "***"` {
			t.Errorf("repr %s redacted to %s", shown, got)
		}
	}
}
