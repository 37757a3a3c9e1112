package integration

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/externalci"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

var (
	ciKeyA = []byte("team-a-signing-key-0123456789abcdef")
	ciKeyB = []byte("team-b-signing-key-0123456789abcdef")
)

// serveCIRoute serves the external-CI route the way build-status-changed does, through the
// function runtime's Config.Routes, on 127.0.0.1; it returns the route's URL.
func (f *fixture) serveCIRoute() string {
	f.t.Helper()
	cfg := f.functionConfig("build-status-changed")
	x, _, err := functionenv.NewExecutor("build-status-changed", functionenv.Settings{Kube: cfg}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	rt, err := externalci.New(cfg, x)
	if err != nil {
		f.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	noEvents := func(context.Context, cloudevents.Event) (*cloudevents.Event, error) { return nil, nil }
	go func() {
		done <- function.Serve(ctx, function.Config{Listener: ln, Types: []string{events.TypeResourceUpdate},
			ServiceName: "build-status-changed", Routes: rt.Routes(), Logger: slog.New(slog.DiscardHandler)}, noEvents)
	}()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("route server: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + externalci.Path
}

// setCIKey creates namespace's Secret nbv-ci-webhook holding key.
func (f *fixture) setCIKey(namespace string, key []byte) {
	f.t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cisignature.DefaultSecretName, Namespace: namespace},
		Data: map[string][]byte{cisignature.DefaultSecretKey: key}}
	if _, err := f.kube.CoreV1().Secrets(namespace).Create(f.ctx, sec, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// advance writes the state machine's JobSeen decisions until the job is in phase, as
// job-created would, without performing their effects (no pod or build is needed here).
func (f *fixture) advance(name, phase string) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	for range 5 {
		job, err := f.store.Get(f.ctx, f.ns, name)
		if err != nil {
			f.t.Fatal(err)
		}
		if job.Status.Phase == phase {
			return job
		}
		d := statemachine.Decide(job, statemachine.Observation{Kind: statemachine.JobSeen, Now: metav1.Now()})
		if !d.Changed {
			f.t.Fatalf("job %s stuck in %q on the way to %s", name, job.Status.Phase, phase)
		}
		if _, err := f.store.PatchStatus(f.ctx, job, d.Status); err != nil {
			f.t.Fatal(err)
		}
	}
	f.t.Fatalf("job %s did not reach %s", name, phase)
	return nil
}

func buildWith(strategy string) func(*v1alpha1.NotebookValidationJob) {
	return func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy}
	}
}

func ciReport(namespace, job string) events.BuildReport {
	return events.BuildReport{Namespace: namespace, Job: job, Status: events.BuildSucceeded,
		Image: "registry.example.com/ml/train:42", Digest: "sha256:" + strings.Repeat("ab", 32),
		Message: "pipeline 42 passed", BuildID: "pipeline-42"}
}

