//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/realcluster"
)

// TestPodNetworkAndExec: a pod in the notebook image, pulled by the node's containerd from the
// cluster's registry over plain HTTP, resolves a Service name through the
// cluster DNS, reaches the API server through the kubernetes Service (kube-proxy's rules),
// and kubectl exec runs a command in it (the API server reaches the kubelet at the node's
// address).
func TestPodNetworkAndExec(t *testing.T) {
	if _, err := kubectl(t, "", "create", "namespace", "e2e-node"); err != nil {
		t.Fatal(err)
	}
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: shell
  namespace: e2e-node
spec:
  automountServiceAccountToken: false
  securityContext: {runAsUser: 1000, runAsNonRoot: true}
  containers:
    - name: shell
      image: ` + realcluster.NotebookImage + `
      command: [sleep, "600"]
`
	if _, err := kubectl(t, pod, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(t, "", "wait", "-n", "e2e-node", "--for=condition=Ready", "pod/shell", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	exec := func(script string) string {
		t.Helper()
		var out string
		var err error
		// A fresh pod's first exec can race the kubelet's streaming server set-up; retry briefly.
		for i := 0; i < 5; i++ {
			if out, err = kubectl(t, "", "exec", "-n", "e2e-node", "shell", "--", "python3", "-c", script); err == nil {
				return strings.TrimSpace(out)
			}
			time.Sleep(time.Second)
		}
		t.Fatal(err)
		return ""
	}
	if got := exec("import nbclient, ipykernel, os; print(os.getuid())"); got != "1000" {
		t.Errorf("exec: %q, want uid 1000 with nbclient and ipykernel importable", got)
	}
	addr := exec("import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))")
	if addr != "10.0.0.1" {
		t.Errorf("kubernetes.default.svc.cluster.local resolved to %q, want the Service IP 10.0.0.1", addr)
	}
	healthz := exec(`import ssl, urllib.request
ctx = ssl._create_unverified_context()
print(urllib.request.urlopen("https://kubernetes.default.svc/healthz", context=ctx, timeout=10).read().decode())`)
	if healthz != "ok" {
		t.Errorf("the API server through its Service answered %q, want ok", healthz)
	}
}
