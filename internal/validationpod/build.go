package validationpod

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/modelspec"
)

// Names and paths shared with nbv-runner. They are part of the runner's command-line contract.
const (
	// LabelJob carries the job name on every child; the ApiServerSource selects on it.
	LabelJob = v1alpha1.LabelJob
	// LabelManagedBy marks the pod as ours for humans and tooling.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "nbv"

	// PrepareContainer is the init container that installs the runner and clones.
	PrepareContainer = "prepare"
	// NotebookContainer is the main container that executes the notebook.
	NotebookContainer = "notebook"

	// EnvJobSpec holds the JSON of the job spec (podConfig reduced to the image) for execute.
	EnvJobSpec = "NBV_JOB_SPEC"

	// RootDir is reserved for the runner: users may not mount anything at, under or above it.
	RootDir = "/nbv"
	// InstallDir receives the runner binary copied by prepare.
	InstallDir = "/nbv/bin"
	// WorkspaceDir receives the cloned repositories.
	WorkspaceDir = "/nbv/workspace"
	// OutputDir receives the executed notebook and reports.
	OutputDir = "/nbv/output"
	// NotebookCredentialsDir holds spec.notebook.git.credentialsSecret, in prepare only.
	NotebookCredentialsDir = "/nbv/credentials/notebook"
	// GoldenCredentialsDir holds spec.goldenNotebook.git.credentialsSecret, in prepare only.
	GoldenCredentialsDir = "/nbv/credentials/golden"
	// TerminationLog is where both containers write their summary.
	TerminationLog = "/dev/termination-log"
	// RunnerBinary is the runner's name on the runner image's PATH (ko puts /ko-app there).
	RunnerBinary = "nbv-runner"

	// VolumePrefix is reserved for the pod's own volumes.
	VolumePrefix = "nbv-"

	// DefaultTimeout applies when spec.timeout is empty (the CRD defaults it too).
	DefaultTimeout = 30 * time.Minute
	// DefaultServiceAccount applies when podConfig.serviceAccountName is empty.
	DefaultServiceAccount = "default"

	// CredentialsFileMode is the mode of git credential files. It is group-readable, not 0400,
	// because Secret volume files are owned by root: a non-root runner can only read them
	// through the pod's fsGroup (set by Options.FSGroup, or assigned by OpenShift's SCC).
	// The mount exists only in the prepare container, whose sole process is the runner.
	CredentialsFileMode int32 = 0o440
)

const (
	volBin         = "nbv-bin"
	volWorkspace   = "nbv-workspace"
	volOutput      = "nbv-output"
	volNotebookGit = "nbv-git-notebook"
	volGoldenGit   = "nbv-git-golden"
)

// reservedPaths may not be shadowed by user mounts (TerminationLog is the kubelet's bind mount).
var reservedPaths = []string{RootDir, TerminationLog}

// Options are the deployment's settings, the same for every job.
type Options struct {
	// RunnerImage holds nbv-runner (required). It must be a static binary, since it is copied
	// into and run inside the user's image.
	RunnerImage string
	// FSGroup, when set, becomes the pod's fsGroup so the non-root runner can read the
	// CredentialsFileMode git credentials. Leave it nil on OpenShift, whose restricted SCC
	// assigns the namespace's own fsGroup and rejects others.
	FSGroup *int64
	// PrepareResources bound the prepare container; nil means DefaultPrepareResources.
	// Namespaces with a ResourceQuota on limits reject pods whose containers set none.
	PrepareResources *corev1.ResourceRequirements
	// Artifacts is where the publish sidecar pushes each run's record; empty: nowhere.
	Artifacts ArtifactOptions
}

// DefaultPrepareResources is enough for go-git to clone a typical notebook repository.
func DefaultPrepareResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("1Gi"),
		},
	}
}

