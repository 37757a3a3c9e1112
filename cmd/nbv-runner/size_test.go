package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// A notebook (or golden notebook) over the size limit is refused before it is read: the
// summary says NotebookTooLarge with the size and the limit, and pod-completed's reading of
// that summary ends the job Failed (no retry) with the same words. The oversized files are
// sparse, so the test costs no disk and would take seconds and gigabytes if they were read.
func TestNotebookOverTheSizeLimitIsRefused(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.ipynb")
	if err := os.WriteFile(small, []byte(`{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	huge := sparse("huge.ipynb", 200<<20)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"default limit", []string{"--notebook", huge}, "notebook " + huge + " is 200.0 MiB (209715200 bytes), over the runner's limit of 50.0 MiB (52428800 bytes)"},
		{"golden, limit from the flag", []string{"--notebook", small, "--golden", sparse("golden.ipynb", 2<<20), "--max-notebook-bytes", "1048576"},
			"golden notebook " + filepath.Join(dir, "golden.ipynb") + " is 2.0 MiB (2097152 bytes), over the runner's limit of 1.0 MiB (1048576 bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := filepath.Join(t.TempDir(), "termination-log")
			var stdout, stderr bytes.Buffer
			args := append([]string{"execute", "--output-dir", t.TempDir(), "--termination-log", tl, "--python", "/nonexistent/python3"}, c.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, stderr.String())
			}
			b, err := os.ReadFile(tl)
			if err != nil {
				t.Fatal(err)
			}
			s, err := summary.Decode(b)
			if err != nil || s.Reason != summary.ReasonNotebookTooLarge || s.Message != c.want {
				t.Fatalf("summary %s (%v), want reason %s and message %q", b, err, summary.ReasonNotebookTooLarge, c.want)
			}
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed,
				InitContainerStatuses: []corev1.ContainerStatus{{Name: validationpod.PrepareContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: validationpod.NotebookContainer, State: corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: string(b)}}}}}}
			o := validationpod.Classify(pod)
			if o.State != validationpod.StateFailed || !strings.Contains(o.Message, c.want) || !strings.Contains(o.Message, "--max-notebook-bytes") {
				t.Errorf("classified %s/%s %q, want Failed naming the size, the limit and how to raise it", o.State, o.Reason, o.Message)
			}
		})
	}
}
