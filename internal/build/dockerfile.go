package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Fallback strategies: what happens when no requirements file is found.
const (
	// FallbackWarn builds baseImage without extra packages and prints a warning.
	FallbackWarn = "warn"
	// FallbackFail fails the build with a message naming every path tried.
	FallbackFail = "fail"
	// FallbackAuto builds baseImage as is (pip installs nothing) and says so, without
	// calling it a warning: the user asked for "whatever the repository provides".
	FallbackAuto = "auto"
)

// DefaultRequirementsName is the file looked for in the default search chain.
const DefaultRequirementsName = "requirements.txt"

// DefaultDockerfile is the Dockerfile built when autoGenerateRequirements is false and
// buildConfig.dockerfile is empty, as `docker build` and OpenShift's docker strategy do.
const DefaultDockerfile = "Dockerfile"

// ErrUnsafePath marks a repository path that is absolute, escapes the repository or holds
// characters that are not allowed.
var ErrUnsafePath = errors.New("unsafe repository path")

// CleanRepoPath cleans p (a path inside the git repository) and refuses one that is empty,
// absolute, leaves the repository through "..", or holds a character outside letters,
// digits, space and ._/@+,=~-(). The character allowlist matters because paths end up in a
// shell script and in a Tekton step, where "$(" would be taken for a variable reference.
func CleanRepoPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	for _, r := range p {
		if !allowedPathRune(r) {
			return "", fmt.Errorf("%w %q: character %q not allowed (use letters, digits, space and ._/@+,=~-())", ErrUnsafePath, p, r)
		}
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w %q: must be relative to the repository root", ErrUnsafePath, p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w %q: escapes the repository", ErrUnsafePath, p)
	}
	if c == "." {
		return "", fmt.Errorf("%w %q: names the repository root, not a file", ErrUnsafePath, p)
	}
	return c, nil
}

func allowedPathRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune(" ._/@+,=~-()", r)
}

