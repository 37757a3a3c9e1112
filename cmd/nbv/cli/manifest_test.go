package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const jobYAML = `apiVersion: mlops.mlops.dev/v1alpha1
kind: NotebookValidationJob
metadata:
  name: %s
spec:
  notebook:
    git:
      url: https://github.com/example/notebooks.git
    path: nb.ipynb
  podConfig:
    containerImage: python:3.12
`

func job(name string) string { return strings.Replace(jobYAML, "%s", name, 1) }

// Each document of a file is a job; JSON is read too; stdin is "-".
func TestReadJobsMultiDocument(t *testing.T) {
	dir := t.TempDir()
	multi := filepath.Join(dir, "jobs.yaml")
	if err := os.WriteFile(multi, []byte("# two jobs\n---\n"+job("a")+"---\n# nothing here\n---\n"+job("b")), 0o600); err != nil {
		t.Fatal(err)
	}
	asJSON := filepath.Join(dir, "c.json")
	if err := os.WriteFile(asJSON, []byte(`{"apiVersion": "mlops.mlops.dev/v1alpha1", "kind": "NotebookValidationJob", "metadata": {"name": "c", "namespace": "team"},
	  "spec": {"notebook": {"git": {"url": "https://x/r.git"}, "path": "n.ipynb"}, "podConfig": {"containerImage": "i"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs, err := readJobs([]string{multi, asJSON, "-"}, strings.NewReader(job("d")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.GetNamespace()+"/"+j.GetName())
	}
	// What is sent is what the manifest wrote: no zero values of the Go types added.
	if _, found, _ := unstructured.NestedFieldNoCopy(jobs[0].Object, "spec", "notebook", "git", "ref"); found {
		t.Errorf("the job gained spec.notebook.git.ref: %v", jobs[0].Object)
	}
	if got := strings.Join(names, " "); got != "/a /b team/c /d" {
		t.Errorf("jobs %s, want /a /b team/c /d", got)
	}
}

// What an attacker or a typo sends is refused before anything reaches the cluster, each
// problem naming the file, the document and the field path.
func TestReadJobsRefusesWithFieldPaths(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		want           []string
	}{
		{"unknown nested field", strings.Replace(job("a"), "    git:", "    gitt:", 1), []string{"stdin, document 1", `unknown field "spec.notebook.gitt"`}},
		{"second document is not a job", job("a") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
			[]string{"stdin, document 2", `is a v1 "ConfigMap", want apiVersion mlops.mlops.dev/v1alpha1 kind NotebookValidationJob`}},
		{"both documents wrong", job("a") + "  timout: 10m\n---\n" + strings.Replace(job("b"), "path: nb.ipynb", "path: [1]", 1),
			[]string{`stdin, document 1: unknown field "spec.timout"`, "stdin, document 2", "spec.notebook.path"}},
		{"duplicate field", job("a") + "  podConfig:\n    containerImage: evil\n", []string{"document 1", "podConfig"}},
		{"not YAML", "apiVersion: [\n", []string{"stdin, document 1: not YAML or JSON"}},
		{"a list, not an object", "- a\n- b\n", []string{"stdin, document 1: not an object"}},
		{"no kind", "metadata:\n  name: a\n", []string{`is a (no apiVersion) ""`}},
		{"empty", "# only a comment\n", []string{"no NotebookValidationJob in it"}},
		{"metadata with an unknown field", strings.Replace(job("a"), "  name: a", "  name: a\n  nmespace: x", 1), []string{`unknown field "metadata.nmespace"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := readJobs([]string{"-"}, strings.NewReader(tc.manifest))
			if err == nil {
				t.Fatalf("accepted %d jobs", len(jobs))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// submit refuses a bad manifest with exit 2 before it looks for a cluster.
func TestSubmitRefusesBadManifestBeforeTheCluster(t *testing.T) {
	bad := strings.Replace(job("a"), "    git:", "    gitt:", 1)
	code, stdout, stderr := runCLIWithInput(context.Background(), bad, "submit", "-f", "-", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	if code != ExitUsage || !strings.Contains(stderr, "spec.notebook.gitt") || strings.Contains(stderr, "kubeconfig") || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming spec.notebook.gitt", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(context.Background(), "submit", "-f", filepath.Join(t.TempDir(), "missing.yaml")); code != ExitUsage || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}
