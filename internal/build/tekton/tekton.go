// Package tekton builds the Tekton PipelineRun that builds a job's image, and reads a
// PipelineRun back as a build.Observed.
//
// Neither Tekton's clientset nor its Go types are imported (tens of MB of binary, i.e.
// cold-start time): the PipelineRun is this package's own struct with Tekton's field names
// (types.go, checked against Tekton's types by the tests). Callers convert it with
// runtime.DefaultUnstructuredConverter and create it with the dynamic client at GVR.
//
// The build deadline is spec.timeouts.pipeline, so Tekton itself enforces it and reports a
// timeout as an ordinary update of the PipelineRun.
package tekton

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
)

// GVR addresses PipelineRuns for the dynamic client.
var GVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

// Builders and their default images, selected by strategyConfig["builder"].
const (
	BuilderBuildah = "buildah"
	BuilderKaniko  = "kaniko"

	// The default images are pinned by digest so that a release always runs the same bytes
	// (a tag can be moved, and :latest is); the tag in front says which version the digest is
	// and is ignored when pulling. Each digest is the multi-arch image index of its tag, as
	// published pins found in public repositories give it (this project's build machine
	// reaches no registry): re-check one with `crane digest <image>:<tag>` before changing it,
	// and add both to an air-gapped registry with `crane cp`.
	//
	// DefaultBuildahImage: buildah v1.39.0 as the buildah project publishes it (Fedora based);
	// the pin is the one a Renovate-maintained Dockerfile of versioned container-tool images
	// carries for quay.io/buildah/stable:v1.39.0.
	DefaultBuildahImage = "quay.io/buildah/stable:v1.39.0@sha256:85ad593f788870d76c4e0d37c42279d42416b7cad2c1577dd019c83ae04232fa"
	// DefaultKanikoImage: kaniko v1.23.2 (release of 2024-07-09; the kaniko repository was
	// archived in 2025). The index digest is the one pinned by several independent projects,
	// one of which resolved it against gcr.io and lists its linux/amd64 manifest as
	// sha256:8a4f9af8ef55ef8bfaf4cfd7b15dc956609e14a4402efefd5fb2e49a0c06e2c8.
	DefaultKanikoImage = "gcr.io/kaniko-project/executor:v1.23.2@sha256:9e69fd4330ec887829c780f5126dd80edc663df6def362cd22e79bcdf00ac53f"
	// DefaultGitImage clones the repository and runs the Dockerfile script; it needs git
	// and a POSIX shell. git 2.49.1 on Alpine; the digest is the one several independent
	// projects pin for docker.io/alpine/git:v2.49.1.
	DefaultGitImage = "docker.io/alpine/git:v2.49.1@sha256:c0280cf9572316299b08544065d3bf35db65043d5e3963982ec50647d2746e26"
	// DefaultRegistry is the OpenShift internal registry, where the existing operator pushes
	// too.
	DefaultRegistry = "image-registry.openshift-image-registry.svc:5000"
	// registryRepository is the repository and tag under a registry: one repository per job
	// and one tag per job instance (see build.ExpandOutputImage for the placeholders).
	registryRepository = "/{namespace}/{name}:{uid}"
	// DefaultOutputImage pushes to DefaultRegistry.
	DefaultOutputImage = DefaultRegistry + registryRepository
)

// strategyConfig keys read by this package.
const (
	KeyBuilder              = "builder"              // buildah (default) or kaniko
	KeyBuilderImage         = "builderImage"         // overrides the builder's image
	KeyGitImage             = "gitImage"             // overrides the clone/script image
	KeyOutputImage          = "outputImage"          // output image template
	KeyRegistry             = "registry"             // the existing operator's key: push to <registry>/<namespace>/<name>:<uid>
	KeyServiceAccountName   = "serviceAccountName"   // runs the TaskRuns (push credentials)
	KeyTLSVerify            = "tlsVerify"            // "false" pushes without TLS verification
	KeyPipelineRef          = "pipelineRef"          // run the user's Pipeline instead
	KeyCredentialsWorkspace = "credentialsWorkspace" // workspace name for the git Secret with pipelineRef
	ParamPrefix             = "param."               // strategyConfig "param.<name>" -> PipelineRun param <name>
)

