package controlplane

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestPKI(t *testing.T) {
	p, err := newPKI(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.caCert) {
		t.Fatal("CA certificate does not parse")
	}

	admin := parseCert(t, p.adminCert)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate does not verify as a client certificate: %v", err)
	}
	if admin.Subject.CommonName != AdminUser || len(admin.Subject.Organization) != 1 || admin.Subject.Organization[0] != "system:masters" {
		t.Errorf("admin subject = %v, want CN=%s O=system:masters", admin.Subject, AdminUser)
	}
	if _, err := tls.X509KeyPair(p.adminCert, p.adminKey); err != nil {
		t.Errorf("admin key does not match its certificate: %v", err)
	}

	serving := parseCert(t, p.servingCert)
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving certificate not valid for %s: %v", host, err)
		}
	}

	block, _ := pem.Decode(p.saKey)
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(p.saPub)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(pub.(*ecdsa.PublicKey)) {
		t.Error("service-account public key does not match the signing key")
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

const crdDoc = `# leading comment document
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s
spec:
  group: example.dev
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig: {service: {name: webhook, namespace: nowhere}}
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions: []
`

func TestLoadCRDs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", fmt.Sprintf(crdDoc, "things.example.dev"))
	crds, err := LoadCRDs([]string{filepath.Join(dir, "a.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 || crds[0].GetName() != "things.example.dev" {
		t.Fatalf("loaded %d CRDs, want things.example.dev only", len(crds))
	}
	if _, found := crds[0].Object["spec"].(map[string]any)["conversion"]; found {
		t.Error("spec.conversion kept: its webhook would break reads on a cluster that runs no webhooks")
	}

	for name, tc := range map[string]struct {
		globs []string
		want  string
	}{
		"glob matching nothing": {[]string{filepath.Join(dir, "missing", "*.yaml")}, "no CRD manifests match"},
		"duplicate":             {[]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "a.yaml")}, "defined in both"},
		"not a CRD":             {[]string{filepath.Join(dir, "cm.yaml")}, "is a ConfigMap"},
	} {
		t.Run(name, func(t *testing.T) {
			write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
			if _, err := LoadCRDs(tc.globs); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestCheckBinariesSaysHowToBuild(t *testing.T) {
	err := CheckBinaries(t.TempDir(), true)
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("want ErrBinariesMissing, got %v", err)
	}
	for _, want := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "make controlplane"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Start(context.Background(), Options{BinDir: t.TempDir(), NoCRDs: true}); !errors.Is(err, ErrBinariesMissing) {
		t.Errorf("Start without binaries: want ErrBinariesMissing, got %v", err)
	}
}

func TestFindRepoRoot(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "local", "controlplane")); err != nil {
		t.Errorf("root %s does not hold internal/local/controlplane: %v", root, err)
	}
	if _, err := FindRepoRoot(t.TempDir()); err == nil {
		t.Error("found a repo root above a temp dir")
	}
}

// requireBinaries applies the integration rule: absent binaries fail the test unless
// NBV_SKIP_INTEGRATION=1.
func requireBinaries(t *testing.T) {
	t.Helper()
	if err := CheckBinaries("", true); err != nil {
		if os.Getenv("NBV_SKIP_INTEGRATION") == "1" {
			t.Skipf("NBV_SKIP_INTEGRATION=1 and %v", err)
		}
		t.Fatal(err)
	}
}

func TestStartStop(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{NoCRDs: true, ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	if len(cp.PIDs()) != 3 {
		t.Errorf("PIDs() = %v, want etcd, kube-apiserver and kube-controller-manager", cp.PIDs())
	}

	if err := cp.EnsureNamespace(ctx, "twice"); err != nil {
		t.Fatal(err)
	}
	if err := cp.EnsureNamespace(ctx, "twice"); err != nil {
		t.Errorf("EnsureNamespace is not idempotent: %v", err)
	}
	saCfg, err := cp.ServiceAccountConfig(ctx, "twice", "robot")
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:twice:robot"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
	admin, err := kubernetes.NewForConfig(cp.ImpersonatedConfig("alice", "devs"))
	if err != nil {
		t.Fatal(err)
	}
	if review, err = admin.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if review.Status.UserInfo.Username != "alice" {
		t.Errorf("impersonated config acts as %q, want alice", review.Status.UserInfo.Username)
	}
	if out, err := cmdoutput.Stdout(exec.Command(filepath.Join(DefaultBinDir(), "kubectl"), "--kubeconfig", cp.KubeconfigPath(),
		"get", "namespace", "twice", "-o", "name")); err != nil || strings.TrimSpace(string(out)) != "namespace/twice" {
		t.Errorf("kubectl with KubeconfigPath: %v: %s", err, out)
	}

	pids, dir := cp.PIDs(), cp.Dir()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind", dir)
	}
}

// TestChildrenDieWithParent starts a control plane in a helper process that then exits
// without calling Stop, as a panicking or timed-out test binary would, and checks that no
// child survives it.
func TestChildrenDieWithParent(t *testing.T) {
	requireBinaries(t)
	if os.Getenv("NBV_CONTROLPLANE_HELPER") == "1" {
		t.Skip("helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAbandon$", "-test.v")
	cmd.Env = append(os.Environ(), "NBV_CONTROLPLANE_HELPER=1", "NBV_CONTROLPLANE_HELPER_DIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
		}
	}
	_ = cmd.Wait()
	if len(pids) != 2 {
		t.Fatalf("helper reported pids %v, want etcd and kube-apiserver", pids)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d outlived the process that started it", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestHelperAbandon is the helper of TestChildrenDieWithParent.
func TestHelperAbandon(t *testing.T) {
	if os.Getenv("NBV_CONTROLPLANE_HELPER") != "1" {
		t.Skip("only runs as TestChildrenDieWithParent's helper")
	}
	cp, err := Start(context.Background(), Options{NoCRDs: true, Dir: os.Getenv("NBV_CONTROLPLANE_HELPER_DIR")})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(cp.PIDs()), "[]"))
	os.Exit(3) // no Stop, no deferred cleanup
}

// alive reports whether pid exists and is not a zombie (a child orphaned to a PID 1 that does
// not reap stays a zombie, which is dead for our purpose).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm may contain spaces, so split after the last ')'.
	rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
	fields := strings.Fields(string(rest))
	return len(fields) == 0 || fields[0] != "Z"
}
