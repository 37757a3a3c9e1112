package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/jobaccess"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// grant gives user, in the fixture's namespace, the rules (a Role bound to the user).
func (f *fixture) grant(name, user string, rules ...rbacv1.PolicyRule) {
	f.t.Helper()
	if _, err := f.kube.RbacV1().Roles(f.ns).Create(f.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.kube.RbacV1().RoleBindings(f.ns).Create(f.ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}}, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// jobAuthor is a user who may only create, read and change NotebookValidationJobs in the
// fixture's namespace: no pods, no Secrets, no ServiceAccounts.
func (f *fixture) jobAuthor(user string) dynamic.ResourceInterface {
	f.t.Helper()
	f.grant("jobs-"+user, user, rbacv1.PolicyRule{APIGroups: []string{v1alpha1.SchemeGroupVersion.Group},
		Resources: []string{"notebookvalidationjobs"}, Verbs: []string{"create", "get", "list", "watch", "update", "patch"}})
	c, err := dynamic.NewForConfig(f.cp.ImpersonatedConfig(user, "team-devs"))
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Resource(v1alpha1.GroupVersionResource).Namespace(f.ns)
}

// refusedByAuthorization creates job name through client and waits until it failed
// NotPermitted: in one write after Initializing (no retry loop), with no pod, build child or
// PipelineRun created, and a Warning Event of that reason.
func (f *fixture) refusedByAuthorization(name string, client dynamic.ResourceInterface, mutate func(*v1alpha1.NotebookValidationJob)) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	stop := f.watchWrites(name)
	if err := f.createAs(client, name, mutate); err != nil {
		f.t.Fatal(err)
	}
	job := f.waitJob(name, "Failed", phaseIs(v1alpha1.PhaseFailed))
	time.Sleep(500 * time.Millisecond) // a redelivery would write again
	if writes := stop(); strings.Join(writes, ",") != v1alpha1.PhaseInitializing+","+v1alpha1.PhaseFailed {
		f.t.Errorf("writes %v, want Initializing then Failed", writes)
	}
	if c := findCondition(job, v1alpha1.ConditionReady); c == nil || c.Reason != statemachine.ReasonNotPermitted {
		f.t.Errorf("Ready %+v, want reason %s", c, statemachine.ReasonNotPermitted)
	}
	if pods := f.podsOf(name); len(pods) != 0 {
		f.t.Errorf("pods %v created for a refused job", podNames(pods))
	}
	if job.Spec.PodConfig.BuildConfig != nil {
		if bs := job.Status.BuildStatus; bs == nil || bs.Reason != statemachine.ReasonNotPermitted {
			f.t.Errorf("buildStatus %+v, want reason %s", bs, statemachine.ReasonNotPermitted)
		}
		if _, err := f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			f.t.Errorf("PipelineRun of a refused job: %v, want none", err)
		}
	}
	f.expectEvents(job, statemachine.ReasonNotPermitted)
	return job
}

// TestSpecAuthorIsRecordedAndCannotBeForged: the MutatingAdmissionPolicy of
// config/admission records the user who created a job or last changed its spec, from the API
// server's own view of the request; annotations a user writes are overwritten.
func TestSpecAuthorIsRecordedAndCannotBeForged(t *testing.T) {
	f := newBareFixture(t)
	alice, bob := f.jobAuthor("alice"), f.jobAuthor("bob")
	if err := f.createAs(alice, "authored", func(j *v1alpha1.NotebookValidationJob) {
		j.Annotations = map[string]string{jobaccess.AnnotationAuthor: "system:admin", jobaccess.AnnotationAuthorGroups: "system:masters", "team": "ml"}
	}); err != nil {
		t.Fatal(err)
	}
	author := func(want string) {
		t.Helper()
		job, err := f.store.Get(f.ctx, f.ns, "authored")
		if err != nil {
			t.Fatal(err)
		}
		a, ok := jobaccess.AuthorOf(job)
		if !ok || a.Username != want {
			t.Fatalf("author %+v (%v), want %s; annotations %v", a, ok, want, job.Annotations)
		}
		if strings.Join(a.Groups, ",") != "team-devs,system:authenticated" {
			t.Errorf("groups %v, want the request's: team-devs, system:authenticated", a.Groups)
		}
		if job.Annotations["team"] != "ml" {
			t.Errorf("the user's own annotation was lost: %v", job.Annotations)
		}
	}
	author("alice")

	patch := func(client dynamic.ResourceInterface, body string) {
		t.Helper()
		if _, err := client.Patch(f.ctx, "authored", types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch %s: %v", body, err)
		}
	}
	// Metadata only, even the author annotations themselves: the spec's author stays alice.
	patch(bob, `{"metadata":{"labels":{"reviewed":"yes"}}}`)
	author("alice")
	patch(bob, `{"metadata":{"annotations":{"`+jobaccess.AnnotationAuthor+`":"bob","`+jobaccess.AnnotationAuthorGroups+`":"system:masters"}}}`)
	author("alice")
	// A spec change makes bob the author: his rights decide from now on.
	patch(bob, `{"spec":{"timeout":"20m"}}`)
	author("bob")
}

