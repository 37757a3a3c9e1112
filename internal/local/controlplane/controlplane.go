// Package controlplane owns a real Kubernetes control plane on loopback: etcd and
// kube-apiserver (and optionally kube-controller-manager) built from their Go modules by
// test/controlplane/build.sh, started as child processes with fresh certificates, RBAC on, and
// this project's CRDs plus the Tekton, Knative and OpenShift Build CRDs installed.
//
// Integration tests use it instead of a fake client (so admission, CEL validation, RBAC,
// optimistic concurrency and watches behave as on a cluster), and the local stack (`nbv run`)
// uses it as its cluster. Nothing it starts outlives the process that started it.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/childproc"
	"github.com/mlops-dev/nbv/internal/local/identity"
)

// AdminUser is the user name of the admin client certificate (group system:masters).
const AdminUser = "nbv-admin"

// ErrBinariesMissing is wrapped by every error caused by absent control-plane binaries, so
// callers can tell "not built" from "broken".
var ErrBinariesMissing = errors.New("control-plane binaries missing")

// DefaultBinDir is where test/controlplane/build.sh puts the binaries:
// ${NBV_CACHE:-$HOME/.cache/nbv}/bin.
func DefaultBinDir() string {
	cache := os.Getenv("NBV_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache", "nbv")
	}
	return filepath.Join(cache, "bin")
}

// Options configures Start. The zero value is a test control plane with every CRD installed.
type Options struct {
	// BinDir holds etcd, kube-apiserver and kube-controller-manager. Default DefaultBinDir().
	BinDir string
	// Dir holds data, certificates, kubeconfig and logs. Default: a fresh temp dir, removed by
	// Stop. A Dir given here is kept, so the local stack can leave logs for the user.
	Dir string
	// ControllerManager also runs kube-controller-manager (garbage collection, namespace
	// deletion, ServiceAccount tokens). Without it the ServiceAccount admission plugin is
	// disabled, since nothing would create the default ServiceAccount it requires.
	ControllerManager bool
	// RepoRoot is this project's checkout, used to find config/crd and test/controlplane/crds.
	// Default: found by walking up from the working directory.
	RepoRoot string
	// CRDGlobs replaces the default CRD set (DefaultCRDGlobs) and leaves this project's
	// admission policies out. Use NoCRDs for none. With the default set, the policies of
	// config/admission are installed too (InstallAdmission).
	CRDGlobs []string
	// NoCRDs starts a bare control plane.
	NoCRDs bool
	// StartTimeout bounds startup, CRDs included. Default 90 s: the API server is ready in
	// ~3 s, but a loaded 2-core machine compiling in parallel can be ten times slower.
	StartTimeout time.Duration
	// AuditUserGroups, when set, turns on kube-apiserver's audit log (AuditLogPath) for the
	// requests of users in these groups, e.g. system:serviceaccounts:nbv-system: what each
	// function really asked of the API server, read back with ReadAudit.
	AuditUserGroups []string
	// Address is where kube-apiserver binds and what it advertises. Default 127.0.0.1. A
	// cluster with a real node sets a non-loopback address the node can reach (the host end of
	// its veth): the kubernetes Service then gets Endpoints, so pods can call the API server.
	Address string
	// Scheduler also runs kube-scheduler (from BinDir), for pods that do not set nodeName.
	Scheduler bool
	// ServiceCIDR is --service-cluster-ip-range. Default 10.0.0.0/24.
	ServiceCIDR string
}

// ControlPlane is a running control plane. Its methods are safe for concurrent use.
type ControlPlane struct {
	dir        string
	removeDir  bool
	host       string
	pki        *pki
	kubeconfig string
	auditLog   string

	// mu guards procs and the kube-apiserver's command: RestartAPIServer replaces its process.
	mu       sync.Mutex
	procs    []*childproc.Process // start order: etcd, kube-apiserver, kube-controller-manager
	apiBin   string
	apiArgs  []string
	apiIndex int // position of kube-apiserver in procs

	stopOnce sync.Once
	stopErr  error
}

