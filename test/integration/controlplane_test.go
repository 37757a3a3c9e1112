// Package integration tests the project against a real control plane (etcd + kube-apiserver
// built by `make controlplane`), started once for the package by TestMain.
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/eventsource"
	"github.com/mlops-dev/nbv/internal/local/optin"
)

var (
	// controlPlane is shared by every test of the package; nil when skipped.
	controlPlane *controlplane.ControlPlane
	// skipReason is set when NBV_SKIP_INTEGRATION=1 and the binaries are absent.
	skipReason string
	repoRoot   string
	// functionsDir holds the function binaries (go build ./functions/...), which the local
	// stack runs as processes.
	functionsDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if repoRoot, err = controlplane.FindRepoRoot("."); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	if err := controlplane.CheckBinaries("", false); err != nil {
		if os.Getenv("NBV_SKIP_INTEGRATION") == "1" {
			skipReason = fmt.Sprintf("NBV_SKIP_INTEGRATION=1 and %v", err)
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "integration: %v\n(set NBV_SKIP_INTEGRATION=1 to skip these tests instead)\n", err)
		return 1
	}
	if functionsDir, err = buildFunctions(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(functionsDir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	// The audit log records what each function's ServiceAccount asks of the API server
	// (TestRBACEqualsUse).
	controlPlane, err = controlplane.Start(ctx, controlplane.Options{RepoRoot: repoRoot,
		AuditUserGroups: []string{"system:serviceaccounts:" + optin.SystemNamespace}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: starting control plane:", err)
		return 1
	}
	fmt.Printf("integration: control plane at %s ready with CRDs in %v (pids %v)\n",
		controlPlane.Host(), time.Since(start).Round(time.Millisecond), controlPlane.PIDs())

	code := m.Run()

	// Every stack was stopped: no function instance may outlive the tests that started it.
	if left, err := hostFunctionProcesses(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "integration: function processes left after the tests: %v (%v)\n", left, err)
		code = 1
	}
	pids := controlPlane.PIDs()
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		code = 1
	}
	// Every child led its own process group: nothing of the group may survive Stop.
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(os.Stderr, "integration: process group %d still alive after Stop (kill -0: %v)\n", pid, err)
			code = 1
		}
	}
	if _, err := os.Stat(controlPlane.Dir()); !os.IsNotExist(err) {
		fmt.Fprintf(os.Stderr, "integration: %s not removed by Stop\n", controlPlane.Dir())
		code = 1
	}
	return code
}

// buildFunctions builds every function's binary, as `make build` does, into a temporary
// directory.
func buildFunctions() (string, error) {
	dir, err := os.MkdirTemp("", "nbv-functions-")
	if err != nil {
		return "", err
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./functions/...")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("building the functions: %v\n%s", err, out)
	}
	fmt.Printf("integration: functions built into %s in %v\n", dir, time.Since(start).Round(time.Millisecond))
	return dir, nil
}

// requireControlPlane skips the test only in the case runMain allowed.
func requireControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	return controlPlane
}

