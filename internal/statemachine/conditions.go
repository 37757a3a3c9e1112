package statemachine

import (
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxConditionMessage is metav1.Condition's schema limit; a longer message would make the
// API server reject every status write of the job.
const maxConditionMessage = 32768

// setCondition sets a condition with meta.SetStatusCondition semantics: LastTransitionTime
// (obs.Now) only moves when the condition's status changes.
func (t *transition) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&t.st.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, maxConditionMessage),
		ObservedGeneration: t.job.Generation,
		LastTransitionTime: t.obs.Now,
	})
}

// truncate cuts s to at most limit bytes without splitting a UTF-8 sequence.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	// s[limit] is the first byte dropped: cutting before a rune start never splits a rune.
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit]
}