// Start brings up a control plane and returns once the API server is ready and every CRD is
// Established. On error, everything already started is stopped again.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	if opts.Address == "" {
		opts.Address = "127.0.0.1"
	}
	if opts.ServiceCIDR == "" {
		opts.ServiceCIDR = "10.0.0.0/24"
	}
	if err := CheckBinaries(opts.BinDir, opts.ControllerManager); err != nil {
		return nil, err
	}
	if opts.Scheduler {
		if _, err := lookBinary(opts.BinDir, "kube-scheduler"); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	// Resolve CRDs before starting anything: a missing manifest fails fast and cheaply.
	var crdGlobs []string
	// admissionRoot is set when this project's whole API is installed: its CRD and then its
	// admission policies (InstallAdmission).
	var admissionRoot string
	if !opts.NoCRDs {
		crdGlobs = opts.CRDGlobs
		if crdGlobs == nil {
			root := opts.RepoRoot
			if root == "" {
				wd, err := os.Getwd()
				if err != nil {
					return nil, fmt.Errorf("controlplane: working directory: %w", err)
				}
				if root, err = FindRepoRoot(wd); err != nil {
					return nil, fmt.Errorf("controlplane: set Options.RepoRoot: %w", err)
				}
			}
			if crdGlobs, err = DefaultCRDGlobs(ctx, root); err != nil {
				return nil, fmt.Errorf("controlplane: %w", err)
			}
			admissionRoot = root
		}
	}
	crds, err := LoadCRDs(crdGlobs)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}

	cp := &ControlPlane{dir: opts.Dir}
	if cp.dir == "" {
		if cp.dir, err = os.MkdirTemp("", "nbv-controlplane-"); err != nil {
			return nil, fmt.Errorf("controlplane: temp dir: %w", err)
		}
		cp.removeDir = true
	} else if err := os.MkdirAll(cp.dir, 0o700); err != nil {
		return nil, fmt.Errorf("controlplane: creating %s: %w", cp.dir, err)
	}
	defer func() {
		if err != nil {
			_ = cp.Stop()
		}
	}()

	if err := cp.start(ctx, opts); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if len(crds) > 0 {
		client, err := dynamic.NewForConfig(cp.RESTConfig())
		if err != nil {
			return nil, fmt.Errorf("controlplane: dynamic client: %w", err)
		}
		if err := InstallCRDs(ctx, client, crds); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	if admissionRoot != "" {
		if err := InstallAdmission(ctx, cp.RESTConfig(), admissionRoot); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	return cp, nil
}

func (cp *ControlPlane) start(ctx context.Context, opts Options) error {
	var err error
	apiIP := net.ParseIP(opts.Address)
	if apiIP == nil {
		return fmt.Errorf("address %q is not an IP address", opts.Address)
	}
	if cp.pki, err = newPKI(apiIP); err != nil {
		return err
	}
	pkiDir := filepath.Join(cp.dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", pkiDir, err)
	}
	files, err := cp.pki.write(pkiDir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	cp.host = "https://" + net.JoinHostPort(opts.Address, strconv.Itoa(apiPort))

	etcdBin, _ := lookBinary(opts.BinDir, "etcd")
	clientURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	etcd, err := startProcess("etcd", etcdBin, []string{
		"--name=nbv",
		"--data-dir=" + filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=nbv=" + peerURL,
		// The data is disposable: skipping fsync makes writes several times faster.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, cp.dir)
	if err != nil {
		return err
	}
	cp.procs = append(cp.procs, etcd)

	apiBin, _ := lookBinary(opts.BinDir, "kube-apiserver")
	apiArgs := []string{
		"--etcd-servers=" + clientURL,
		"--bind-address=" + opts.Address,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--advertise-address=" + opts.Address,
		"--tls-cert-file=" + files.servingCert,
		"--tls-private-key-file=" + files.servingKey,
		"--client-ca-file=" + files.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.saPub,
		"--service-account-signing-key-file=" + files.saKey,
		"--service-cluster-ip-range=" + opts.ServiceCIDR,
		"--allow-privileged=true",
		"--cert-dir=" + pkiDir,
		// As on OpenShift: setting blockOwnerDeletion on a child's ownerReference requires
		// update on the owner's finalizers, so RBAC that lacks it fails here first.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
	}
	if apiIP.IsLoopback() {
		// No Endpoints for the kubernetes Service: nothing in-cluster dials it, and the
		// reconciler would fight over a loopback address.
		apiArgs = append(apiArgs, "--endpoint-reconciler-type=none")
	} else {
		// Webhooks and aggregated APIs are dialled at their pods' addresses, not through a
		// Service IP: kube-proxy's rules live in the node's network namespace, not here.
		// The kubelet (logs, exec) is dialled at the node's InternalIP: nothing resolves its name.
		apiArgs = append(apiArgs, "--endpoint-reconciler-type=lease", "--enable-aggregator-routing=true",
			"--kubelet-preferred-address-types=InternalIP")
	}
	if len(opts.AuditUserGroups) > 0 {
		flags, logPath, err := auditFlags(cp.dir, opts.AuditUserGroups)
		if err != nil {
			return err
		}
		apiArgs = append(apiArgs, flags...)
		cp.auditLog = logPath
	}
	if !opts.ControllerManager {
		apiArgs = append(apiArgs, "--disable-admission-plugins=ServiceAccount")
	}
	api, err := startProcess("kube-apiserver", apiBin, apiArgs, cp.dir)
	if err != nil {
		return err
	}
	cp.apiBin, cp.apiArgs, cp.apiIndex = apiBin, apiArgs, len(cp.procs)
	cp.procs = append(cp.procs, api)

	if err := cp.waitReady(ctx); err != nil {
		return err
	}
	if cp.kubeconfig, err = cp.writeKubeconfig(); err != nil {
		return err
	}

	if opts.ControllerManager {
		kcmBin, _ := lookBinary(opts.BinDir, "kube-controller-manager")
		kcm, err := startProcess("kube-controller-manager", kcmBin, []string{
			"--kubeconfig=" + cp.kubeconfig,
			"--leader-elect=false",
			"--secure-port=0", // nobody scrapes it; one less port to race for
			"--service-account-private-key-file=" + files.saKey,
			"--root-ca-file=" + files.caCert,
			"--cluster-signing-cert-file=" + files.caCert,
			"--cluster-signing-key-file=" + files.caKey,
			"--use-service-account-credentials=false",
		}, cp.dir)
		if err != nil {
			return err
		}
		cp.procs = append(cp.procs, kcm)
		if err := failedEarly(kcm); err != nil {
			return err
		}
	}
	if opts.Scheduler {
		schedBin, _ := lookBinary(opts.BinDir, "kube-scheduler")
		sched, err := startProcess("kube-scheduler", schedBin, []string{
			"--kubeconfig=" + cp.kubeconfig,
			"--authentication-kubeconfig=" + cp.kubeconfig,
			"--authorization-kubeconfig=" + cp.kubeconfig,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
		}, cp.dir)
		if err != nil {
			return err
		}
		cp.procs = append(cp.procs, sched)
		if err := failedEarly(sched); err != nil {
			return err
		}
	}
	return nil
}

// failedEarly gives a just-started child a moment to fail on bad flags, so the caller hears
// about it from Start.
func failedEarly(p *childproc.Process) error {
	select {
	case <-p.Done():
		_, err := p.Exited()
		return err
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

// waitReady polls /readyz (which includes the RBAC bootstrap and CRD informer sync) until it
// answers 200, failing fast if a child exits.
func (cp *ControlPlane) waitReady(ctx context.Context) error {
	cfg := cp.RESTConfig()
	cfg.Timeout = 2 * time.Second
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("readiness client: %w", err)
	}
	var last string
	for {
		cp.mu.Lock()
		procs := append([]*childproc.Process(nil), cp.procs...)
		cp.mu.Unlock()
		for _, p := range procs {
			if gone, err := p.Exited(); gone {
				return err
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.host+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready (last: %s): %w; last log lines:\n%s",
				last, ctx.Err(), procs[len(procs)-1].LogTail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (cp *ControlPlane) writeKubeconfig() (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["nbv"] = &clientcmdapi.Cluster{Server: cp.host, CertificateAuthorityData: cp.pki.caCert}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cp.pki.adminCert, ClientKeyData: cp.pki.adminKey}
	cfg.Contexts["nbv"] = &clientcmdapi.Context{Cluster: "nbv", AuthInfo: AdminUser, Namespace: "default"}
	cfg.CurrentContext = "nbv"
	path := filepath.Join(cp.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}

// Host is the API server URL (https://127.0.0.1:<port>).
func (cp *ControlPlane) Host() string { return cp.host }

// Dir is the directory holding data, certificates, kubeconfig and logs (<name>.log).
func (cp *ControlPlane) Dir() string { return cp.dir }

// KubeconfigPath is an admin kubeconfig for kubectl (KUBECONFIG=... kubectl get nvj).
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfig }

// RESTConfig returns a fresh admin config (group system:masters). Limits are raised above
// client-go's defaults (5 QPS) because tests and the local stack share one API server and
// throttling would only add latency.
func (cp *ControlPlane) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: cp.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cp.pki.caCert,
			CertData: cp.pki.adminCert,
			KeyData:  cp.pki.adminKey,
		},
		QPS:   500,
		Burst: 1000,
	}
}

// ImpersonatedConfig returns a config acting as user (in groups) through impersonation by the
// admin, so RBAC decides exactly as for that user.
func (cp *ControlPlane) ImpersonatedConfig(user string, groups ...string) *rest.Config {
	cfg := cp.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ServiceAccountConfig creates the ServiceAccount namespace/name when absent and returns a
// config that authenticates with a real bound token from the TokenRequest API: the same path a
// pod's projected token takes, so authentication and RBAC are the API server's own.
func (cp *ControlPlane) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("kube client: %w", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := kube.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating ServiceAccount %s/%s: %w", namespace, name, err)
	}
	token, err := identity.Token(ctx, cp.RESTConfig(), namespace, name, identity.DefaultExpiry)
	if err != nil {
		return nil, err
	}
	return identity.Config(cp.RESTConfig(), token), nil
}

// EnsureNamespace creates namespace name unless it exists.
func (cp *ControlPlane) EnsureNamespace(ctx context.Context, name string) error {
	return EnsureNamespace(ctx, cp.RESTConfig(), name, nil)
}

// EnsureOptedInNamespace is EnsureNamespace with the opt-in label (v1alpha1.OptInLabel), so
// jobs may be created there; it applies no RoleBindings (internal/local/optin does).
func (cp *ControlPlane) EnsureOptedInNamespace(ctx context.Context, name string) error {
	return EnsureNamespace(ctx, cp.RESTConfig(), name, OptInLabels())
}

// OptInLabels are the labels of a namespace that opted in.
func OptInLabels() map[string]string {
	return map[string]string{v1alpha1.OptInLabel: v1alpha1.OptInValue}
}

// EnsureNamespace creates namespace name through cfg unless it exists, with labels (which
// are not added to a namespace that exists).
func EnsureNamespace(ctx context.Context, cfg *rest.Config, name string, labels map[string]string) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kube client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// PIDs are the process IDs of the children started (each also its process group's ID).
func (cp *ControlPlane) PIDs() []int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pids := make([]int, 0, len(cp.procs))
	for _, p := range cp.procs {
		pids = append(pids, p.Pid())
	}
	return pids
}

// Stop kills the children in reverse start order, waits for them, and removes the temp dir
// (a Dir passed in Options is kept). It is idempotent.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		var errs []error
		cp.mu.Lock()
		procs := append([]*childproc.Process(nil), cp.procs...)
		cp.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].Stop(3 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if cp.removeDir {
			if err := os.RemoveAll(cp.dir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", cp.dir, err))
			}
		}
		if len(errs) > 0 {
			cp.stopErr = fmt.Errorf("controlplane: stop: %w", errors.Join(errs...))
		}
	})
	return cp.stopErr
}
