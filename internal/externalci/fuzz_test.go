package externalci

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/transition"
)

// noJobs is an API server in which no job exists: a request that gets past verification ends
// at "job not found", so the fuzzer can reach every step of the route. It answers in process
// (a RoundTripper, no socket), so each input costs microseconds.
func noJobs(t testing.TB) *transition.Executor {
	notFound := roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusNotFound, Request: r, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}`))}, nil
	})
	store, err := jobstore.New(&rest.Config{Host: "http://jobs.test", Transport: notFound})
	if err != nil {
		t.Fatal(err)
	}
	return &transition.Executor{Store: store}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzRoute posts any body, in either content mode, with any Content-Type, signed correctly
// (with the key of namespace team-a) or carrying any signature header. The route must answer
// a 4xx naming the problem (never a 5xx or a 2xx: no job exists), the same answer twice,
// one 401 text whatever the signature problem, and consume an id (the replay store) only for
// a UTF-8, schema-valid report of valid names whose signature verified.
func FuzzRoute(f *testing.F) {
	// The route logs every refusal; at fuzzing rates that is only noise.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	f.Cleanup(func() { slog.SetDefault(prev) })
	exec := noJobs(f)
	seed := func(r events.BuildReport, mode string) []byte {
		req, err := NewRequest(context.Background(), "http://route.test"+Path, event(f, r, "fuzz-1"), mode, keyA, now)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := io.ReadAll(req.Body)
		return b
	}
	good := seed(report(), Structured)
	f.Add(good, false, "application/cloudevents+json", true, "")
	f.Add(seed(report(), Binary), true, "application/json", true, "")
	f.Add(seed(report(), Binary), true, "text/plain", true, "")
	f.Add(seed(report(), Binary), true, "application/json; charset=utf-8", true, "")
	f.Add(good, false, "application/cloudevents+json", false, "")
	f.Add(good, false, "application/cloudevents+json", false, "t=9223372036854775807,v1="+strings.Repeat("ab", 32))
	f.Add(good, false, "application/cloudevents+json", false, "sha256=abc")
	f.Add(bytes.Replace(good, []byte(`"built"`), []byte("\"bu\xffilt\""), 1), false, "application/cloudevents+json", true, "")
	f.Add(bytes.Replace(good, []byte(`"team-a"`), []byte(`"../kube-system"`), 1), false, "application/cloudevents+json", true, "")
	f.Add(bytes.Replace(good, []byte(`"train"`), []byte(`"a/b"`), 1), false, "application/cloudevents+json", true, "")
	f.Add(bytes.Replace(good, []byte(`"train"`), []byte(`"%2e%2e"`), 1), false, "application/cloudevents+json", true, "")
	f.Add(bytes.Replace(good, []byte(`"team-a"`), []byte(`"team-c"`), 1), false, "application/cloudevents+json", true, "")

	f.Fuzz(func(t *testing.T, b []byte, binaryMode bool, contentType string, sign bool, header string) {
		build := func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://route.test"+Path, bytes.NewReader(b))
			req.Header.Set("Content-Type", contentType)
			enc := binding.EncodingStructured
			if binaryMode {
				enc = binding.EncodingBinary
				req.Header.Set("Ce-Specversion", "1.0")
				req.Header.Set("Ce-Id", "fuzz-1")
				req.Header.Set("Ce-Source", "/ci/fuzz")
				req.Header.Set("Ce-Type", events.TypeBuildReport)
			}
			if sign {
				if signed, err := SignedContent(enc, req.Header, b); err == nil {
					header = cisignature.Sign(signed, keyA, now)
				}
			}
			if header != "" {
				req.Header.Set(cisignature.Header, header)
			}
			return req
		}
		serveOnce := func() (int, string, *fakeReplay) {
			rt, replay := newRoute()
			rt.Executor = exec
			status, body := serve(rt, build())
			return status, body, replay
		}
		status, body, replay := serveOnce()
		if s2, b2, _ := serveOnce(); s2 != status || b2 != body {
			t.Fatalf("not deterministic: %d %q, then %d %q", status, body, s2, b2)
		}
		switch status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("answered %d %q", status, body)
		}
		if strings.TrimSpace(body) == "" {
			t.Fatalf("%d with an empty body", status)
		}
		if status == http.StatusUnauthorized && body != cisignature.Unauthorized+"\n" && !strings.Contains(body, "outside the accepted window") {
			t.Fatalf("401 tells more than Unauthorized: %q", body)
		}
		if len(replay.calls) == 0 {
			return
		}
		// It passed verification: it must be a good report.
		if events.InvalidUTF8(b) >= 0 {
			t.Fatalf("a body with invalid UTF-8 passed verification (%d %q)", status, body)
		}
		if binaryMode && !isJSON(contentType) {
			t.Fatalf("binary mode with Content-Type %q passed verification", contentType)
		}
		ns, _, _ := strings.Cut(replay.calls[0], "|")
		if err := events.CheckNamespace("namespace", ns); err != nil {
			t.Fatalf("verified report for namespace %q: %v", ns, err)
		}
		if status != http.StatusNotFound && status != http.StatusConflict {
			t.Fatalf("verified report answered %d %q", status, body)
		}
	})
}
