package gitops

// Annotations the existing operator reads and writes on a job.
const (
	// AnnotationSyncWave marks a job Argo CD syncs in a wave; only such jobs get the wave
	// annotations below when they end.
	AnnotationSyncWave = "argocd.argoproj.io/sync-wave"
	// AnnotationWaveComplete and AnnotationWaveFailed carry the job's wave once it succeeded
	// or failed (one of the two; the other is removed).
	AnnotationWaveComplete = "mlops.dev/wave-complete"
	AnnotationWaveFailed   = "mlops.dev/wave-failed"
	// AnnotationCompletionTime is the job's completion time (RFC 3339), set with the above.
	AnnotationCompletionTime = "mlops.dev/completion-time"
	// AnnotationOnSuccessTrigger is a YAML list of triggers run once the job succeeded.
	AnnotationOnSuccessTrigger = "mlops.dev/on-success-trigger"
)
