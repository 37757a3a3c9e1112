package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Kind is how a job gets its image: no build, or a build by one strategy.
type Kind string

// The kinds of job the benchmark runs.
const (
	NoBuild  Kind = "nobuild"
	Tekton   Kind = "tekton"
	S2I      Kind = "s2i"
	External Kind = "external"
)

// Kinds lists every kind in table order.
var Kinds = []Kind{NoBuild, Tekton, S2I, External}

// Mix is the relative weight of each kind among the jobs.
type Mix map[Kind]int

// DefaultMix is half no-build jobs, the rest spread over the build strategies.
var DefaultMix = Mix{NoBuild: 50, Tekton: 25, S2I: 15, External: 10}

// ParseMix reads "nobuild=50,tekton=25,s2i=15,external=10"; kinds left out weigh 0.
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, ok := strings.Cut(part, "=")
		k := Kind(strings.TrimSpace(name))
		if !ok || !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("mix %q: %q is not kind=weight with kind one of %v", s, part, Kinds)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("mix %q: %s given twice", s, k)
		}
		w, err := strconv.Atoi(strings.TrimSpace(weight))
		if err != nil || w < 0 || w > 1_000_000 {
			return nil, fmt.Errorf("mix %q: weight of %s must be an integer from 0 to 1000000", s, k)
		}
		m[k] = w
		total += w
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: no kind has a positive weight", s)
	}
	return m, nil
}

func (m Mix) String() string {
	var parts []string
	for _, k := range Kinds {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, ",")
}

// Planned is one job of a run and what the harness will make happen to it, so its final
// phase is known in advance.
type Planned struct {
	Name string
	Kind Kind
	// BuildFails: the build system (or CI) reports a failed build; the job fails with no pod.
	BuildFails bool
	// NotebookFails: the runner reports a failing cell; the job fails after its pod.
	NotebookFails bool
}

// WantsPod reports whether the job reaches validation.
func (p Planned) WantsPod() bool { return !p.BuildFails }

// WantPhase is the phase the job must end in.
func (p Planned) WantPhase() string {
	if p.BuildFails || p.NotebookFails {
		return v1alpha1.PhaseFailed
	}
	return v1alpha1.PhaseSucceeded
}

// Plan spreads n jobs over the kinds by weight (smooth weighted round robin, so every stretch of
// the run has the same mix). Within a kind, every tenth build fails and every fifth notebook
// that runs fails.
func Plan(n int, mix Mix) []Planned {
	total := 0
	for _, k := range Kinds {
		total += mix[k]
	}
	current := map[Kind]int{}
	perKind := map[Kind]int{}
	ran := 0
	out := make([]Planned, 0, n)
	for i := range n {
		var pick Kind
		for _, k := range Kinds {
			current[k] += mix[k]
			if pick == "" || current[k] > current[pick] {
				pick = k
			}
		}
		current[pick] -= total
		j := perKind[pick]
		perKind[pick]++
		p := Planned{Name: fmt.Sprintf("%s-%05d", pick, i), Kind: pick}
		p.BuildFails = pick != NoBuild && j%10 == 9
		if p.WantsPod() {
			p.NotebookFails = ran%5 == 4
			ran++
		}
		out = append(out, p)
	}
	return out
}

// strategy is the job's buildConfig.strategy ("" without a build).
func (p Planned) strategy() string {
	switch p.Kind {
	case Tekton:
		return v1alpha1.BuildStrategyTekton
	case S2I:
		return v1alpha1.BuildStrategyS2I
	case External:
		return v1alpha1.BuildStrategyExternal
	}
	return ""
}

// Job is the NotebookValidationJob to create for p in namespace.
func (p Planned) Job(namespace string) *v1alpha1.NotebookValidationJob {
	job := &v1alpha1.NotebookValidationJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: namespace},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/ml/notebooks.git", Ref: "main"}, Path: "nb/train.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook:latest"},
			Timeout:   "10m",
		},
	}
	if s := p.strategy(); s != "" {
		job.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: s, Timeout: "10m"}
	}
	return job
}
