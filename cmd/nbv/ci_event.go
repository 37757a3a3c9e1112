package main

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/mlops-dev/nbv/internal/externalci"
)

func init() {
	commands["ci-event"] = command{summary: "report an external CI build of a job's image (signed CloudEvent)", run: ciEvent}
}

// ciEventTimeout bounds the whole POST, so a CI step cannot hang on an unreachable route.
const ciEventTimeout = 30 * time.Second

// ciEvent is `nbv ci-event`; externalci.Command does the work (and prints its errors), so the
// integration tests run the same code against the route.
func ciEvent(ctx context.Context, args []string) error {
	if code := externalci.Command(ctx, args, os.Stdout, os.Stderr, time.Now, &http.Client{Timeout: ciEventTimeout}); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
