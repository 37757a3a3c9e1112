package externalci

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCommandSendsHost: --host sets the Host header an ingress routes by, while the request
// goes to --url's address; without it the Host is the URL's.
func TestCommandSendsHost(t *testing.T) {
	hosts := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", srv.URL, "--namespace", "team-a", "--job", "j", "--status", "failed", "--key-file", key}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--host", "build-status-changed.nbv-system.example.test"}, "build-status-changed.nbv-system.example.test"},
		{nil, srv.Listener.Addr().String()},
	} {
		var stdout, stderr bytes.Buffer
		if code := Command(context.Background(), append(append([]string{}, base...), tc.extra...), &stdout, &stderr, time.Now, srv.Client()); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if got := <-hosts; got != tc.want {
			t.Errorf("args %v: Host %q, want %q", tc.extra, got, tc.want)
		}
	}
}
