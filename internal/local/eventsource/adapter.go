package eventsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"knative.dev/eventing/pkg/adapter/apiserver"
	"knative.dev/eventing/pkg/adapter/v2"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/injection/clients/dynamicclient"
	"knative.dev/pkg/logging"
)

// Options configures one in-process ApiServerSource adapter.
type Options struct {
	// Config is how the adapter talks to the API server. To prove a manifest's RBAC is
	// enough, pass a config for the source's ServiceAccount rather than an admin one.
	Config *rest.Config
	// Source is the ApiServerSource to run, as loaded from eventsources/.
	Source *sourcesv1.ApiServerSource
	// Namespace the source lives in; it overrides Source.Namespace (manifests leave it empty).
	Namespace string
	// WatchNamespace, when set, replaces the source's namespaceSelector so that the adapter
	// watches that one namespace (the manifests select every namespace labelled
	// mlops.mlops.dev/nbv=enabled; a local stack or a test confines them to its own).
	WatchNamespace string
	// SinkURL receives the CloudEvents (the source's own sink is a Broker reference, which
	// only a cluster can resolve).
	SinkURL string
	// Logger receives the adapter's logs. Default: warnings and errors to stderr.
	Logger *zap.SugaredLogger
}

// Adapter is a running ApiServerSource adapter.
type Adapter struct {
	config  apiserver.Config
	ready   chan struct{}
	done    chan struct{}
	err     error
	pending map[string]bool // "<gvr>|<namespace>" watches not yet established
	mu      sync.Mutex
}

// Start builds the adapter configuration from the source's spec (as Knative's controller
// would) and starts Knative's adapter on it in a goroutine until ctx ends. Events for objects
// that already exist are never sent (the adapter only forwards watch events), so callers that
// must not miss an add should create objects after Ready is closed.
func Start(ctx context.Context, opts Options) (*Adapter, error) {
	if opts.Config == nil || opts.Source == nil || opts.SinkURL == "" {
		return nil, errors.New("eventsource: Config, Source and SinkURL are required")
	}
	src := opts.Source.DeepCopy()
	if opts.Namespace != "" {
		src.Namespace = opts.Namespace
	}
	if src.Namespace == "" {
		return nil, fmt.Errorf("eventsource: ApiServerSource %s has no namespace", src.Name)
	}
	if opts.WatchNamespace != "" {
		// No selector to resolve: resolving one lists namespaces, which on a cluster Knative's
		// controller does with its own rights, not the source's ServiceAccount.
		src.Spec.NamespaceSelector = nil
	}
	logger := opts.Logger
	if logger == nil {
		logger = defaultLogger()
	}
	logger = logger.With(zap.String("apiserversource", src.Namespace+"/"+src.Name))

	kube, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("eventsource: kube client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("eventsource: dynamic client: %w", err)
	}
	cfg, err := AdapterConfig(ctx, kube, src, logger)
	if err != nil {
		return nil, fmt.Errorf("eventsource: %s/%s: %w", src.Namespace, src.Name, err)
	}
	if opts.WatchNamespace != "" {
		cfg.Namespaces, cfg.AllNamespaces = []string{opts.WatchNamespace}, false
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("eventsource: encoding adapter config: %w", err)
	}
	env, err := newEnv(src, string(cfgJSON), opts.SinkURL)
	if err != nil {
		return nil, fmt.Errorf("eventsource: %w", err)
	}
	ce, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(opts.SinkURL))
	if err != nil {
		return nil, fmt.Errorf("eventsource: CloudEvents client for %s: %w", opts.SinkURL, err)
	}

	a := &Adapter{config: cfg, ready: make(chan struct{}), done: make(chan struct{}), pending: map[string]bool{}}
	for _, r := range cfg.Resources {
		if cfg.AllNamespaces {
			a.pending[watchKey(r.GVR, "")] = true
			continue
		}
		for _, ns := range cfg.Namespaces {
			a.pending[watchKey(r.GVR, ns)] = true
		}
	}
	if len(a.pending) == 0 {
		close(a.ready)
	}

	// These are exactly the values the adapter pulls from its context (adapter_injection.go):
	// the kube client (for discovery), the dynamic client (for list/watch) and the API host
	// (the events' source attribute). The dynamic client is wrapped only to observe when each
	// watch is established, which the adapter itself does not report.
	actx := logging.WithLogger(ctx, logger)
	actx = context.WithValue(actx, kubeclient.Key{}, kubernetes.Interface(kube))
	actx = context.WithValue(actx, dynamicclient.Key{}, dynamic.Interface(&notifyingClient{Interface: dyn, a: a}))
	actx = context.WithValue(actx, apiserver.Key{}, opts.Config.Host)

	ad := apiserver.NewAdapter(actx, env, ce)
	go func() {
		defer close(a.done)
		a.err = ad.Start(actx)
	}()
	return a, nil
}

// Config is the adapter configuration in use (what K_SOURCE_CONFIG would hold on a cluster).
func (a *Adapter) Config() apiserver.Config { return a.config }

// Ready is closed once every watch of the adapter is established.
func (a *Adapter) Ready() <-chan struct{} { return a.ready }

// Done is closed when the adapter has stopped (its context ended, or it failed).
func (a *Adapter) Done() <-chan struct{} { return a.done }

// Err is the adapter's exit error, valid after Done is closed.
func (a *Adapter) Err() error {
	<-a.done
	return a.err
}

func (a *Adapter) watchEstablished(gvr schema.GroupVersionResource, ns string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := watchKey(gvr, ns)
	if !a.pending[key] {
		return
	}
	delete(a.pending, key)
	if len(a.pending) == 0 {
		close(a.ready)
	}
}

