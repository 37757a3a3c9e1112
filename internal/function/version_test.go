package function

import (
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/version"
)

// TestStartupLogNamesTheVersion: the first line a function logs says which release is running,
// so a log search can tell the versions of a rollout apart.
func TestStartupLogNamesTheVersion(t *testing.T) {
	r := start(t, Config{}, testHandler)
	// The line is written just after Serve starts, which may be after /readyz first answered.
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range r.logs.lines(t) {
			if l["msg"] != "function serving" {
				continue
			}
			if l["version"] != version.String() || l["service"] != "job-created" {
				t.Errorf("startup line has version %v service %v, want %q job-created", l["version"], l["service"], version.String())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no startup line; logged: %v", r.logs.lines(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
