package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/local/identity"
	"github.com/mlops-dev/nbv/internal/local/optin"
)

var (
	rbacOnce   sync.Once
	rbacErr    error
	tokensMu   sync.Mutex
	saTokens   = map[string]string{}
	optedInMu  sync.Mutex
	optedInNSs = map[string]bool{}
)

// functionConfig is what a test runs function service's code with in this process: the
// function's ServiceAccount (config/functions names it nbv-<service>) with a TokenRequest
// token, after config/rbac is installed and the fixture's namespace opted in as a user would.
func (f *fixture) functionConfig(service string) *rest.Config {
	f.t.Helper()
	admin := f.cp.RESTConfig()
	rbacOnce.Do(func() { rbacErr = optin.InstallRBAC(context.Background(), admin, repoRoot) })
	if rbacErr != nil {
		f.t.Fatal(rbacErr)
	}
	f.optIn(f.ns)
	sa := "nbv-" + service
	tokensMu.Lock()
	defer tokensMu.Unlock()
	token, ok := saTokens[sa]
	if !ok {
		var err error
		if token, err = identity.Token(f.ctx, admin, optin.SystemNamespace, sa, time.Hour); err != nil {
			f.t.Fatal(err)
		}
		saTokens[sa] = token
	}
	return identity.Config(admin, token)
}

// optIn opts namespace in (label and config/rbac/opt-in/), once, and waits until the
// authorizer sees the RoleBindings (it reads them from an informer).
func (f *fixture) optIn(namespace string) {
	f.t.Helper()
	optedInMu.Lock()
	defer optedInMu.Unlock()
	if optedInNSs[namespace] {
		return
	}
	if err := optin.Namespace(f.ctx, f.cp.RESTConfig(), repoRoot, namespace); err != nil {
		f.t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(f.cp.RESTConfig())
	if err != nil {
		f.t.Fatal(err)
	}
	probe := authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "get", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"}
	for deadline := time.Now().Add(10 * time.Second); !allowed(f.ctx, kube, "nbv-job-created", probe); {
		if time.Now().After(deadline) {
			f.t.Fatalf("namespace %s opted in, but nbv-job-created is still not allowed to get jobs there", namespace)
		}
		time.Sleep(50 * time.Millisecond)
	}
	optedInNSs[namespace] = true
}

// allowed asks the API server whether ServiceAccount sa of optin.SystemNamespace may do attrs.
func allowed(ctx context.Context, kube kubernetes.Interface, sa string, attrs authorizationv1.ResourceAttributes) bool {
	review, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               saPrefix + sa,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + optin.SystemNamespace, "system:authenticated"},
			ResourceAttributes: &attrs,
		},
	}, metav1.CreateOptions{})
	return err == nil && review.Status.Allowed
}

// rbacScenarios are the tests that together make every function do everything it can do:
// jobs with and without builds succeeding and failing, an evicted pod's retry, Tekton and
// OpenShift builds, a signed external-CI report, the sweep's deadlines and recoveries, and
// children whose name is taken, and jobs waiting for a KServe and a Deployment-served model.
var rbacScenarios = []struct {
	name string
	run  func(*testing.T)
}{
	{"JobSucceeds", TestJobSucceedsEndToEnd},
	{"JobFails", TestJobFailsNamingTheCell},
	{"EvictedPodIsReplaced", TestEvictedPodIsReplaced},
	{"BuildSucceedsThenValidates", TestBuildSucceedsThenValidates},
	{"BuildEndsTheJob", TestBuildEndsTheJob},
	{"ExternalCIReport", TestExternalCIRejections},
	{"SweepExternalBuildDeadline", TestSweepFailsExternalBuildPastDeadline},
	{"SweepBuildDeadline", TestSweepFailsBuildPastDeadline},
	{"SweepLostPodEvent", TestSweepRecoversLostPodEvent},
	{"SweepLostBuildEvent", TestSweepRecoversLostBuildEvent},
	{"SweepAdvancesUnseenJob", TestSweepAdvancesUnseenJob},
	{"SweepClusterWide", TestSweepRunsWithItsOwnRBAC},
	{"SweepReplayLeases", TestSweepDeletesExpiredReplayLeases},
	{"TakenChildNames", TestTakenChildNameIsReadBack},
	{"ModelValidationInferenceService", TestModelValidationWaitsForInferenceService},
	{"ModelValidationDeployment", TestModelValidationWaitsForDeployment},
}

