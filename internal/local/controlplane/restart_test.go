package controlplane

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestRestartAPIServerKeepsEtcd: after a restart the API server is a new process at the same
// address, serves what was written before it (etcd kept), and a client made before it works.
func TestRestartAPIServerKeepsEtcd(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{NoCRDs: true, AuditUserGroups: []string{"system:serviceaccounts:kept"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	if err := cp.EnsureNamespace(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	before, host := cp.PIDs(), cp.Host()

	if err := cp.RestartAPIServer(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	after := cp.PIDs()
	if len(after) != len(before) || after[0] != before[0] || after[1] == before[1] {
		t.Errorf("pids %v -> %v: want etcd kept and a new kube-apiserver", before, after)
	}
	if alive(before[1]) {
		t.Errorf("the old kube-apiserver (pid %d) is still alive", before[1])
	}
	if cp.Host() != host {
		t.Errorf("host %s -> %s", host, cp.Host())
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace written before the restart: %v", err)
	}
	// The audit log goes on in the same file: a request of the audited group after the
	// restart is found in it.
	offset, err := cp.AuditOffset()
	if err != nil {
		t.Fatal(err)
	}
	saCfg, err := cp.ServiceAccountConfig(ctx, "kept", "robot")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sa.CoreV1().Pods("kept").List(ctx, metav1.ListOptions{})
	events, err := cp.ReadAudit(offset)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e AuditEvent) bool {
		return e.User.Username == "system:serviceaccount:kept:robot" && e.Verb == "list"
	}) {
		t.Errorf("the restarted API server did not audit the list of pods: %+v", events)
	}

	pids := cp.PIDs()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after Stop", pid)
		}
	}
}
