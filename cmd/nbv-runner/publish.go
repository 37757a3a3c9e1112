package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mlops-dev/nbv/internal/artifact"
	"github.com/mlops-dev/nbv/internal/artifact/result"
)

// publish is the validation pod's publish container (a sidecar: an init container with
// restartPolicy Always). It is the only container that mounts the registry credential. It
// waits for SIGTERM, which the kubelet sends once the notebook container has ended, then
// pushes the files the runner left in --output-dir as one OCI artifact to --ref and writes
// the reference by digest (or why there is none) to --termination-log. It always exits 0:
// the record is not the verdict.
func publish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outDir := fs.String("output-dir", "", "the runner's output `dir` (read only)")
	ref := fs.String("ref", "", "push to this `reference` (registry/repository:tag)")
	dockerConfig := fs.String("docker-config", "", "`dir` holding config.json with the registry login (a kubernetes.io/dockerconfigjson Secret); empty: anonymous")
	insecure := fs.Bool("insecure", false, "reach the registry over plain HTTP")
	wait := fs.Bool("wait", true, "wait for SIGTERM (the notebook container ended) before pushing")
	timeout := fs.Duration("timeout", 25*time.Second, "give up pushing after `d` (keep it under the pod's terminationGracePeriodSeconds)")
	termLog := fs.String("termination-log", defaultTerminationLog, "write the result here")
	var annotations dirList
	fs.Var(&annotations, "annotation", "manifest annotation `key=value` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *outDir == "" || *ref == "" {
		fmt.Fprintln(stderr, "nbv-runner publish: --output-dir and --ref are required")
		return 2
	}
	if *wait {
		fmt.Fprintf(stdout, "waiting for the notebook container to end before pushing %s to %s\n", *outDir, *ref)
		<-ctx.Done()
	}
	o := artifact.Options{Insecure: *insecure, Annotations: map[string]string{}}
	for _, a := range annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "nbv-runner publish: --annotation %q is not key=value\n", a)
			return 2
		}
		o.Annotations[k] = v
	}
	if *dockerConfig != "" {
		o.Keychain = artifact.DockerConfigKeychain(*dockerConfig)
	}
	pctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	res := result.Result{ArtifactType: artifact.ArtifactType}
	p, err := artifact.Push(pctx, *outDir, *ref, o)
	if err != nil {
		res.Message = "pushing the run's record to " + *ref + " failed: " + err.Error()
		if errors.Is(err, artifact.ErrNothingToPush) {
			res.Message = "the run left nothing to push (" + err.Error() + ")"
		}
		fmt.Fprintln(stderr, "nbv-runner publish:", res.Message)
	} else {
		res.Reference, res.Files = p.Reference, p.Files
		fmt.Fprintf(stdout, "pushed %v as %s in %s\n", p.Files, p.Reference, time.Since(start).Round(time.Millisecond))
	}
	if *termLog != "" {
		if err := os.WriteFile(*termLog, res.Encode(), 0o644); err != nil {
			fmt.Fprintln(stderr, "nbv-runner publish:", err)
		}
	}
	return 0
}
