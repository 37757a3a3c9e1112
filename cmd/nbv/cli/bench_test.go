package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/local/bench"
)

// TestBenchSummary: the runs are named after their files, printed side by side in the order
// given, and -out writes them as one object keyed by name, which summary reads back; a name
// given twice is a usage error.
func TestBenchSummary(t *testing.T) {
	dir := t.TempDir()
	warm, zero := filepath.Join(dir, "paced-warm.json"), filepath.Join(dir, "paced-zero.json")
	for path, isWarm := range map[string]bool{warm: true, zero: false} {
		res := &bench.Result{Config: bench.Config{Jobs: 40, Pacing: "one every 1s", Idle: "30s", Warm: isWarm},
			Functions: map[string]bench.Function{"job-created": {Instances: 1, ColdStartP50Ms: 12.5, FirstAnswerP50Ms: 30}}}
		if err := writeJSON(path, res); err != nil {
			t.Fatal(err)
		}
	}
	combined := filepath.Join(dir, "results.json")
	code, stdout, stderr := runCLI(context.Background(), "bench", "summary", "-out", combined, warm, zero)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "paced-warm: 40 jobs, one every 1s; idle 30s; functions warm at the start;") ||
		!strings.Contains(stdout, "paced-zero: 40 jobs, one every 1s; idle 30s; from zero;") ||
		strings.Index(stdout, "paced-warm") > strings.Index(stdout, "paced-zero") || !strings.Contains(stdout, "1: 12.5 / 30.0") {
		t.Errorf("summary:\n%s", stdout)
	}
	data, err := os.ReadFile(combined)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]bench.Result
	if err := json.Unmarshal(data, &doc); err != nil || len(doc) != 2 || !doc["paced-warm"].Config.Warm || doc["paced-zero"].Config.Warm {
		t.Errorf("%s: %v, %s", combined, err, data)
	}
	code, again, stderr := runCLI(context.Background(), "bench", "summary", combined)
	if code != 0 || !slices.Equal(strings.Split(again, "\n")[2:], strings.Split(stdout, "\n")[2:]) {
		t.Errorf("summary of the combined file: exit %d %s\n%s\nwant the same table as\n%s", code, stderr, again, stdout)
	}
	if code, _, _ := runCLI(context.Background(), "bench", "summary", warm, warm); code != ExitUsage {
		t.Errorf("one run given twice: exit %d, want %d", code, ExitUsage)
	}
}
