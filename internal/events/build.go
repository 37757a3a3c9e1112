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
	if ce.Type() != TypeBuildReport {
		return BuildReport{}, fmt.Errorf("%w: type %q is not %s", ErrMalformed, ce.Type(), TypeBuildReport)
	}
	if err := ValidateData(ce.Type(), ce.Data()); err != nil {
		return BuildReport{}, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	var r BuildReport
	if err := json.Unmarshal(ce.Data(), &r); err != nil {
		return BuildReport{}, fmt.Errorf("%w: event %s: decode build report: %v", ErrMalformed, ce.ID(), err)
	}
	return r, nil
}
