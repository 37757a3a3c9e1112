package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mlops-dev/nbv/internal/artifact/result"
)

// publish waits for its context (SIGTERM) before pushing, then leaves the reference by digest
// in its termination log; a push that fails still exits 0 with the reason there.
func TestPublishPushesAfterTheSignalAndReportsTheDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "report.html"), []byte("<p>ok</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	tl := filepath.Join(t.TempDir(), "termination-log")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"publish", "--output-dir", out, "--ref", host + "/nbv/team-a:pod-1", "--termination-log", tl,
			"--annotation", "dev.mlops.nbv.job=team-a/demo"}, &stdout, &stderr)
	}()
	select {
	case code := <-done:
		t.Fatalf("publish returned %d before the signal: %s", code, stderr.String())
	default:
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, _ := os.ReadFile(tl)
	res, err := result.Decode(string(b))
	if err != nil || !strings.HasPrefix(res.Reference, host+"/nbv/team-a@sha256:") || len(res.Files) != 1 {
		t.Fatalf("result %s: %+v, %v", b, res, err)
	}

	code := run(context.Background(), []string{"publish", "--wait=false", "--output-dir", out, "--ref", "127.0.0.1:1/nbv:x", "--termination-log", tl, "--timeout", "2s"}, &stdout, &stderr)
	b, _ = os.ReadFile(tl)
	res, err = result.Decode(string(b))
	if code != 0 || err != nil || res.Reference != "" || !strings.Contains(res.Message, "pushing the run's record to 127.0.0.1:1/nbv:x failed") {
		t.Fatalf("exit %d, result %s: %v", code, b, err)
	}
}
