package apicalls

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
)

func TestCountedCountsEveryRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != "nbv-test" {
			t.Errorf("user agent %q, want nbv-test", r.UserAgent())
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	orig := &rest.Config{Host: srv.URL}
	cfg, calls := Counted(orig, "nbv-test")
	if orig.WrapTransport != nil || orig.UserAgent != "" {
		t.Error("Counted modified the config it was given")
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := client.Get(srv.URL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("counted %d requests, want 3 (failures count too)", got)
	}
}
