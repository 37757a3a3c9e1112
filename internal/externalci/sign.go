package externalci

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
)

// Content modes of a request (CloudEvents HTTP binding).
const (
	Structured = "structured"
	Binary     = "binary"
)

// maxSignedHeaders bounds the header block of a binary-mode request, so the MAC input of a
// request stays within the body limit plus this.
const maxSignedHeaders = 16 << 10

// SignedContent returns what the MAC of a request covers, after "<t>." (see package
// cisignature): in structured mode the body as sent; in binary mode the CloudEvent's context,
// which travels in headers, followed by the body:
//
//	<name>:<value>\n   for Content-Type and every ce-* header, names lower-cased and sorted
//	\n
//	<body>
//
// A header value cannot contain a newline, so the block is unambiguous, and it cannot be
// mistaken for a structured body (JSON starts with "{", the block with "ce-" or
// "content-type:"). A header sent twice is refused: which copy a decoder uses is not ours to
// guess.
func SignedContent(enc binding.Encoding, header http.Header, body []byte) ([]byte, error) {
	switch enc {
	case binding.EncodingStructured:
		return body, nil
	case binding.EncodingBinary:
	default:
		return nil, fmt.Errorf("%w: %s is neither a structured nor a binary CloudEvent", cisignature.ErrMalformed, enc)
	}
	var names []string
	for name, values := range header {
		lower := strings.ToLower(name)
		if lower != "content-type" && !strings.HasPrefix(lower, "ce-") {
			continue
		}
		if len(values) != 1 {
			return nil, fmt.Errorf("%w: header %s sent %d times", cisignature.ErrMalformed, name, len(values))
		}
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	var b bytes.Buffer
	for _, name := range names {
		b.WriteString(strings.ToLower(name))
		b.WriteByte(':')
		b.WriteString(header[name][0])
		b.WriteByte('\n')
		if b.Len() > maxSignedHeaders {
			return nil, fmt.Errorf("%w: CloudEvent headers exceed %d bytes", cisignature.ErrMalformed, maxSignedHeaders)
		}
	}
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes(), nil
}

// NewEvent builds the CloudEvent reporting r, from source with id. Its data is validated
// against the schema, so a sender learns of a mistake before posting it.
func NewEvent(r events.BuildReport, source, id string, now time.Time) (cloudevents.Event, error) {
	if r.Timestamp.IsZero() {
		r.Timestamp = now.UTC()
	}
	ev := cloudevents.NewEvent()
	ev.SetType(events.TypeBuildReport)
	ev.SetSource(source)
	ev.SetID(id)
	ev.SetTime(now)
	ev.SetSubject(r.Namespace + "/" + r.Job)
	if err := ev.SetData(cloudevents.ApplicationJSON, r); err != nil {
		return ev, fmt.Errorf("encode build report: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("build report event: %w", err)
	}
	if _, err := events.DecodeBuildReport(ev); err != nil {
		return ev, err
	}
	return ev, nil
}

// NewRequest builds the signed POST of ev to url in mode (Structured or Binary), signed with
// key at now.
func NewRequest(ctx context.Context, url string, ev cloudevents.Event, mode string, key []byte, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request to %s: %w", url, err)
	}
	switch mode {
	case Structured:
		ctx = binding.WithForceStructured(ctx)
	case Binary:
		ctx = binding.WithForceBinary(ctx)
	default:
		return nil, fmt.Errorf("content mode %q: want %s or %s", mode, Structured, Binary)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ev), req); err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID(), err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID(), err)
	}
	setBody(req, body)
	enc := binding.EncodingBinary
	if mode == Structured {
		enc = binding.EncodingStructured
	}
	signed, err := SignedContent(enc, req.Header, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(cisignature.Header, cisignature.Sign(signed, key, now))
	return req, nil
}

// setBody makes body the request's (replayable) body.
func setBody(req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
}

// RejectedError is a 4xx or 5xx answer of the route: Status and the route's Message.
type RejectedError struct {
	Status  int
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// maxAnswer bounds how much of an answer is read: the route's are one line.
const maxAnswer = 64 << 10

// Send posts req with client and returns the route's answer; any status but 2xx is a
// *RejectedError carrying the route's message.
func Send(client *http.Client, req *http.Request) (string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post to %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("read answer of %s: %w", req.URL.Redacted(), err)
	}
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", &RejectedError{Status: resp.StatusCode, Message: msg}
	}
	return msg, nil
}