// TestRBACEqualsUse runs the scenarios with every function acting as its own ServiceAccount,
// reads from the API server's audit log what each one asked for, and checks that
// config/rbac/ grants each ServiceAccount exactly that: nothing used is missing (or denied),
// nothing granted goes unused. SubjectAccessReviews then confirm every recorded request is
// allowed and that what no function may ever do is denied.
func TestRBACEqualsUse(t *testing.T) {
	cp := requireControlPlane(t)
	if cp.AuditLogPath() == "" {
		t.Fatal("the shared control plane runs without an audit log (controlplane.Options.AuditUserGroups)")
	}
	offset, err := cp.AuditOffset()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rbacScenarios {
		t.Run(s.name, s.run)
	}
	if t.Failed() {
		t.Log("a scenario failed: the comparison below still names what was denied or missing")
	}

	events, err := cp.ReadAudit(offset)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	resourceOf := func(gk schema.GroupKind) (string, error) {
		m, err := mapper.RESTMapping(gk)
		if err != nil {
			return "", fmt.Errorf("owner kind %s: %w", gk, err)
		}
		return m.Resource.Resource, nil
	}
	grants, err := rbacGrants(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	sas := map[string]bool{}
	for _, g := range grants {
		sas[g.SA] = true
	}
	used, denied, err := usedAccesses(events, sas, resourceOf)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range denied {
		t.Errorf("denied: %s", d)
	}
	for _, m := range rbacMismatch(grants, used) {
		t.Error(m)
	}
	t.Logf("%d audit events, %d distinct accesses by the functions' ServiceAccounts", len(events), len(used))

	checkAccessReviews(t, cp.RESTConfig(), used, grants)
}

// checkAccessReviews asks the authorizer, for every function: each used access is allowed in
// an opted-in namespace (or cluster-wide, where used so); no write is allowed in a namespace
// that did not opt in, nor cluster-wide; and the list of things no function may do is denied.
func checkAccessReviews(t *testing.T, admin *rest.Config, used []access, grants []grant) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, cp: controlPlane}
	optedIn := "rbac-opted-in"
	if err := controlPlane.EnsureNamespace(ctx, optedIn); err != nil {
		t.Fatal(err)
	}
	f.optIn(optedIn)
	notOptedIn := "rbac-not-opted-in"
	if err := controlPlane.EnsureNamespace(ctx, notOptedIn); err != nil {
		t.Fatal(err)
	}
	attrs := func(a access, namespace string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: a.Verb, Group: a.Group,
			Resource: a.Resource, Subresource: a.Subresource, Name: a.Name}
	}
	var atoms []access
	for _, g := range grants {
		atoms = append(atoms, g.atoms()...)
	}
	reviewed := map[access]bool{}
	for _, u := range used {
		if u = withoutName(atoms, u); reviewed[u] {
			continue
		}
		reviewed[u] = true
		ns := optedIn
		if u.Scope == scopeCluster {
			ns = ""
		}
		if !allowed(ctx, kube, u.SA, attrs(u, ns)) {
			t.Errorf("SubjectAccessReview denies a recorded request: %s in namespace %q", u, ns)
		}
		if isWrite(u.Verb, u.Group, u.Resource) {
			for _, where := range []string{notOptedIn, ""} {
				if allowed(ctx, kube, u.SA, attrs(u, where)) {
					t.Errorf("%s is also allowed in namespace %q, which did not opt in", u, where)
				}
			}
		}
	}
	sas := map[string]bool{}
	for _, g := range grants {
		sas[g.SA] = true
	}
	if len(sas) != 4 {
		t.Errorf("config/rbac binds %d function ServiceAccounts, want the 4 functions'", len(sas))
	}
	for sa := range sas {
		for _, never := range neverAllowed(sa) {
			for _, ns := range []string{optedIn, notOptedIn} {
				never.Namespace = ns
				if allowed(ctx, kube, sa, never) {
					t.Errorf("%s may %s %s/%s %q in namespace %s: no function may", sa, never.Verb,
						never.Resource, never.Subresource, never.Name, ns)
				}
			}
		}
	}
}

