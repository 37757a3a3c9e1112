package externalci

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
)

var (
	keyA = []byte("namespace-a-key-0123456789abcdef")
	keyB = []byte("namespace-b-key-0123456789abcdef")
	now  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

type fakeKeys map[string][]byte

func (k fakeKeys) SecretKey(_ context.Context, ns string) ([]byte, error) {
	if v, ok := k[ns]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%w: no Secret in %s", cisignature.ErrNoKey, ns)
}

// fakeReplay records every Remember; seen pairs are replays.
type fakeReplay struct {
	mu    sync.Mutex
	calls []string
	seen  map[string]bool
}

func (f *fakeReplay) Remember(_ context.Context, ns, source, id string, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := ns + "|" + source + "|" + id
	f.calls = append(f.calls, k)
	if f.seen[k] {
		return false, nil
	}
	f.seen[k] = true
	return true, nil
}

func report() events.BuildReport {
	return events.BuildReport{Namespace: "team-a", Job: "train", Status: events.BuildSucceeded,
		Image: "registry.example.com/team-a/train:1", Message: "built", BuildID: "ci-42", Timestamp: now}
}

func event(t testing.TB, r events.BuildReport, id string) cloudevents.Event {
	t.Helper()
	ev, err := NewEvent(r, "/ci/example", id, now)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func request(t *testing.T, ev cloudevents.Event, mode string, key []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := NewRequest(context.Background(), "http://route.test"+Path, ev, mode, key, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// serve runs rt on req and returns status and body.
func serve(rt *Route, req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func newRoute() (*Route, *fakeReplay) {
	replay := &fakeReplay{seen: map[string]bool{}}
	// No Executor: every request here must be refused before the job is touched.
	return &Route{Keys: fakeKeys{"team-a": keyA, "team-b": keyB}, Replay: replay, Now: func() time.Time { return now }}, replay
}

// TestRejectedBeforeAnyWrite covers every refusal of the verification steps: each gets its
// status and a message naming the problem, and none reaches the replay store (nothing is
// written for a request that fails verification).
func TestRejectedBeforeAnyWrite(t *testing.T) {
	tampered := func(mode string) *http.Request {
		req := request(t, event(t, report(), "id-1"), mode, keyA, now)
		if mode == Binary {
			req.Header.Set("Ce-Id", "id-2") // a new id under the old signature
			return req
		}
		b, _ := io.ReadAll(req.Body)
		setBody(req, bytes.Replace(b, []byte("id-1"), []byte("id-2"), 1))
		return req
	}
	schemaInvalid := func() *http.Request {
		ev := event(t, report(), "id-1")
		_ = ev.SetData(cloudevents.ApplicationJSON, map[string]any{"namespace": "team-a", "job": "train", "status": "done"})
		return request(t, ev, Structured, keyA, now)
	}
	// The schema bounds every field well under the limit; JSON whitespace is what can make a
	// correctly signed body too large.
	oversized := func() *http.Request {
		req := request(t, event(t, report(), "id-1"), Structured, keyA, now)
		b, _ := io.ReadAll(req.Body)
		b = append(b, bytes.Repeat([]byte(" "), cisignature.DefaultMaxBody)...)
		setBody(req, b)
		req.Header.Set(cisignature.Header, cisignature.Sign(b, keyA, now))
		return req
	}
	// binaryAs is a correctly signed binary-mode request whose Content-Type is then changed.
	binaryAs := func(contentType string) func() *http.Request {
		return func() *http.Request {
			req := request(t, event(t, report(), "id-1"), Binary, keyA, now)
			req.Header.Set("Content-Type", contentType)
			return req
		}
	}
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		want   string
	}{
		{"tampered structured id", func() *http.Request { return tampered(Structured) }, 401, cisignature.Unauthorized},
		{"tampered binary id", func() *http.Request { return tampered(Binary) }, 401, cisignature.Unauthorized},
		{"other namespace's key", func() *http.Request { return request(t, event(t, report(), "id-1"), Structured, keyB, now) }, 401, cisignature.Unauthorized},
		{"no signature", func() *http.Request {
			req := request(t, event(t, report(), "id-1"), Binary, keyA, now)
			req.Header.Del(cisignature.Header)
			return req
		}, 401, cisignature.Unauthorized},
		{"expired", func() *http.Request {
			return request(t, event(t, report(), "id-1"), Structured, keyA, now.Add(-10*time.Minute))
		}, 401, "outside the accepted window"},
		{"from the future", func() *http.Request {
			return request(t, event(t, report(), "id-1"), Structured, keyA, now.Add(5*time.Minute))
		}, 401, "in the future"},
		{"namespace without key", func() *http.Request {
			r := report()
			r.Namespace = "team-c"
			return request(t, event(t, r, "id-1"), Structured, keyA, now)
		}, 401, cisignature.Unauthorized},
		{"malformed signature header", func() *http.Request {
			req := request(t, event(t, report(), "id-1"), Structured, keyA, now)
			req.Header.Set(cisignature.Header, "sha256=abc")
			return req
		}, 400, "header needs t= and v1="},
		{"malformed signature header, namespace without key", func() *http.Request {
			r := report()
			r.Namespace = "team-c"
			req := request(t, event(t, r, "id-1"), Structured, keyA, now)
			req.Header.Set(cisignature.Header, "sha256=abc")
			return req
		}, 400, "header needs t= and v1="},
		{"unsigned, namespace without key", func() *http.Request {
			r := report()
			r.Namespace = "team-c"
			req := request(t, event(t, r, "id-1"), Structured, keyA, now)
			req.Header.Del(cisignature.Header)
			return req
		}, 401, cisignature.Unauthorized},
		{"binary mode with a text body type", binaryAs("text/plain"), 415, `Content-Type "text/plain" is not application/json`},
		{"binary mode without a body type", binaryAs(""), 415, `Content-Type "" is not application/json`},
		{"invalid UTF-8 in a JSON string", func() *http.Request {
			req := request(t, event(t, report(), "id-1"), Structured, keyA, now)
			b, _ := io.ReadAll(req.Body)
			b = bytes.Replace(b, []byte(`"built"`), []byte("\"bu\xffilt\""), 1)
			setBody(req, b)
			req.Header.Set(cisignature.Header, cisignature.Sign(b, keyA, now))
			return req
		}, 400, "not valid UTF-8"},
		{"schema invalid", schemaInvalid, 400, "at '/status'"},
		{"wrong type", func() *http.Request {
			ev := event(t, report(), "id-1")
			ev.SetType(events.TypePing)
			return request(t, ev, Structured, keyA, now)
		}, 400, "is not accepted here"},
		{"not a CloudEvent", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://route.test/ci", strings.NewReader(`{"status":"succeeded"}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 400, "not a CloudEvent"},
		{"too large", oversized, 413, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, replay := newRoute()
			status, body := serve(rt, c.req())
			if status != c.status || !strings.Contains(body, c.want) {
				t.Errorf("got %d %q, want %d containing %q", status, body, c.status, c.want)
			}
			if c.want == cisignature.Unauthorized && body != cisignature.Unauthorized+"\n" {
				t.Errorf("401 body %q says more than the one Unauthorized text", body)
			}
			if len(replay.calls) != 0 {
				t.Errorf("a refused request reached the replay store: %v", replay.calls)
			}
		})
	}
}

// TestReplayRefused checks that a second delivery of a pair is 409 and never reaches the job.
func TestReplayRefused(t *testing.T) {
	for _, mode := range []string{Structured, Binary} {
		rt, replay := newRoute()
		replay.seen["team-a|/ci/example|id-1"] = true
		status, body := serve(rt, request(t, event(t, report(), "id-1"), mode, keyA, now))
		if status != http.StatusConflict || !strings.Contains(body, "already received") || !strings.Contains(body, "id-1") {
			t.Errorf("%s replay: %d %q", mode, status, body)
		}
	}
}

// TestSignedContent pins the binary-mode signing block: every ce- header and Content-Type, in
// order, and nothing else; a repeated header is refused.
func TestSignedContent(t *testing.T) {
	h := http.Header{}
	h.Set("Ce-Source", "/ci")
	h.Set("Ce-Id", "1")
	h.Set("Content-Type", "application/json")
	h.Set("X-Forwarded-For", "10.0.0.1")
	got, err := SignedContent(binding.EncodingBinary, h, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ce-id:1\nce-source:/ci\ncontent-type:application/json\n\n{}"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, _ := SignedContent(binding.EncodingStructured, h, []byte(`{}`)); string(got) != "{}" {
		t.Errorf("structured mode signs the body only, got %q", got)
	}
	h.Add("Ce-Id", "2")
	if _, err := SignedContent(binding.EncodingBinary, h, nil); err == nil || cisignature.HTTPStatus(err) != http.StatusBadRequest {
		t.Errorf("repeated ce-id: %v", err)
	}
}
