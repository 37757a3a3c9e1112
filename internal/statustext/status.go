package statustext

import (
	"reflect"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// More limits, in bytes or entries, for the status fields that have their own.
const (
	// MaxTarget bounds status.gitOpsHooks.triggers[].target ("<action> <kind> <ns>/<name>",
	// 390 bytes at most for a valid trigger).
	MaxTarget = 512
	// MaxImageReference bounds image references (buildStatus.imageReference, …).
	MaxImageReference = 1 << 10
	// MaxTriggers bounds status.gitOpsHooks.triggers (gitops.MaxTriggers are planned).
	MaxTriggers = 10
	// MaxListEntries bounds every other list of the status.
	MaxListEntries = 100
)

// textLimits are the bounds of the status's strings by JSON path ("[]" for any list entry).
// Any string not listed is a short machine value (a phase, reason, name, duration) and gets
// MaxReason, so a field added to the status is cleaned and bounded without being listed.
var textLimits = map[string]int{
	"message":                                                MaxMessage,
	"conditions[].message":                                   MaxConditionMessage,
	"results[].output":                                       MaxCellText,
	"results[].errorMessage":                                 MaxCellText,
	"comparisonResult.diffs[].expected":                      MaxCellText,
	"comparisonResult.diffs[].actual":                        MaxCellText,
	"comparisonResult.diffs[].diff":                          MaxCellText,
	"buildStatus.message":                                    MaxMessage,
	"buildStatus.imageReference":                             MaxImageReference,
	"artifact.reference":                                     MaxImageReference,
	"artifact.message":                                       MaxMessage,
	"reuseKey.notebook":                                      MaxMessage,
	"reuseKey.golden":                                        MaxMessage,
	"reuseKey.image":                                         MaxImageReference,
	"reuseKey.runner":                                        MaxImageReference,
	"reusedRun.artifactReference":                            MaxImageReference,
	"buildStatus.recommendedImage":                           MaxImageReference,
	"buildStatus.availableImages[].imageRef":                 MaxImageReference,
	"buildStatus.availableImages[].description":              MaxCellText,
	"gitOpsHooks.message":                                    MaxMessage,
	"gitOpsHooks.triggers[].target":                          MaxTarget,
	"gitOpsHooks.triggers[].message":                         MaxCellText,
	"modelValidationResult.message":                          MaxMessage,
	"modelValidationResult.cleanEnvironmentCheck.message":    MaxMessage,
	"modelValidationResult.existingEnvironmentCheck.message": MaxMessage,
	"modelValidationResult.existingEnvironmentCheck.modelsChecked[].message":             MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.message":        MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.actualOutput":   MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.expectedOutput": MaxCellText,
	"modelValidationResult.existingEnvironmentCheck.predictionValidation.difference":     MaxCellText,
	"educationalFeedback[].message":     MaxCellText,
	"educationalFeedback[].suggestion":  MaxCellText,
	"educationalFeedback[].codeExample": MaxCellText,
}

// listLimits are the bounds of the status's lists by JSON path; any other list gets
// MaxListEntries.
var listLimits = map[string]int{
	"results":                MaxResults,
	"comparisonResult.diffs": MaxDiffs,
	"gitOpsHooks.triggers":   MaxTriggers,
}

// Status cleans and bounds, in place, every string of st at any depth, and bounds every list:
// each by its limit in textLimits and listLimits, MaxReason and MaxListEntries otherwise.
// Every status the functions write goes through it, whoever filled it (a runner summary, a
// build log, the GitOps hooks, the previous operator's compatibility fields).
func Status(st *v1alpha1.NotebookValidationJobStatus) {
	walk(reflect.ValueOf(st).Elem(), "")
}

// TextLimit is the bound Status applies to the string at path (JSON names, "[]" for a list
// entry, e.g. "results[].output").
func TextLimit(path string) int {
	if n, ok := textLimits[path]; ok {
		return n
	}
	return MaxReason
}

// ListLimit is the bound Status applies to the number of entries of the list at path.
func ListLimit(path string) int {
	if n, ok := listLimits[path]; ok {
		return n
	}
	return MaxListEntries
}

func walk(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(Clean(v.String(), TextLimit(path)))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem(), path)
		}
	case reflect.Slice:
		if n := ListLimit(path); v.Len() > n && v.CanSet() {
			v.Set(v.Slice(0, n))
		}
		for i := range v.Len() {
			walk(v.Index(i), path+"[]")
		}
	case reflect.Struct:
		forFields(v, path, walk)
	}
}

// forFields calls f on each exported field of the struct v carried by JSON, with its path.
func forFields(v reflect.Value, path string, f func(reflect.Value, string)) {
	for i := range v.NumField() {
		field := v.Type().Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if !field.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = field.Name
		}
		if path != "" {
			name = path + "." + name
		}
		f(v.Field(i), name)
	}
}