// Build returns the validation pod for job, named podName (the caller's deterministic name),
// running the notebook in image (the spec's image or the built one). It rejects a spec it
// cannot turn into a valid pod, naming the field at fault.
func Build(job *v1alpha1.NotebookValidationJob, podName, image string, opts Options) (*corev1.Pod, error) {
	if job == nil {
		return nil, errors.New("build validation pod: job is nil")
	}
	key := job.Namespace + "/" + job.Name
	fail := func(err error) (*corev1.Pod, error) {
		return nil, fmt.Errorf("build validation pod for job %s: %w", key, err)
	}
	switch {
	case podName == "":
		return fail(errors.New("pod name is empty"))
	case image == "":
		return fail(errors.New("notebook image is empty"))
	case opts.RunnerImage == "":
		return fail(errors.New("runner image is empty"))
	case job.UID == "":
		// Without a UID the ownerReference is invalid and garbage collection would not work.
		return fail(errors.New("job has no UID (it was not read from the API server)"))
	}
	if errs := validation.IsValidLabelValue(job.Name); len(errs) > 0 {
		return fail(fmt.Errorf("job name %q cannot be the value of label %s: %s", job.Name, LabelJob, strings.Join(errs, "; ")))
	}
	spec := &job.Spec
	pc := &spec.PodConfig

	deadline, err := activeDeadline(spec.Timeout)
	if err != nil {
		return fail(err)
	}
	resources, err := parseResources(pc.Resources)
	if err != nil {
		return fail(err)
	}
	if err := checkReserved(pc); err != nil {
		return fail(err)
	}
	jobSpec, err := runnerSpec(spec, image)
	if err != nil {
		return fail(err)
	}

	sa := pc.ServiceAccountName
	if sa == "" {
		sa = DefaultServiceAccount
	}
	// The notebook runs arbitrary code: it only gets an API token when the user chose a
	// service account for it, i.e. asked for that account's permissions.
	automount := sa != DefaultServiceAccount

	prepareRes := DefaultPrepareResources()
	if opts.PrepareResources != nil {
		prepareRes = *opts.PrepareResources.DeepCopy()
	}

	volumes := []corev1.Volume{
		emptyDir(volBin), emptyDir(volWorkspace), emptyDir(volOutput),
	}
	prepareMounts := []corev1.VolumeMount{
		{Name: volBin, MountPath: InstallDir},
		{Name: volWorkspace, MountPath: WorkspaceDir},
	}
	args := []string{
		"prepare",
		"--install-dir", InstallDir,
		"--workspace", WorkspaceDir,
		"--notebook-url", spec.Notebook.Git.URL,
		"--notebook-ref", spec.Notebook.Git.Ref,
		"--notebook-path", spec.Notebook.Path,
	}
	if g := spec.GoldenNotebook; g != nil {
		args = append(args,
			"--golden-url", g.Git.URL,
			"--golden-ref", g.Git.Ref,
			"--golden-path", g.Path)
	}
	if s := spec.Notebook.Git.CredentialsSecret; s != "" {
		volumes = append(volumes, secretVolume(volNotebookGit, s))
		prepareMounts = append(prepareMounts, corev1.VolumeMount{Name: volNotebookGit, MountPath: NotebookCredentialsDir, ReadOnly: true})
		args = append(args, "--credentials-dir", NotebookCredentialsDir)
	}
	if g := spec.GoldenNotebook; g != nil && g.Git.CredentialsSecret != "" {
		volumes = append(volumes, secretVolume(volGoldenGit, g.Git.CredentialsSecret))
		prepareMounts = append(prepareMounts, corev1.VolumeMount{Name: volGoldenGit, MountPath: GoldenCredentialsDir, ReadOnly: true})
		args = append(args, "--golden-credentials-dir", GoldenCredentialsDir)
	}
	args = append(args, "--termination-log", TerminationLog)
	for _, v := range pc.Volumes {
		volumes = append(volumes, *v.DeepCopy())
	}

	env := []corev1.EnvVar{{Name: EnvJobSpec, Value: jobSpec}}
	// The existing operator's model validation contract; the user's own env comes after it
	// and so wins on a name both set.
	for _, e := range modelspec.Env(job) {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	for _, e := range pc.Env {
		env = append(env, e.Core())
	}
	var envFrom []corev1.EnvFromSource
	for _, e := range pc.EnvFrom {
		envFrom = append(envFrom, *e.DeepCopy())
	}
	for _, name := range pc.Credentials {
		envFrom = append(envFrom, corev1.EnvFromSource{
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		})
	}
	notebookMounts := []corev1.VolumeMount{
		// The runner is not the notebook's to modify.
		{Name: volBin, MountPath: InstallDir, ReadOnly: true},
		{Name: volWorkspace, MountPath: WorkspaceDir},
		{Name: volOutput, MountPath: OutputDir},
	}
	for _, m := range pc.VolumeMounts {
		notebookMounts = append(notebookMounts, *m.DeepCopy())
	}
	secretEnv, redactVolumes, redactMounts, redactArgs := redaction(env, envFrom)
	if secretEnv != nil {
		env = append(env, *secretEnv)
	}
	volumes = append(volumes, redactVolumes...)
	notebookMounts = append(notebookMounts, redactMounts...)

	var nodeSelector map[string]string
	if len(pc.NodeSelector) > 0 {
		nodeSelector = make(map[string]string, len(pc.NodeSelector))
		for k, v := range pc.NodeSelector {
			nodeSelector[k] = v
		}
	}
	var tolerations []corev1.Toleration
	for _, t := range pc.Tolerations {
		tolerations = append(tolerations, *t.DeepCopy())
	}

	podSecurity := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if opts.FSGroup != nil {
		podSecurity.FSGroup = ptr(*opts.FSGroup)
		// A user's large PersistentVolume would otherwise be chowned file by file at every start.
		podSecurity.FSGroupChangePolicy = ptr(corev1.FSGroupChangeOnRootMismatch)
	}

	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName,
			Namespace: job.Namespace,
			Labels: map[string]string{
				LabelJob:       job.Name,
				LabelManagedBy: ManagedBy,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, v1alpha1.GroupVersionKind)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:        ptr(deadline),
			ServiceAccountName:           sa,
			AutomountServiceAccountToken: ptr(automount),
			SecurityContext:              podSecurity,
			NodeSelector:                 nodeSelector,
			Tolerations:                  tolerations,
			Affinity:                     pc.Affinity.DeepCopy(),
			Volumes:                      volumes,
			InitContainers: []corev1.Container{{
				Name:                     PrepareContainer,
				Image:                    opts.RunnerImage,
				Command:                  []string{RunnerBinary},
				Args:                     args,
				Resources:                prepareRes,
				VolumeMounts:             prepareMounts,
				TerminationMessagePath:   TerminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext:          containerSecurity(),
			}},
			Containers: []corev1.Container{{
				Name:    NotebookContainer,
				Image:   image,
				Command: []string{path.Join(InstallDir, RunnerBinary)},
				Args: append([]string{
					"execute",
					"--workspace", WorkspaceDir,
					"--output-dir", OutputDir,
					"--termination-log", TerminationLog,
				}, redactArgs...),
				Env:                      env,
				EnvFrom:                  envFrom,
				Resources:                resources,
				VolumeMounts:             notebookMounts,
				TerminationMessagePath:   TerminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext:          containerSecurity(),
			}},
		},
	}
	if c, vols := publishContainer(job, podName, opts); c != nil {
		// After prepare: a sidecar starts in its place among the init containers and runs
		// until the kubelet stops it, once the notebook container has ended.
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, *c)
		pod.Spec.Volumes = append(pod.Spec.Volumes, vols...)
		pod.Spec.TerminationGracePeriodSeconds = ptr(publishGrace)
	}
	return pod, nil
}

