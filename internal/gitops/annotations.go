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
	// AnnotationTriggerNamespaces, on an Argo CD Application, lists (comma-separated) the
	// namespaces whose jobs may ask it to refresh; an Application without it is never
	// triggered. The opt-in RBAC grants patch on every Application of Argo CD's namespace, so
	// the Application's owner, not the job's author, decides who may trigger it.
	AnnotationTriggerNamespaces = "mlops.mlops.dev/trigger-namespaces"
)
