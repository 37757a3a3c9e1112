package build

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

const fixtureRepo = "../../test/fixtures/build/repo"
const notebook = "notebooks/deep/analysis.ipynb"

func boolp(b bool) *bool { return &b }

func TestCleanRepoPath(t *testing.T) {
	ok := map[string]string{
		"requirements.txt":          "requirements.txt",
		"./a/b/../requirements.txt": "a/requirements.txt",
		"a//b/req.txt":              "a/b/req.txt",
		"My Notebooks/req (1).txt":  "My Notebooks/req (1).txt",
		"a/..b/req.txt":             "a/..b/req.txt",
	}
	for in, want := range ok {
		got, err := CleanRepoPath(in)
		if err != nil || got != want {
			t.Errorf("CleanRepoPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "/etc/passwd", "..", "../secret", "a/../../etc/passwd", "a/b/../../..",
		".", "a/..", "req$(params.x).txt", "req`id`.txt", "a\nb", "a'b", `a\b`, "a\x00b",
	}
	for _, in := range bad {
		if got, err := CleanRepoPath(in); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CleanRepoPath(%q) = %q, %v; want ErrUnsafePath", in, got, err)
		}
	}
}

func TestNewPlanRejectsTraversal(t *testing.T) {
	specs := map[string]v1alpha1.BuildConfigSpec{
		"requirementsFile absolute":  {RequirementsFile: "/etc/passwd"},
		"requirementsFile escapes":   {RequirementsFile: "../../other-repo/requirements.txt"},
		"requirementsSources escape": {RequirementsSources: []string{"ok.txt", "x/../../../etc/shadow"}},
		"dockerfile escapes":         {Dockerfile: "../Dockerfile"},
		"dockerfile absolute":        {Dockerfile: "/Dockerfile", AutoGenerateRequirements: boolp(false)},
	}
	for name, spec := range specs {
		_, err := NewPlan(spec, notebook)
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%s: err = %v, want ErrUnsafePath", name, err)
		}
	}
	if _, err := NewPlan(v1alpha1.BuildConfigSpec{}, "../nb.ipynb"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("notebook path escaping: err = %v", err)
	}
	if _, err := NewPlan(v1alpha1.BuildConfigSpec{BaseImage: "python:3\nRUN curl evil | sh"}, notebook); err == nil {
		t.Error("base image with a newline accepted")
	}
	if _, err := NewPlan(v1alpha1.BuildConfigSpec{FallbackStrategy: "ignore"}, notebook); err == nil {
		t.Error("unknown fallbackStrategy accepted")
	}
}

func TestNewPlanOrder(t *testing.T) {
	cases := []struct {
		name string
		spec v1alpha1.BuildConfigSpec
		want []Candidate
	}{
		{"default chain", v1alpha1.BuildConfigSpec{}, []Candidate{
			{Path: "notebooks/deep/requirements.txt"}, {Path: "notebooks/requirements.txt"}, {Path: "requirements.txt"}}},
		{"requirementsFile wins over sources", v1alpha1.BuildConfigSpec{RequirementsFile: "./x/r.txt", RequirementsSources: []string{"a.txt"}},
			[]Candidate{{Path: "x/r.txt"}}},
		{"sources in order, deduplicated", v1alpha1.BuildConfigSpec{RequirementsSources: []string{"b.txt", "a.txt", "./b.txt"}},
			[]Candidate{{Path: "b.txt"}, {Path: "a.txt"}}},
		{"preferDockerfile first", v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile", PreferDockerfile: true, RequirementsFile: "r.txt"},
			[]Candidate{{Path: "docker/Dockerfile", Dockerfile: true}, {Path: "r.txt"}}},
		{"dockerfile after requirements", v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile", RequirementsFile: "r.txt"},
			[]Candidate{{Path: "r.txt"}, {Path: "docker/Dockerfile", Dockerfile: true}}},
		{"no autogenerate: default Dockerfile", v1alpha1.BuildConfigSpec{AutoGenerateRequirements: boolp(false), RequirementsFile: "r.txt"},
			[]Candidate{{Path: "Dockerfile", Dockerfile: true}}},
	}
	for _, c := range cases {
		p, err := NewPlan(c.spec, notebook)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(p.Candidates, c.want) {
			t.Errorf("%s: candidates = %+v, want %+v", c.name, p.Candidates, c.want)
		}
	}
	p, _ := NewPlan(v1alpha1.BuildConfigSpec{}, "top.ipynb")
	if !reflect.DeepEqual(p.Candidates, []Candidate{{Path: "requirements.txt"}}) {
		t.Errorf("notebook at root: %+v", p.Candidates)
	}
	if p.BaseImage != DefaultBaseImage || p.Fallback != FallbackWarn {
		t.Errorf("defaults: base %q fallback %q", p.BaseImage, p.Fallback)
	}
}

