// Package cisignature authenticates the build reports an external CI system POSTs as
// CloudEvents (buildConfig.strategy: external; DESIGN section 6). Such an event is the only
// one whose claims (status, image) the functions believe, so it is accepted only when:
//
//   - its body is at most MaxBody bytes (default 64 KiB), enforced while reading (ReadBody);
//   - its signature verifies with the namespace's key (SecretKeys: Secret "nbv-ci-webhook",
//     key "hmac-key", in the job's namespace, so one namespace's key cannot sign for another);
//   - its signed timestamp is at most MaxAge old (default 5 min) and at most MaxSkew in the
//     future (default 1 min);
//   - its CloudEvent (source, id) was never accepted before (ReplayStore), remembered in the
//     cluster so the guard survives scale-to-zero.
//
// # Signature
//
// The sender puts one header on the request:
//
//	X-Nbv-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the MAC is HMAC-SHA256(key, "<t>." + signed content), i.e. the decimal timestamp
// exactly as sent in the header, a dot, and the signed content. The signed content is the raw
// body; the external-CI route (internal/externalci.SignedContent) extends it in binary mode with
// the Content-Type and every ce-* header, so that the event's id and source are signed in both
// content modes. Binding the timestamp into
// the MAC is what makes the time window mean something: the CloudEvent `time` attribute is not
// used, because in binary mode it travels in a header the MAC does not cover. Several v1=
// entries may be sent (at most 5, for key rotation); one match suffices. Sign produces the
// header value. Comparison is constant-time (hmac.Equal).
//
// # Errors
//
// Every rejection wraps one of the sentinel errors, which HTTPStatus maps to a status code:
// ErrMalformed 400, ErrBadSignature/ErrNoKey/ErrExpired 401, ErrReplayed 409, ErrTooLarge 413.
// PublicMessage is what the caller is told: whatever the reason a signature cannot be checked
// (no header, no key in the namespace, a key that does not match) the answer is the same
// Unauthorized text, so an unsigned request cannot learn which namespaces have a key; the
// detail is for the server's log. A malformed header is refused (400) before the key is
// looked up, for the same reason. ErrExpired is only reached once the MAC verified, so its
// detail goes to a caller that holds the key.
// A replay gets 409, not 2xx, because nothing was written (DESIGN principle 6: never 2xx for a
// write that did not happen): a sender that retries a delivery it thought lost learns that the
// first one arrived. Other errors (API failures) are the server's problem: 5xx, retry.
package cisignature

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header carries the signature.
const Header = "X-Nbv-Signature"

// Defaults of VerifyInput and ReadBody.
const (
	DefaultMaxBody = 64 << 10
	DefaultMaxAge  = 5 * time.Minute
	DefaultMaxSkew = time.Minute
)

// maxSignatures bounds the v1= entries checked, so a header cannot buy unbounded MAC work.
const maxSignatures = 5

// maxAttribute bounds source and id: they name a Lease annotation and a hash input.
const maxAttribute = 1024

// Unauthorized is the one answer to a request whose signature cannot be checked.
const Unauthorized = "signature does not verify: sign the request with the external-CI key of the report's namespace (" +
	Header + ": t=<unix seconds>,v1=<hex HMAC-SHA256>)"

// Rejections; see the package documentation for their HTTP mapping.
var (
	ErrMalformed    = errors.New("malformed external CI event")
	ErrBadSignature = errors.New("signature does not verify")
	ErrNoKey        = errors.New("namespace has no external CI signing key")
	ErrExpired      = errors.New("event timestamp outside the accepted window")
	ErrTooLarge     = errors.New("event body too large")
	ErrReplayed     = errors.New("event already received")
)

// HTTPStatus maps an error from this package to the status the HTTP layer answers with;
// 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrNoKey), errors.Is(err, ErrExpired):
		return http.StatusUnauthorized
	case errors.Is(err, ErrReplayed):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// PublicMessage is the text to answer err with: Unauthorized for ErrBadSignature and ErrNoKey,
// err's own text otherwise.
func PublicMessage(err error) string {
	if errors.Is(err, ErrBadSignature) || errors.Is(err, ErrNoKey) {
		return Unauthorized
	}
	return err.Error()
}

// KeySource yields a namespace's signing key; an error wrapping ErrNoKey means it has none.
// SecretKeys is the implementation.
type KeySource interface {
	SecretKey(ctx context.Context, namespace string) ([]byte, error)
}

// StaticKey is a KeySource with one key for every namespace (a sender signs with one key);
// an empty StaticKey has none.
type StaticKey []byte

// SecretKey implements KeySource.
func (k StaticKey) SecretKey(_ context.Context, namespace string) ([]byte, error) {
	if len(k) == 0 {
		return nil, fmt.Errorf("%w: namespace %q", ErrNoKey, namespace)
	}
	return k, nil
}