// TestJobAuthorGetsNoMorePowerThanJobRights: a user who may only create jobs cannot reach,
// through a job, a Secret, ConfigMap or PersistentVolumeClaim, another ServiceAccount, a
// pod-level power, a user Pipeline or a builder image the installer did not allow. Each job
// that tries fails NotPermitted in one write, naming the user, the permission and the field,
// and nothing is created; a plain job runs; once granted the right, the same job runs.
func TestJobAuthorGetsNoMorePowerThanJobRights(t *testing.T) {
	f := newFixture(t, 1)
	alice := f.jobAuthor("alice")
	secretKey := func(name string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}
	}
	tektonBuild := func(cfg map[string]string) func(*v1alpha1.NotebookValidationJob) {
		return func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton, StrategyConfig: cfg}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.NotebookValidationJob)
		want   string
	}{
		{"env-secret", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "PW", ValueFrom: secretKey("db-password")}}
		}, `user "alice" may not get secrets "db-password" in namespace ` + f.ns + `, which spec.podConfig.env[0].valueFrom.secretKeyRef asks for`},
		{"envfrom-secret", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "aws"}}}}
		}, `get secrets "aws"`},
		{"credentials", func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.Credentials = []string{"hub-token"} },
			`get secrets "hub-token" in namespace ` + f.ns + `, which spec.podConfig.credentials[0]`},
		{"git-credentials", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.CredentialsSecret = "other-team-git" },
			`get secrets "other-team-git"`},
		{"golden-credentials", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/g.git", Ref: "main", CredentialsSecret: "golden-git"}, Path: "g.ipynb"}
		}, `spec.goldenNotebook.git.credentialsSecret`},
		{"service-account", func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ServiceAccountName = "deployer" },
			`user "alice" may not use serviceaccounts "deployer" nor create pods in namespace ` + f.ns},
		{"secret-volume", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
		}, `spec.podConfig.volumes[0].secret`},
		{"pvc", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "other-data"}}}}
		}, `get persistentvolumeclaims "other-data"`},
		{"host-path", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, `may not create pods in namespace ` + f.ns + `, which spec.podConfig.volumes[0] asks for`},
		{"tolerations", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
		}, `spec.podConfig.tolerations`},
		{"build-account", tektonBuild(map[string]string{"serviceAccountName": "registry-pusher"}),
			`use serviceaccounts "registry-pusher" nor create pods`},
		{"build-pipeline", tektonBuild(map[string]string{"pipelineRef": "privileged-pipeline"}),
			`create pipelineruns.tekton.dev in namespace ` + f.ns + `, which spec.podConfig.buildConfig.strategyConfig.pipelineRef`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := *f
			g.t = t
			job := g.refusedByAuthorization(tc.name, alice, tc.mutate)
			if !strings.Contains(job.Status.Message, tc.want) {
				t.Errorf("message %q does not say %q", job.Status.Message, tc.want)
			}
		})
	}

	// A job naming a builder or clone image outside the installer's allowlists never gets in,
	// and nothing of it is stored.
	for key, list := range map[string]string{"builderImage": "builderImages", "gitImage": "gitImages"} {
		err := f.createAs(alice, "own-"+strings.ToLower(key), tektonBuild(map[string]string{key: "evil.example/root-shell:1"}))
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("job naming an unlisted %s: %v, want refused at create", key, err)
		}
		for _, want := range []string{"strategyConfig." + key, "evil.example/root-shell:1", "nbv-system/nbv-build-images", list + ": none"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not name %s", err, want)
			}
		}
		if _, err := f.store.Get(f.ctx, f.ns, "own-"+strings.ToLower(key)); err == nil {
			t.Errorf("a refused job naming %s was stored", key)
		}
	}

	// What the namespace gives alice, a job may use: nothing for a plain job; a Secret and a
	// ServiceAccount once granted.
	if err := f.createAs(alice, "plain", nil); err != nil {
		t.Fatal(err)
	}
	f.waitJob("plain", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.grant("db-password-reader", "alice", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"db-password"}, Verbs: []string{"get"}})
	f.grant("deployer-user", "alice", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{"deployer"}, Verbs: []string{jobaccess.UseVerb}})
	if err := f.createAs(alice, "granted", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "PW", ValueFrom: secretKey("db-password")}}
		j.Spec.PodConfig.ServiceAccountName = "deployer"
	}); err != nil {
		t.Fatal(err)
	}
	job := f.waitJob("granted", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	if pods := f.podsOf("granted"); len(pods) != 1 || pods[0].Spec.ServiceAccountName != "deployer" {
		t.Errorf("pods %v, want the one validation pod running as deployer", podNames(pods))
	}
	t.Logf("granted job: %s", job.Status.Message)
}