// scenario is one spec with the outcome expected from the fixture repository.
type scenario struct {
	name     string
	spec     v1alpha1.BuildConfigSpec
	want     Generated
	wantFail string // substring of the failure message; the build must fail
}

func scenarios() []scenario {
	const base = "quay.io/jupyter/minimal-notebook:latest"
	return []scenario{
		{name: "default chain finds the nearest parent", spec: v1alpha1.BuildConfigSpec{},
			want: Generated{Dockerfile: "FROM " + base + "\nCOPY [\"notebooks/requirements.txt\",\"/tmp/nbv-requirements.txt\"]\nRUN pip install --no-cache-dir -r /tmp/nbv-requirements.txt\n",
				Requirements: "notebooks/requirements.txt"}},
		{name: "sources skip missing, path with a space", spec: v1alpha1.BuildConfigSpec{BaseImage: "python:3.12", RequirementsSources: []string{"missing.txt", "other/dev reqs.txt", "requirements.txt"}},
			want: Generated{Dockerfile: "FROM python:3.12\nCOPY [\"other/dev reqs.txt\",\"/tmp/nbv-requirements.txt\"]\nRUN pip install --no-cache-dir -r /tmp/nbv-requirements.txt\n",
				Requirements: "other/dev reqs.txt"}},
		{name: "preferred Dockerfile", spec: v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile", PreferDockerfile: true},
			want: Generated{DockerfilePath: "docker/Dockerfile"}},
		{name: "requirements before a non-preferred Dockerfile", spec: v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile", RequirementsFile: "requirements.txt"},
			want: Generated{Dockerfile: GeneratedDockerfile(base, "requirements.txt"), Requirements: "requirements.txt"}},
		{name: "non-preferred Dockerfile when no requirements", spec: v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile", RequirementsFile: "nope.txt"},
			want: Generated{DockerfilePath: "docker/Dockerfile"}},
		{name: "warn fallback", spec: v1alpha1.BuildConfigSpec{RequirementsFile: "nope.txt"},
			want: Generated{Dockerfile: "FROM " + base + "\n",
				Notice: "WARNING: nbv build: no requirements file found (tried nope.txt); building " + base + " without extra packages (fallbackStrategy warn)"}},
		{name: "auto fallback", spec: v1alpha1.BuildConfigSpec{RequirementsFile: "nope.txt", FallbackStrategy: "auto"},
			want: Generated{Dockerfile: "FROM " + base + "\n",
				Notice: "nbv build: no requirements file found (tried nope.txt); building " + base + " as is (fallbackStrategy auto)"}},
		{name: "fail fallback", spec: v1alpha1.BuildConfigSpec{RequirementsSources: []string{"a.txt", "b.txt"}, FallbackStrategy: "fail"},
			wantFail: "no requirements file found (tried a.txt, b.txt) and buildConfig.fallbackStrategy is fail"},
		{name: "missing Dockerfile without autogenerate", spec: v1alpha1.BuildConfigSpec{AutoGenerateRequirements: boolp(false)},
			wantFail: "Dockerfile Dockerfile not found"},
		{name: "explicit Dockerfile without autogenerate", spec: v1alpha1.BuildConfigSpec{AutoGenerateRequirements: boolp(false), Dockerfile: "docker/Dockerfile"},
			want: Generated{DockerfilePath: "docker/Dockerfile"}},
	}
}

func TestDockerfileResolve(t *testing.T) {
	files := os.DirFS(fixtureRepo)
	for _, s := range scenarios() {
		got, err := Dockerfile(s.spec, notebook, files)
		if s.wantFail != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantFail) {
				t.Errorf("%s: err = %v, want %q", s.name, err, s.wantFail)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if got != s.want {
			t.Errorf("%s:\n got %+v\nwant %+v", s.name, got, s.want)
		}
	}
}

// TestScriptMatchesResolve runs the rendered shell script over the fixture repository and
// checks it picks what Resolve picks: the in-cluster build and the local one agree.
func TestScriptMatchesResolve(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range scenarios() {
		p, err := NewPlan(s.spec, notebook)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		out := filepath.Join(t.TempDir(), "gen", "Dockerfile")
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(sh, "-c", p.Script(out))
		cmd.Dir = fixtureRepo
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		if s.wantFail != "" {
			if runErr == nil || !strings.Contains(stderr.String(), s.wantFail) {
				t.Errorf("%s: script err = %v, stderr %q; want failure %q", s.name, runErr, stderr.String(), s.wantFail)
			}
			continue
		}
		if runErr != nil {
			t.Errorf("%s: script failed: %v: %s", s.name, runErr, stderr.String())
			continue
		}
		written, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := s.want.Dockerfile
		if s.want.DockerfilePath != "" {
			b, _ := os.ReadFile(filepath.Join(fixtureRepo, s.want.DockerfilePath))
			want = string(b)
		}
		if string(written) != want {
			t.Errorf("%s: script wrote\n%s\nwant\n%s", s.name, written, want)
		}
		if s.want.Notice != "" && !strings.Contains(stdout.String()+stderr.String(), s.want.Notice) {
			t.Errorf("%s: notice %q not printed (stdout %q, stderr %q)", s.name, s.want.Notice, stdout.String(), stderr.String())
		}
		if strings.HasPrefix(s.want.Notice, "WARNING") && !strings.Contains(stderr.String(), "WARNING") {
			t.Errorf("%s: warning not on stderr", s.name)
		}
	}
}

