package events

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// The functions build API paths from the namespace, name and job label an event carries. The
// schemas already refuse values the API server could not hold; these checks repeat the API
// server's own rules where the values are taken out of an event, so that no handler can build
// a path from `a/b`, `..` or `%2e%2e` even if a schema is loosened or skipped. Each failure
// wraps ErrMalformed (HTTP 400) and names the field.

// CheckNamespace refuses a namespace that is not a DNS-1123 label, as every namespace name is.
func CheckNamespace(field, ns string) error {
	return nameError(field, ns, validation.IsDNS1123Label(ns))
}

// CheckObjectName refuses an object name that is not a DNS-1123 subdomain, the rule the API
// server applies to Pods, PipelineRuns, Builds and NotebookValidationJobs.
func CheckObjectName(field, name string) error {
	return nameError(field, name, validation.IsDNS1123Subdomain(name))
}

// CheckJobLabel refuses a job label value that cannot name a job: it must be a job name
// (DNS-1123 subdomain) and a label value (at most 63 characters).
func CheckJobLabel(field, value string) error {
	return nameError(field, value, append(validation.IsDNS1123Subdomain(value), validation.IsValidLabelValue(value)...))
}

func nameError(field, value string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s %q is invalid: %s", ErrMalformed, field, prefix([]byte(value)), strings.Join(problems, "; "))
}

// JobLabel returns the name of the job the event's object belongs to: the value of its label
// mlops.mlops.dev/notebookvalidationjob. A missing or invalid value is ErrMalformed.
func (re ResourceEvent) JobLabel() (string, error) {
	field := "label " + v1alpha1.LabelJob + " of " + re.Kind + " " + re.Namespace + "/" + re.Name
	job, ok := re.Object.GetLabels()[v1alpha1.LabelJob]
	if !ok || job == "" {
		return "", fmt.Errorf("%w: %s is missing", ErrMalformed, field)
	}
	if err := CheckJobLabel(field, job); err != nil {
		return "", err
	}
	return job, nil
}
