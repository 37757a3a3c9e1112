package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/runner/redact"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// A notebook that prints the credentials its pod was given, to stdout, to stderr and in the
// exception that fails it, leaves no trace of them in anything the runner writes: the
// termination-log summary, report.json, junit.xml, the executed notebook and the log lines.
// The values reach the runner as the pod spec hands them over: a variable named in
// $NBV_SECRET_ENV and a mounted Secret directory named by --secret-dir.
func TestExecuteRedactsCredentials(t *testing.T) {
	const envValue = "tok-9f8e7d6c5b4a"
	const fileValue = `pa"ss\wörd-42`
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "password"), []byte(fileValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MY_TOKEN", envValue)
	t.Setenv(redact.EnvNames, "MY_TOKEN")
	t.Setenv("SECRET_FILE", filepath.Join(secretDir, "password"))
	written := runLeaky(t, secretDir, 1, // the last cell raises
		"import os, sys\npw = open(os.environ['SECRET_FILE']).read().strip()\nprint('token:', os.environ['MY_TOKEN'])\nprint('password:', pw)",
		"sys.stderr.write('stderr token ' + os.environ['MY_TOKEN'] + '\\n')\npw",
		"raise ValueError('login failed for ' + os.environ['MY_TOKEN'] + ' with ' + pw)")
	escaped, _ := json.Marshal(fileValue)
	for name, text := range written {
		for _, v := range []string{envValue, fileValue, string(escaped[1 : len(escaped)-1]), "ss\\\\w"} {
			if strings.Contains(text, v) {
				t.Errorf("%s contains the secret %q", name, v)
			}
		}
	}
	s, err := summary.Decode([]byte(written["termination-log"]))
	if err != nil || s.FirstFailure == nil || s.FirstFailure.Error != "ValueError: login failed for *** with ***" {
		t.Errorf("summary %s (%v): want the failure with both values masked", written["termination-log"], err)
	}
	if !strings.Contains(written["executed.ipynb"], "token: ***") || !strings.Contains(written["stderr"]+written["executed.ipynb"], "stderr token ***") {
		t.Errorf("the printed lines are not kept with the values masked:\n%s", written["executed.ipynb"])
	}
}

