// Package identity makes local-stack components authenticate as Kubernetes ServiceAccounts the
// way pods do: a bound token from the TokenRequest API, so that authentication and RBAC are
// the API server's own. A component in this process gets a rest.Config; a child process gets a
// kubeconfig whose token file is renewed before it expires, as a kubelet renews a pod's
// projected token (client-go re-reads the file).
package identity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultExpiry is the lifetime requested for each token (a pod's projected token lives 1 h
// by default too).
const DefaultExpiry = time.Hour

// Token requests a bound token for the ServiceAccount namespace/name through admin. The
// ServiceAccount must exist: as on a cluster, a workload naming a missing one gets nothing.
func Token(ctx context.Context, admin *rest.Config, namespace, name string, expiry time.Duration) (string, error) {
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return "", fmt.Errorf("kube client: %w", err)
	}
	seconds := int64(expiry / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// Config is a config for admin's API server (only its host and CA are kept) that
// authenticates with token.
func Config(admin *rest.Config, token string) *rest.Config {
	return &rest.Config{
		Host:            admin.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile},
		BearerToken:     token,
		QPS:             admin.QPS,
		Burst:           admin.Burst,
	}
}

// Kubeconfig is a kubeconfig file acting as one ServiceAccount, its token kept fresh until the
// context given to WriteKubeconfig ends.
type Kubeconfig struct {
	// Path is the kubeconfig file (KUBECONFIG of a child process).
	Path string
	// TokenPath is the token file the kubeconfig reads.
	TokenPath string

	mu  sync.Mutex
	err error
}

// WriteKubeconfig writes dir/kubeconfig and dir/token for the ServiceAccount namespace/name
// and renews the token at 80% of its lifetime until ctx ends.
func WriteKubeconfig(ctx context.Context, admin *rest.Config, namespace, name, dir string) (*Kubeconfig, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	k := &Kubeconfig{Path: filepath.Join(dir, "kubeconfig"), TokenPath: filepath.Join(dir, "token")}
	if err := k.renew(ctx, admin, namespace, name); err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData, CertificateAuthority: admin.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{TokenFile: k.TokenPath}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, k.Path); err != nil {
		return nil, fmt.Errorf("writing kubeconfig for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(DefaultExpiry * 8 / 10):
			}
			err := k.renew(ctx, admin, namespace, name)
			k.mu.Lock()
			k.err = err
			k.mu.Unlock()
		}
	}()
	return k, nil
}

// Err is the last renewal's failure, nil when the token is fresh.
func (k *Kubeconfig) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// renew writes a new token atomically, so a reader never sees half a token.
func (k *Kubeconfig) renew(ctx context.Context, admin *rest.Config, namespace, name string) error {
	token, err := Token(ctx, admin, namespace, name, DefaultExpiry)
	if err != nil {
		return err
	}
	tmp := k.TokenPath + ".new"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		return fmt.Errorf("writing token of %s/%s: %w", namespace, name, err)
	}
	if err := os.Rename(tmp, k.TokenPath); err != nil {
		return fmt.Errorf("writing token of %s/%s: %w", namespace, name, err)
	}
	return nil
}

// RESTConfig is a config for this process that reads the kubeconfig, and so the renewed token.
func (k *Kubeconfig) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", k.Path, err)
	}
	return cfg, nil
}
