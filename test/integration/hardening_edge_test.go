package integration

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/externalci"
)

// postEventAnswer posts ev in binary mode and returns the status and body of the answer.
func postEventAnswer(t *testing.T, url string, ev cloudevents.Event) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(context.Background()), binding.ToMessage(&ev), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestEventsNamingInvalidObjectsAre400 posts, to the function processes of the local stack,
// job and pod events whose name, namespace or job label the API server could never hold (the
// paths an attacker would try to smuggle into an API call). Each is answered 400 naming the
// field, nothing is written, and the job they pretend to be about still completes.
func TestEventsNamingInvalidObjectsAre400(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("edge", nil)
	job := f.waitJob("edge", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	pod := job.Status.ValidationPodName
	jobAPI := v1alpha1.SchemeGroupVersion.String()

	cases := []struct {
		name, fn string
		ev       cloudevents.Event
		want     string
	}{
		{"job named a/b", "job-created", resourceEvent(f.ns, jobAPI, v1alpha1.Kind, "a/b", ""), "at '/metadata/name': 'a/b' does not match pattern"},
		{"job named like an API path", "job-created", resourceEvent(f.ns, jobAPI, v1alpha1.Kind, "../../api/v1/namespaces/x/secrets", ""),
			"at '/metadata/name': '../../api/v1/namespaces/x/secrets' does not match pattern"},
		{"job named %2e%2e", "job-created", resourceEvent(f.ns, jobAPI, v1alpha1.Kind, "%2e%2e", ""), "at '/metadata/name': '%2e%2e' does not match pattern"},
		{"job in namespace ../kube-system", "job-created", resourceEvent("../kube-system", jobAPI, v1alpha1.Kind, "edge", ""),
			"at '/metadata/namespace': '../kube-system' does not match pattern"},
		{"pod named a/b", "pod-completed", resourceEvent(f.ns, "v1", "Pod", "a/b", "edge"), "at '/metadata/name': 'a/b' does not match pattern"},
		{"pod in namespace ../kube-system", "pod-completed", resourceEvent("../kube-system", "v1", "Pod", pod, "edge"),
			"at '/metadata/namespace': '../kube-system' does not match pattern"},
		{"pod whose job label is x/y", "pod-completed", resourceEvent(f.ns, "v1", "Pod", pod, "x/y"),
			"at '/metadata/labels/" + v1alpha1.LabelJob + "': 'x/y' does not match pattern"},
		{"pod whose job label is 64 characters", "pod-completed", resourceEvent(f.ns, "v1", "Pod", pod, strings.Repeat("e", 64)),
			"at '/metadata/labels/" + v1alpha1.LabelJob + "': maxLength: got 64, want 63"},
	}
	for _, c := range cases {
		status, body := postEventAnswer(t, f.stack.FunctionURLs[c.fn], c.ev)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %q, want 400 naming %q", c.name, status, body, c.want)
		}
	}
	if now := f.jobNow("edge"); now.ResourceVersion != job.ResourceVersion {
		t.Errorf("a refused event changed the job: resourceVersion %s -> %s (phase %s, %q)", job.ResourceVersion, now.ResourceVersion, now.Status.Phase, now.Status.Message)
	}

	f.completePod(pod, 0, passedSummary())
	f.waitJob("edge", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
}

// resign replaces req's body with body and signs it again with key at at, so that the only
// thing wrong with the request is what the test changed.
func resign(t *testing.T, req *http.Request, body, key []byte, at time.Time) *http.Request {
	t.Helper()
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	enc := binding.EncodingStructured
	if req.Header.Get("Ce-Specversion") != "" {
		enc = binding.EncodingBinary
	}
	signed, err := externalci.SignedContent(enc, req.Header, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(cisignature.Header, cisignature.Sign(signed, key, at))
	return req
}

// bodyOf reads req's body (the request stays sendable: send uses GetBody).
func bodyOf(t *testing.T, req *http.Request) []byte {
	t.Helper()
	rc, err := req.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	return b
}

// TestCIRouteEdges posts to the /ci route on a real API server what issue 9 found: unsigned
// requests cannot tell a namespace with a CI key from one without, a header is judged before
// any key is read, an absurd signed timestamp does not overflow, a build report at another
// path is pointed to /ci, binary mode needs application/json, invalid UTF-8 and invalid names
// are refused. Nothing changes a job or leaves a replay Lease; the correct report then applies.
func TestCIRouteEdges(t *testing.T) {
	f := newBareFixture(t)
	url := f.serveCIRoute()
	nsNoKey := f.ns + "-nokey"
	if err := f.cp.EnsureNamespace(f.ctx, nsNoKey); err != nil {
		t.Fatal(err)
	}
	f.setCIKey(f.ns, ciKeyA)
	f.createJob("ext", buildWith(v1alpha1.BuildStrategyExternal))
	before := f.advance("ext", v1alpha1.PhaseBuilding)

	now := time.Now()
	signed := func(ns, id, mode string) *http.Request {
		return ciRequest(t, url, ciReport(ns, "ext"), id, mode, ciKeyA, now)
	}
	unsigned := func(ns string) *http.Request {
		req := signed(ns, "unsigned-"+ns, externalci.Structured)
		req.Header.Del(cisignature.Header)
		return req
	}
	header := func(ns, h string) *http.Request {
		req := signed(ns, "header-"+ns, externalci.Structured)
		req.Header.Set(cisignature.Header, h)
		return req
	}
	at := func(path string) *http.Request {
		req := signed(f.ns, "path"+strings.ReplaceAll(path, "/", "-"), externalci.Binary)
		u := *req.URL
		u.Path = path
		req.URL = &u
		return req
	}
	binaryAs := func(contentType string) *http.Request {
		req := signed(f.ns, "ct-"+contentType, externalci.Binary)
		req.Header.Set("Content-Type", contentType)
		return resign(t, req, bodyOf(t, req), ciKeyA, now)
	}
	edited := func(old, new string) *http.Request {
		req := signed(f.ns, "edited", externalci.Structured)
		b := bodyOf(t, req)
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("body has no %q: %s", old, b)
		}
		return resign(t, req, bytes.Replace(b, []byte(old), []byte(new), 1), ciKeyA, now)
	}
	farFuture, err := externalci.NewEvent(ciReport(f.ns, "ext"), "/ci/example", "far-future", now)
	if err != nil {
		t.Fatal(err)
	}
	overflow, err := externalci.NewRequest(context.Background(), url, farFuture, externalci.Structured, ciKeyA, time.Unix(math.MaxInt64, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h := overflow.Header.Get(cisignature.Header); !strings.HasPrefix(h, "t=9223372036854775807,") {
		t.Fatalf("far-future signature header %q", h)
	}

	cases := []struct {
		name   string
		req    *http.Request
		status int
		want   string
	}{
		{"unsigned, namespace with a key", unsigned(f.ns), http.StatusUnauthorized, cisignature.Unauthorized},
		{"unsigned, namespace without a key", unsigned(nsNoKey), http.StatusUnauthorized, cisignature.Unauthorized},
		{"signed, namespace without a key", signed(nsNoKey, "nokey", externalci.Structured), http.StatusUnauthorized, cisignature.Unauthorized},
		{"wrong key", ciRequest(t, url, ciReport(f.ns, "ext"), "wrong-key", externalci.Binary, ciKeyB, now), http.StatusUnauthorized, cisignature.Unauthorized},
		{"malformed header, namespace with a key", header(f.ns, "t=abc,v1=00"), http.StatusBadRequest, `malformed external CI event: X-Nbv-Signature header: t="abc" is not unix seconds`},
		{"malformed header, namespace without a key", header(nsNoKey, "t=abc,v1=00"), http.StatusBadRequest, `malformed external CI event: X-Nbv-Signature header: t="abc" is not unix seconds`},
		{"t=9223372036854775807", overflow, http.StatusUnauthorized,
			"event timestamp outside the accepted window: signed more than 292 years in the future (t=9223372036854775807), allowed clock skew 1m0s"},
		{"posted to /wrong", at("/wrong"), http.StatusNotFound,
			`event type "dev.mlops.notebookvalidationjob.build.v1" is accepted only at /ci, not at /wrong: POST it to /ci`},
		{"posted to /CI", at("/CI"), http.StatusNotFound,
			`event type "dev.mlops.notebookvalidationjob.build.v1" is accepted only at /ci, not at /CI: POST it to /ci`},
		{"posted to /", at("/"), http.StatusNotFound,
			`event type "dev.mlops.notebookvalidationjob.build.v1" is accepted only at /ci, not at /: POST it to /ci`},
		{"binary mode as text/plain", binaryAs("text/plain"), http.StatusUnsupportedMediaType,
			`binary mode: Content-Type "text/plain" is not application/json: the build report's data is JSON`},
		{"invalid UTF-8 in a JSON string", edited("pipeline 42 passed", "pipeline 42 \xff passed"), http.StatusBadRequest,
			"body is not valid UTF-8 (invalid byte at offset "},
		{"job a/b", edited(`"job":"ext"`, `"job":"a/b"`), http.StatusBadRequest, "at '/job': 'a/b' does not match pattern"},
		{"namespace ../kube-system", edited(`"namespace":"`+f.ns+`"`, `"namespace":"../kube-system"`), http.StatusBadRequest,
			"at '/namespace': '../kube-system' does not match pattern"},
	}
	for _, c := range cases {
		status, body := send(t, c.req)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %q, want %d naming %q", c.name, status, body, c.status, c.want)
		}
		if c.want == cisignature.Unauthorized && body != cisignature.Unauthorized {
			t.Errorf("%s: the 401 says more than the one text: %q", c.name, body)
		}
	}
	if job := f.jobNow("ext"); job.ResourceVersion != before.ResourceVersion {
		t.Errorf("a refused report changed the job: resourceVersion %s -> %s", before.ResourceVersion, job.ResourceVersion)
	}
	for _, ns := range []string{f.ns, nsNoKey} {
		if n := f.replayLeases(ns); n != 0 {
			t.Errorf("namespace %s has %d replay Leases; no refused request may consume an id", ns, n)
		}
	}

	// The correct report, in binary mode with a charset parameter on its JSON, applies.
	if status, body := send(t, binaryAs("application/json; charset=utf-8")); status != http.StatusOK || !strings.Contains(body, "Building -> BuildComplete") {
		t.Fatalf("correct report: %d %q", status, body)
	}
	if job := f.jobNow("ext"); job.Status.Phase != v1alpha1.PhaseBuildComplete {
		t.Errorf("after the correct report: phase %s, want BuildComplete", job.Status.Phase)
	}
}
