package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/artifact"
)

// reportFlags reach the registry holding a run's record.
type reportFlags struct {
	dockerConfig string
	insecure     bool
}

func (f *reportFlags) options() artifact.Options {
	o := artifact.Options{Insecure: f.insecure}
	if f.dockerConfig != "" {
		o.Keychain = artifact.DockerConfigKeychain(f.dockerConfig)
	}
	return o
}

func newReportCommand() *cobra.Command {
	var out string
	var open bool
	var rf reportFlags
	cmd := &cobra.Command{
		Use:   "report JOB",
		Short: "fetch a job's record (executed notebook, report.html, report.json, junit.xml) from its registry",
		Long: `Fetch the OCI artifact status.artifact.reference names (pushed by the job's validation pod at the
end of its run) and write its files, under their own names, into -o DIR (default: the current
directory), or with --open into a temporary directory and open report.html in the browser.

The registry login is the docker config of --docker-config DIR (DIR/config.json), else
$DOCKER_CONFIG/config.json, else ~/.docker/config.json; it needs pull rights only. The same
artifact is readable with oras pull or crane export.

` + exitCodesHelp,
		Example: `  nbv report my-job -n team-a -o ./my-job
  nbv report my-job --open`,
		Args: exactlyOneJob,
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "output-dir", "o", ".", "write the files into `DIR`")
	fs.BoolVar(&open, "open", false, "open report.html (in a temporary directory unless -o is given)")
	fs.StringVar(&rf.dockerConfig, "docker-config", "", "`DIR` holding config.json with the registry login")
	fs.BoolVar(&rf.insecure, "insecure", false, "reach the registry over plain HTTP (loopback registries always are)")
	cluster := newClusterFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		_, job, err := clusterJob(cmd.Context(), cluster, args[0])
		if err != nil {
			return err
		}
		ref, err := jobArtifact(job)
		if err != nil {
			return err
		}
		dir := out
		if open && !cmd.Flags().Changed("output-dir") {
			if dir, err = os.MkdirTemp("", "nbv-report-"+job.GetName()+"-"); err != nil {
				return err
			}
		}
		paths, err := fetchReport(cmd.Context(), ref, dir, rf.options(), cmd.OutOrStdout())
		if err != nil {
			return err
		}
		if open {
			return openFile(filepath.Join(dir, "report.html"), paths, cmd.ErrOrStderr())
		}
		return nil
	}
	return cmd
}

// jobArtifact is the reference of the job's record, or an error saying why there is none.
func jobArtifact(job *unstructured.Unstructured) (string, error) {
	ref, _, _ := unstructured.NestedString(job.Object, "status", "artifact", "reference")
	if ref != "" {
		return ref, nil
	}
	phase, _, _ := unstructured.NestedString(job.Object, "status", "phase")
	msg, found, _ := unstructured.NestedString(job.Object, "status", "artifact", "message")
	switch {
	case msg != "":
		return "", fmt.Errorf("job %s/%s has no record: %s", job.GetNamespace(), job.GetName(), msg)
	case found:
		return "", fmt.Errorf("job %s/%s has no record", job.GetNamespace(), job.GetName())
	case phase != "Succeeded" && phase != "Failed":
		return "", fmt.Errorf("job %s/%s has not finished (phase %q): its record is pushed when its validation pod ends", job.GetNamespace(), job.GetName(), phase)
	}
	return "", fmt.Errorf("job %s/%s has no status.artifact: the installation names no registry for run records (ConfigMap nbv-system/nbv-artifacts, key repository), or the job ran before it did", job.GetNamespace(), job.GetName())
}

// fetchReport pulls ref into dir and lists what it wrote.
func fetchReport(ctx context.Context, ref, dir string, o artifact.Options, w io.Writer) ([]string, error) {
	paths, err := artifact.Pull(ctx, ref, dir, o)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "fetched %s\n", ref)
	for _, p := range paths {
		fmt.Fprintf(w, "  %s\n", p)
	}
	return paths, nil
}

// openFile opens path with the desktop's opener, or says where it is when there is none.
func openFile(path string, fetched []string, stderr io.Writer) error {
	found := false
	for _, p := range fetched {
		found = found || filepath.Base(p) == filepath.Base(path)
	}
	if !found {
		return errors.New("the record holds no report.html (the run stopped before writing it)")
	}
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if _, err := exec.LookPath(opener); err != nil {
		fmt.Fprintf(stderr, "no %s here to open it: open %s yourself\n", opener, path)
		return nil
	}
	return exec.Command(opener, path).Start()
}