// newNamespace gives each test its own namespace, so tests share the API server but not state.
// It carries the opt-in label (jobs are refused elsewhere) but no RoleBindings.
func newNamespace(t *testing.T, ctx context.Context, cp *controlplane.ControlPlane) string {
	t.Helper()
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(ns) > 63 {
		ns = ns[:63]
	}
	if err := cp.EnsureOptedInNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// sampleJob is config/samples/basic.yaml renamed into namespace.
func sampleJob(t *testing.T, name, namespace string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetName(name)
	u.SetNamespace(namespace)
	return u
}

func jobs(t *testing.T, cp *controlplane.ControlPlane, namespace string) dynamic.ResourceInterface {
	t.Helper()
	client, err := dynamic.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client.Resource(v1alpha1.GroupVersionResource).Namespace(namespace)
}

// patchStatus merge-patches the status subresource; a non-empty resourceVersion makes the
// write conditional, as the functions do.
func patchStatus(ctx context.Context, ri dynamic.ResourceInterface, name, resourceVersion string, status map[string]any) (*unstructured.Unstructured, error) {
	patch := map[string]any{"status": status}
	if resourceVersion != "" {
		patch["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	return ri.Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{}, "status")
}

type received struct {
	event      cloudevents.Event
	remoteAddr string
}

// TestApiServerSourceDeliversJobEvents runs Knative's ApiServerSource adapter for
// eventsources/notebookvalidationjobs.yaml as that manifest's own ServiceAccount (so its RBAC
// is proven sufficient) and checks the add and update events reach an HTTP sink.
func TestApiServerSourceDeliversJobEvents(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)

	manifest, err := eventsource.LoadFile(filepath.Join(repoRoot, "eventsources", "notebookvalidationjobs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.ApiServerSources) != 1 {
		t.Fatalf("want one ApiServerSource in %s, got %d", manifest.Path, len(manifest.ApiServerSources))
	}
	src := manifest.ApiServerSources[0]
	if err := manifest.ApplyObjects(ctx, cp.RESTConfig(), ns); err != nil {
		t.Fatal(err)
	}
	saConfig, err := cp.ServiceAccountConfig(ctx, ns, src.Spec.ServiceAccountName)
	if err != nil {
		t.Fatal(err)
	}

	events := make(chan received, 16)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events <- received{event: *ev, remoteAddr: r.RemoteAddr}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()

	adapterCtx, stopAdapter := context.WithCancel(ctx)
	adapter, err := eventsource.Start(adapterCtx, eventsource.Options{
		Config: saConfig, Source: src, Namespace: ns, WatchNamespace: ns, SinkURL: sink.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopAdapter()
		if err := adapter.Err(); err != nil {
			t.Errorf("adapter exited with %v", err)
		}
	}()
	select {
	case <-adapter.Ready():
	case <-adapter.Done():
		t.Fatalf("adapter stopped before its watch was established: %v", adapter.Err())
	case <-ctx.Done():
		t.Fatal("adapter watch not established in time")
	}

	ri := jobs(t, cp, ns)
	created, err := ri.Create(ctx, sampleJob(t, "events", ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := "/apis/mlops.mlops.dev/v1alpha1/namespaces/" + ns + "/notebookvalidationjobs/events"
	add := waitEvent(t, ctx, events, "dev.knative.apiserver.resource.add")
	checkEvent(t, add, cp.Host(), wantSubject, ns, "events")
	var payload unstructured.Unstructured
	if err := json.Unmarshal(add.event.Data(), &payload.Object); err != nil {
		t.Fatalf("add event data is not the object: %v", err)
	}
	if payload.GetUID() != created.GetUID() {
		t.Errorf("add event carries uid %q, created object has %q", payload.GetUID(), created.GetUID())
	}

	if _, err := patchStatus(ctx, ri, "events", "", map[string]any{"phase": v1alpha1.PhaseInitializing}); err != nil {
		t.Fatal(err)
	}
	update := waitEvent(t, ctx, events, "dev.knative.apiserver.resource.update")
	checkEvent(t, update, cp.Host(), wantSubject, ns, "events")
	phase, _, _ := unstructured.NestedString(mustObject(t, update.event.Data()), "status", "phase")
	if phase != v1alpha1.PhaseInitializing {
		t.Errorf("update event carries phase %q, want %q", phase, v1alpha1.PhaseInitializing)
	}
}

func waitEvent(t *testing.T, ctx context.Context, events <-chan received, eventType string) received {
	t.Helper()
	for {
		select {
		case r := <-events:
			if r.event.Type() == eventType {
				return r
			}
			t.Logf("ignoring %s event for %s", r.event.Type(), r.event.Subject())
		case <-ctx.Done():
			t.Fatalf("no %s event delivered: %v", eventType, ctx.Err())
		}
	}
}

func checkEvent(t *testing.T, r received, source, subject, namespace, name string) {
	t.Helper()
	ev := r.event
	if !strings.HasPrefix(r.remoteAddr, "127.0.0.1:") {
		t.Errorf("event came from %s, want the in-process adapter on 127.0.0.1", r.remoteAddr)
	}
	if ev.Source() != source {
		t.Errorf("source = %q, want the API server %q", ev.Source(), source)
	}
	if ev.Subject() != subject {
		t.Errorf("subject = %q, want %q", ev.Subject(), subject)
	}
	for attr, want := range map[string]string{
		"kind": v1alpha1.Kind, "apiversion": v1alpha1.SchemeGroupVersion.String(),
		"name": name, "namespace": namespace,
	} {
		if got, _ := ev.Extensions()[attr].(string); got != want {
			t.Errorf("extension %s = %q, want %q", attr, got, want)
		}
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("event is not valid CloudEvents: %v", err)
	}
}

func mustObject(t *testing.T, data []byte) map[string]any {
	t.Helper()
	obj := map[string]any{}
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestStaleStatusPatchConflicts checks the optimistic-concurrency contract the functions rely
// on: a status write carrying a superseded resourceVersion is refused with 409 and changes
// nothing.
func TestStaleStatusPatchConflicts(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	ri := jobs(t, cp, ns)

	created, err := ri.Create(ctx, sampleJob(t, "occ", ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := created.GetResourceVersion()
	if _, err := patchStatus(ctx, ri, "occ", stale, map[string]any{"phase": v1alpha1.PhaseInitializing}); err != nil {
		t.Fatalf("first conditional patch: %v", err)
	}
	_, err = patchStatus(ctx, ri, "occ", stale, map[string]any{"phase": v1alpha1.PhaseFailed})
	if !apierrors.IsConflict(err) {
		t.Fatalf("patch with stale resourceVersion: want 409 Conflict, got %v", err)
	}
	got, err := ri.Get(ctx, "occ", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if phase, _, _ := unstructured.NestedString(got.Object, "status", "phase"); phase != v1alpha1.PhaseInitializing {
		t.Errorf("phase after refused patch = %q, want %q", phase, v1alpha1.PhaseInitializing)
	}
}

// TestRBACDeniesUnboundServiceAccount checks RBAC is really enforced: a ServiceAccount with a
// valid token but no RoleBinding is refused with 403, and the same account is allowed once
// bound (so the 403 came from authorization, not from a broken token).
func TestRBACDeniesUnboundServiceAccount(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := newNamespace(t, ctx, cp)

	saConfig, err := cp.ServiceAccountConfig(ctx, ns, "unbound")
	if err != nil {
		t.Fatal(err)
	}
	saClient, err := dynamic.NewForConfig(saConfig)
	if err != nil {
		t.Fatal(err)
	}
	saJobs := saClient.Resource(v1alpha1.GroupVersionResource).Namespace(ns)
	_, err = saJobs.List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list as unbound ServiceAccount: want 403 Forbidden, got %v", err)
	}
	if user := "system:serviceaccount:" + ns + ":unbound"; !strings.Contains(err.Error(), user) {
		t.Errorf("403 message %q does not name the user %s", err, user)
	}

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-jobs", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.Group}, Resources: []string{v1alpha1.Resource},
			Verbs: []string{"list"}}},
	}
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-jobs", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-jobs"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "unbound", Namespace: ns}},
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The authorizer reads RBAC objects from an informer: allow it a moment to catch up.
	for {
		_, err = saJobs.List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) || ctx.Err() != nil {
			t.Fatalf("list after binding: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCRDValidationAndFieldSelector checks the generated CRD's schema is enforced by the API
// server with messages naming the field, and that status.phase is a selectable field.
func TestCRDValidationAndFieldSelector(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	ri := jobs(t, cp, ns)

	for _, tc := range []struct {
		name  string
		path  []string
		value string
		field string // must appear in the error
	}{
		{"not-a-notebook", []string{"spec", "notebook", "path"}, "notebooks/readme.md", "spec.notebook.path"},
		{"escapes-repo", []string{"spec", "notebook", "path"}, "../secrets.ipynb", "spec.notebook.path"},
		{"bad-timeout", []string{"spec", "timeout"}, "ten minutes", "spec.timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := sampleJob(t, tc.name, ns)
			if err := unstructured.SetNestedField(job.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			_, err := ri.Create(ctx, job, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create with %s=%q: want 422 Invalid, got %v", tc.field, tc.value, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}

	for _, name := range []string{"building", "running", "done"} {
		if _, err := ri.Create(ctx, sampleJob(t, name, ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, phase := range map[string]string{
		"building": v1alpha1.PhaseBuilding, "running": v1alpha1.PhaseValidationRunning, "done": v1alpha1.PhaseSucceeded,
	} {
		if _, err := patchStatus(ctx, ri, name, "", map[string]any{"phase": phase}); err != nil {
			t.Fatal(err)
		}
	}
	for selector, want := range map[string]string{
		"status.phase=Building":                           "building",
		"status.phase!=Succeeded,status.phase!=Failed":    "building,running",
		"status.phase=Succeeded,metadata.namespace=" + ns: "done",
	} {
		list, err := ri.List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			t.Fatalf("list with field selector %q: %v", selector, err)
		}
		var names []string
		for _, item := range list.Items {
			names = append(names, item.GetName())
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("field selector %q selected [%s], want [%s]", selector, got, want)
		}
	}

	// The same through kubectl and the short name, as a user would type it.
	kubectl := filepath.Join(controlplane.DefaultBinDir(), "kubectl")
	out, err := cmdoutput.Stdout(exec.CommandContext(ctx, kubectl, "--kubeconfig", cp.KubeconfigPath(), "-n", ns,
		"get", "nvj", "--field-selector", "status.phase=Building", "-o", "name"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "notebookvalidationjob.mlops.mlops.dev/building"; got != want {
		t.Errorf("kubectl selected %q, want %q", got, want)
	}
}