// Names shared by the generated pipeline, its PipelineRun and Observe.
const (
	ResultImageURL    = "IMAGE_URL"
	ResultImageDigest = "IMAGE_DIGEST"

	WorkspaceSource      = "source"
	WorkspaceCredentials = "git-credentials"

	taskName       = "build"
	dockerfileRel  = ".nbv-build/Dockerfile"
	paramGitURL    = "git-url"
	paramGitRev    = "git-revision"
	paramOutput    = "output-image"
	stepClone      = "clone"
	stepDockerfile = "dockerfile"
	stepBuild      = "build-and-push"
)

// Options are the deployment-wide defaults; the job's strategyConfig overrides each of them,
// and an empty field means the package default.
type Options struct {
	// BuilderImage replaces DefaultBuildahImage (the default builder). A job that selects
	// kaniko gets DefaultKanikoImage unless its strategyConfig names a builderImage.
	BuilderImage string
	// GitImage clones the repository and renders the Dockerfile (needs git and sh).
	GitImage string
	// OutputImage is the output image template (DefaultOutputImage when empty).
	OutputImage string
	// AllowedBuilderImages and AllowedGitImages are the only images a job's strategyConfig
	// builderImage and gitImage may name, besides the deployment's own: the build step runs
	// privileged, so only the installer chooses what runs there.
	AllowedBuilderImages []string
	AllowedGitImages     []string
}

// ErrImageNotAllowed marks a job naming a builder or clone image the installer did not allow.
var ErrImageNotAllowed = errors.New("image not allowed")

// AllowlistSource names where the installer sets the allowlists, for messages.
const AllowlistSource = "ConfigMap nbv-system/nbv-build-images"

// pickImage is the image of strategyConfig key: the job's when it names one the installer
// allows (one of allowed, or the image the deployment would use anyway), else the
// deployment's opt, else def.
func pickImage(cfg map[string]string, key, opt, def string, allowed []string, allowKey string) (string, error) {
	deployment := pick(nil, key, opt, def)
	v := cfg[key]
	if v == "" {
		return deployment, nil
	}
	if v != deployment && !slices.Contains(allowed, v) {
		list := "none"
		if len(allowed) > 0 {
			list = strings.Join(allowed, ", ")
		}
		return "", fmt.Errorf("%w: spec.podConfig.buildConfig.strategyConfig.%s %q is not one the installer allows (%s, key %s: %s)",
			ErrImageNotAllowed, key, v, AllowlistSource, allowKey, list)
	}
	return v, nil
}

func pick(cfg map[string]string, key, opt, def string) string {
	if v := cfg[key]; v != "" {
		return v
	}
	if opt != "" {
		return opt
	}
	return def
}