func watchKey(gvr schema.GroupVersionResource, ns string) string { return gvr.String() + "|" + ns }

// AdapterConfig translates an ApiServerSource spec into the adapter's configuration the way
// Knative's reconciler does, with one difference: a resource's plural comes from the API
// server's discovery instead of a guess from the kind, and a kind the server does not serve
// is left out (the adapter would skip it anyway) with a warning.
func AdapterConfig(ctx context.Context, kube kubernetes.Interface, src *sourcesv1.ApiServerSource, logger *zap.SugaredLogger) (apiserver.Config, error) {
	cfg := apiserver.Config{
		ResourceOwner: src.Spec.ResourceOwner,
		EventMode:     src.Spec.EventMode,
		Filters:       src.Spec.Filters,
	}
	if cfg.EventMode == "" {
		cfg.EventMode = sourcesv1.ReferenceMode // the API's documented default
	}

	switch sel := src.Spec.NamespaceSelector; {
	case sel == nil:
		cfg.Namespaces = []string{src.Namespace}
	case len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0:
		cfg.AllNamespaces = true
	default:
		selector, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return cfg, fmt.Errorf("namespaceSelector: %w", err)
		}
		list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return cfg, fmt.Errorf("listing namespaces for namespaceSelector: %w", err)
		}
		for _, ns := range list.Items {
			cfg.Namespaces = append(cfg.Namespaces, ns.Name)
		}
		sort.Strings(cfg.Namespaces)
	}

	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
	for _, r := range src.Spec.Resources {
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil {
			return cfg, fmt.Errorf("resource apiVersion %q: %w", r.APIVersion, err)
		}
		mapping, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: r.Kind}, gv.Version)
		if meta.IsNoMatchError(err) {
			logger.Warnw("resource not served by this API server; not watching it",
				zap.String("apiVersion", r.APIVersion), zap.String("kind", r.Kind))
			continue
		}
		if err != nil {
			return cfg, fmt.Errorf("resolving %s %s: %w", r.APIVersion, r.Kind, err)
		}
		rw := apiserver.ResourceWatch{GVR: mapping.Resource}
		if r.LabelSelector != nil {
			selector, err := metav1.LabelSelectorAsSelector(r.LabelSelector)
			if err != nil {
				return cfg, fmt.Errorf("selector of %s: %w", r.Kind, err)
			}
			rw.LabelSelector = selector.String()
		}
		cfg.Resources = append(cfg.Resources, rw)
	}
	return cfg, nil
}

// newEnv fills the adapter's environment configuration directly. On a cluster it comes from
// env vars (K_SINK, NAME, NAMESPACE, K_SOURCE_CONFIG); setting those with os.Setenv would race
// when several adapters start in one process. The struct is unexported, so its exported fields
// are set by reflection; a field renamed in a future Knative release fails here, loudly.
func newEnv(src *sourcesv1.ApiServerSource, configJSON, sink string) (adapter.EnvConfigAccessor, error) {
	env := apiserver.NewEnvConfig()
	v := reflect.ValueOf(env)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("unexpected adapter env type %T", env)
	}
	s := v.Elem()
	for _, f := range []struct {
		path  []string
		value string
	}{
		{[]string{"Name"}, src.Name},
		{[]string{"ConfigJson"}, configJSON},
		{[]string{"EnvConfig", "Name"}, src.Name},
		{[]string{"EnvConfig", "Namespace"}, src.Namespace},
		{[]string{"EnvConfig", "Sink"}, sink},
		{[]string{"EnvConfig", "Component"}, "apiserversource"},
	} {
		field := s
		for _, name := range f.path {
			field = field.FieldByName(name)
			if !field.IsValid() {
				return nil, fmt.Errorf("adapter env %T has no field %v", env, f.path)
			}
		}
		if field.Kind() != reflect.String || !field.CanSet() {
			return nil, fmt.Errorf("adapter env field %v is not a settable string", f.path)
		}
		field.SetString(f.value)
	}
	return env, nil
}

func defaultLogger() *zap.SugaredLogger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
	cfg.Sampling = nil
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop().Sugar()
	}
	return l.Sugar()
}

// notifyingClient is the dynamic client handed to the adapter; it reports each established
// watch to the Adapter and otherwise delegates.
type notifyingClient struct {
	dynamic.Interface
	a *Adapter
}

func (c *notifyingClient) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return &notifyingResource{NamespaceableResourceInterface: c.Interface.Resource(gvr), gvr: gvr, a: c.a}
}

type notifyingResource struct {
	dynamic.NamespaceableResourceInterface
	gvr schema.GroupVersionResource
	a   *Adapter
}

func (r *notifyingResource) Namespace(ns string) dynamic.ResourceInterface {
	return &notifyingNamespaced{ResourceInterface: r.NamespaceableResourceInterface.Namespace(ns), gvr: r.gvr, ns: ns, a: r.a}
}

func (r *notifyingResource) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := r.NamespaceableResourceInterface.Watch(ctx, opts)
	if err == nil {
		r.a.watchEstablished(r.gvr, "")
	}
	return w, err
}

type notifyingNamespaced struct {
	dynamic.ResourceInterface
	gvr schema.GroupVersionResource
	ns  string
	a   *Adapter
}

func (r *notifyingNamespaced) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := r.ResourceInterface.Watch(ctx, opts)
	if err == nil {
		r.a.watchEstablished(r.gvr, r.ns)
	}
	return w, err
}