// setBuildImages sets the builderImages key of the installer's allowlist ConfigMap (shared by
// the whole control plane: tests run one at a time) until the test ends, and waits until the
// ValidatingAdmissionPolicy, which reads it from an informer, admits a job naming image.
func setBuildImages(t *testing.T, images, image string) {
	t.Helper()
	cp := requireControlPlane(t)
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	set := func(images string) error {
		body, _ := json.Marshal(map[string]any{"data": map[string]string{"builderImages": images}})
		_, err := kube.CoreV1().ConfigMaps("nbv-system").Patch(ctx, "nbv-build-images", types.MergePatchType, body, metav1.PatchOptions{})
		return err
	}
	if err := set(images); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := set(""); err != nil {
			t.Errorf("restoring the allowlist: %v", err)
		}
	})
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": v1alpha1.Kind,
		"metadata": map[string]any{"generateName": "probe-"},
		"spec": map[string]any{
			"notebook": map[string]any{"git": map[string]any{"url": "https://git.example.com/x.git", "ref": "main"}, "path": "x.ipynb"},
			"podConfig": map[string]any{"containerImage": "quay.io/x:1", "buildConfig": map[string]any{
				"enabled": true, "strategy": "tekton", "strategyConfig": map[string]any{"builderImage": image}}},
		}}}
	jobs := dynamic.NewForConfigOrDie(cp.RESTConfig()).Resource(v1alpha1.GroupVersionResource).Namespace(controlplane.AdmissionProbeNamespace)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := jobs.Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a job naming %s is still refused after listing it: %v", image, err)
		}
	}
}

func withBuilderImage(image string) func(*v1alpha1.NotebookValidationJob) {
	return func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton,
			StrategyConfig: map[string]string{"builderImage": image}}
	}
}

const listedBuilder = "registry.test/team-buildah:1"

// TestListedBuilderImageRuns: an image the installer lists in nbv-system/nbv-build-images may
// be named by a job, and the build runs it: the functions read the list through their
// Service's configMapKeyRef env, as on a cluster.
func TestListedBuilderImageRuns(t *testing.T) {
	setBuildImages(t, "registry.test/other:1\n"+listedBuilder+"\n", listedBuilder)
	f := newFixture(t, 1) // started after the change: its functions allow the image
	if err := f.createAs(f.jobsClient(), "listed", withBuilderImage(listedBuilder)); err != nil {
		t.Fatal(err)
	}
	job := f.waitJob("listed", "Building", phaseIs(v1alpha1.PhaseBuilding))
	pr, err := f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := json.Marshal(pr.Object); !strings.Contains(string(data), `"image":"`+listedBuilder+`"`) {
		t.Errorf("PipelineRun does not run the listed builder image %s", listedBuilder)
	}
}

// TestUnlistedBuilderImageFailsTheJob: a job admitted while an image was listed, handled by
// functions that do not allow it (started before the list changed), fails NotPermitted in one
// write, naming the field, the image and the allowlist, with no PipelineRun.
func TestUnlistedBuilderImageFailsTheJob(t *testing.T) {
	f := newFixture(t, 1)
	setBuildImages(t, listedBuilder, listedBuilder)
	job := f.refusedByAuthorization("stale-function", f.jobsClient(), withBuilderImage(listedBuilder))
	for _, want := range []string{`strategyConfig.builderImage "` + listedBuilder + `"`, tekton.AllowlistSource, "builderImages: none"} {
		if !strings.Contains(job.Status.Message, want) {
			t.Errorf("message %q does not name %s", job.Status.Message, want)
		}
	}
}
