package statustext

import (
	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Status cleans and bounds, in place, every text of st that the functions write: the message,
// the conditions' messages, the build's message and reason, the per-cell results and the
// golden comparison's diffs (see the limits above), and the model validation result's
// messages (they quote spec.modelValidation.targetModels). educationalFeedback, kept only for
// compatibility with the previous operator, is not written here and is left as it is.
func Status(st *v1alpha1.NotebookValidationJobStatus) {
	st.Message = Clean(st.Message, MaxMessage)
	if m := st.ModelValidationResult; m != nil {
		m.Message = Clean(m.Message, MaxMessage)
		if e := m.ExistingEnvironmentCheck; e != nil {
			e.Message = Clean(e.Message, MaxMessage)
			for i := range e.ModelsChecked {
				e.ModelsChecked[i].ModelName = Clean(e.ModelsChecked[i].ModelName, MaxReason)
				e.ModelsChecked[i].Message = Clean(e.ModelsChecked[i].Message, MaxCellText)
			}
		}
	}
	for i := range st.Conditions {
		st.Conditions[i].Message = Clean(st.Conditions[i].Message, MaxConditionMessage)
	}
	if b := st.BuildStatus; b != nil {
		b.Message = Clean(b.Message, MaxMessage)
		b.Reason = Clean(b.Reason, MaxReason)
	}
	st.Results = results(st.Results)
	if c := st.ComparisonResult; c != nil {
		if len(c.Diffs) > MaxDiffs {
			c.Diffs = c.Diffs[:MaxDiffs]
		}
		for i := range c.Diffs {
			d := &c.Diffs[i]
			d.Expected = Clean(d.Expected, MaxCellText)
			d.Actual = Clean(d.Actual, MaxCellText)
			d.Diff = Clean(d.Diff, MaxCellText)
		}
	}
}

// results bounds the number of per-cell results and cleans each one's texts, in place.
func results(rs []v1alpha1.CellResult) []v1alpha1.CellResult {
	if len(rs) > MaxResults {
		rs = rs[:MaxResults]
	}
	for i := range rs {
		rs[i].ErrorMessage = Clean(rs[i].ErrorMessage, MaxCellText)
		rs[i].Output = Clean(rs[i].Output, MaxCellText)
	}
	return rs
}
