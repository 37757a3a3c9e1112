package otlpjson_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver that keeps the last request it was sent, its body
// gunzipped when it came compressed.
type collector struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	header http.Header
	count  int
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("Content-Encoding gzip, but the body is not gzip: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("read request: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.body, c.header, c.count = b, r.Header.Clone(), c.count+1
	}))
	t.Cleanup(c.Close)
	return c
}

// last is the last request's body and header; it fails the test when none came.
func (c *collector) last(t *testing.T) ([]byte, http.Header) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == 0 {
		t.Fatal("nothing was exported")
	}
	return c.body, c.header
}

// requireSameMessage fails unless ours (decoded from the JSON export) and theirs (from the
// SDK's protobuf export) are the same message, printing both.
func requireSameMessage(t *testing.T, ours, theirs proto.Message) {
	t.Helper()
	if !proto.Equal(ours, theirs) {
		opts := protojson.MarshalOptions{Multiline: true}
		t.Fatalf("the JSON export differs from the SDK's protobuf export\nours:\n%s\nSDK's:\n%s", opts.Format(ours), opts.Format(theirs))
	}
}