// NewPipelineRun is the PipelineRun called name that builds job's image. By default it runs an
// inline pipeline: clone the repository (GitImage), write the Dockerfile to build
// (buildConfig.dockerfile or one generated from baseImage + a requirements file, see
// build.Plan), build and push it with buildah or kaniko, and emit the results IMAGE_URL and
// IMAGE_DIGEST. With strategyConfig["pipelineRef"] it runs that Pipeline instead, with the
// params given as strategyConfig "param.<name>" keys; that Pipeline must emit the same
// results. Either way the job's git credentials Secret, if any, is bound as a secret
// workspace and never copied into the object.
func NewPipelineRun(job *v1alpha1.NotebookValidationJob, name string, opts Options) (*PipelineRun, error) {
	bc, err := build.Spec(job)
	if err != nil {
		return nil, err
	}
	timeout, err := build.Timeout(job)
	if err != nil {
		return nil, err
	}
	cfg := bc.StrategyConfig
	pr := &PipelineRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: "PipelineRun"},
		ObjectMeta: build.ChildMeta(job, name),
		Spec: PipelineRunSpec{
			Timeouts:        &TimeoutFields{Pipeline: &metav1.Duration{Duration: timeout}},
			TaskRunTemplate: PipelineTaskRunTemplate{ServiceAccountName: cfg[KeyServiceAccountName]},
		},
	}
	secret := job.Spec.Notebook.Git.CredentialsSecret

	if ref := cfg[KeyPipelineRef]; ref != "" {
		pr.Spec.PipelineRef = &PipelineRef{Name: ref}
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			if p, ok := strings.CutPrefix(k, ParamPrefix); ok && p != "" {
				pr.Spec.Params = append(pr.Spec.Params, Param{Name: p, Value: cfg[k]})
			}
		}
		if secret != "" {
			pr.Spec.Workspaces = []WorkspaceBinding{secretWorkspace(pick(cfg, KeyCredentialsWorkspace, "", WorkspaceCredentials), secret)}
		}
		return pr, nil
	}

	plan, err := build.NewPlan(*bc, job.Spec.Notebook.Path)
	if err != nil {
		return nil, err
	}
	tmpl, from := outputTemplate(cfg, opts)
	output, err := build.ExpandOutputImage(tmpl, job)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	builder, err := builderStep(cfg, opts)
	if err != nil {
		return nil, err
	}
	gitImage, err := pickImage(cfg, KeyGitImage, opts.GitImage, DefaultGitImage, opts.AllowedGitImages, "gitImages")
	if err != nil {
		return nil, err
	}
	if err := build.ValidImage(gitImage); err != nil {
		return nil, fmt.Errorf("git image: %w", err)
	}

	pr.Spec.PipelineSpec = pipelineSpec(plan, gitImage, builder, secret != "")
	pr.Spec.Params = []Param{
		{Name: paramGitURL, Value: job.Spec.Notebook.Git.URL},
		{Name: paramGitRev, Value: job.Spec.Notebook.Git.Ref},
		{Name: paramOutput, Value: output},
	}
	// One task, so an emptyDir is enough to carry the checkout between its steps.
	pr.Spec.Workspaces = []WorkspaceBinding{{Name: WorkspaceSource, EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	if secret != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, secretWorkspace(WorkspaceCredentials, secret))
	}
	return pr, nil
}

// outputTemplate is the output image template: strategyConfig outputImage, else the
// strategyConfig registry (the existing operator's setting) with the default repository and
// tag, else the deployment's OutputImage, else DefaultOutputImage.
// It also names where the template came from, for an error message.
func outputTemplate(cfg map[string]string, opts Options) (string, string) {
	switch registry := strings.TrimRight(cfg[KeyRegistry], "/"); {
	case cfg[KeyOutputImage] != "":
		return cfg[KeyOutputImage], "strategyConfig." + KeyOutputImage
	case registry != "":
		return registry + registryRepository, "strategyConfig." + KeyRegistry
	case opts.OutputImage != "":
		return opts.OutputImage, "the deployment's Tekton output image"
	}
	return DefaultOutputImage, "the default output image"
}

func secretWorkspace(name, secret string) WorkspaceBinding {
	return WorkspaceBinding{Name: name, Secret: &corev1.SecretVolumeSource{SecretName: secret}}
}

