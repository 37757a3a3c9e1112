package otlpjson

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// sender posts the export requests of one signal ("traces", "metrics") to its URL, configured
// by the standard variables, the signal's own (OTEL_EXPORTER_OTLP_TRACES_HEADERS) before the
// shared one (OTEL_EXPORTER_OTLP_HEADERS): _HEADERS, _COMPRESSION (gzip or none), _TIMEOUT
// (milliseconds, default 10000: the bound of one export, retries included), _CERTIFICATE (CA
// bundle), _CLIENT_CERTIFICATE and _CLIENT_KEY. An answer the OTLP specification calls
// retryable (429, 502, 503, 504) is retried after its Retry-After or a doubling back-off, as
// the SDK's exporters do, until the export's time is up.
type sender struct {
	url     string
	headers map[string]string
	gzip    bool
	timeout time.Duration
	client  *http.Client
	// wait sleeps d or until ctx is done (a test records the waits instead).
	wait func(ctx context.Context, d time.Duration) error
}

// firstRetry and lastRetry bound the back-off between attempts without a Retry-After.
const (
	firstRetry = time.Second
	lastRetry  = 5 * time.Second
)

func newSender(url, signal string) (*sender, error) {
	env := func(name string) (string, string) {
		specific := "OTEL_EXPORTER_OTLP_" + strings.ToUpper(signal) + "_" + name
		if v, ok := os.LookupEnv(specific); ok {
			return specific, v
		}
		return "OTEL_EXPORTER_OTLP_" + name, os.Getenv("OTEL_EXPORTER_OTLP_" + name)
	}
	s := &sender{url: url, wait: sleep}
	var err error
	if s.headers, err = parseHeaders(env("HEADERS")); err != nil {
		return nil, err
	}
	switch name, v := env("COMPRESSION"); v {
	case "gzip":
		s.gzip = true
	case "", "none":
	default:
		return nil, fmt.Errorf("%s: %q is neither gzip nor none", name, v)
	}
	s.timeout = 10 * time.Second
	if name, v := env("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive number of milliseconds", name, v)
		}
		s.timeout = time.Duration(ms) * time.Millisecond
	}
	tlsConfig, err := clientTLS(env)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	s.client = &http.Client{Transport: transport}
	return s, nil
}

func parseHeaders(name, v string) (map[string]string, error) {
	h := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not key=value", name, kv)
		}
		dec, err := url.QueryUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: value of %s: %w", name, strings.TrimSpace(k), err)
		}
		h[strings.TrimSpace(k)] = dec
	}
	return h, nil
}

// clientTLS is the TLS configuration the _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY
// files make, or nil (the system's roots, no client certificate) when none is set.
func clientTLS(env func(string) (string, string)) (*tls.Config, error) {
	caName, ca := env("CERTIFICATE")
	certName, cert := env("CLIENT_CERTIFICATE")
	keyName, key := env("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caName, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", caName, ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("%s and %s go together: set both or neither", certName, keyName)
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// post sends req, encoded as JSON, and fails on anything but a 2xx answer, retrying the
// retryable ones within s.timeout. what names the content in errors ("3 spans").
func (s *sender) post(ctx context.Context, req any, what string) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if s.gzip {
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, _ = zw.Write(body) // a bytes.Buffer does not fail
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress %s: %w", what, err)
		}
		body = zipped.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	backoff := firstRetry
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.attempt(ctx, body)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("export %s to %s: %w", what, s.url, err)
		if retryAfter < 0 {
			return err
		}
		if retryAfter == 0 {
			retryAfter, backoff = backoff, min(2*backoff, lastRetry)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < retryAfter {
			return fmt.Errorf("%w (attempt %d; no time left to wait %s for another)", err, attempt, retryAfter)
		}
		if werr := s.wait(ctx, retryAfter); werr != nil {
			return fmt.Errorf("%w (attempt %d; %v)", err, attempt, werr)
		}
	}
}

// attempt posts body once. A retryable failure comes with how long to wait before the next
// attempt (0: the back-off decides), any other with -1.
func (s *sender) attempt(ctx context.Context, body []byte) (time.Duration, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range s.headers {
		hreq.Header.Set(k, v)
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return retryAfter(resp.Header.Get("Retry-After")), err
	}
	return -1, err
}

// maxRetryAfter caps a Retry-After, longer than any export's timeout: a larger number of
// seconds would overflow a time.Duration into a negative wait, and a retry at once.
const maxRetryAfter = time.Hour

// retryAfter is a Retry-After header's wait (seconds or an HTTP date, at most maxRetryAfter),
// 0 when absent or unreadable.
func retryAfter(h string) time.Duration {
	if secs, err := strconv.Atoi(h); err == nil && secs > 0 {
		return time.Duration(min(secs, int(maxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(at), 0), maxRetryAfter)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
