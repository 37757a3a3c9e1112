package cli

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterFlags are kubectl's connection flags, with kubectl's names and meaning: --kubeconfig
// (default $KUBECONFIG, then ~/.kube/config), --context, --cluster, --user, -n/--namespace,
// --server, --token, --request-timeout.
type clusterFlags struct {
	rules     *clientcmd.ClientConfigLoadingRules
	overrides clientcmd.ConfigOverrides
}

func newClusterFlags(fs *pflag.FlagSet) *clusterFlags {
	c := &clusterFlags{rules: clientcmd.NewDefaultClientConfigLoadingRules()}
	fs.StringVar(&c.rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.CurrentContext.BindStringFlag(fs, &c.overrides.CurrentContext)
	names.ContextOverrideFlags.ClusterName.BindStringFlag(fs, &c.overrides.Context.Cluster)
	names.ContextOverrideFlags.AuthInfoName.BindStringFlag(fs, &c.overrides.Context.AuthInfo)
	names.ContextOverrideFlags.Namespace.BindStringFlag(fs, &c.overrides.Context.Namespace)
	names.ClusterOverrideFlags.APIServer.BindStringFlag(fs, &c.overrides.ClusterInfo.Server)
	names.AuthOverrideFlags.Token.BindStringFlag(fs, &c.overrides.AuthInfo.Token)
	names.Timeout.BindStringFlag(fs, &c.overrides.Timeout)
	return c
}

func (c *clusterFlags) clientConfig() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(c.rules, &c.overrides)
}

// restConfig is the connection the flags and the kubeconfig describe.
func (c *clusterFlags) restConfig() (*rest.Config, error) {
	cfg, err := c.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// namespace is -n when given, else fromManifest when set, else the kubeconfig context's
// (default "default"), as kubectl decides it.
func (c *clusterFlags) namespace(fromManifest string) (string, error) {
	if c.overrides.Context.Namespace != "" {
		return c.overrides.Context.Namespace, nil
	}
	if fromManifest != "" {
		return fromManifest, nil
	}
	ns, _, err := c.clientConfig().Namespace()
	if err != nil {
		return "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return ns, nil
}
