package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// CheckEnvelope validates ce's context attributes (id, source, specversion, type, ...). The
// problems are listed sorted by attribute: sdk-go keeps them in a map, and an answer to the
// same request must not change from one try to the next.
func CheckEnvelope(ce cloudevents.Event) error {
	err := ce.Validate()
	var ve event.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	attrs := make([]string, 0, len(ve))
	for a := range ve {
		attrs = append(attrs, a)
	}
	slices.Sort(attrs)
	problems := make([]string, len(attrs))
	for i, a := range attrs {
		problems[i] = a + ": " + ve[a].Error()
	}
	return fmt.Errorf("%w: invalid CloudEvent: %s", ErrMalformed, strings.Join(problems, "; "))
}
