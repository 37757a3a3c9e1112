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
	if exec.Command("/usr/bin/python3", "-c", "import nbclient").Run() != nil {
		t.Skip("no nbclient")
	}
	const envValue = "tok-9f8e7d6c5b4a"
	const fileValue = `pa"ss\wörd-42`
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "password"), []byte(fileValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MY_TOKEN", envValue)
	t.Setenv(redact.EnvNames, "MY_TOKEN")
	t.Setenv("SECRET_FILE", filepath.Join(secretDir, "password"))

	code := func(src string) map[string]any {
		return map[string]any{"cell_type": "code", "metadata": map[string]any{}, "execution_count": nil, "outputs": []any{}, "source": src}
	}
	nb, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}},
		"cells": []any{
			code("import os, sys\npw = open(os.environ['SECRET_FILE']).read().strip()\nprint('token:', os.environ['MY_TOKEN'])\nprint('password:', pw)"),
			code("sys.stderr.write('stderr token ' + os.environ['MY_TOKEN'] + '\\n')\npw"),
			code("raise ValueError('login failed for ' + os.environ['MY_TOKEN'] + ' with ' + pw)"),
		}})
	work := t.TempDir()
	nbPath, out, tl := filepath.Join(work, "leak.ipynb"), filepath.Join(work, "out"), filepath.Join(work, "termination-log")
	if err := os.WriteFile(nbPath, nb, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	exit := run(context.Background(), []string{"execute", "--notebook", nbPath, "--output-dir", out, "--termination-log", tl,
		"--python", "/usr/bin/python3", "--secret-dir", secretDir}, &stdout, &stderr)
	if exit != 1 {
		t.Fatalf("exit %d, want 1 (the last cell raises)\n%s\n%s", exit, stdout.String(), stderr.String())
	}

	written := map[string]string{"stdout": stdout.String(), "stderr": stderr.String()}
	for _, f := range []string{tl, filepath.Join(out, "report.json"), filepath.Join(out, "junit.xml"), filepath.Join(out, "executed.ipynb")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		written[filepath.Base(f)] = string(b)
	}
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