func pipelineSpec(plan build.Plan, gitImage string, builder Step, creds bool) *PipelineSpec {
	stringParam := func(n string) ParamSpec {
		return ParamSpec{Name: n, Type: "string"}
	}
	params := []ParamSpec{stringParam(paramGitURL), stringParam(paramGitRev), stringParam(paramOutput)}
	ref := func(n string) Param {
		return Param{Name: n, Value: "$(params." + n + ")"}
	}

	clone := Step{
		Name:  stepClone,
		Image: gitImage,
		// Params reach the script only through the environment, never spliced into it.
		Env: []corev1.EnvVar{
			{Name: "GIT_URL", Value: "$(params." + paramGitURL + ")"},
			{Name: "GIT_REVISION", Value: "$(params." + paramGitRev + ")"},
			{Name: "SOURCE", Value: "$(workspaces." + WorkspaceSource + ".path)"},
			{Name: "GIT_TERMINAL_PROMPT", Value: "0"},
		},
		Script: cloneScript,
	}
	taskWorkspaces := []WorkspaceDeclaration{{Name: WorkspaceSource}}
	pipeWorkspaces := []PipelineWorkspaceDeclaration{{Name: WorkspaceSource}}
	taskBindings := []WorkspacePipelineTaskBinding{{Name: WorkspaceSource, Workspace: WorkspaceSource}}
	if creds {
		// Isolated: only the clone step mounts the Secret.
		clone.Workspaces = []WorkspaceUsage{{Name: WorkspaceCredentials}}
		clone.Env = append(clone.Env, corev1.EnvVar{Name: "CREDS", Value: "$(workspaces." + WorkspaceCredentials + ".path)"})
		taskWorkspaces = append(taskWorkspaces, WorkspaceDeclaration{Name: WorkspaceCredentials, ReadOnly: true})
		pipeWorkspaces = append(pipeWorkspaces, PipelineWorkspaceDeclaration{Name: WorkspaceCredentials})
		taskBindings = append(taskBindings, WorkspacePipelineTaskBinding{Name: WorkspaceCredentials, Workspace: WorkspaceCredentials})
	}

	dockerfile := Step{
		Name:       stepDockerfile,
		Image:      gitImage,
		WorkingDir: "$(workspaces." + WorkspaceSource + ".path)",
		Env:        []corev1.EnvVar{{Name: "OUTPUT_IMAGE", Value: "$(params." + paramOutput + ")"}},
		// IMAGE_URL first: the plan's script ends with exit as soon as it has a Dockerfile.
		Script: "printf '%s' \"$OUTPUT_IMAGE\" > '$(results." + ResultImageURL + ".path)'\n" +
			plan.Script("$(workspaces."+WorkspaceSource+".path)/"+dockerfileRel),
	}

	task := PipelineTask{
		Name: taskName,
		TaskSpec: &EmbeddedTask{TaskSpec: TaskSpec{
			Params:     params,
			Workspaces: taskWorkspaces,
			Results: []TaskResult{
				{Name: ResultImageURL, Type: "string"},
				{Name: ResultImageDigest, Type: "string"},
			},
			Steps: []Step{clone, dockerfile, builder},
		}},
		Params:     []Param{ref(paramGitURL), ref(paramGitRev), ref(paramOutput)},
		Workspaces: taskBindings,
	}
	return &PipelineSpec{
		Params:     params,
		Workspaces: pipeWorkspaces,
		Tasks:      []PipelineTask{task},
		Results: []PipelineResult{
			{Name: ResultImageURL, Type: "string", Value: "$(tasks." + taskName + ".results." + ResultImageURL + ")"},
			{Name: ResultImageDigest, Type: "string", Value: "$(tasks." + taskName + ".results." + ResultImageDigest + ")"},
		},
	}
}

func builderStep(cfg map[string]string, opts Options) (Step, error) {
	tlsVerify := cfg[KeyTLSVerify] != "false"
	ws := "$(workspaces." + WorkspaceSource + ".path)"
	switch b := pick(cfg, KeyBuilder, "", BuilderBuildah); b {
	case BuilderBuildah:
		img, err := pickImage(cfg, KeyBuilderImage, opts.BuilderImage, DefaultBuildahImage, opts.AllowedBuilderImages, "builderImages")
		if err != nil {
			return Step{}, err
		}
		if err := build.ValidImage(img); err != nil {
			return Step{}, fmt.Errorf("builder image: %w", err)
		}
		return Step{
			Name:  stepBuild,
			Image: img,
			Env: []corev1.EnvVar{
				{Name: "IMAGE", Value: "$(params." + paramOutput + ")"},
				{Name: "TLS_VERIFY", Value: fmt.Sprint(tlsVerify)},
			},
			WorkingDir: ws,
			Script: "set -eu\n" +
				"buildah --storage-driver=vfs build --format=oci --tls-verify=\"$TLS_VERIFY\" -f " + dockerfileRel + " -t \"$IMAGE\" .\n" +
				"buildah --storage-driver=vfs push --tls-verify=\"$TLS_VERIFY\" --digestfile /tmp/nbv-digest \"$IMAGE\" \"docker://$IMAGE\"\n" +
				"cat /tmp/nbv-digest > '$(results." + ResultImageDigest + ".path)'\n",
			// buildah in a pod needs it, as in Tekton's own buildah catalog task.
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}, nil
	case BuilderKaniko:
		// Options.BuilderImage is a buildah image; it must not replace kaniko's.
		img, err := pickImage(cfg, KeyBuilderImage, "", DefaultKanikoImage, opts.AllowedBuilderImages, "builderImages")
		if err != nil {
			return Step{}, err
		}
		if err := build.ValidImage(img); err != nil {
			return Step{}, fmt.Errorf("builder image: %w", err)
		}
		// The kaniko executor image has no shell: arguments, not a script.
		args := []string{
			"--dockerfile=" + ws + "/" + dockerfileRel,
			"--context=dir://" + ws,
			"--destination=$(params." + paramOutput + ")",
			"--digest-file=$(results." + ResultImageDigest + ".path)",
		}
		if !tlsVerify {
			args = append(args, "--skip-tls-verify")
		}
		return Step{Name: stepBuild, Image: img, Command: []string{"/kaniko/executor"}, Args: args}, nil
	default:
		return Step{}, fmt.Errorf("strategyConfig.builder %q: want buildah or kaniko", b)
	}
}

