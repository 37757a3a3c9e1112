package events

import (
	"errors"
	"fmt"

	"github.com/mlops-dev/nbv/internal/jsonschema"
)

// ValidateDocument checks a JSON document that is not an event's data, such as the runner's
// termination-message summary, against the embedded schema name (its file name in package
// schemas without ".json", e.g. "runner-summary.v1"). It shares the compiled registry with
// ValidateData, so every schema the project holds is checked by one validator one way; unlike
// ValidateData its errors do not wrap ErrMalformed (the document did not arrive as an event).
func ValidateDocument(name string, doc []byte) error {
	s, err := schemaFor(name)
	if err != nil {
		return err
	}
	inst, err := jsonschema.Decode(doc)
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("does not match schemas/%s.json: %s", name, ve)
		}
		return fmt.Errorf("validate against %s: %w", name, err)
	}
	return nil
}
