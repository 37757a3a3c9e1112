package jobaccess

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build/s2i"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

func plainJob() *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "team-a"},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/nb.git", Ref: "main"}, Path: "nb.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook:latest"},
		},
	}
}

// needsOf renders needs as "field: permission | permission" lines, in order.
func needsOf(needs []Need) []string {
	var out []string
	for _, n := range needs {
		var alt []string
		for _, p := range n.AnyOf {
			alt = append(alt, p.String())
		}
		out = append(out, n.Field+": "+strings.Join(alt, " | "))
	}
	return out
}

// TestPodNeeds: every reference a validation pod would follow is listed with the field that
// makes it, and a plain job needs nothing.
func TestPodNeeds(t *testing.T) {
	secretVol := func(name string) corev1.Volume {
		return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	}
	for name, tc := range map[string]struct {
		mutate func(*v1alpha1.NotebookValidationJob)
		want   []string
	}{
		"plain":                  {func(*v1alpha1.NotebookValidationJob) {}, nil},
		"default account, named": {func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ServiceAccountName = "default" }, nil},
		"plain env and safe volumes": {func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
			j.Spec.PodConfig.Volumes = []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}},
				{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
			}
			j.Spec.PodConfig.NodeSelector = map[string]string{"gpu": "true"}
		}, nil},
		"git credentials": {func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.Notebook.Git.CredentialsSecret = "git"
			j.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{CredentialsSecret: "golden-git"}}
		}, []string{`spec.notebook.git.credentialsSecret: get secrets "git"`, `spec.goldenNotebook.git.credentialsSecret: get secrets "golden-git"`}},
		"service account": {func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ServiceAccountName = "deployer" },
			[]string{`spec.podConfig.serviceAccountName: use serviceaccounts "deployer" | create pods`}},
		"env and envFrom": {func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "A", Value: "1"},
				{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "c"}}}}
			j.Spec.PodConfig.EnvFrom = []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "aws"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}}
			j.Spec.PodConfig.Credentials = []string{"s3", "hub"}
		}, []string{
			`spec.podConfig.env[1].valueFrom.secretKeyRef: get secrets "db"`,
			`spec.podConfig.env[2].valueFrom.configMapKeyRef: get configmaps "settings"`,
			`spec.podConfig.envFrom[0].secretRef: get secrets "aws"`,
			`spec.podConfig.envFrom[1].configMapRef: get configmaps "cm"`,
			`spec.podConfig.credentials[0]: get secrets "s3"`,
			`spec.podConfig.credentials[1]: get secrets "hub"`,
		}},
		"volumes": {func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{
				secretVol("tls"),
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}},
				{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}}},
				{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}},
				{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ps"}}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "pc"}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "t"}},
				}}}},
			}
		}, []string{
			`spec.podConfig.volumes[0].secret: get secrets "tls"`,
			`spec.podConfig.volumes[1].configMap: get configmaps "conf"`,
			`spec.podConfig.volumes[2].persistentVolumeClaim: get persistentvolumeclaims "data"`,
			`spec.podConfig.volumes[3]: create pods`,
			`spec.podConfig.volumes[4]: create pods`,
			`spec.podConfig.volumes[5]: create pods`,
			`spec.podConfig.volumes[6].projected.sources[0].secret: get secrets "ps"`,
			`spec.podConfig.volumes[6].projected.sources[1].configMap: get configmaps "pc"`,
			`spec.podConfig.volumes[6].projected.sources[3]: create pods`,
		}},
		"tolerations": {func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
		}, []string{"spec.podConfig.tolerations: create pods"}},
	} {
		t.Run(name, func(t *testing.T) {
			job := plainJob()
			tc.mutate(job)
			got := needsOf(PodNeeds(job))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("needs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestBuildNeeds: the build child's references, by strategy; the strategyConfig keys are the
// builders' own.
func TestBuildNeeds(t *testing.T) {
	if tekton.KeyServiceAccountName != "serviceAccountName" || tekton.KeyPipelineRef != "pipelineRef" || s2i.KeyServiceAccount != "serviceAccount" {
		t.Fatal("a builder's strategyConfig key was renamed: BuildNeeds reads the old one")
	}
	if validationpod.DefaultServiceAccount != "default" {
		t.Fatal("the validation pod's default account changed: PodNeeds treats \"default\" as the plain case")
	}
	build := func(strategy string, cfg map[string]string, secret string) []string {
		job := plainJob()
		job.Spec.Notebook.Git.CredentialsSecret = secret
		job.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, StrategyConfig: cfg}
		return needsOf(BuildNeeds(job))
	}
	for name, tc := range map[string]struct {
		got, want []string
	}{
		"no build":     {needsOf(BuildNeeds(plainJob())), nil},
		"tekton plain": {build("tekton", map[string]string{"builder": "kaniko"}, ""), nil},
		"tekton": {build("tekton", map[string]string{"serviceAccountName": "pusher", "pipelineRef": "team-build"}, "git"), []string{
			`spec.notebook.git.credentialsSecret: get secrets "git"`,
			`spec.podConfig.buildConfig.strategyConfig.serviceAccountName: use serviceaccounts "pusher" | create pods`,
			`spec.podConfig.buildConfig.strategyConfig.pipelineRef: create pipelineruns.tekton.dev`,
		}},
		"s2i": {build("s2i", map[string]string{"serviceAccount": "builder-2"}, ""), []string{
			`spec.podConfig.buildConfig.strategyConfig.serviceAccount: use serviceaccounts "builder-2" | create pods`,
		}},
		"external": {build("external", map[string]string{"serviceAccountName": "x"}, "git"), []string{
			`spec.notebook.git.credentialsSecret: get secrets "git"`,
		}},
	} {
		if strings.Join(tc.got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: needs\n%s\nwant\n%s", name, strings.Join(tc.got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestAuthorOf(t *testing.T) {
	job := plainJob()
	if _, ok := AuthorOf(job); ok {
		t.Error("a job without annotations has an author")
	}
	job.Annotations = map[string]string{AnnotationAuthor: "alice", AnnotationAuthorUID: "u-1", AnnotationAuthorGroups: "devs\n\nsystem:authenticated\n"}
	a, ok := AuthorOf(job)
	if !ok || a.Username != "alice" || a.UID != "u-1" || strings.Join(a.Groups, ",") != "devs,system:authenticated" {
		t.Errorf("author %+v, %v", a, ok)
	}
	job.Annotations = map[string]string{AnnotationAuthor: "", AnnotationAuthorGroups: "system:masters"}
	if _, ok := AuthorOf(job); ok {
		t.Error("an empty author annotation (a job created before the policy) names an author")
	}
}

// TestCheckWithoutAuthor: a job that records no author may use nothing beyond the plain case,
// and is told why; a plain job asks the API server nothing (Reviews is nil: a call would panic).
func TestCheckWithoutAuthor(t *testing.T) {
	c := &Checker{}
	job := plainJob()
	if err := c.Check(context.Background(), job, PodNeeds(job)); err != nil {
		t.Errorf("plain job: %v", err)
	}
	job.Spec.PodConfig.Credentials = []string{"aws"}
	err := c.Check(context.Background(), job, PodNeeds(job))
	if !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("job without author: %v, want ErrNotPermitted", err)
	}
	for _, want := range []string{AnnotationAuthor, AuthorPolicy, "spec.podConfig.credentials[0]", `get secrets "aws"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
