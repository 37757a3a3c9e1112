package statustext

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// hostileText is 100 KB of what a runner, a build log or an annotation may carry: colours,
// an OSC-8 link, a bidi override, a NUL and invalid UTF-8 between plain text.
var hostileText = strings.Repeat("\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \u202eevil\x00\xff ", 100_000/60)

// fill sets every string of v, at any depth, to hostileText, allocates every pointer and
// gives every list one entry more than Status keeps (only the first filled, so that nested
// lists stay small).
func fill(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(hostileText)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), ListLimit(path)+1, ListLimit(path)+1))
		fill(v.Index(0), path+"[]")
	case reflect.Struct:
		forFields(v, path, fill)
	}
}

// visit calls text on every string and list on every list of v, with their paths.
func visit(v reflect.Value, path string, text func(string, string), list func(string, int)) {
	switch v.Kind() {
	case reflect.String:
		text(path, v.String())
	case reflect.Pointer:
		if !v.IsNil() {
			visit(v.Elem(), path, text, list)
		}
	case reflect.Slice:
		list(path, v.Len())
		for i := range v.Len() {
			visit(v.Index(i), path+"[]", text, list)
		}
	case reflect.Struct:
		forFields(v, path, func(f reflect.Value, p string) { visit(f, p, text, list) })
	}
}

// wantLimits is every string of the status and the bound it must have after Status. A string
// field added to the API is missing here and fails the test until its bound is decided (in
// textLimits when MaxReason does not fit). No field is left out of the cleaning, the
// compatibility fields (educationalFeedback, modelValidationResult, availableImages) included:
// they are read back from the previous operator's status and written again with it.
var wantLimits = map[string]int{
	"phase": MaxReason, "validationPodName": MaxReason, "message": MaxMessage,
	"conditions[].type": MaxReason, "conditions[].status": MaxReason, "conditions[].reason": MaxReason, "conditions[].message": MaxConditionMessage,
	"results[].status": MaxReason, "results[].output": MaxCellText, "results[].errorMessage": MaxCellText,
	"comparisonResult.strategy": MaxReason, "comparisonResult.result": MaxReason,
	"comparisonResult.diffs[].cellType": MaxReason, "comparisonResult.diffs[].diffType": MaxReason, "comparisonResult.diffs[].severity": MaxReason,
	"comparisonResult.diffs[].expected": MaxCellText, "comparisonResult.diffs[].actual": MaxCellText, "comparisonResult.diffs[].diff": MaxCellText,
	"modelValidationResult.phase": MaxReason, "modelValidationResult.platform": MaxReason, "modelValidationResult.message": MaxMessage,
	"modelValidationResult.cleanEnvironmentCheck.crdsInstalled[]":                               MaxReason,
	"modelValidationResult.cleanEnvironmentCheck.requiredLibraries[]":                           MaxReason,
	"modelValidationResult.cleanEnvironmentCheck.message":                                       MaxMessage,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].modelName":                  MaxReason,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].version":                    MaxReason,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].resourceStatus.cpuUsage":    MaxReason,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].resourceStatus.memoryUsage": MaxReason,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].resourceStatus.gpuUsage":    MaxReason,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].message":                    MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.actualOutput":          MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.expectedOutput":        MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.difference":            MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.message":               MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.message":                                    MaxMessage,
	"buildStatus.phase": MaxReason, "buildStatus.message": MaxMessage, "buildStatus.imageReference": MaxImageReference,
	"buildStatus.duration": MaxReason, "buildStatus.buildName": MaxReason, "buildStatus.strategy": MaxReason, "buildStatus.reason": MaxReason,
	"buildStatus.availableImages[].name": MaxReason, "buildStatus.availableImages[].displayName": MaxReason,
	"buildStatus.availableImages[].description": MaxCellText, "buildStatus.availableImages[].imageRef": MaxImageReference,
	"buildStatus.availableImages[].tags[]": MaxReason, "buildStatus.recommendedImage": MaxImageReference,
	"artifact.reference": MaxImageReference, "artifact.artifactType": MaxReason, "artifact.files[]": MaxReason, "artifact.message": MaxMessage,
	"reuseKey.digest": MaxReason, "reuseKey.notebook": MaxMessage, "reuseKey.golden": MaxMessage, "reuseKey.image": MaxImageReference,
	"reuseKey.execution": MaxReason, "reuseKey.validation": MaxReason, "reuseKey.comparison": MaxReason, "reuseKey.environment": MaxReason,
	"reuseKey.runner":     MaxImageReference,
	"reusedRun.namespace": MaxReason, "reusedRun.name": MaxReason, "reusedRun.uid": MaxReason, "reusedRun.artifactReference": MaxImageReference,
	"educationalFeedback[].severity": MaxReason, "educationalFeedback[].category": MaxReason, "educationalFeedback[].message": MaxCellText,
	"educationalFeedback[].suggestion": MaxCellText, "educationalFeedback[].codeExample": MaxCellText,
	"gitOpsHooks.state": MaxReason, "gitOpsHooks.wave": MaxReason, "gitOpsHooks.message": MaxMessage,
	"gitOpsHooks.triggers[].target": MaxTarget, "gitOpsHooks.triggers[].result": MaxReason, "gitOpsHooks.triggers[].message": MaxCellText,
}

// Every string of the status, at any depth, is clean and within its bound after Status, and
// every list within its bound, whatever filled it; found by reflection, so that a field added
// to the API cannot be missed.
func TestStatusCleansEveryStringOfTheStatusType(t *testing.T) {
	var st v1alpha1.NotebookValidationJobStatus
	fill(reflect.ValueOf(&st).Elem(), "")
	Status(&st)
	seen := map[string]bool{}
	visit(reflect.ValueOf(st), "", func(path, s string) {
		if s == "" {
			return // an entry fill left empty
		}
		seen[path] = true
		want, listed := wantLimits[path]
		switch {
		case !listed:
			t.Errorf("status field %s is not in wantLimits: decide its bound (textLimits in status.go) and list it", path)
		case TextLimit(path) != want:
			t.Errorf("%s: bound %d, want %d", path, TextLimit(path), want)
		case len(s) > want:
			t.Errorf("%s: %d bytes after Status, bound %d", path, len(s), want)
		case Clean(s, 0) != s || strings.ContainsAny(s, "\x1b\x00\u202e"):
			t.Errorf("%s: not clean after Status: %q", path, s[:min(len(s), 80)])
		case !strings.Contains(s, "[truncated"):
			t.Errorf("%s: cut without the marker", path)
		}
	}, func(path string, n int) {
		if n > ListLimit(path) {
			t.Errorf("%s: %d entries after Status, bound %d", path, n, ListLimit(path))
		}
	})
	for path := range wantLimits {
		if !seen[path] {
			t.Errorf("wantLimits lists %s, which the status type does not have", path)
		}
	}
	if t.Failed() {
		var all []string
		for p := range seen {
			all = append(all, fmt.Sprintf("%q", p))
		}
		t.Logf("fields seen: %s", strings.Join(all, ", "))
	}
}
