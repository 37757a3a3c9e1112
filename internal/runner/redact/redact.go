// Package redact owns keeping credential values out of everything nbv-runner writes: the
// termination-message summary, report.json, the JUnit XML, the executed notebook and its own
// log lines. A notebook can print any secret its pod was given (an environment variable from
// a Secret, a mounted key); whatever the runner writes is read later by people and programs
// that were never given that secret, so each known value is replaced by Mask.
//
// The runner learns the values, never from its arguments, from where the pod put them: the
// files of mounted Secret directories (FromDirs: git credentials in prepare, the Secrets
// behind envFrom and podConfig.credentials in the notebook container) and the environment
// variables whose names the pod spec lists in EnvNames (those set from a secretKeyRef).
//
// Values shorter than MinLen bytes are not redacted: masking every "1" or "yes" would make
// the outputs unreadable and protect nothing worth protecting. A multi-line value (a private
// key, a kubeconfig) is also redacted line by line, since a notebook rarely prints it whole
// and nbformat stores multi-line text as a list of lines.
//
// A value is matched in every encoding the runner's outputs use (see encodings): as it is,
// JSON-escaped the way Go writes it (report.json, the summary: \u0026 for &) and the way
// Python writes it (the executed notebook: nbformat's ensure_ascii=False, and the ASCII-only
// escaping of json.dumps' default), HTML-escaped (report.html) and XML-escaped (junit.xml).
// JSON documents are redacted string by string (decoded, masked, encoded again), so a value is
// found whatever escaping the writer chose and the document stays valid JSON. What is not
// found is a value the notebook itself transforms before printing it (base64, hex, reversed,
// split over several prints, one character per line), except Python's repr, which a notebook
// shows for a string that ends a cell.
package redact

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Mask replaces each secret value.
const Mask = "***"

// MinLen is the shortest value (in bytes) that is redacted.
const MinLen = 4

// EnvNames is the environment variable in which the pod spec lists, comma-separated, the names
// of the notebook container's variables that come from a Secret (never their values).
const EnvNames = "NBV_SECRET_ENV"

// Redactor replaces known secret values. The zero value and nil redact nothing.
type Redactor struct {
	needles  []string // longest first, so a value containing another is masked whole
	replacer *strings.Replacer
}