// activeDeadline turns spec.timeout into whole seconds, rounding up so a sub-second rest is
// not lost.
func activeDeadline(timeout string) (int64, error) {
	d := DefaultTimeout
	if timeout != "" {
		var err error
		d, err = time.ParseDuration(timeout)
		if err != nil {
			return 0, fmt.Errorf("spec.timeout %q is not a Go duration such as \"30m\" or \"1h30m\": %w", timeout, err)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("spec.timeout %q must be positive", timeout)
	}
	return int64(math.Ceil(d.Seconds())), nil
}

// parseResources converts the CRD's string maps, naming the first bad key in a stable order.
func parseResources(r *v1alpha1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	if r == nil {
		return out, nil
	}
	var err error
	if out.Limits, err = parseResourceList("limits", r.Limits); err != nil {
		return out, err
	}
	if out.Requests, err = parseResourceList("requests", r.Requests); err != nil {
		return out, err
	}
	return out, nil
}

func parseResourceList(field string, m map[string]string) (corev1.ResourceList, error) {
	if len(m) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make(corev1.ResourceList, len(m))
	for _, k := range keys {
		q, err := resource.ParseQuantity(m[k])
		if err != nil {
			return nil, fmt.Errorf("spec.podConfig.resources.%s[%q] = %q is not a quantity such as \"500m\" or \"2Gi\": %w", field, k, m[k], err)
		}
		list[corev1.ResourceName(k)] = q
	}
	return list, nil
}

// checkReserved rejects user volumes, mounts and env that would collide with the runner's own.
func checkReserved(pc *v1alpha1.PodConfigSpec) error {
	for i, v := range pc.Volumes {
		if strings.HasPrefix(v.Name, VolumePrefix) {
			return fmt.Errorf("spec.podConfig.volumes[%d]: name %q uses the prefix %q reserved for the validation pod's own volumes", i, v.Name, VolumePrefix)
		}
	}
	declared := map[string]bool{}
	for _, v := range pc.Volumes {
		declared[v.Name] = true
	}
	for i, m := range pc.VolumeMounts {
		if strings.HasPrefix(m.Name, VolumePrefix) {
			return fmt.Errorf("spec.podConfig.volumeMounts[%d]: name %q uses the prefix %q reserved for the validation pod's own volumes", i, m.Name, VolumePrefix)
		}

		for _, r := range reservedPaths {
			if pathsOverlap(m.MountPath, r) {
				return fmt.Errorf("spec.podConfig.volumeMounts[%d] (%s): mountPath %q overlaps %s, which the validation pod reserves for the runner", i, m.Name, m.MountPath, r)
			}
		}
		if !declared[m.Name] {
			return fmt.Errorf("spec.podConfig.volumeMounts[%d]: volume %q is not declared in spec.podConfig.volumes", i, m.Name)
		}
	}
	for i, e := range pc.Env {
		if e.Name == EnvJobSpec {
			return fmt.Errorf("spec.podConfig.env[%d]: %s is set by the validation pod and cannot be overridden", i, EnvJobSpec)
		}
	}
	return nil
}

// pathsOverlap reports whether one path is the other or contains it, component-wise
// ("/nbvdata" does not overlap "/nbv"; "/" and "/nbv/x" do).
func pathsOverlap(a, b string) bool {
	a, b = path.Clean("/"+a), path.Clean("/"+b)
	within := func(child, parent string) bool {
		return child == parent || parent == "/" || strings.HasPrefix(child, parent+"/")
	}
	return within(a, b) || within(b, a)
}

// runnerSpec is NBV_JOB_SPEC: the spec with podConfig reduced to the image that runs. The
// runner has no use for the rest of podConfig, and leaving it out keeps user env values from
// being copied into a second variable.
func runnerSpec(spec *v1alpha1.NotebookValidationJobSpec, image string) (string, error) {
	s := spec.DeepCopy()
	s.PodConfig = v1alpha1.PodConfigSpec{ContainerImage: image}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", EnvJobSpec, err)
	}
	return string(b), nil
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func secretVolume(name, secret string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  secret,
		DefaultMode: ptr(CredentialsFileMode),
	}}}
}

// containerSecurity satisfies the "restricted" Pod Security Standard.
func containerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func ptr[T any](v T) *T { return &v }
