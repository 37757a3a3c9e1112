package transition

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mlops-dev/nbv/internal/statemachine"
)

// ErrPermanent marks a side effect that failed because of the job's spec (an invalid pod or
// build, a build platform that is not installed, a child's name taken): the job fails instead
// of the event retrying.
var ErrPermanent = errors.New("cannot be done with this spec")

type permanentError struct {
	err     error
	failure statemachine.StartFailure
}

func (p *permanentError) Error() string   { return p.err.Error() }
func (p *permanentError) Unwrap() []error { return []error{ErrPermanent, p.err} }

// Permanent wraps err as ErrPermanent: the spec cannot make a valid child, found before any API
// call (or the cluster does not serve the child's API).
func Permanent(err error) error { return &permanentError{err: err, failure: statemachine.StartInvalid} }

// NameTaken wraps err as ErrPermanent: an object this job does not control holds the child's
// name. err should name that object, its kind and its controller.
func NameTaken(err error) error {
	return &permanentError{err: err, failure: statemachine.StartNameTaken}
}

// NotPermitted wraps err as ErrPermanent: the job's spec author may not use what the child
// would use. err should name the user, the verb and the object.
func NotPermitted(err error) error {
	return &permanentError{err: err, failure: statemachine.StartNotPermitted}
}

// CreateFailure classifies err, the error of creating a child (pod or build) through the API
// server, for every client that creates one. The API server refusing the object itself is
// permanent (statemachine.StartRejected) and keeps its message, which names the field: 422
// Invalid, 400 BadRequest (a validating webhook such as Tekton's answers this), and 403 from
// admission (Pod Security, a webhook's denial, a LimitRange). Three 403s are left for a retry,
// because fixing the installation or the namespace, or time, cures them without touching the
// job: a denial by authorization (this function's RBAC: "User ... cannot create ..."), an
// exhausted ResourceQuota, and OwnerReferencesPermissionEnforcement refusing the child's
// blockOwnerDeletion (the function may not set finalizers on jobs, or the API server's own
// discovery does not know the job's kind yet, as right after it restarts). Any other error is
// returned as it is.
func CreateFailure(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || (apierrors.IsForbidden(err) && !curableForbidden(err)) {
		return &permanentError{err: err, failure: statemachine.StartRejected}
	}
	return err
}

// curableForbidden reports whether a 403 comes from authorization, an exhausted quota or the
// owner-reference check rather than from admission refusing the object. The API server says so
// only in the message: authorization renders `User "<name>" cannot <verb> resource ...`, the
// quota plugin `exceeded quota: ...`, OwnerReferencesPermissionEnforcement `cannot set
// blockOwnerDeletion ...`.
func curableForbidden(err error) bool {
	msg := err.Error()
	return (strings.Contains(msg, `User "`) && strings.Contains(msg, `" cannot `)) ||
		strings.Contains(msg, "exceeded quota") || strings.Contains(msg, "cannot set blockOwnerDeletion")
}

// startFailure is why err, a side effect's permanent failure, happened.
func startFailure(err error) statemachine.StartFailure {
	var p *permanentError
	if errors.As(err, &p) {
		return p.failure
	}
	return statemachine.StartInvalid
}