// New returns a Redactor for values.
func New(values ...string) *Redactor {
	seen := map[string]bool{}
	var needles []string
	for _, v := range values {
		forms := []string{v}
		if lines := splitLines(v); len(lines) > 1 || strings.TrimSpace(v) != v {
			forms = append(forms, lines...)
			// Files often end with a newline that a print leaves out.
			forms = append(forms, strings.TrimSpace(v))
		}
		for _, f := range forms {
			if len(f) < MinLen {
				continue
			}
			for _, e := range encodings(f) {
				if !seen[e] {
					seen[e] = true
					needles = append(needles, e)
				}
			}
		}
	}
	slices.SortFunc(needles, func(a, b string) int { return len(b) - len(a) })
	r := &Redactor{needles: needles}
	if len(needles) > 0 {
		pairs := make([]string, 0, 2*len(needles))
		for _, n := range needles {
			pairs = append(pairs, n, Mask)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
	return r
}

// splitLines returns the non-blank lines of v, trimmed, split where Python's str.splitlines
// splits (nbformat stores multi-line text as the list it returns).
func splitLines(v string) []string {
	var lines []string
	for _, l := range strings.FieldsFunc(v, func(r rune) bool {
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			return true
		}
		return false
	}) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// encodings returns v as each writer of the runner's outputs may spell it.
func encodings(v string) []string {
	return []string{
		v,
		goJSON(v, true),  // encoding/json's default: report.json, the summary
		goJSON(v, false), // encoding/json without HTML escaping
		pythonJSON(v, false),
		pythonJSON(v, true),
		pythonRepr(v),          // a str shown as a cell's last expression (text/plain of execute_result)
		htmlTemplateEscaped(v), // report.html (html/template also escapes +)
		html.EscapeString(v),   // &#39; and &#34; as html.EscapeString writes them
		xmlEscaped(v),          // junit.xml attributes
		xmlCharData(v),         // junit.xml elements
	}
}

// goJSON is v between the quotes of a JSON string as encoding/json writes it.
func goJSON(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(v)
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// pythonJSON is v between the quotes of a JSON string as Python's json.dumps writes it:
// nbformat writes notebooks with ensure_ascii=False (UTF-8 as it is, only " \\ and C0
// controls escaped); asciiOnly is json.dumps' default, where everything outside printable
// ASCII is a \\uXXXX escape (UTF-16 surrogate pairs beyond the BMP).
func pythonJSON(v string, asciiOnly bool) string {
	var b strings.Builder
	for _, r := range v {
		if short, ok := pythonShortEscapes[r]; ok {
			b.WriteString(short)
		} else if r < 0x20 || (asciiOnly && r > '~') {
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pythonShortEscapes are the two-character escapes of Python's json encoder.
var pythonShortEscapes = map[rune]string{'"': `\"`, '\\': `\\`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\b': `\b`, '\f': `\f`}

// pythonRepr is v between the quotes of Python's repr(v) (unicode_repr: single quotes unless
// v holds ' and no ", printable non-ASCII kept; unicode.IsPrint stands in for isprintable).
func pythonRepr(v string) string {
	quote := '\''
	if strings.ContainsRune(v, '\'') && !strings.ContainsRune(v, '"') {
		quote = '"'
	}
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == quote || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f || (r > 0x7f && r <= 0xff && !unicode.IsPrint(r)):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0x7f && !unicode.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0x7f && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var htmlText = template.Must(template.New("text").Parse(`{{.}}`))

// htmlTemplateEscaped is v as html/template writes it in text and quoted attributes.
func htmlTemplateEscaped(v string) string {
	var b strings.Builder
	if err := htmlText.Execute(&b, v); err != nil {
		return v
	}
	return b.String()
}

// xmlEscaped is v as encoding/xml writes it in an attribute (newlines escaped too).
func xmlEscaped(v string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(v))
	return b.String()
}

// xmlCharData is v as encoding/xml writes it in an element's text (newlines kept).
func xmlCharData(v string) string {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	_ = enc.EncodeToken(xml.CharData(v))
	_ = enc.Flush()
	return b.String()
}

// Empty reports whether r redacts nothing.
func (r *Redactor) Empty() bool { return r == nil || r.replacer == nil }

// MaxLen is the length of the longest value r replaces (0 when none).
func (r *Redactor) MaxLen() int {
	if r.Empty() {
		return 0
	}
	return len(r.needles[0])
}

// String returns s with every known value replaced by Mask.
func (r *Redactor) String(s string) string {
	if r.Empty() {
		return s
	}
	return r.replacer.Replace(s)
}

// File rewrites the file at path with every known value replaced (as Document does),
// keeping its mode.
func (r *Redactor) File(path string) error {
	if r.Empty() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	out := r.Document(b)
	if bytes.Equal(out, b) {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	return nil
}

// JSON redacts every string inside v (a pointer to a JSON-encodable value) by redacting its
// JSON encoding string by string and decoding it back into v. Fields that JSON does not carry
// are left alone.
func (r *Redactor) JSON(v any) error {
	if r.Empty() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("redact: encode: %w", err)
	}
	out, changed := r.jsonStrings(b)
	if !changed {
		return nil
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("redact: decode the redacted document: %w", err)
	}
	return nil
}

// Document returns b with every known value replaced: a valid JSON document (a notebook)
// string by string, so that the value is found however the writer escaped it and the result
// stays valid JSON with its layout kept; anything else as text.
func (r *Redactor) Document(b []byte) []byte {
	if r.Empty() {
		return b
	}
	if json.Valid(b) {
		out, _ := r.jsonStrings(b)
		return out
	}
	return []byte(r.String(string(b)))
}

// jsonStrings redacts each string literal (keys included) of the valid JSON document b:
// decoded, masked, and written again the way nbformat writes strings when it changed. It
// reports whether anything changed.
func (r *Redactor) jsonStrings(b []byte) ([]byte, bool) {
	var out []byte
	changed := false
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end := i + 1
		for end < len(b) && b[end] != '"' {
			if b[end] == '\\' {
				end++
			}
			end++
		}
		end++ // past the closing quote
		if end > len(b) {
			break
		}
		var s string
		if err := json.Unmarshal(b[i:end], &s); err == nil {
			if masked := r.String(s); masked != s {
				out = append(out, b[last:i]...)
				out = append(out, '"')
				out = append(out, goJSON(masked, false)...)
				out = append(out, '"')
				last, changed = end, true
			}
		}
		i = end - 1
	}
	if !changed {
		return b, false
	}
	return append(out, b[last:]...), true
}

// FromEnv returns the values of the variables named, comma-separated, in the EnvNames
// variable of environ (os.Environ form). Names not set are skipped.
func FromEnv(environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var values []string
	for _, name := range strings.Split(env[EnvNames], ",") {
		if v, ok := env[strings.TrimSpace(name)]; ok && name != "" {
			values = append(values, v)
		}
	}
	return values
}

// FromDirs returns the contents of the files of mounted Secret directories: each key is a
// file. The kubelet's own entries (..data, ..<timestamp>) are skipped; the keys are symlinks
// into them and are read through. A directory that does not exist holds nothing (an optional
// Secret that is missing).
func FromDirs(dirs ...string) ([]string, error) {
	var values []string
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read secret directory %s: %w", dir, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "..") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			info, err := os.Stat(p)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read secret %s: %w", p, err)
			}
			values = append(values, string(b))
		}
	}
	return values, nil
}