// TestSymlinkNotFollowed: a requirements "file" that is a link out of the repository is
// skipped both by Resolve and by the script.
func TestSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "requirements.txt")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	spec := v1alpha1.BuildConfigSpec{FallbackStrategy: "fail"}
	if _, err := Dockerfile(spec, "nb.ipynb", os.DirFS(dir)); err == nil {
		t.Error("Resolve followed a symlink")
	}
	p, _ := NewPlan(spec, "nb.ipynb")
	cmd := exec.Command("sh", "-c", p.Script(filepath.Join(t.TempDir(), "Dockerfile")))
	cmd.Dir = dir
	if err := cmd.Run(); err == nil {
		t.Error("script followed a symlink")
	}
}

func TestScriptQuotesHostileContent(t *testing.T) {
	// Allowed characters that mean something to a shell must stay literal.
	p, err := NewPlan(v1alpha1.BuildConfigSpec{RequirementsFile: "a (b);c/ r.txt", FallbackStrategy: "fail"}, notebook)
	if err == nil {
		t.Fatalf("';' accepted in a path: %+v", p)
	}
	p, err = NewPlan(v1alpha1.BuildConfigSpec{RequirementsFile: "x (y)/r ~1.txt"}, notebook)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "x (y)"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x (y)", "r ~1.txt"), []byte("six\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "Dockerfile")
	cmd := exec.Command("sh", "-c", p.Script(out))
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script: %v: %s", err, b)
	}
	got, _ := os.ReadFile(out)
	if !strings.Contains(string(got), `COPY ["x (y)/r ~1.txt","/tmp/nbv-requirements.txt"]`) {
		t.Errorf("Dockerfile = %s", got)
	}
}

func TestSearchingDockerfile(t *testing.T) {
	p, err := NewPlan(v1alpha1.BuildConfigSpec{BaseImage: "python:3.12", Dockerfile: "docker/Dockerfile", FallbackStrategy: "fail"}, notebook)
	if err != nil {
		t.Fatal(err)
	}
	df := p.SearchingDockerfile()
	lines := strings.Split(strings.TrimSpace(df), "\n")
	if len(lines) != 6 || lines[0] != "FROM python:3.12 AS nbv-requirements" || lines[3] != "FROM python:3.12" {
		t.Fatalf("unexpected shape:\n%s", df)
	}
	if strings.Contains(df, "docker/Dockerfile") {
		t.Error("the user's Dockerfile leaked into the requirements search")
	}
	if !strings.HasPrefix(lines[2], `RUN ["/bin/sh","-c","set -eu\ncd /tmp/nbv-src\n`) {
		t.Errorf("RUN is not one exec-form line: %s", lines[2])
	}

	// The first stage's script behaves: run it against a copy of the fixture layout.
	script := strings.TrimPrefix(lines[2], "RUN ")
	var argv []string
	if err := json.Unmarshal([]byte(script), &argv); err != nil || len(argv) != 3 {
		t.Fatalf("exec form: %v %v", argv, err)
	}
	body := strings.ReplaceAll(argv[2], "/tmp/nbv-src", fixtureRepo)
	out := filepath.Join(t.TempDir(), "picked")
	body = strings.ReplaceAll(body, "/tmp/nbv-requirements.txt", out)
	if b, err := exec.Command("sh", "-c", body).CombinedOutput(); err != nil {
		t.Fatalf("stage script: %v: %s", err, b)
	}
	if got, _ := os.ReadFile(out); string(got) != "pandas==2.2.3\n" {
		t.Errorf("picked %q, want notebooks/requirements.txt", got)
	}
}

// TestScriptHasNoCommandSubstitution: Tekton reads "$(" as a variable reference, so the
// script must not contain one beyond what the caller puts in out.
func TestScriptHasNoCommandSubstitution(t *testing.T) {
	for _, fb := range []string{"warn", "fail", "auto"} {
		p, err := NewPlan(v1alpha1.BuildConfigSpec{Dockerfile: "d/Dockerfile", FallbackStrategy: fb}, notebook)
		if err != nil {
			t.Fatal(err)
		}
		if s := p.Script("/w/out/Dockerfile"); strings.Contains(s, "$(") || strings.Contains(s, "`") {
			t.Errorf("fallback %s: script has command substitution:\n%s", fb, s)
		}
	}
}
