package apiconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// apiServer is a TLS server speaking HTTP/2 that counts the connections it accepted and
// keeps the last request's protocol and Authorization header.
type apiServer struct {
	*httptest.Server
	mu          sync.Mutex
	conns       int
	proto, auth string
}

func newAPIServer(t *testing.T) *apiServer {
	s := &apiServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.proto, s.auth = r.Proto, r.Header.Get("Authorization")
		s.mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *apiServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func get(t *testing.T, cfg *rest.Config, path string) error {
	t.Helper()
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cfg.Host + path)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// TestTheConnectionIsMadeBeforeTheFirstRequest: the API server accepts a connection before any
// request is made, and the first request (HTTP/2, with client-go's bearer token) uses it:
// one connection in all.
func TestTheConnectionIsMadeBeforeTheFirstRequest(t *testing.T) {
	srv := newAPIServer(t)
	cfg, err := Configure(&rest.Config{Host: srv.URL, BearerToken: "tok", TLSClientConfig: rest.TLSClientConfig{CAData: srv.caPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.connections() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if srv.connections() != 1 {
		t.Fatalf("%d connections before the first request, want the early one", srv.connections())
	}
	for range 3 {
		if err := get(t, cfg, "/api"); err != nil {
			t.Fatal(err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.conns != 1 || srv.proto != "HTTP/2.0" || srv.auth != "Bearer tok" {
		t.Errorf("connections %d, protocol %s, Authorization %q; want 1, HTTP/2.0, Bearer tok", srv.conns, srv.proto, srv.auth)
	}
}

// TestAServerNotTrustedIsRefused: the early connection verifies the server as client-go
// would; with the wrong CA the request fails on the certificate, and a server name that the
// certificate does not hold is refused too.
func TestAServerNotTrustedIsRefused(t *testing.T) {
	srv := newAPIServer(t)
	for name, tc := range map[string]rest.TLSClientConfig{
		"another CA":          {CAData: anotherCA(t)},
		"another server name": {CAData: srv.caPEM(), ServerName: "kubernetes.example"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Configure(&rest.Config{Host: srv.URL, TLSClientConfig: tc})
			if err != nil {
				t.Fatal(err)
			}
			if err := get(t, cfg, "/api"); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%v, want a certificate error", err)
			}
		})
	}
}

// TestClientGoDialsWhereItMust: plain HTTP, a proxy, or a transport of the caller's own leave
// the configuration as it was.
func TestClientGoDialsWhereItMust(t *testing.T) {
	withProxy := &rest.Config{Host: "https://10.96.0.1", Proxy: http.ProxyURL(mustURL(t, "http://proxy:3128"))}
	for name, cfg := range map[string]*rest.Config{
		"plain http":  {Host: "http://127.0.0.1:8080"},
		"a proxy":     withProxy,
		"a transport": {Host: "https://10.96.0.1", Transport: http.DefaultTransport},
		"a dialer":    {Host: "https://10.96.0.1", Dial: (&net.Dialer{}).DialContext},
		"not a URL":   {Host: "https://[::1"},
	} {
		got, err := Configure(cfg)
		if err != nil || got != cfg {
			t.Errorf("%s: got %p (%v), want the same config back", name, got, err)
		}
	}
}

// TestAnEarlyConnectionNobodyTakesInTimeIsClosed: a request whose context ends while the
// early handshake is still in flight gives up, and the connection is closed when it arrives.
func TestAnEarlyConnectionNobodyTakesInTimeIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept() // never answers the handshake
		if err == nil {
			accepted <- c
		}
	}()
	d := &dialer{tls: testTLS(), addr: ln.Addr().String(), first: make(chan struct{})}
	go d.dialFirst(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.dialTLS(ctx, "tcp", d.addr); err == nil {
		t.Fatal("a cancelled dial returned a connection")
	}
	c := <-accepted
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for { // the client hello, then EOF once the timed-out early dial is closed
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the early connection was left open")
			}
			return
		}
	}
}

// anotherCA is a self-signed CA certificate of its own (httptest's servers all share one).
func anotherCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func testTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
