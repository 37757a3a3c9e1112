package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func init() {
	commands["submit"] = command{
		summary: "create a NotebookValidationJob from a manifest on a cluster and follow it to its result",
		run:     submit,
	}
}

// submit is for CI scripts: one command that creates the job and exits 0 when it succeeded,
// 1 when it failed, 2 when it could not tell.
func submit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	file := fs.String("f", "", "NotebookValidationJob manifest (YAML or JSON)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	namespace := fs.String("n", "", "namespace (default: the manifest's, then the kubeconfig context's)")
	timeout := fs.Duration("timeout", 45*time.Minute, "give up when the job has not finished by then")
	noWait := fs.Bool("no-wait", false, "create the job and exit")
	if err := fs.Parse(args); err != nil {
		return &ExitError{Code: 2}
	}
	if *file == "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("-f MANIFEST is required")}
	}
	job, err := readJob(*file)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	config := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := config.ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	switch {
	case *namespace != "":
		job.Namespace = *namespace
	case job.Namespace == "":
		if job.Namespace, _, err = config.Namespace(); err != nil {
			return fmt.Errorf("kubeconfig namespace: %w", err)
		}
	}
	name, err := createJob(ctx, cfg, job)
	if err != nil {
		return err
	}
	fmt.Printf("created NotebookValidationJob %s/%s\n", job.Namespace, name)
	if *noWait {
		return nil
	}
	final, err := followJob(ctx, cfg, job.Namespace, name, *timeout)
	if err != nil {
		return err
	}
	printResult(final)
	if final.Status.Phase != v1alpha1.PhaseSucceeded {
		return &ExitError{Code: 1}
	}
	return nil
}

// readJob decodes a manifest strictly: a field the API does not know is an error naming it,
// before anything reaches the cluster.
func readJob(path string) (*v1alpha1.NotebookValidationJob, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not YAML or JSON: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	job := &v1alpha1.NotebookValidationJob{}
	if err := dec.Decode(job); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if job.APIVersion != v1alpha1.SchemeGroupVersion.String() || job.Kind != v1alpha1.Kind {
		return nil, fmt.Errorf("%s is a %s %s, want %s %s", path, job.APIVersion, job.Kind, v1alpha1.SchemeGroupVersion, v1alpha1.Kind)
	}
	job.Status = v1alpha1.NotebookValidationJobStatus{}
	return job, nil
}
