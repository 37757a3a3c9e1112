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
// key, a kubeconfig) is also redacted line by line, since a notebook rarely prints it whole.
// Each value is also matched in its JSON-escaped form, so that it is found inside JSON
// documents (the executed notebook) as well as in plain text.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	add := func(v string) {
		if len(v) >= MinLen && !seen[v] {
			seen[v] = true
			needles = append(needles, v)
		}
	}
	for _, v := range values {
		forms := []string{v}
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				forms = append(forms, strings.TrimSpace(line))
			}
			// Files often end with a newline that a print leaves out.
			forms = append(forms, strings.TrimSpace(v))
		}
		for _, f := range forms {
			add(f)
			add(jsonEscaped(f))
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

// jsonEscaped is v as it appears between the quotes of a JSON string (nbformat writes UTF-8
// unescaped and does not escape HTML characters, as here).
func jsonEscaped(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
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

// File rewrites the file at path with every known value replaced, keeping its mode.
func (r *Redactor) File(path string) error {
	if r.Empty() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	out := r.String(string(b))
	if out == string(b) {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(out), info.Mode().Perm()); err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	return nil
}

// JSON redacts every string inside v (a pointer to a JSON-encodable value) by rewriting its
// JSON encoding and decoding it back into v. Fields that JSON does not carry are left alone.
func (r *Redactor) JSON(v any) error {
	if r.Empty() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("redact: encode: %w", err)
	}
	out := r.String(string(b))
	if out == string(b) {
		return nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("redact: decode the redacted document: %w", err)
	}
	return nil
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