// isWrite reports whether a request of verb on resource changes something. Creating a
// SubjectAccessReview only asks the authorizer a question (nothing is stored).
func isWrite(verb, group, resource string) bool {
	if group == "authorization.k8s.io" && resource == "subjectaccessreviews" {
		return false
	}
	return slices.Contains([]string{"create", "update", "patch", "delete", "deletecollection"}, verb)
}

// neverAllowed is what sa must never be able to do in any namespace, opted in or not.
func neverAllowed(sa string) []authorizationv1.ResourceAttributes {
	out := []authorizationv1.ResourceAttributes{
		// Secrets: no function mounts or reads any, except build-status-changed's one CI key.
		{Verb: "get", Resource: "secrets", Name: "git-credentials"},
		{Verb: "list", Resource: "secrets"},
		{Verb: "watch", Resource: "secrets"},
		{Verb: "create", Resource: "secrets"},
		// Jobs belong to their users: functions write status only.
		{Verb: "delete", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"},
		{Verb: "update", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"},
		{Verb: "patch", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"},
		{Verb: "create", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"},
		// Nobody runs commands in, or reads the output of, a validation pod.
		{Verb: "create", Resource: "pods", Subresource: "exec"},
		{Verb: "get", Resource: "pods", Subresource: "log"},
		{Verb: "update", Resource: "pods"},
		{Verb: "patch", Resource: "pods"},
		{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
	}
	if sa != "nbv-sweep" {
		// Only the sweep deletes children (a job past its deadline); the functions that
		// react to events create them.
		out = append(out,
			authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods"},
			authorizationv1.ResourceAttributes{Verb: "delete", Group: "tekton.dev", Resource: "pipelineruns"},
			authorizationv1.ResourceAttributes{Verb: "delete", Group: "build.openshift.io", Resource: "builds"})
	}
	if sa != "nbv-build-status-changed" {
		out = append(out, authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Name: cisignature.DefaultSecretName})
	}
	return out
}

// TestRBACGrantsParse checks the pure half on the real files: config/rbac/ grants each function's
// ServiceAccount only in opted-in namespaces, except the sweep's cluster-wide reads, and a
// verb removed from a rule is reported as used but not granted.
func TestRBACGrantsParse(t *testing.T) {
	grants, err := rbacGrants(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var cluster []string
	for _, g := range grants {
		if g.Scope == scopeCluster {
			for _, a := range g.atoms() {
				cluster = append(cluster, a.String())
				if isWrite(a.Verb, a.Group, a.Resource) {
					t.Errorf("cluster-wide write: %s (%s)", a, g.Source)
				}
			}
		}
	}
	want := []string{
		"nbv-job-created: create subjectaccessreviews.authorization.k8s.io (cluster scope)",
		"nbv-pod-completed: create subjectaccessreviews.authorization.k8s.io (cluster scope)",
		"nbv-sweep: create subjectaccessreviews.authorization.k8s.io (cluster scope)",
		"nbv-sweep: list namespaces (cluster scope)",
		"nbv-sweep: list notebookvalidationjobs.mlops.mlops.dev (cluster scope)",
	}
	slices.Sort(cluster)
	if !slices.Equal(cluster, want) {
		t.Errorf("cluster-wide grants %v, want only %v", cluster, want)
	}

	// Use = grants exactly: no mismatch. Then drop one verb: it is named.
	var used []access
	for _, g := range grants {
		used = append(used, g.atoms()...)
	}
	if m := rbacMismatch(grants, used); len(m) != 0 {
		t.Errorf("grants compared with themselves: %v", m)
	}
	fewer := slices.Clone(grants)
	for i, g := range fewer {
		if g.SA == "nbv-pod-completed" && slices.Contains(g.Rule.Verbs, "create") && slices.Contains(g.Rule.Resources, "pods") {
			g.Rule = *g.Rule.DeepCopy()
			g.Rule.Verbs = slices.DeleteFunc(g.Rule.Verbs, func(v string) bool { return v == "create" })
			fewer[i] = g
		}
	}
	m := rbacMismatch(fewer, used)
	if len(m) != 1 || !strings.Contains(m[0], "used but not granted") || !strings.Contains(m[0], "nbv-pod-completed: create pods (namespace scope)") {
		t.Errorf("with pod-completed's create pods removed: %v", m)
	}
}
