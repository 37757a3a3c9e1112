package execute

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// An activated venv wins over conda, conda over python3 on PATH, and the system Python comes
// last; a path met twice is tried once.
func TestInterpretersOrder(t *testing.T) {
	onPath := func(string) (string, error) { return "/home/u/.pyenv/shims/python3", nil }
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, tc := range []struct {
		name     string
		getenv   func(string) string
		lookPath func(string) (string, error)
		want     []Interpreter
	}{
		{"venv and conda active", env(map[string]string{"VIRTUAL_ENV": "/v", "CONDA_PREFIX": "/c"}), onPath, []Interpreter{
			{"/v/bin/python", "$VIRTUAL_ENV"}, {"/c/bin/python", "$CONDA_PREFIX"},
			{"/home/u/.pyenv/shims/python3", "python3 on PATH"}, {DefaultPython, "the system Python"}}},
		{"nothing active", env(nil), onPath, []Interpreter{
			{"/home/u/.pyenv/shims/python3", "python3 on PATH"}, {DefaultPython, "the system Python"}}},
		{"python3 on PATH is the system one", env(nil), func(string) (string, error) { return DefaultPython, nil },
			[]Interpreter{{DefaultPython, "python3 on PATH"}}},
		{"no python3 on PATH", env(map[string]string{"CONDA_PREFIX": "/c"}), notOnPath, []Interpreter{
			{"/c/bin/python", "$CONDA_PREFIX"}, {DefaultPython, "the system Python"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Interpreters(tc.getenv, tc.lookPath); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Interpreters = %v, want %v", got, tc.want)
			}
		})
	}
}

// With a venv activated whose python cannot import nbclient, Run says it passed it over and
// why, and names the interpreter that ran the notebook; with one that can, the venv's runs.
func TestRunReportsTheInterpreterItChose(t *testing.T) {
	if err := exec.Command(DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel: %v", DefaultPython, err)
	}
	nb := filepath.Join(t.TempDir(), "hello.ipynb")
	doc := `{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
	 "cells": [{"cell_type": "code", "id": "a1", "metadata": {}, "execution_count": null, "outputs": [], "source": "print('hello')"}]}`
	if err := os.WriteFile(nb, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	venv := func(script string) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bin", "python"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	type choice struct{ path, source, passedOver string }
	run := func(venvDir string) []choice {
		t.Helper()
		t.Setenv("VIRTUAL_ENV", venvDir)
		t.Setenv("CONDA_PREFIX", "")
		t.Setenv("PATH", "/nonexistent")
		var got []choice
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := Run(ctx, Options{Notebook: nb, Output: filepath.Join(t.TempDir(), "out.ipynb"), Dir: filepath.Dir(nb),
			Chose: func(it Interpreter, passedOver string) { got = append(got, choice{it.Path, it.Source, passedOver}) }})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return got
	}

	// -S drops site-packages: a real Python that cannot import nbclient.
	without := venv("#!/bin/sh\nexec " + DefaultPython + " -S \"$@\"\n")
	got := run(without)
	if len(got) != 2 || got[0].path != filepath.Join(without, "bin", "python") || got[0].source != "$VIRTUAL_ENV" || got[0].passedOver == "" ||
		got[1] != (choice{DefaultPython, "the system Python", ""}) {
		t.Errorf("venv without nbclient: choices %+v, want it passed over with a reason, then %s chosen", got, DefaultPython)
	}

	with := venv("#!/bin/sh\nexec " + DefaultPython + " \"$@\"\n")
	if got := run(with); len(got) != 1 || got[0] != (choice{filepath.Join(with, "bin", "python"), "$VIRTUAL_ENV", ""}) {
		t.Errorf("venv with nbclient: choices %+v, want only the venv's python chosen", got)
	}
}
