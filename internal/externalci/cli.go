package externalci

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/mlops-dev/nbv/internal/events"
)

// Command is `nbv ci-event ARGS`: it builds the build-report CloudEvent, signs it with the
// namespace's key, posts it with client and prints the route's answer on stdout. Every run
// sends a new event (new id and timestamp), so a CI retry is never refused as a replay. It
// returns the exit status: 0 accepted, 1 refused or failed by the route (its message on
// stderr), 2 usage or local errors (also on stderr).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time, client *http.Client) int {
	err := command(ctx, args, stdout, stderr, now, client)
	var ec *exitCode
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintf(stderr, "nbv ci-event: %v\n", ec.err)
		}
		return ec.code
	}
	return 0
}

// exitCode is a failure of command with the exit status it means.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string { return fmt.Sprintf("exit %d: %v", e.code, e.err) }

func command(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time, client *http.Client) error {
	fs := flag.NewFlagSet("ci-event", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: nbv ci-event --url URL --namespace NS --job NAME --status succeeded|failed [--image IMG --digest D] [--message M] --key-file F [--source S] [--host NAME]")
		fs.PrintDefaults()
	}
	target := fs.String("url", "", "build-status-changed `URL`; without a path, "+Path+" is appended")
	ns := fs.String("namespace", "", "the job's `namespace`")
	job := fs.String("job", "", "the job's `name`")
	status := fs.String("status", "", "build result: succeeded or failed")
	image := fs.String("image", "", "image reference built (required when succeeded)")
	digest := fs.String("digest", "", "image digest, e.g. sha256:..., pins the image")
	message := fs.String("message", "", "human-readable build outcome")
	keyFile := fs.String("key-file", "", "`file` holding the namespace's signing key (Secret nbv-ci-webhook, key hmac-key)")
	source := fs.String("source", "/nbv/ci-event", "CloudEvent source naming the CI system")
	buildID := fs.String("build-id", "", "CI build identifier (default: the event id)")
	buildURL := fs.String("build-url", "", "link to the CI build")
	mode := fs.String("mode", Structured, "content mode: structured or binary")
	host := fs.String("host", "", "`name` to send as the Host header, when --url names an address and an ingress routes by host name (as curl -H 'Host: ...')")
	if err := fs.Parse(args); err != nil {
		return &exitCode{code: 2}
	}
	usage := func(err error) error {
		fs.Usage()
		return &exitCode{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, f := range []struct{ name, value string }{{"url", *target}, {"namespace", *ns}, {"job", *job}, {"status", *status}, {"key-file", *keyFile}} {
		if f.value == "" {
			return usage(fmt.Errorf("--%s is required", f.name))
		}
	}
	if *status != events.BuildSucceeded && *status != events.BuildFailed {
		return usage(fmt.Errorf("--status %q: want %s or %s", *status, events.BuildSucceeded, events.BuildFailed))
	}
	endpoint, err := routeURL(*target)
	if err != nil {
		return usage(err)
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return &exitCode{code: 2, err: fmt.Errorf("signing key: %w", err)}
	}
	// Secrets are often written with a trailing newline; the key is the Secret's bytes.
	key = bytes.TrimRight(key, "\r\n")
	if len(key) == 0 {
		return &exitCode{code: 2, err: fmt.Errorf("signing key file %s is empty", *keyFile)}
	}

	t := now()
	id := uuid.NewString()
	if *buildID == "" {
		*buildID = id
	}
	report := events.BuildReport{Namespace: *ns, Job: *job, Status: *status, Image: *image, Digest: *digest,
		Message: *message, BuildID: *buildID, URL: *buildURL, Timestamp: t.UTC()}
	ev, err := NewEvent(report, *source, id, t)
	if err != nil {
		return &exitCode{code: 2, err: err}
	}
	req, err := NewRequest(ctx, endpoint, ev, *mode, key, t)
	if err != nil {
		return &exitCode{code: 2, err: err}
	}
	if *host != "" {
		req.Host = *host
	}
	answer, err := Send(client, req)
	var rejected *RejectedError
	switch {
	case errors.As(err, &rejected):
		return &exitCode{code: 1, err: fmt.Errorf("event %s refused: %w", id, err)}
	case err != nil:
		return &exitCode{code: 1, err: err}
	}
	fmt.Fprintf(stdout, "event %s accepted: %s\n", id, answer)
	return nil
}

// routeURL is target with the route's path when target names only the function.
func routeURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q: want an http(s) URL", target)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = Path
	}
	return u.String(), nil
}