// ValidImage refuses an image reference that could break out of a FROM line or a shell word.
func ValidImage(ref string) error {
	if ref == "" {
		return errors.New("empty image reference")
	}
	if len(ref) > 512 {
		return fmt.Errorf("image reference %.40q...: longer than 512 characters", ref)
	}
	for _, r := range ref {
		if r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' || r == '$' || r == '`' {
			return fmt.Errorf("image reference %q: character %q not allowed", ref, r)
		}
	}
	return nil
}

// Candidate is one file the build may use, tried in Plan order.
type Candidate struct {
	// Path is the cleaned path inside the repository.
	Path string
	// Dockerfile is true for the user's Dockerfile, false for a requirements file.
	Dockerfile bool
}

// Plan is the decision about what to build, made without reading the repository: the
// candidates in the order they are tried, and what happens when none exists. Resolve
// (Go, over a checked-out repository) and Script (shell, inside a pipeline) walk the same
// Plan, so the local and in-cluster builds choose the same file.
//
// Order: with autoGenerateRequirements (the default), the requirements candidates
// (requirementsFile; else requirementsSources in order; else the notebook's directory, each
// parent directory, the repository root), with buildConfig.dockerfile before them when
// preferDockerfile is set and after them otherwise. Without autoGenerateRequirements, only
// buildConfig.dockerfile (default "Dockerfile"), and a missing one fails the build.
type Plan struct {
	BaseImage  string
	Candidates []Candidate
	// Fallback applies when no candidate exists: FallbackWarn, FallbackFail or FallbackAuto.
	Fallback string
}

// NewPlan validates spec and notebookPath (the notebook's path in the repository, which
// anchors the default search chain) and returns the Plan.
func NewPlan(spec v1alpha1.BuildConfigSpec, notebookPath string) (Plan, error) {
	p := Plan{BaseImage: spec.BaseImage, Fallback: spec.FallbackStrategy}
	if p.BaseImage == "" {
		p.BaseImage = DefaultBaseImage
	}
	if err := ValidImage(p.BaseImage); err != nil {
		return Plan{}, fmt.Errorf("buildConfig.baseImage: %w", err)
	}
	switch p.Fallback {
	case "":
		p.Fallback = FallbackWarn
	case FallbackWarn, FallbackFail, FallbackAuto:
	default:
		return Plan{}, fmt.Errorf("buildConfig.fallbackStrategy %q: want warn, fail or auto", p.Fallback)
	}

	var dockerfile string
	if spec.Dockerfile != "" {
		c, err := CleanRepoPath(spec.Dockerfile)
		if err != nil {
			return Plan{}, fmt.Errorf("buildConfig.dockerfile: %w", err)
		}
		dockerfile = c
	}
	if spec.AutoGenerateRequirements != nil && !*spec.AutoGenerateRequirements {
		if dockerfile == "" {
			dockerfile = DefaultDockerfile
		}
		p.Candidates = []Candidate{{Path: dockerfile, Dockerfile: true}}
		p.Fallback = FallbackFail
		return p, nil
	}

	reqs, err := requirementsCandidates(spec, notebookPath)
	if err != nil {
		return Plan{}, err
	}
	if dockerfile != "" && spec.PreferDockerfile {
		p.Candidates = append(p.Candidates, Candidate{Path: dockerfile, Dockerfile: true})
	}
	for _, r := range reqs {
		p.Candidates = append(p.Candidates, Candidate{Path: r})
	}
	if dockerfile != "" && !spec.PreferDockerfile {
		p.Candidates = append(p.Candidates, Candidate{Path: dockerfile, Dockerfile: true})
	}
	return p, nil
}

func requirementsCandidates(spec v1alpha1.BuildConfigSpec, notebookPath string) ([]string, error) {
	if spec.RequirementsFile != "" {
		c, err := CleanRepoPath(spec.RequirementsFile)
		if err != nil {
			return nil, fmt.Errorf("buildConfig.requirementsFile: %w", err)
		}
		return []string{c}, nil
	}
	if len(spec.RequirementsSources) > 0 {
		out := make([]string, 0, len(spec.RequirementsSources))
		for i, s := range spec.RequirementsSources {
			c, err := CleanRepoPath(s)
			if err != nil {
				return nil, fmt.Errorf("buildConfig.requirementsSources[%d]: %w", i, err)
			}
			out = appendUnique(out, c)
		}
		return out, nil
	}
	nb, err := CleanRepoPath(notebookPath)
	if err != nil {
		return nil, fmt.Errorf("notebook.path: %w", err)
	}
	var out []string
	for dir := path.Dir(nb); dir != "."; dir = path.Dir(dir) {
		out = append(out, path.Join(dir, DefaultRequirementsName))
	}
	return append(out, DefaultRequirementsName), nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// RequirementsOnly is the plan's requirements candidates, without the user's Dockerfile.
func (p Plan) RequirementsOnly() []string {
	var out []string
	for _, c := range p.Candidates {
		if !c.Dockerfile {
			out = append(out, c.Path)
		}
	}
	return out
}

// Generated is the outcome of walking a Plan over a repository.
type Generated struct {
	// Dockerfile is the generated Dockerfile; empty when DockerfilePath is set.
	Dockerfile string
	// DockerfilePath is the user's Dockerfile to build instead, as a repository path.
	DockerfilePath string
	// Requirements is the requirements file the generated Dockerfile installs, if any.
	Requirements string
	// Notice is the line the build prints when it falls back: a warning (FallbackWarn) or
	// an informational line (FallbackAuto).
	Notice string
}

// GeneratedDockerfile is the Dockerfile for baseImage plus, when requirements is not empty,
// a pip install of that repository file. The build context is the repository root.
func GeneratedDockerfile(baseImage, requirements string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", baseImage)
	if requirements != "" {
		// JSON form, so a path with spaces stays one argument.
		src, _ := json.Marshal([]string{requirements, "/tmp/nbv-requirements.txt"})
		fmt.Fprintf(&b, "COPY %s\n", src)
		b.WriteString("RUN pip install --no-cache-dir -r /tmp/nbv-requirements.txt\n")
	}
	return b.String()
}

// Dockerfile decides what to build for spec from a checked-out repository (files, rooted
// at the repository; nil means "nothing exists"), the way the in-pipeline Script does.
// It is for callers that can read the repository (the local stack); in a cluster the
// function never sees the repository and the pipeline runs Script instead.
func Dockerfile(spec v1alpha1.BuildConfigSpec, notebookPath string, files fs.FS) (Generated, error) {
	p, err := NewPlan(spec, notebookPath)
	if err != nil {
		return Generated{}, err
	}
	return p.Resolve(files)
}

// Resolve walks the plan over files. Symbolic links are not followed, as in Script, so a
// link cannot pull a file from outside the repository into the build.
func (p Plan) Resolve(files fs.FS) (Generated, error) {
	for _, c := range p.Candidates {
		if !regularFile(files, c.Path) {
			continue
		}
		if c.Dockerfile {
			return Generated{DockerfilePath: c.Path}, nil
		}
		return Generated{Dockerfile: GeneratedDockerfile(p.BaseImage, c.Path), Requirements: c.Path}, nil
	}
	switch p.Fallback {
	case FallbackFail:
		return Generated{}, errors.New(p.missingMessage(p.all()))
	case FallbackAuto:
		return Generated{Dockerfile: GeneratedDockerfile(p.BaseImage, ""), Notice: p.autoNotice(p.all())}, nil
	}
	return Generated{Dockerfile: GeneratedDockerfile(p.BaseImage, ""), Notice: p.warnNotice(p.all())}, nil
}

func regularFile(files fs.FS, name string) bool {
	if files == nil {
		return false
	}
	fi, err := fs.Lstat(files, name)
	return err == nil && fi.Mode().IsRegular()
}

// all is every candidate path, for the messages of Resolve and Script.
func (p Plan) all() []string {
	paths := make([]string, len(p.Candidates))
	for i, c := range p.Candidates {
		paths[i] = c.Path
	}
	return paths
}

func (p Plan) missingMessage(tried []string) string {
	if len(p.Candidates) == 1 && p.Candidates[0].Dockerfile {
		return fmt.Sprintf("ERROR: nbv build: Dockerfile %s not found in the repository (autoGenerateRequirements is false)", p.Candidates[0].Path)
	}
	return fmt.Sprintf("ERROR: nbv build: no requirements file found (tried %s) and buildConfig.fallbackStrategy is fail", strings.Join(tried, ", "))
}

func (p Plan) warnNotice(tried []string) string {
	return fmt.Sprintf("WARNING: nbv build: no requirements file found (tried %s); building %s without extra packages (fallbackStrategy warn)", strings.Join(tried, ", "), p.BaseImage)
}

func (p Plan) autoNotice(tried []string) string {
	return fmt.Sprintf("nbv build: no requirements file found (tried %s); building %s as is (fallbackStrategy auto)", strings.Join(tried, ", "), p.BaseImage)
}

// ShellQuote quotes s as one POSIX shell word.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script renders the POSIX sh script that walks the plan inside a pipeline. It runs with
// the repository checkout as its working directory and writes the Dockerfile to build to
// out (a copy of the user's Dockerfile, or a generated one; the build context stays the
// repository root). Every path and the base image are validated by NewPlan and shell-quoted
// here; the script has no other input.
func (p Plan) Script(out string) string {
	var b strings.Builder
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "out=%s\n", ShellQuote(out))
	// No "$(" command substitution: Tekton would read it as one of its variables.
	fmt.Fprintf(&b, "mkdir -p %s\n", ShellQuote(path.Dir(out)))
	for _, c := range p.Candidates {
		q := ShellQuote(c.Path)
		fmt.Fprintf(&b, "if [ -f %s ] && [ ! -L %s ]; then\n", q, q)
		if c.Dockerfile {
			fmt.Fprintf(&b, "  cp -- %s \"$out\"\n", q)
			fmt.Fprintf(&b, "  echo %s\n", ShellQuote("nbv build: using Dockerfile "+c.Path))
		} else {
			writeFile(&b, "  ", GeneratedDockerfile(p.BaseImage, c.Path))
			fmt.Fprintf(&b, "  echo %s\n", ShellQuote("nbv build: installing requirements from "+c.Path))
		}
		b.WriteString("  exit 0\nfi\n")
	}
	switch p.Fallback {
	case FallbackFail:
		fmt.Fprintf(&b, "echo %s >&2\nexit 1\n", ShellQuote(p.missingMessage(p.all())))
		return b.String()
	case FallbackAuto:
		fmt.Fprintf(&b, "echo %s\n", ShellQuote(p.autoNotice(p.all())))
	default:
		fmt.Fprintf(&b, "echo %s >&2\n", ShellQuote(p.warnNotice(p.all())))
	}
	writeFile(&b, "", GeneratedDockerfile(p.BaseImage, ""))
	return b.String()
}

func writeFile(b *strings.Builder, indent, content string) {
	fmt.Fprintf(b, "%sprintf '%%s' %s > \"$out\"\n", indent, ShellQuote(content))
}

// SearchingDockerfile is a self-contained Dockerfile that walks the plan's requirements
// candidates at build time, for build systems that take an inline Dockerfile and give no
// script step (OpenShift's docker strategy). A first stage copies the repository and picks
// the requirements file (or applies the fallback: fail stops the build); the final stage
// starts again from baseImage and pip-installs only that file, so the repository copy never
// reaches the image. The user's Dockerfile is not a candidate here: a build that should use
// it names it directly (dockerStrategy.dockerfilePath).
func (p Plan) SearchingDockerfile() string {
	const picked = "/tmp/nbv-requirements.txt"
	var s strings.Builder
	s.WriteString("set -eu\ncd /tmp/nbv-src\n")
	reqs := p.RequirementsOnly()
	for _, r := range reqs {
		q := ShellQuote(r)
		fmt.Fprintf(&s, "if [ -f %s ] && [ ! -L %s ]; then cp -- %s %s; echo %s; exit 0; fi\n",
			q, q, q, picked, ShellQuote("nbv build: installing requirements from "+r))
	}
	switch p.Fallback {
	case FallbackFail:
		fmt.Fprintf(&s, "echo %s >&2\nexit 1\n", ShellQuote(p.missingMessage(reqs)))
	case FallbackAuto:
		fmt.Fprintf(&s, "echo %s\n: > %s\n", ShellQuote(p.autoNotice(reqs)), picked)
	default:
		fmt.Fprintf(&s, "echo %s >&2\n: > %s\n", ShellQuote(p.warnNotice(reqs)), picked)
	}
	run, _ := json.Marshal([]string{"/bin/sh", "-c", s.String()})

	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s AS nbv-requirements\n", p.BaseImage)
	b.WriteString("COPY . /tmp/nbv-src\n")
	fmt.Fprintf(&b, "RUN %s\n", run)
	fmt.Fprintf(&b, "FROM %s\n", p.BaseImage)
	fmt.Fprintf(&b, "COPY --from=nbv-requirements %s %s\n", picked, picked)
	fmt.Fprintf(&b, "RUN if [ -s %s ]; then pip install --no-cache-dir -r %s; fi\n", picked, picked)
	return b.String()
}
