package sweep

import (
	"context"
	"log/slog"
	"time"

	"github.com/mlops-dev/nbv/internal/jobstore"
)

// hooksGrace leaves a just-finished job's hooks to job-created, which the terminal write's
// event wakes: performing them twice is harmless, but an Argo CD Application refreshed in
// between would be asked to refresh again.
const hooksGrace = time.Minute

// performHooks performs the pending GitOps hooks of at most MaxJobs finished jobs of
// namespaces, those that ended at least hooksGrace ago, and says how many it recorded.
// Failures are logged: the job stays Pending and the next ping tries again.
func (s *Sweeper) performHooks(ctx context.Context, namespaces []string, log *slog.Logger) int {
	if s.opts.Hooks == nil || ctx.Err() != nil {
		return 0
	}
	jobs, _, err := s.list(ctx, namespaces, jobstore.HooksPending, s.opts.MaxJobs)
	if err != nil {
		log.Warn("sweep: listing jobs with pending gitops hooks failed", "error", err)
		return 0
	}
	done := 0
	for i := range jobs {
		job := &jobs[i]
		if ended := job.Status.CompletionTime; ended != nil && s.now().Sub(ended.Time) < hooksGrace {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		ok, err := s.opts.Hooks.Run(ctx, nil, job.Namespace, job.Name)
		if err != nil {
			log.Warn("sweep: gitops hooks failed; the next ping tries again", "job.namespace", job.Namespace, "job.name", job.Name, "error", err)
		}
		if ok {
			done++
		}
	}
	return done
}
