package jobcreated

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/transition"
)

// A finished job reaches the hooks only when its own object says they are pending; any other
// finished job costs no request, with hooks configured or not.
func TestOnlyPendingHooksCostARead(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r) // the job is gone: nothing to do
	}))
	defer srv.Close()
	store, err := jobstore.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	h := HandlerWithHooks(&transition.Executor{Store: store}, &gitopshooks.Runner{Store: store})
	for _, c := range []struct {
		status map[string]any
		reads  int64
	}{
		{map[string]any{"phase": v1alpha1.PhaseSucceeded}, 0},
		{map[string]any{"phase": v1alpha1.PhaseFailed, "gitOpsHooks": map[string]any{"state": v1alpha1.GitOpsHooksDone}}, 0},
		{map[string]any{"phase": v1alpha1.PhaseSucceeded, "gitOpsHooks": map[string]any{"state": v1alpha1.GitOpsHooksPending}}, 1},
		{map[string]any{"phase": v1alpha1.PhaseFailed, "gitOpsHooks": map[string]any{"state": v1alpha1.GitOpsHooksPending}}, 1},
	} {
		before := requests.Load()
		reply, err := h(context.Background(), jobEvent(c.status))
		if err != nil || reply != nil {
			t.Errorf("%v: reply %v error %v, want nothing to answer", c.status, reply, err)
		}
		if got := requests.Load() - before; got != c.reads {
			t.Errorf("%v: %d requests, want %d", c.status, got, c.reads)
		}
	}
}