// ciRequest is the signed request of r, sent as event id in mode, signed with key at at.
func ciRequest(t *testing.T, url string, r events.BuildReport, id, mode string, key []byte, at time.Time) *http.Request {
	t.Helper()
	ev, err := externalci.NewEvent(r, "/ci/example", id, at)
	if err != nil {
		t.Fatal(err)
	}
	req, err := externalci.NewRequest(context.Background(), url, ev, mode, key, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// send posts req (again, if it was sent before: the same bytes and headers) and returns the
// answer.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	body, err := req.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	again := req.Clone(context.Background())
	again.Body = body
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// replayLeases counts the replay-guard Leases in namespace: one per request that passed
// verification.
func (f *fixture) replayLeases(namespace string) int {
	f.t.Helper()
	l, err := f.kube.CoordinationV1().Leases(namespace).List(f.ctx, metav1.ListOptions{LabelSelector: cisignature.ReplayLabel + "=true"})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(l.Items)
}

// TestExternalCIRejections posts every kind of bad report to the route on a real API server:
// each is refused with its status and a message naming the problem, no job's resourceVersion
// moves, and only requests that passed verification leave a replay Lease. A valid report in
// binary mode then applies once, and re-posting its exact bytes is refused as a replay.
func TestExternalCIRejections(t *testing.T) {
	f := newBareFixture(t)
	url := f.serveCIRoute()
	nsB := f.ns + "-b"
	if err := f.cp.EnsureNamespace(f.ctx, nsB); err != nil {
		t.Fatal(err)
	}
	f.setCIKey(f.ns, ciKeyA)
	f.setCIKey(nsB, ciKeyB)

	f.createJob("ext", buildWith(v1alpha1.BuildStrategyExternal))
	f.advance("ext", v1alpha1.PhaseBuilding)
	f.createJob("early", buildWith(v1alpha1.BuildStrategyExternal))
	f.advance("early", v1alpha1.PhaseInitializing)
	f.createJob("tekton", buildWith(v1alpha1.BuildStrategyTekton))
	f.advance("tekton", v1alpha1.PhaseBuilding)
	f.createJob("plain", nil)
	f.advance("plain", v1alpha1.PhaseValidationRunning)

	versions := func() map[string]string {
		out := map[string]string{}
		for _, name := range []string{"ext", "early", "tekton", "plain"} {
			job, err := f.store.Get(f.ctx, f.ns, name)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = job.ResourceVersion
		}
		return out
	}
	before := versions()

	now := time.Now()
	schemaInvalid := func() *http.Request {
		req := ciRequest(t, url, ciReport(f.ns, "ext"), "schema", externalci.Structured, ciKeyA, now)
		b, _ := io.ReadAll(req.Body)
		b = bytes.Replace(b, []byte(`"status":"succeeded"`), []byte(`"status":"done"`), 1)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.Header.Set(cisignature.Header, cisignature.Sign(b, ciKeyA, now))
		return req
	}
	oversized := func() *http.Request {
		req := ciRequest(t, url, ciReport(f.ns, "ext"), "big", externalci.Structured, ciKeyA, now)
		b, _ := io.ReadAll(req.Body)
		b = append(b, bytes.Repeat([]byte(" "), cisignature.DefaultMaxBody)...)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.Header.Set(cisignature.Header, cisignature.Sign(b, ciKeyA, now))
		return req
	}
	unknown := ciReport(f.ns, "ext")
	unknown.Job = "no-such-job"
	cases := []struct {
		name     string
		req      *http.Request
		status   int
		want     string
		verified bool // passed verification, so its id is consumed (a Lease)
	}{
		{"bad signature", ciRequest(t, url, ciReport(f.ns, "ext"), "bad-sig", externalci.Binary, []byte("not-the-namespace-key-0123456789"), now),
			http.StatusUnauthorized, "signature does not verify", false},
		{"expired", ciRequest(t, url, ciReport(f.ns, "ext"), "old", externalci.Structured, ciKeyA, now.Add(-10*time.Minute)),
			http.StatusUnauthorized, "outside the accepted window", false},
		{"oversized", oversized(), http.StatusRequestEntityTooLarge, "too large", false},
		{"schema invalid", schemaInvalid(), http.StatusBadRequest, "at '/status'", false},
		{"other namespace's secret", ciRequest(t, url, ciReport(f.ns, "ext"), "key-b", externalci.Structured, ciKeyB, now),
			http.StatusUnauthorized, cisignature.Unauthorized, false},
		{"unknown job", ciRequest(t, url, unknown, "unknown", externalci.Structured, ciKeyA, now),
			http.StatusNotFound, "job " + f.ns + "/no-such-job not found", true},
		{"wrong phase", ciRequest(t, url, ciReport(f.ns, "early"), "early", externalci.Structured, ciKeyA, now),
			http.StatusConflict, "is in phase Initializing; reports are accepted only in phase Building", true},
		{"wrong strategy", ciRequest(t, url, ciReport(f.ns, "tekton"), "tekton", externalci.Binary, ciKeyA, now),
			http.StatusConflict, "builds with tekton", true},
		{"no build", ciRequest(t, url, ciReport(f.ns, "plain"), "plain", externalci.Structured, ciKeyA, now),
			http.StatusConflict, "no build", true},
	}
	leases := 0
	for _, c := range cases {
		status, body := send(t, c.req)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q, want %d naming %q", c.name, status, body, c.status, c.want)
		}
		if c.verified {
			leases++
		}
		if got := f.replayLeases(f.ns); got != leases {
			t.Errorf("%s: %d replay Leases, want %d (none for a request that fails verification)", c.name, got, leases)
		}
	}
	if after := versions(); !equalMaps(before, after) {
		t.Errorf("a refused report changed a job: resourceVersions %v -> %v", before, after)
	}

	// A captured binary-mode request cannot be re-posted under a new id: the id is signed.
	valid := ciRequest(t, url, ciReport(f.ns, "ext"), "valid", externalci.Binary, ciKeyA, now)
	renamed := valid.Clone(context.Background())
	renamed.Header.Set("Ce-Id", "valid-2")
	if status, body := send(t, renamed); status != http.StatusUnauthorized || !strings.Contains(body, "signature does not verify") {
		t.Errorf("binary request under a new id: %d %q", status, body)
	}

	status, body := send(t, valid)
	if status != http.StatusOK || !strings.Contains(body, "Building -> BuildComplete") {
		t.Fatalf("valid report: %d %q", status, body)
	}
	job, err := f.store.Get(f.ctx, f.ns, "ext")
	if err != nil {
		t.Fatal(err)
	}
	wantImage := "registry.example.com/ml/train:42@sha256:" + strings.Repeat("ab", 32)
	if job.Status.Phase != v1alpha1.PhaseBuildComplete || job.Status.BuildStatus == nil || job.Status.BuildStatus.ImageReference != wantImage {
		t.Fatalf("after the valid report: phase %s, build status %+v; want BuildComplete with image %s", job.Status.Phase, job.Status.BuildStatus, wantImage)
	}
	status, body = send(t, valid)
	if status != http.StatusConflict || !strings.Contains(body, "already received") {
		t.Errorf("replayed report: %d %q", status, body)
	}
	if again, _ := f.store.Get(f.ctx, f.ns, "ext"); again.ResourceVersion != job.ResourceVersion {
		t.Errorf("the replay changed the job: resourceVersion %s -> %s", job.ResourceVersion, again.ResourceVersion)
	}
	if got := f.replayLeases(nsB); got != 0 {
		t.Errorf("namespace %s has %d replay Leases; its key signed nothing that verified", nsB, got)
	}
}

// TestExternalCIFailedBuild: a signed failure report fails the job with the CI's message.
func TestExternalCIFailedBuild(t *testing.T) {
	f := newBareFixture(t)
	url := f.serveCIRoute()
	f.setCIKey(f.ns, ciKeyA)
	f.createJob("ext", buildWith(v1alpha1.BuildStrategyExternal))
	f.advance("ext", v1alpha1.PhaseBuilding)

	r := ciReport(f.ns, "ext")
	r.Status, r.Image, r.Digest, r.Message = events.BuildFailed, "", "", "unit tests failed in stage 3"
	status, body := send(t, ciRequest(t, url, r, "failed-1", externalci.Binary, ciKeyA, time.Now()))
	if status != http.StatusOK || !strings.Contains(body, "Building -> Failed") {
		t.Fatalf("failure report: %d %q", status, body)
	}
	job := f.waitJob("ext", "Failed", phaseIs(v1alpha1.PhaseFailed))
	if !strings.Contains(job.Status.Message, "unit tests failed in stage 3") || job.Status.BuildStatus.Phase != v1alpha1.BuildPhaseFailed {
		t.Errorf("failed job: message %q, build phase %s", job.Status.Message, job.Status.BuildStatus.Phase)
	}
}

// TestExternalCIEventCommandEndToEnd runs `nbv ci-event`'s code path against the route with
// the whole event-driven stack running: job-created moves the job to Building, the command's
// report moves it to BuildComplete, and job-created starts validation with the reported image.
func TestExternalCIEventCommandEndToEnd(t *testing.T) {
	f := newFixture(t, 1)
	url := f.serveCIRoute()
	f.setCIKey(f.ns, ciKeyA)
	keyFile := filepath.Join(t.TempDir(), "hmac-key")
	if err := os.WriteFile(keyFile, append(ciKeyA, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	f.createJob("ext", buildWith(v1alpha1.BuildStrategyExternal))
	f.waitJob("ext", "Building", phaseIs(v1alpha1.PhaseBuilding))

	digest := "sha256:" + strings.Repeat("cd", 32)
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		base := []string{"--url", strings.TrimSuffix(url, externalci.Path), "--namespace", f.ns, "--key-file", keyFile}
		code := externalci.Command(f.ctx, append(base, args...), &stdout, &stderr, time.Now, http.DefaultClient)
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := run("--job", "ext", "--status", "succeeded", "--image", "registry.example.com/ml/train:7", "--digest", digest, "--message", "ok")
	if code != 0 || !strings.Contains(stdout, "Building -> BuildComplete") {
		t.Fatalf("nbv ci-event: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	wantImage := "registry.example.com/ml/train:7@" + digest
	job := f.waitJob("ext", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	if job.Status.BuildStatus.ImageReference != wantImage {
		t.Errorf("recorded image %q, want %q", job.Status.BuildStatus.ImageReference, wantImage)
	}
	if c := findCondition(job, v1alpha1.ConditionBuildReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("BuildReady condition: %+v", c)
	}
	pods := f.podsOf("ext")
	if len(pods) != 1 || pods[0].Spec.Containers[0].Image != wantImage {
		t.Errorf("validation pods %v do not run the reported image %s", podNames(pods), wantImage)
	}

	// The job moved on: a second report is refused with the route's message and exit 1.
	code, _, stderr = run("--job", "ext", "--status", "failed", "--message", "late")
	if code != 1 || !strings.Contains(stderr, "409") || !strings.Contains(stderr, "phase ValidationRunning") {
		t.Errorf("late report: exit %d, stderr %q", code, stderr)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