// Sign returns the X-Nbv-Signature header value for body sent at t, signed with key.
func Sign(body, key []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ReadBody reads r's body, refusing (ErrTooLarge) one over limit bytes (DefaultMaxBody when
// limit <= 0) without reading past the limit: a declared Content-Length over it is refused
// before reading, and http.MaxBytesReader stops a longer stream (and tells the server to
// close the connection).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("%w: exceeds %d bytes", ErrTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrMalformed, err)
	}
	return b, nil
}

// VerifyInput is one request to authenticate.
type VerifyInput struct {
	// Namespace is the namespace the event claims to be about; Key must be its key.
	Namespace string
	// Signature is the X-Nbv-Signature header value.
	Signature string
	// Body is the raw request body, as read by ReadBody.
	Body []byte
	// Source and ID are the CloudEvent's attributes (from the body in structured mode, the
	// ce-source and ce-id headers in binary mode); they key the replay guard.
	Source, ID string
	// Keys yields the namespace's signing key; it is asked only once the header parsed.
	Keys KeySource
	// Replay remembers accepted (source, id) pairs.
	Replay ReplayStore

	// Now is the time of the check; zero means time.Now().
	Now time.Time
	// MaxAge, MaxSkew and MaxBody default to DefaultMaxAge, DefaultMaxSkew and
	// DefaultMaxBody when zero.
	MaxAge, MaxSkew time.Duration
	MaxBody         int64
}

// Verify authenticates in and, only when everything else passed, records its (source, id)
// so a second delivery is refused. The order matters: unauthenticated or stale requests
// must not be able to burn (source, id) pairs of genuine events.
func Verify(ctx context.Context, in VerifyInput) error {
	now, maxAge, maxSkew, maxBody := in.Now, in.MaxAge, in.MaxSkew, in.MaxBody
	if now.IsZero() {
		now = time.Now()
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}

	if int64(len(in.Body)) > maxBody {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrTooLarge, len(in.Body), maxBody)
	}
	if in.Signature == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, Header)
	}
	ts, sigs, err := parseSignature(in.Signature)
	if err != nil {
		return err
	}
	if in.Keys == nil {
		return errors.New("cisignature: no key source configured")
	}
	key, err := in.Keys.SecretKey(ctx, in.Namespace)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return fmt.Errorf("%w: namespace %q", ErrNoKey, in.Namespace)
	}
	want := mac(key, ts, in.Body)
	ok := false
	for _, s := range sigs {
		// Every candidate is compared, so timing does not reveal which one matched.
		if hmac.Equal(want, s) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w with the key of namespace %q", ErrBadSignature, in.Namespace)
	}

	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	if err := inWindow(sec, now, maxAge, maxSkew); err != nil {
		return err
	}
	sent := time.Unix(sec, 0)

	if in.Source == "" || in.ID == "" {
		return fmt.Errorf("%w: CloudEvent source and id are required", ErrMalformed)
	}
	if len(in.Source) > maxAttribute || len(in.ID) > maxAttribute {
		return fmt.Errorf("%w: CloudEvent source or id longer than %d bytes", ErrMalformed, maxAttribute)
	}
	if in.Replay == nil {
		return errors.New("cisignature: no replay store configured")
	}
	// After sent+maxAge the timestamp check refuses the request anyway, so the guard may
	// be forgotten then.
	fresh, err := in.Replay.Remember(ctx, in.Namespace, in.Source, in.ID, sent.Add(maxAge))
	if err != nil {
		return fmt.Errorf("replay guard for %s/%s: %w", in.Source, in.ID, err)
	}
	if !fresh {
		return fmt.Errorf("%w: source %q id %q", ErrReplayed, in.Source, in.ID)
	}
	return nil
}

// parseSignature splits "t=<unix>,v1=<hex>[,v1=<hex>...]". Unknown keys are ignored, so a
// later scheme can be added next to v1 without breaking this verifier.
func parseSignature(h string) (ts string, sigs [][]byte, err error) {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: %s header: %q is not key=value", ErrMalformed, Header, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: %s header: more than one t=", ErrMalformed, Header)
			}
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
				return "", nil, fmt.Errorf("%w: %s header: t=%q is not unix seconds", ErrMalformed, Header, v)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, fmt.Errorf("%w: %s header: v1 is not a hex SHA-256 MAC", ErrMalformed, Header)
			}
			if len(sigs) == maxSignatures {
				return "", nil, fmt.Errorf("%w: %s header: more than %d v1 entries", ErrMalformed, Header, maxSignatures)
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: %s header needs t= and v1=", ErrMalformed, Header)
	}
	return ts, sigs, nil
}
