package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixtureResult(warm bool, processes int) *Result {
	return &Result{
		Config:      Config{Jobs: 40, Mix: "nobuild=1", Pacing: "one every 1s", Idle: "30s", Warm: warm},
		Machine:     Machine{LoadBefore: []float64{1, 0.5, 0.25}, LoadAfter: []float64{1.5, 0.75, 0.5}},
		WallSeconds: 41,
		Hops: []Latency{{Hop: hopInitializing, N: 40, P50: 10.55, P90: 12.9}, {Hop: hopCreatedPod, N: 40, P50: 15.2, P90: 17.6},
			{Hop: hopBuildPod}, {Hop: hopPodTerminal, N: 40, P50: 24.5, P90: 44.2}},
		API:          API{PerKind: map[Kind]KindAPI{NoBuild: {Jobs: 40, PerJob: 11.1}}, SharedPerJob: 0.2},
		StatusWrites: StatusWrites{ConflictsPerJob: 0.025},
		Functions: map[string]Function{
			"job-created": {Instances: processes, ColdStartP50Ms: 10.3, FirstAnswerP50Ms: 31.25, FirstHandledP50Ms: 14.6},
			"sweep":       {},
			// A process started for a request that another instance served first.
			"pod-completed": {Instances: processes},
		},
		Invariants: []Invariant{{Name: "every job terminal", OK: true}},
	}
}

func TestWriteSummary(t *testing.T) {
	broken := fixtureResult(false, 2)
	broken.Invariants = append(broken.Invariants, Invariant{Name: "one pod per attempt"})
	var b strings.Builder
	err := WriteSummary(&b, []NamedResult{{Name: "paced-warm", Result: fixtureResult(true, 0)}, {Name: "paced-zero", Result: broken}})
	if err != nil {
		t.Fatal(err)
	}
	got := b.String()
	lines := strings.Split(got, "\n")
	for _, want := range []string{
		"paced-warm: 40 jobs, one every 1s; idle 30s; functions warm at the start; wall 41.0s; load average 1.00 0.50 0.25 before, 1.50 0.75 0.50 after; invariants ok",
		"paced-zero: 40 jobs, one every 1s; idle 30s; from zero; wall 41.0s; load average 1.00 0.50 0.25 before, 1.50 0.75 0.50 after; invariants BROKEN",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("summary lacks the line %q:\n%s", want, got)
		}
	}
	// Each row: its label, then one cell per run in the order given.
	for _, want := range [][]string{
		{"paced-warm", "paced-zero"},
		{"created -> Initializing", "10.6 / 12.9", "10.6 / 12.9"},
		{"build succeeded -> pod", "-", "-"},
		{"nobuild", "11.10", "11.10"},
		{"tekton", "-", "-"},
		{"shared (about no one job)", "0.20", "0.20"},
		{"conflicts per job", "0.03", "0.03"},
		{"job-created", "0", "2: 10.3 / 31.2 (14.6)"},
		{"sweep", "0", "0"},
		{"pod-completed", "0", "2: - / - (-)"},
	} {
		if !hasRow(lines, want) {
			t.Errorf("summary lacks a row %q:\n%s", want, got)
		}
	}
}

// hasRow reports whether a line holds exactly these fields, apart from padding.
func hasRow(lines []string, fields []string) bool {
	for _, l := range lines {
		var cells []string
		for c := range strings.SplitSeq(l, "  ") {
			if c = strings.TrimSpace(c); c != "" {
				cells = append(cells, c)
			}
		}
		if strings.Join(cells, "|") == strings.Join(fields, "|") {
			return true
		}
	}
	return false
}

// TestReadResultsBothShapes: a single run's file is named after the file; the combined
// document keeps its runs' names; a name twice is refused.
func TestReadResultsBothShapes(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "burst-zero.json")
	writeFixture(t, single, fixtureResult(false, 3))
	runs, err := ReadResults(single)
	if err != nil || len(runs) != 1 || runs[0].Name != "burst-zero" || runs[0].Result.Functions["job-created"].Instances != 3 {
		t.Fatalf("ReadResults(single) = %+v, %v", runs, err)
	}
	combined, err := Combine([]NamedResult{runs[0], {Name: "paced-warm", Result: fixtureResult(true, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "results.json")
	writeFixture(t, both, combined)
	runs, err = ReadResults(both)
	if err != nil || len(runs) != 2 || runs[0].Name != "burst-zero" || runs[1].Name != "paced-warm" || !runs[1].Result.Config.Warm {
		t.Fatalf("ReadResults(combined) = %+v, %v", runs, err)
	}
	if _, err := Combine([]NamedResult{runs[0], runs[0]}); err == nil {
		t.Error("Combine took two runs of one name")
	}
}

func writeFixture(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
