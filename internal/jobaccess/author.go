package jobaccess

import (
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// The annotations in which the MutatingAdmissionPolicy nbv-spec-author
// (config/admission/spec-author.yaml) records the user who last changed a job's spec, from
// the API server's request.userInfo. The policy sets them on every create and update, so a
// value the user writes is overwritten.
const (
	AnnotationAuthor       = "mlops.mlops.dev/spec-author"
	AnnotationAuthorUID    = "mlops.mlops.dev/spec-author-uid"
	AnnotationAuthorGroups = "mlops.mlops.dev/spec-author-groups" // one group a line
)

// AuthorPolicy names the policy that records the author, for messages.
const AuthorPolicy = "MutatingAdmissionPolicy nbv-spec-author"

// Author is the user whose rights a job's children may use.
type Author struct {
	Username string
	UID      string
	Groups   []string
}

// AuthorOf is the spec author recorded on job; false when none is.
func AuthorOf(job *v1alpha1.NotebookValidationJob) (Author, bool) {
	a := job.Annotations
	if a[AnnotationAuthor] == "" {
		return Author{}, false
	}
	var groups []string
	for g := range strings.SplitSeq(a[AnnotationAuthorGroups], "\n") {
		if g != "" {
			groups = append(groups, g)
		}
	}
	return Author{Username: a[AnnotationAuthor], UID: a[AnnotationAuthorUID], Groups: groups}, true
}
