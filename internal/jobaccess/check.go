package jobaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobstore"
)

// ErrNotPermitted marks a job whose author may not use what its spec references.
var ErrNotPermitted = errors.New("not permitted")

// Checker checks a job's needs against its author's rights.
type Checker struct {
	Reviews Reviewer
}

// Reviewer asks the API server whether a user may do something (client-go's typed
// SubjectAccessReviewInterface is one; NewReviewer is the functions').
type Reviewer interface {
	Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// NewReviewer is a Reviewer over a REST client whose scheme holds authorization/v1 only: the
// typed clientset it replaces links and registers every built-in API group.
func NewReviewer(cfg *rest.Config) (Reviewer, error) {
	c, err := jobstore.RESTClient(cfg, authorizationv1.SchemeGroupVersion, "/apis", authorizationv1.AddToScheme)
	if err != nil {
		return nil, fmt.Errorf("authorization/v1 client: %w", err)
	}
	return reviewer{c}, nil
}

type reviewer struct{ c rest.Interface }

func (r reviewer) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	out := &authorizationv1.SubjectAccessReview{}
	err := r.c.Post().Resource("subjectaccessreviews").VersionedParams(&opts, metav1.ParameterCodec).Body(sar).Do(ctx).Into(out)
	if err != nil {
		return nil, fmt.Errorf("create subjectaccessreview: %w", err)
	}
	return out, nil
}

// Check returns nil when job's author may do at least one of each need's permissions in the
// job's namespace, an error wrapping ErrNotPermitted naming the user, the permission and the
// field when not, and any other error when the API server could not answer (a retry may).
// Each distinct permission is reviewed once.
func (c *Checker) Check(ctx context.Context, job *v1alpha1.NotebookValidationJob, needs []Need) error {
	if len(needs) == 0 {
		return nil
	}
	author, ok := AuthorOf(job)
	if !ok {
		return fmt.Errorf("%w: the job records no spec author (annotation %s, set by the %s: is it installed?), so it may use nothing beyond the plain case, and %s needs to %s",
			ErrNotPermitted, AnnotationAuthor, AuthorPolicy, needs[0].Field, needs[0].AnyOf[0])
	}
	allowed := map[Permission]bool{}
	for _, n := range needs {
		ok := false
		for _, p := range n.AnyOf {
			a, seen := allowed[p]
			if !seen {
				var err error
				if a, err = c.review(ctx, author, job.Namespace, p); err != nil {
					return err
				}
				allowed[p] = a
			}
			if ok = a; ok {
				break
			}
		}
		if !ok {
			alternatives := make([]string, len(n.AnyOf))
			for i, p := range n.AnyOf {
				alternatives[i] = p.String()
			}
			return fmt.Errorf("%w: user %q may not %s in namespace %s, which %s asks for",
				ErrNotPermitted, author.Username, strings.Join(alternatives, " nor "), job.Namespace, n.Field)
		}
	}
	return nil
}

func (c *Checker) review(ctx context.Context, author Author, namespace string, p Permission) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: author.Username, UID: author.UID, Groups: author.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Name: p.Name,
		},
	}}
	got, err := c.Reviews.Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("review whether %q may %s in %s: %w", author.Username, p, namespace, err)
	}
	return got.Status.Allowed && !got.Status.Denied, nil
}
