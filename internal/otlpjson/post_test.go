package otlpjson

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