// Prepare masks the values of the git credentials it mounted in its summary and log.
func TestPrepareRedactsCredentials(t *testing.T) {
	creds := t.TempDir()
	const token = "ghp_0123456789abcdef"
	for k, v := range map[string]string{"username": "ci-bot", "password": token} {
		if err := os.WriteFile(filepath.Join(creds, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tl := filepath.Join(t.TempDir(), "termination-log")
	var out, errb bytes.Buffer
	// A URL that embeds the token (a common mistake) is echoed by the clone error.
	code := run(context.Background(), []string{"prepare", "--workspace", t.TempDir(), "--termination-log", tl, "--credentials-dir", creds,
		"--notebook-url", "file://" + filepath.Join(t.TempDir(), token), "--notebook-ref", "main", "--notebook-path", "a.ipynb"}, &out, &errb)
	b, _ := os.ReadFile(tl)
	if code != 2 || len(b) == 0 {
		t.Fatalf("exit %d, summary %q; want a failure summary", code, b)
	}
	for name, text := range map[string]string{"summary": string(b), "stdout": out.String(), "stderr": errb.String()} {
		if strings.Contains(text, token) {
			t.Errorf("%s contains the token: %s", name, text)
		}
	}
	if !strings.Contains(string(b)+errb.String(), "***") {
		t.Errorf("the error no longer names where the token was: %s %s", b, errb.String())
	}
}

// A credential holding every character some output escapes (& < > " ' \ and non-ASCII) and
// a multi-line one leave no trace in any file the runner writes, whichever way the notebook
// shows them: print, stderr, the repr a cell ends with, an HTML display, the exception. Each
// value begins and ends with a marker no escaping changes, so any spelling of it is found.
func TestExecuteRedactsValuesInEveryEncoding(t *testing.T) {
	const hostile = `Zq9&Tk<Lm>Vx"Wy'Rz\Ü€😀+Hb7`
	const key = "-----BEGIN KEY-----\nKq8-first&line<x>\nKq8-second\"line'y\n-----END KEY-----\n"
	secretDir := t.TempDir()
	for name, v := range map[string]string{"token": hostile, "key": key} {
		if err := os.WriteFile(filepath.Join(secretDir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SECRET_DIR", secretDir)
	written := runLeaky(t, secretDir, 1, // the last cell raises
		"import os, sys\nfrom IPython.display import HTML, display\ntok = open(os.path.join(os.environ['SECRET_DIR'], 'token')).read()\nkey = open(os.path.join(os.environ['SECRET_DIR'], 'key')).read()\nprint('token:', tok)\nprint(key)",
		"sys.stderr.write('stderr ' + tok + '\\n')\ndisplay(HTML('<b>' + tok + '</b>'))\ntok",
		"key",
		"raise ValueError('login failed for ' + tok)")
	for name, text := range written {
		for _, marker := range []string{"Zq9", "Hb7", "Kq8", "BEGIN KEY"} {
			if strings.Contains(text, marker) {
				i := strings.Index(text, marker)
				t.Errorf("%s holds %q: …%s…", name, marker, text[max(0, i-40):min(len(text), i+80)])
			}
		}
	}
	s, err := summary.Decode([]byte(written["termination-log"]))
	if err != nil || s.FirstFailure == nil || s.FirstFailure.Error != "ValueError: login failed for ***" {
		t.Errorf("summary %s (%v): want the failure with the value masked", written["termination-log"], err)
	}
	// The outputs are kept, masked: the notebook is still valid JSON holding what was printed.
	var executed struct{ Cells []json.RawMessage }
	if err := json.Unmarshal([]byte(written["executed.ipynb"]), &executed); err != nil || len(executed.Cells) != 4 {
		t.Fatalf("executed notebook no longer a notebook: %v", err)
	}
	for _, want := range []string{"token: ***", "stderr ***", `<b>***</b>`, `'***'`} {
		if !strings.Contains(written["executed.ipynb"], want) {
			t.Errorf("executed notebook lacks %q:\n%s", want, written["executed.ipynb"])
		}
	}
}

// runLeaky runs a notebook of the given code cells with the real runner and Python, with
// secretDir named by --secret-dir, and returns each thing the runner wrote: stdout, stderr,
// the termination log and every file of its output directory, by name.
func runLeaky(t *testing.T, secretDir string, wantExit int, cells ...string) map[string]string {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import nbclient").Run() != nil {
		t.Skip("no nbclient")
	}
	var code []any
	for _, src := range cells {
		code = append(code, map[string]any{"cell_type": "code", "metadata": map[string]any{}, "execution_count": nil, "outputs": []any{}, "source": src})
	}
	nb, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}},
		"cells":    code})
	work := t.TempDir()
	nbPath, out, tl := filepath.Join(work, "leak.ipynb"), filepath.Join(work, "out"), filepath.Join(work, "termination-log")
	if err := os.WriteFile(nbPath, nb, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	exit := run(context.Background(), []string{"execute", "--notebook", nbPath, "--output-dir", out, "--termination-log", tl,
		"--python", "/usr/bin/python3", "--secret-dir", secretDir}, &stdout, &stderr)
	if exit != wantExit {
		t.Fatalf("exit %d, want %d\n%s\n%s", exit, wantExit, stdout.String(), stderr.String())
	}
	written := map[string]string{"stdout": stdout.String(), "stderr": stderr.String()}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range append(files, tl) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		written[filepath.Base(f)] = string(b)
	}
	for _, f := range []string{"termination-log", "report.json", "junit.xml", "executed.ipynb", "report.html"} {
		if _, ok := written[f]; !ok {
			t.Errorf("the runner wrote no %s", f)
		}
	}
	return written
}
