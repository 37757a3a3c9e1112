package otlpjson

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSenderTrustsTheCertificateFile: a collector behind TLS with its own CA is reached once
// OTEL_EXPORTER_OTLP_CERTIFICATE names that CA, and refused (unknown authority) without it.
func TestSenderTrustsTheCertificateFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	without, err := newSender(srv.URL, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if err := without.post(context.Background(), struct{}{}, "a span"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca)
	with, err := newSender(srv.URL, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if err := with.post(context.Background(), struct{}{}, "a span"); err != nil {
		t.Errorf("with the CA: %v", err)
	}
}

// TestSenderRefusesBadTLSFiles: a CA file without a certificate, or a client certificate
// without its key, is refused when the exporter is made, naming the variable.
func TestSenderRefusesBadTLSFiles(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"OTEL_EXPORTER_OTLP_CERTIFICATE":         {"OTEL_EXPORTER_OTLP_CERTIFICATE": notPEM},
		"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": {"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": filepath.Join(t.TempDir(), "missing.pem")},
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE":  {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			if _, err := newSender("https://collector:4318/v1/metrics", "metrics"); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%v, want an error naming %s", err, name)
			}
		})
	}
}

// TestSenderGivesUpAtTheTimeout: OTEL_EXPORTER_OTLP_TIMEOUT bounds an export to a collector
// that does not answer.
func TestSenderGivesUpAtTheTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "50")
	s, err := newSender(srv.URL, "traces")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.post(context.Background(), struct{}{}, "a span") }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("an export nobody answered succeeded")
		}
	case <-time.After(10 * time.Second): // the default timeout: the variable was not applied
		t.Fatal("the export did not give up at OTEL_EXPORTER_OTLP_TIMEOUT=50")
	}
}

// TestSenderRetriesWhatTheSpecificationCallsRetryable: 429, 502, 503 and 504 are tried again
// with the same body, after the answer's Retry-After or a doubling back-off; any other
// failure is given up at once, its status and body in the error; and an export whose time is
// up stops retrying and says so.
func TestSenderRetriesWhatTheSpecificationCallsRetryable(t *testing.T) {
	type answer struct {
		status     int
		retryAfter string
	}
	for _, tc := range []struct {
		name      string
		answers   []answer // the last one repeats
		wantErr   string   // "" for success
		wantWaits []time.Duration
	}{
		{name: "503 then 502 then 504 then ok", answers: []answer{{503, ""}, {502, ""}, {504, ""}, {200, ""}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "429 with Retry-After", answers: []answer{{429, "3"}, {200, ""}}, wantWaits: []time.Duration{3 * time.Second}},
		{name: "back-off capped", answers: []answer{{503, ""}, {503, ""}, {503, ""}, {503, ""}, {503, ""}, {200, ""}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{name: "400 is final", answers: []answer{{400, ""}}, wantErr: "400 Bad Request: refused"},
		{name: "500 is final", answers: []answer{{500, ""}}, wantErr: "500 Internal Server Error: refused"},
		{name: "a wait past the export's time", answers: []answer{{503, "60"}}, wantErr: "no time left to wait 1m0s"},
		{name: "a Retry-After too large for a duration", answers: []answer{{503, "99999999999999"}}, wantErr: "no time left to wait 1h0m0s"},
		{name: "a Retry-After date far ahead", answers: []answer{{503, "Fri, 31 Dec 9999 23:59:59 GMT"}}, wantErr: "no time left to wait 1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies = append(bodies, string(b))
				a := tc.answers[min(len(bodies), len(tc.answers))-1]
				if a.retryAfter != "" {
					w.Header().Set("Retry-After", a.retryAfter)
				}
				w.WriteHeader(a.status)
				if a.status != 200 {
					_, _ = io.WriteString(w, "refused")
				}
			}))
			defer srv.Close()
			s, err := newSender(srv.URL, "traces")
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			s.wait = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			err = s.post(context.Background(), map[string]int{"n": 1}, "a span")
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !slices.Equal(waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tc.wantWaits)
			}
			if len(bodies) != len(waits)+1 {
				t.Errorf("%d attempts after %d waits", len(bodies), len(waits))
			}
			for i, b := range bodies {
				if b != `{"n":1}` {
					t.Errorf("attempt %d sent %q", i+1, b)
				}
			}
		})
	}
}

// TestSenderStopsRetryingWhenTheContextEnds: a collector answering 503 forever costs an export
// no more than its context allows.
func TestSenderStopsRetryingWhenTheContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s, err := newSender(srv.URL, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.wait = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if err := s.post(ctx, struct{}{}, "3 metrics"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("%v, want the 503 and the cancellation", err)
	}
}
