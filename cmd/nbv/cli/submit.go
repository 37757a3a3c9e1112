package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// submitFlags are `nbv submit`'s settings.
type submitFlags struct {
	files     []string
	noWait    bool
	watch     bool
	timeout   time.Duration
	hintAfter time.Duration
}

func newSubmitCommand() *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit -f FILE [-f FILE ...]",
		Short: "create NotebookValidationJobs from manifests and follow them to their result",
		Long: `Create the NotebookValidationJobs of the manifests (YAML or JSON; several YAML documents per
file; -f - reads stdin) and follow them with a watch, printing each phase, then the result: each
cell, the failing cell's traceback end and the golden differences.

Every document is decoded strictly before anything is created: an unknown field, a value of the
wrong type or a document that is not a NotebookValidationJob is refused naming the document and
the field path (spec.notebook.gitt), and no job is created.

The namespace is -n when given, else the manifest's, else the kubeconfig context's.

` + exitCodesHelp,
		Example: `  nbv submit -f job.yaml -n team-a
  kubectl kustomize jobs/ | nbv submit -f - --timeout 20m
  nbv submit -f job.yaml --no-wait -o yaml`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&f.files, "filename", "f", nil, "manifest file, or - for stdin (repeatable)")
	fs.BoolVar(&f.noWait, "no-wait", false, "create the jobs and exit without following them")
	fs.BoolVarP(&f.watch, "watch", "w", true, "follow the jobs until they finish; --watch=false, like --no-wait, only creates them")
	fs.DurationVar(&f.timeout, "timeout", 45*time.Minute, "give up following when a job has not finished by then (exit 2)")
	fs.DurationVar(&f.hintAfter, "hint-after", defaultHintAfter, "when a job has no phase after this long, check its namespace's opt-in and say what is missing")
	cluster := newClusterFlags(fs)
	output := newOutputFlag(fs, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := output.check(); err != nil {
			return err
		}
		if len(f.files) == 0 {
			return usagef("-f FILE is required (- reads stdin)")
		}
		jobs, err := readJobs(f.files, cmd.InOrStdin())
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		cfg, err := cluster.restConfig()
		if err != nil {
			return err
		}
		// With -o json|yaml stdout carries only the jobs; progress goes to stderr.
		progress := cmd.OutOrStdout()
		if output.structured() {
			progress = cmd.ErrOrStderr()
		}
		var created []*unstructured.Unstructured
		for _, job := range jobs {
			namespace, err := cluster.namespace(job.GetNamespace())
			if err != nil {
				return err
			}
			job.SetNamespace(namespace)
			obj, err := createJob(cmd.Context(), cfg, job)
			if err != nil {
				return err
			}
			fmt.Fprintf(progress, "created NotebookValidationJob %s/%s\n", obj.GetNamespace(), obj.GetName())
			created = append(created, obj)
		}
		if f.noWait || !f.watch {
			return printJobs(cmd.OutOrStdout(), output, created)
		}
		follow, err := newFollower(cfg, progress, f.timeout)
		if err != nil {
			return err
		}
		follow.hintAfter = f.hintAfter
		code := ExitSucceeded
		var finished []*unstructured.Unstructured
		for _, obj := range created {
			if len(created) > 1 {
				fmt.Fprintf(progress, "\nfollowing %s/%s\n", obj.GetNamespace(), obj.GetName())
			}
			final, err := follow.follow(cmd.Context(), obj.GetNamespace(), obj.GetName())
			if err != nil {
				return err
			}
			if err := printResult(progress, final); err != nil {
				return err
			}
			if phase, _, _ := unstructured.NestedString(final.Object, "status", "phase"); phase != v1alpha1.PhaseSucceeded {
				code = ExitFailed
			}
			finished = append(finished, final)
		}
		if err := printJobs(cmd.OutOrStdout(), output, finished); err != nil {
			return err
		}
		if code != ExitSucceeded {
			return &ExitError{Code: code}
		}
		return nil
	}
	return cmd
}

// printJobs writes the jobs with -o json|yaml: one object for one job, a List for several.
func printJobs(w io.Writer, output *outputFlag, jobs []*unstructured.Unstructured) error {
	if !output.structured() {
		return nil
	}
	if len(jobs) == 1 {
		return output.printObject(w, jobs[0].Object)
	}
	items := make([]any, len(jobs))
	for i, j := range jobs {
		items[i] = j.Object
	}
	return output.printObject(w, map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}
