// Package localregistry runs the local stack's registry for run records: the CNCF
// Distribution registry v3 (the code registries on clusters run; built by `make registry`
// from hack/tools/registry into $NBV_CACHE/bin), as a child process bound to loopback, with
// filesystem storage in a temporary directory and an htpasswd login. Install then does what
// an installer does on a cluster: it fills the ConfigMap nbv-system/nbv-artifacts and puts the
// login into a kubernetes.io/dockerconfigjson Secret of the job namespace, which only the
// validation pod's publish sidecar mounts.
package localregistry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/artifact"
)

const (
	// ConfigMap and its keys are config/artifacts/registry.yaml's.
	ConfigMap          = "nbv-artifacts"
	ConfigMapNamespace = "nbv-system"
	// PushSecret is the Secret Install creates in the job namespace.
	PushSecret = "nbv-registry-push"
	// RepositoryPath is the repository under the registry where records go.
	RepositoryPath = "nbv-runs"
	// User is the registry login Install hands to the publish sidecar.
	User = "nbv-publish"
)

// Registry is a running registry process.
type Registry struct {
	// Host is host:port on loopback.
	Host string
	// Password is User's password (random per start).
	Password string
	// Dir holds its configuration, htpasswd and storage.
	Dir string

	cmd  *exec.Cmd
	done chan error
}

// Binary is where `make registry` puts the registry.
func Binary() string {
	cache := os.Getenv("NBV_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "nbv")
	}
	return filepath.Join(cache, "bin", "registry")
}

// Start runs binary (Binary() when empty) on a free loopback port with its data in dir (a new
// temporary directory when empty) and returns once it answers /v2/.
func Start(ctx context.Context, binary, dir string) (*Registry, error) {
	if binary == "" {
		binary = Binary()
	}
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("registry binary: %w (build it with `make registry`)", err)
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "nbv-registry-"); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	r := &Registry{Host: "127.0.0.1:" + strconv.Itoa(port), Password: hex.EncodeToString(pw), Dir: dir, done: make(chan error, 1)}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(User+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
auth:
  htpasswd:
    realm: nbv-local
    path: %s
`, filepath.Join(dir, "data"), r.Host, hex.EncodeToString(secret), filepath.Join(dir, "htpasswd"))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(binary, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start registry: %w", err)
	}
	go func() { r.done <- r.cmd.Wait(); logf.Close() }()
	if err := r.waitReady(ctx); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

func (r *Registry) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-r.done:
			r.done <- err
			log, _ := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
			return fmt.Errorf("registry exited before it answered: %v\n%s", err, log)
		default:
		}
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401: up, and asking for the login it should.
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("registry on %s did not answer within 30s: %v", r.Host, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Repository is where records go: <host>/nbv-runs (the namespace is appended per job).
func (r *Registry) Repository() string { return r.Host + "/" + RepositoryPath }

// DockerConfig is the login as a docker config.json.
func (r *Registry) DockerConfig() []byte { return artifact.DockerConfig(r.Host, User, r.Password) }

// Stop ends the process and waits for it.
func (r *Registry) Stop() {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Install is the installer's part: the ConfigMap nbv-system/nbv-artifacts names the
// registry, and namespace gets the push login as the Secret PushSecret. Call it before the
// functions start (they read the ConfigMap when an instance starts).
func (r *Registry) Install(ctx context.Context, cfg *rest.Config, namespace string) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMap, Namespace: ConfigMapNamespace, Labels: map[string]string{"app.kubernetes.io/part-of": "nbv"}},
		Data:       map[string]string{"repository": r.Repository(), "pushSecret": PushSecret, "insecure": "true"},
	}
	if err := ensureNamespace(ctx, kube, ConfigMapNamespace); err != nil {
		return err
	}
	if err := upsert(ctx, kube.CoreV1().ConfigMaps(ConfigMapNamespace), cm); err != nil {
		return fmt.Errorf("ConfigMap %s/%s: %w", ConfigMapNamespace, ConfigMap, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PushSecret, Namespace: namespace},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: r.DockerConfig()},
	}
	if err := upsert(ctx, kube.CoreV1().Secrets(namespace), sec); err != nil {
		return fmt.Errorf("Secret %s/%s: %w", namespace, PushSecret, err)
	}
	return nil
}

func ensureNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// createUpdater is a typed client of one kind of object.
type createUpdater[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

// upsert creates obj, or replaces the one of its name.
func upsert[T any](ctx context.Context, c createUpdater[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
