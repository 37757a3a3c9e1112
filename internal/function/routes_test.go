package function

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/events"
)

// TestRoutes checks that a route receives the request raw, with the request's logger, while
// "/" keeps decoding CloudEvents, and that the runtime answers the handshake, wrong methods,
// panics and the drain's in-flight count for it.
func TestRoutes(t *testing.T) {
	release := make(chan struct{})
	routes := map[string]http.Handler{
		"/raw": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			Logger(r.Context()).Info("route saw", "bytes", len(b))
			w.Header().Set("X-Sig", r.Header.Get("X-Sig"))
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write(b)
		}),
		"/panic": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		"/slow": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			<-release
			w.WriteHeader(http.StatusNoContent)
		}),
	}
	r := start(t, Config{Routes: routes, AllowedOrigins: []string{"ci.example.com"}, ServiceName: "build-status-changed"}, testHandler)

	// Not a CloudEvent at all: "/" would answer 400, the route gets the bytes as sent.
	req, _ := http.NewRequest(http.MethodPost, r.url+"/raw", strings.NewReader("not a cloudevent"))
	req.Header.Set("X-Sig", "t=1,v1=ab")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || string(body) != "not a cloudevent" || resp.Header.Get("X-Sig") != "t=1,v1=ab" {
		t.Errorf("route answer: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	var saw map[string]any
	for _, l := range r.logs.lines(t) {
		if l["msg"] == "route saw" {
			saw = l
		}
	}
	if saw == nil || saw["service"] != "build-status-changed" || saw["route"] != "/raw" {
		t.Errorf("route log line lacks the request's attributes: %v", saw)
	}

	resp, err = http.Post(r.url+"/", "text/plain", strings.NewReader("not a cloudevent"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST / still decodes CloudEvents: got %d, want 400", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodOptions, r.url+"/raw", nil)
	req.Header.Set("WebHook-Request-Origin", "ci.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("WebHook-Allowed-Origin") != "ci.example.com" {
		t.Errorf("handshake on a route: %d %v", resp.StatusCode, resp.Header)
	}

	resp, err = http.Get(r.url + "/raw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on a route: %d, want 405", resp.StatusCode)
	}

	resp, err = http.Post(r.url+"/panic", "text/plain", nil)
	if err != nil {
		t.Fatalf("a panicking route dropped the connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("panicking route: %d, want 500", resp.StatusCode)
	}

	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(r.url+"/slow", "text/plain", nil)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(5 * time.Second)
	for r.srv.inflight.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a route in progress is not counted in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if s := <-done; s != http.StatusNoContent {
		t.Errorf("slow route: %d", s)
	}
}

func TestNewServerRejectsBadRoutes(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for path, h := range map[string]http.Handler{"ci": ok, "/": ok, "/healthz": ok, "/readyz": ok, "/ci": nil} {
		cfg := Config{Types: []string{events.TypePing}, Routes: map[string]http.Handler{path: h}}
		if _, err := newServer(cfg, testHandler); err == nil || !strings.Contains(err.Error(), "route") {
			t.Errorf("route %q (nil handler %v): %v", path, h == nil, err)
		}
	}
	if _, err := newServer(Config{Types: []string{events.TypePing}, Routes: map[string]http.Handler{"/ci": ok}}, testHandler); err != nil {
		t.Errorf("valid route refused: %v", err)
	}
}

// typedRoute takes build reports.
type typedRoute struct{ http.HandlerFunc }

func (typedRoute) EventTypes() []string { return []string{events.TypeBuildReport} }

// TestEventOfARouteAtTheWrongPath: a build report POSTed anywhere but its route's path (in
// either content mode) is answered 404 naming the path; at the path, the route gets it.
func TestEventOfARouteAtTheWrongPath(t *testing.T) {
	ci := typedRoute{func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }}
	r := start(t, Config{Routes: map[string]http.Handler{"/ci": ci}, ServiceName: "build-status-changed"}, testHandler)
	report := wireEvent{id: "r-1", typ: events.TypeBuildReport, data: []byte(`{"namespace":"team-a"}`)}
	for _, path := range []string{"/wrong", "/CI", "/ci/", "/"} {
		for mode, enc := range map[string]func() (http.Header, []byte){"binary": report.binary, "structured": report.structured} {
			h, b := enc()
			req, _ := http.NewRequest(http.MethodPost, r.url+path, strings.NewReader(string(b)))
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := `event type "` + events.TypeBuildReport + `" is accepted only at /ci, not at ` + path + ": POST it to /ci"
			if resp.StatusCode != http.StatusNotFound || strings.TrimSpace(string(body)) != want {
				t.Errorf("%s %s: %d %q, want 404 %q", mode, path, resp.StatusCode, body, want)
			}
		}
	}
	h, b := report.binary()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/ci", strings.NewReader(string(b)))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("at /ci the route did not get the report: %d", resp.StatusCode)
	}
	// Another unaccepted type still gets the 400 listing what "/" takes.
	h, b = wireEvent{id: "x", typ: "dev.example.other", data: []byte(`{}`)}.binary()
	req, _ = http.NewRequest(http.MethodPost, r.url+"/", strings.NewReader(string(b)))
	req.Header = h
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown type: %d, want 400", resp.StatusCode)
	}

	overlap := Config{Types: []string{events.TypeBuildReport}, Routes: map[string]http.Handler{"/ci": ci}}
	if _, err := newServer(overlap, testHandler); err == nil || !strings.Contains(err.Error(), "also accepts") {
		t.Errorf("a type both at / and at a route: %v", err)
	}
}
