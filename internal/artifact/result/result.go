// Package result is the publish container's termination message: the run's artifact by
// digest, or why there is none. It is its own package, free of registry code, because
// pod-completed reads it and links nothing it does not use.
package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/mlops-dev/nbv/internal/pin"
)

// Result is what the publish container leaves in its termination message, for pod-completed
// to put in status.artifact.
type Result struct {
	Reference    string   `json:"reference,omitempty"`
	ArtifactType string   `json:"artifactType,omitempty"`
	Files        []string `json:"files,omitempty"`
	Message      string   `json:"message,omitempty"`
}

// maxBytes is the kubelet's bound on a termination message.
const maxBytes = 4096

// repositoryName is <registry>/<repository>, the name of a reference by digest.
var repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)

// byDigest reports whether ref is <registry>/<repository>@sha256:<64 hex>.
func byDigest(ref string) bool {
	name, ok := pin.ImageDigest(ref)
	return ok && repositoryName.MatchString(name)
}

// Encode returns r as a termination message, its message cut to fit.
func (r Result) Encode() []byte {
	for {
		b, _ := json.Marshal(r)
		if len(b) <= maxBytes || r.Message == "" {
			return b
		}
		r.Message = r.Message[:len(r.Message)/2] + " [truncated]"
	}
}

// Decode reads a publish container's termination message. The publish container runs the
// project's own image, not the notebook's; the message is still checked to be a Result naming
// an artifact by digest, or an error.
func Decode(msg string) (Result, error) {
	var r Result
	dec := json.NewDecoder(strings.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Result{}, fmt.Errorf("publish result: %w", err)
	}
	if r.Reference != "" && !byDigest(r.Reference) {
		return Result{}, fmt.Errorf("publish result: reference %q is not <registry>/<repository>@sha256:<digest>", r.Reference)
	}
	if r.Reference == "" && r.Message == "" {
		return Result{}, errors.New("publish result names neither an artifact nor an error")
	}
	return r, nil
}
