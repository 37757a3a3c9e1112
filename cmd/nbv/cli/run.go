package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/artifact"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/hostkubelet"
	"github.com/mlops-dev/nbv/internal/local/localregistry"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// runFlags are `nbv run`'s settings.
type runFlags struct {
	notebook, golden, runner, functionsDir, workDir, namespace string
	registry, reportDir                                        string
	keep, verbose                                              bool
	timeout, idle                                              time.Duration
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "start the local embedded stack and validate a notebook end to end",
		Long: `Start a real control plane (etcd + kube-apiserver), the functions, Knative's ApiServerSource
adapters, the broker and a host kubelet; commit the notebook (and golden) into a local git
repository; create a NotebookValidationJob for it; and follow it with a watch until it finishes,
printing the failing cell's traceback end and the golden differences.

` + exitCodesHelp,
		Example: `  nbv run --runner bin/nbv-runner
  nbv run --notebook my.ipynb --golden my.golden.ipynb --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLocal(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.notebook, "notebook", "test/fixtures/notebooks/compute.ipynb", "notebook to validate")
	fs.StringVar(&f.golden, "golden", "test/fixtures/notebooks/compute.golden.ipynb", "golden notebook to compare with (empty: none)")
	fs.StringVar(&f.runner, "runner", "bin/nbv-runner", "host path of a built nbv-runner (make build)")
	fs.StringVar(&f.functionsDir, "functions-dir", "bin", "directory holding the function binaries (make build)")
	fs.DurationVar(&f.idle, "idle", localstack.DefaultIdle, "stop a function instance once it has served nothing for this long (scale to zero)")
	fs.StringVar(&f.workDir, "work-dir", "", "where pods' files go (empty: a temporary directory)")
	fs.StringVarP(&f.namespace, "namespace", "n", "nbv-demo", "namespace of the job")
	fs.BoolVar(&f.keep, "keep", false, "keep the stack running after the job finishes (Ctrl-C stops it); kubectl works against the printed kubeconfig")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log the functions' work and each instance's start (with its cold start) and stop, the broker's and the kubelet's")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up when the job has not finished by then")
	fs.StringVar(&f.registry, "registry", localregistry.Binary(), "the Distribution registry binary (make registry) run on loopback as the installer's registry for run records; empty: no records")
	fs.StringVar(&f.reportDir, "report-dir", "", "also fetch the run's record (nbv report) into `DIR` before the stack stops")
	return cmd
}

// runLocal starts a real control plane, the functions, Knative's ApiServerSource adapters, the
// broker and a host kubelet; commits the notebook (and golden) into a local git repository;
// creates a NotebookValidationJob for it; and follows the job's phase until it finishes.
func runLocal(ctx context.Context, out, stderr io.Writer, f runFlags) error {
	runner, err := filepath.Abs(f.runner)
	if err != nil {
		return err
	}
	if _, err := os.Stat(runner); err != nil {
		return fmt.Errorf("nbv-runner binary: %w (build it with `make build`, or pass --runner)", err)
	}
	root, err := controlplane.FindRepoRoot(".")
	if err != nil {
		return err
	}
	functionsDir, err := filepath.Abs(f.functionsDir)
	if err != nil {
		return err
	}
	work := f.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "nbv-run-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	log := slog.New(slog.DiscardHandler)
	var functionOutput io.Writer
	if f.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
		functionOutput = stderr
	} else {
		// client-go's reflectors report their watches ending at shutdown through klog.
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
	}

	step := stage(out, "starting the control plane (etcd + kube-apiserver)")
	cp, err := controlplane.Start(ctx, controlplane.Options{RepoRoot: root})
	if err != nil {
		return err
	}
	defer cp.Stop()
	step()
	cfg := cp.RESTConfig()
	if err := cp.EnsureNamespace(ctx, f.namespace); err != nil {
		return err
	}

	var reg *localregistry.Registry
	if f.registry != "" {
		if _, err := os.Stat(f.registry); err != nil {
			fmt.Fprintf(stderr, "nbv run: no registry at %s (make registry): the run's record is not kept\n", f.registry)
		} else {
			step = stage(out, "starting the registry for run records (Distribution v3 on loopback)")
			if reg, err = localregistry.Start(ctx, f.registry, mkdir(filepath.Join(work, "registry"))); err != nil {
				return err
			}
			defer reg.Stop()
			// What an installer does: name the registry, hand the namespace its push login.
			if err := reg.Install(ctx, cfg, f.namespace); err != nil {
				return err
			}
			step()
		}
	}

	step = stage(out, "starting the broker, Knative's ApiServerSource adapters and the functions' activators")
	stack, err := localstack.Start(ctx, localstack.Options{Config: cfg, RepoRoot: root, Namespace: f.namespace,
		FunctionsDir: functionsDir, Idle: f.idle, FunctionOutput: functionOutput,
		Pod: validationpod.Options{RunnerImage: "nbv-runner (host binary " + runner + ")"}, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := stack.Stop(stopCtx); err != nil {
			fmt.Fprintln(stderr, "nbv run: stopping the stack:", err)
		}
	}()
	kubeletCtx, stopKubelet := context.WithCancel(context.WithoutCancel(ctx))
	kubeletDone := make(chan error, 1)
	go func() {
		kubeletDone <- hostkubelet.New(cfg, hostkubelet.Options{RunnerBinary: runner, WorkDir: filepath.Join(work, "pods"), Namespace: f.namespace, Log: log}).Run(kubeletCtx)
	}()
	defer func() {
		stopKubelet()
		if err := <-kubeletDone; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "nbv run: host kubelet:", err)
		}
	}()
	step()

	repo, branch, err := demoRepository(filepath.Join(work, "repo"), f.notebook, f.golden)
	if err != nil {
		return err
	}
	before := countProcesses(stack)
	peak := watchPeak(stack)
	job, err := createDemoJob(ctx, cfg, f.namespace, repo, branch, f.golden != "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created NotebookValidationJob %s/%s for %s\n", f.namespace, job, repo)
	fmt.Fprintf(out, "kubectl --kubeconfig %s -n %s get nvj -w\n\n", cp.KubeconfigPath(), f.namespace)

	follow, err := newFollower(cfg, out, f.timeout)
	if err != nil {
		return err
	}
	final, err := follow.follow(ctx, f.namespace, job)
	if err != nil {
		return err
	}
	if err := printResult(out, final); err != nil {
		return err
	}
	if reg != nil {
		if err := printRecord(ctx, out, final, reg, work, cp.KubeconfigPath(), f.reportDir, f.keep); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nfunction processes: %d before the job, at most %d during it, %d when it ended\n", before, peak(), countProcesses(stack))
	if f.keep {
		fmt.Fprintf(out, "the stack keeps running (Ctrl-C stops it); idle function instances stop after %s\n", f.idle)
		reportIdle(ctx, out, stack, f.idle)
		<-ctx.Done()
	}
	if phase, _, _ := unstructured.NestedString(final.Object, "status", "phase"); phase != v1alpha1.PhaseSucceeded {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func stage(out io.Writer, what string) func() {
	start := time.Now()
	fmt.Fprintf(out, "%s ... ", what)
	return func() { fmt.Fprintf(out, "ready in %s\n", time.Since(start).Round(10*time.Millisecond)) }
}

// demoRepository commits the notebook as notebook.ipynb (and the golden as golden.ipynb) into
// a new git repository at dir and returns its file:// URL and branch.
func demoRepository(dir, notebook, golden string) (url, branch string, err error) {
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return "", "", fmt.Errorf("create demo repository: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", "", err
	}
	files := map[string]string{"notebook.ipynb": notebook}
	if golden != "" {
		files["golden.ipynb"] = golden
	}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", "", fmt.Errorf("read %s: %w", src, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", "", err
		}
		if _, err := wt.Add(name); err != nil {
			return "", "", err
		}
	}
	sig := &object.Signature{Name: "nbv run", Email: "nbv@localhost", When: time.Now()}
	if _, err := wt.Commit("notebooks to validate", &git.CommitOptions{Author: sig}); err != nil {
		return "", "", fmt.Errorf("commit demo repository: %w", err)
	}
	head, err := repo.Head()
	if err != nil {
		return "", "", err
	}
	return "file://" + dir, head.Name().Short(), nil
}

func createDemoJob(ctx context.Context, cfg *rest.Config, namespace, repoURL, ref string, withGolden bool) (string, error) {
	job := &v1alpha1.NotebookValidationJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "demo-", Namespace: namespace},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: ref}, Path: "notebook.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "host-python3"},
			Timeout:   "5m",
			Execution: &v1alpha1.ExecutionSpec{CellTimeout: "1m"},
		},
	}
	if withGolden {
		job.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{Git: job.Spec.Notebook.Git, Path: "golden.ipynb"}
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		return "", err
	}
	created, err := createJob(ctx, cfg, &unstructured.Unstructured{Object: obj})
	if err != nil {
		return "", err
	}
	return created.GetName(), nil
}

func mkdir(dir string) string {
	_ = os.MkdirAll(dir, 0o700)
	return dir
}

// printRecord says where the run's record went and how to fetch it, and fetches it into
// reportDir when asked (the local registry stops with the stack).
func printRecord(ctx context.Context, out io.Writer, job *unstructured.Unstructured, reg *localregistry.Registry, work, kubeconfig, reportDir string, keep bool) error {
	ref, err := jobArtifact(job)
	if err != nil {
		fmt.Fprintf(out, "\nrecord: %v\n", err)
		return nil
	}
	files, _, _ := unstructured.NestedStringSlice(job.Object, "status", "artifact", "files")
	login := mkdir(filepath.Join(work, "registry-login"))
	if err := os.WriteFile(filepath.Join(login, "config.json"), reg.DockerConfig(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nrecord: %s (%s)\n", ref, strings.Join(files, ", "))
	cmd := fmt.Sprintf("nbv report --kubeconfig %s -n %s %s --docker-config %s -o DIR", kubeconfig, job.GetNamespace(), job.GetName(), login)
	if keep {
		fmt.Fprintf(out, "fetch it: %s\n", cmd)
	} else {
		fmt.Fprintf(out, "fetch it while the stack runs (nbv run --keep): %s\n", cmd)
	}
	if reportDir != "" {
		if _, err := fetchReport(ctx, ref, reportDir, artifact.Options{Keychain: artifact.DockerConfigKeychain(login)}, out); err != nil {
			return err
		}
	}
	return nil
}
