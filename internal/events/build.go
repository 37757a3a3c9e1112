package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Build report statuses.
const (
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
)

// BuildReport is the data of a TypeBuildReport event, sent by an external CI system. Its claims
// are only to be believed once the request signature has been verified (DESIGN section 6); this
// type only guarantees the shape.
type BuildReport struct {
	Namespace string `json:"namespace"`
	Job       string `json:"job"`
	// Status is BuildSucceeded or BuildFailed.
	Status string `json:"status"`
	// Image is the image reference built (required non-empty when Status is succeeded).
	Image string `json:"image"`
	// Digest pins Image when the CI reports it, e.g. "sha256:...".
	Digest    string    `json:"digest,omitempty"`
	Message   string    `json:"message"`
	BuildID   string    `json:"buildId"`
	URL       string    `json:"url,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// ImageReference is the image to run: pinned by digest when the CI reported one (and the image
// is not already pinned).
func (r BuildReport) ImageReference() string {
	if r.Digest == "" || strings.Contains(r.Image, "@") {
		return r.Image
	}
	return r.Image + "@" + r.Digest
}

// DecodeBuildReport checks the type, validates the data against its schema and decodes it.
// Failures wrap ErrMalformed and name the offending field.
func DecodeBuildReport(ce cloudevents.Event) (BuildReport, error) {
	r, err := decodeData[BuildReport](ce, TypeBuildReport)
	if err != nil {
		return r, err
	}
	if err := CheckNamespace("namespace", r.Namespace); err != nil {
		return r, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	if err := CheckObjectName("job", r.Job); err != nil {
		return r, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	return r, nil
}

// decodeData checks that ce has type want, validates its data against the type's schema and
// decodes it into T: the shared path of every event type whose data we define.
func decodeData[T any](ce cloudevents.Event, want string) (T, error) {
	var v T
	if ce.Type() != want {
		return v, fmt.Errorf("%w: type %q is not %s", ErrMalformed, ce.Type(), want)
	}
	if err := ValidateData(ce.Type(), ce.Data()); err != nil {
		return v, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	if err := json.Unmarshal(ce.Data(), &v); err != nil {
		return v, fmt.Errorf("%w: event %s: decode %s data: %v", ErrMalformed, ce.ID(), want, err)
	}
	return v, nil
}
