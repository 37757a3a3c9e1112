// Package gitops owns what the existing operator did for GitOps tools when a job ends, as pure
// decisions: the notification Event every finished job gets (reasons ValidationSucceeded /
// ValidationFailed, label mlops.dev/notification-type, which Argo CD notification rules
// match), and, for jobs that ask for them by annotation, the Argo CD sync-wave annotations on
// the job and the on-success triggers (restart a Deployment or InferenceService through its
// pod template's restartedAt annotation, refresh or sync an Argo CD Application through its
// refresh annotation).
//
// Every value written is derived from the job's recorded status (its completion time), never
// from a clock, so performing a hook twice writes the same thing: duplicate events cannot make
// a second rollout or a second notification.
package gitops