// cloneScript fetches exactly GIT_REVISION (branch, tag or commit) into SOURCE, which may
// belong to another user than the step's (Tekton's workspaces belong to root). Credentials
// are read from the mounted Secret by files: a git credential helper for username/password
// or token, an ssh key and known_hosts for SSH (host keys always checked). No "$(" command
// substitution: Tekton would take it for one of its variables.
const cloneScript = `set -eu
cd "$SOURCE"
# Tekton's emptyDir workspace belongs to root; git refuses a repository owned by another user
# (safe.directory) unless a protected config trusts it: a global one of its own, since HOME
# may be read-only.
export GIT_CONFIG_GLOBAL=/tmp/nbv-gitconfig
git config --global --add safe.directory "$SOURCE"
git init -q .
if [ -n "${CREDS:-}" ]; then
  if [ -f "$CREDS/ssh-privatekey" ]; then
    cp "$CREDS/ssh-privatekey" /tmp/nbv-ssh-key
    chmod 600 /tmp/nbv-ssh-key
    # Host keys are checked as the runner checks them: the Secret's known_hosts, else the
    # image's own known host files; an unknown or changed key fails, never trusted on first use.
    if [ -f "$CREDS/known_hosts" ]; then
      known="$CREDS/known_hosts"
    elif [ -s /etc/ssh/ssh_known_hosts ]; then
      known=/etc/ssh/ssh_known_hosts
    elif [ -s "${HOME:-/}/.ssh/known_hosts" ]; then
      known="$HOME/.ssh/known_hosts"
    else
      echo "nbv build: SSH needs the git server's host keys: add known_hosts to the credentials Secret (lines as in ~/.ssh/known_hosts, checked against the keys the server publishes); the clone image has none either" >&2
      exit 1
    fi
    export GIT_SSH_COMMAND="ssh -i /tmp/nbv-ssh-key -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$known"
  else
    cat > /tmp/nbv-git-credential <<'EOF'
#!/bin/sh
[ "$1" = get ] || exit 0
user=git
[ -f "$CREDS/username" ] && user=` + "`cat \"$CREDS/username\"`" + `
if [ -f "$CREDS/password" ]; then pass=` + "`cat \"$CREDS/password\"`" + `; else pass=` + "`cat \"$CREDS/token\"`" + `; fi
printf 'username=%s\npassword=%s\n' "$user" "$pass"
EOF
    chmod 700 /tmp/nbv-git-credential
    export CREDS
    git config credential.helper /tmp/nbv-git-credential
  fi
fi
git remote add origin "$GIT_URL"
git fetch -q --depth 1 origin "$GIT_REVISION"
git checkout -q --detach FETCH_HEAD
echo "nbv build: checked out $GIT_URL at $GIT_REVISION"
`
