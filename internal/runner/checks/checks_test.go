package checks

import (
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

func TestPresets(t *testing.T) {
	off := false
	c, err := FromSpec(&v1alpha1.ValidationConfigSpec{Level: LevelStaging, FailOnStderr: true, DetectSilentFailures: &off})
	if err != nil {
		t.Fatal(err)
	}
	if !c.FailOnWarnings || !c.VerifyAssertions || !c.CheckOutputTypes || !c.FailOnStderr || c.Strict || c.DetectSilentFailures {
		t.Errorf("staging + failOnStderr: %+v", c)
	}
	p, _ := FromSpec(&v1alpha1.ValidationConfigSpec{Level: LevelProduction})
	if !p.Strict || !p.RequireExplicitExitCodes || !p.FailOnWarnings {
		t.Errorf("production: %+v", p)
	}
	if _, err := FromSpec(&v1alpha1.ValidationConfigSpec{Level: "yolo"}); err == nil {
		t.Error("unknown level accepted")
	}
}

func TestRunChecks(t *testing.T) {
	res := func(text string) notebook.Output {
		return notebook.Output{OutputType: "execute_result", Data: map[string]string{"text/plain": text}}
	}
	nb := &notebook.Notebook{Cells: []notebook.Cell{
		{CellType: "code", Source: "float('nan')", Outputs: []notebook.Output{res("nan")}},
		{CellType: "code", Source: "try: f()\nexcept Exception: traceback.print_exc()",
			Outputs: []notebook.Output{{OutputType: "stream", Name: "stderr", Text: "Traceback (most recent call last):\n"}}},
		{CellType: "code", Source: "print(1)"},
	}}
	in := Input{Notebook: nb, Ran: map[int]bool{0: true, 1: true, 2: true}, SourceToExecuted: func(i int) int { return i }}
	c, _ := FromSpec(nil)
	got := map[string]string{}
	for _, f := range c.Run(in) {
		got[f.Check] += f.Severity + " "
	}
	if got["silentFailure"] != "warning warning " || got["stderr"] != "warning " {
		t.Errorf("development findings %v", got)
	}
	c.Strict, c.VerifyAssertions, c.RequireExplicitExitCodes = true, true, true
	got = map[string]string{}
	for _, f := range c.Run(in) {
		got[f.Check] += f.Severity + " "
	}
	if got["silentFailure"] != "error error " || got["assertions"] != "error " || got["explicitResult"] != "error " {
		t.Errorf("strict findings %v", got)
	}
}
