// Package localstack assembles the event-driven system on one machine, against a real API
// server, as a small faithful Knative: each function of config/functions runs as processes of
// its own binary (the one ko packages), configured only by its Knative Service and
// authenticated as its ServiceAccount from config/rbac, behind an activator that starts them
// when a request arrives and stops them when idle (scale to zero); the Broker routes by the
// Triggers in config/broker (localbroker); and Knative's own ApiServerSource adapter runs for
// every source in eventsources/, as the source's ServiceAccount, sinking into that Broker. It
// is what `nbv run` starts, and what the integration tests drive.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"k8s.io/client-go/rest"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/mlops-dev/nbv/internal/local/activator"
	"github.com/mlops-dev/nbv/internal/local/eventsource"
	"github.com/mlops-dev/nbv/internal/local/identity"
	"github.com/mlops-dev/nbv/internal/local/knservice"
	"github.com/mlops-dev/nbv/internal/local/localbroker"
	"github.com/mlops-dev/nbv/internal/local/optin"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// Options configure a Stack.
type Options struct {
	// Config is an admin configuration of the API server. It applies the manifests and issues
	// ServiceAccount tokens; no function or source acts with it.
	Config *rest.Config
	// RepoRoot holds config/ and eventsources/.
	RepoRoot string
	// Namespace is where jobs live: the event sources watch it and the sweep sweeps it.
	Namespace string
	// FunctionsDir holds each function's binary, named after its package (bin/ after `make
	// build`).
	FunctionsDir string
	// Pod configures the validation pods the functions create (the one substitution of a
	// manifest value, see overrides.go). PrepareResources cannot be passed to a process.
	Pod validationpod.Options
	// Idle is how long a function instance may serve nothing before it is stopped; zero means
	// DefaultIdle.
	Idle time.Duration
	// ConcurrencyOverride replaces the containerConcurrency of the named functions. Test-only:
	// it lets a test show a second instance start without sending twenty requests at once.
	ConcurrencyOverride map[string]int
	// Dir receives the kubeconfigs, tokens and logs of the functions; default a temporary
	// directory removed by Stop.
	Dir string
	// FunctionOutput, when set, also receives the function processes' output.
	FunctionOutput io.Writer
	// SinkURL, when set, is where the sources send their events instead of the broker
	// ingress (tests put a proxy there that duplicates deliveries).
	SinkURL string
	// PingInterval replaces the PingSources' schedules; zero means DefaultPingInterval.
	PingInterval time.Duration
	// Log receives the stack's logs; nil discards them.
	Log *slog.Logger
	// OTLPEndpoint, when set, is where the functions push metrics and traces and where the
	// validation pods' runners push their spans (what an installer sets with the Helm value
	// otlp.endpoint and NBV_POD_OTLP_ENDPOINT; config/ sets neither).
	OTLPEndpoint string
}

// DefaultIdle is the idle window of `nbv run` (Knative's scale-to-zero grace period is 30 s).
const DefaultIdle = 30 * time.Second

// Stack is a running local system. Stop it with Stop.
type Stack struct {
	// Broker routes the events; tests inspect its deliveries and dead letters.
	Broker *localbroker.Broker
	// BrokerURL is the broker ingress (where sources and external senders post events).
	BrokerURL string
	// FunctionURLs maps each function's name to its activator's URL: a request there starts an
	// instance when none runs.
	FunctionURLs map[string]string
	// Activators maps each function's name to its activator (its instances, cold starts).
	Activators map[string]*activator.Activator
	// Overrides are the environment values that differ from the Knative Services (overrides.go).
	Overrides []Override

	stopSources, stopFunctions context.CancelFunc

	dir, removeDir string
	ingress        *http.Server
	fronts         []*http.Server
	wg             sync.WaitGroup
	mu             sync.Mutex
	errs           []error
	adapters       []*eventsource.Adapter
	launchers      map[string]*processLauncher
}

// Start brings the stack up and returns once every source watches the API server. No function
// process runs yet: the first event for a function starts it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Config == nil || opts.RepoRoot == "" || opts.Namespace == "" || opts.FunctionsDir == "" {
		return nil, errors.New("localstack: Config, RepoRoot, Namespace and FunctionsDir are required")
	}
	if opts.Pod.PrepareResources != nil {
		return nil, errors.New("localstack: Pod.PrepareResources has no environment variable, so function processes cannot be given it")
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The stack outlives Start's ctx; Stop ends it, sources first and functions last, so that
	// every event already in the broker is delivered to a live function.
	sourcesCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	functionsCtx, stopFunctions := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{stopSources: stopSources, stopFunctions: stopFunctions,
		FunctionURLs: map[string]string{}, Activators: map[string]*activator.Activator{}, dir: opts.Dir,
		launchers: map[string]*processLauncher{}}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
		}
	}()
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "nbv-localstack-"); err != nil {
			return nil, fmt.Errorf("localstack: %w", err)
		}
		s.removeDir = s.dir
	}

	// What a cluster operator does: install the functions' ServiceAccounts and ClusterRoles
	// (config/namespace.yaml, config/rbac/) and opt the namespace in (its label and the
	// RoleBindings of config/rbac/opt-in/), so the functions' rights are exactly the manifests'.
	if err := optin.InstallRBAC(ctx, opts.Config, opts.RepoRoot); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	if err := optin.Namespace(ctx, opts.Config, opts.RepoRoot, opts.Namespace); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	services, err := knservice.LoadDir(filepath.Join(opts.RepoRoot, "config", "functions"))
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		if err := s.serveFunction(functionsCtx, services[name], opts, log); err != nil {
			return nil, err
		}
	}
	for _, o := range s.Overrides {
		log.Info("function environment differs from its Knative Service", "function", o.Function, "env", o.Name,
			"manifest", o.Manifest, "local", o.Local, "why", o.Why)
	}
	if err := s.startBroker(opts.RepoRoot, log); err != nil {
		return nil, err
	}
	if err := s.startSources(sourcesCtx, ctx, opts, log); err != nil {
		return nil, err
	}
	return s, nil
}

// serveFunction puts an activator for fn on a loopback URL. Its instances run fn's binary with
// fn's environment, as fn's ServiceAccount.
func (s *Stack) serveFunction(ctx context.Context, fn knservice.Function, opts Options, log *slog.Logger) error {
	pkg, err := fn.Package()
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	bin := filepath.Join(opts.FunctionsDir, path.Base(pkg))
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fmt.Errorf("localstack: function %s: no binary %s (build it with `make build`, or `go build -o DIR/ ./functions/...`)", fn.Name, bin)
	}
	dir := filepath.Join(s.dir, fn.Name)
	kubeconfig, err := identity.WriteKubeconfig(ctx, opts.Config, fn.Namespace, fn.ServiceAccountName, dir)
	if err != nil {
		return fmt.Errorf("localstack: function %s runs as ServiceAccount %s/%s (config/functions), which config/rbac must define: %w",
			fn.Name, fn.Namespace, fn.ServiceAccountName, err)
	}
	kube, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	if fn.Env, err = resolveConfigMapEnv(ctx, kube, fn.Namespace, fn.Env); err != nil {
		return fmt.Errorf("localstack: function %s: %w", fn.Name, err)
	}
	env, overrides := functionEnv(opts, fn, kubeconfig.Path)
	s.Overrides = append(s.Overrides, overrides...)
	concurrency := fn.ContainerConcurrency
	if c, ok := opts.ConcurrencyOverride[fn.Name]; ok {
		concurrency = c
	}
	launcher := &processLauncher{name: fn.Name, bin: bin, env: env, dir: dir, readinessPath: fn.ReadinessPath, output: opts.FunctionOutput}
	timeout := time.Duration(fn.TimeoutSeconds) * time.Second
	act, err := activator.New(activator.Options{
		Name: fn.Name, Concurrency: concurrency, MaxScale: fn.MaxScale, Timeout: timeout, Idle: opts.Idle,
		// Knative gives a revision's pods the revision timeout as their termination grace.
		StopGrace: timeout, Launch: launcher.launch, Log: log.With("component", "activator"), Failed: s.fail,
	})
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("localstack: listen for %s: %w", fn.Name, err)
	}
	s.FunctionURLs[fn.Name] = "http://" + ln.Addr().String()
	s.Activators[fn.Name] = act
	s.launchers[fn.Name] = launcher
	front := &http.Server{Handler: act, ReadHeaderTimeout: 10 * time.Second}
	s.fronts = append(s.fronts, front)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := front.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("activator %s: %w", fn.Name, err))
		}
	}()
	return nil
}

// FunctionProcesses are the process IDs of every function instance starting or running.
func (s *Stack) FunctionProcesses() map[string][]int {
	out := map[string][]int{}
	for name, a := range s.Activators {
		if pids := a.Processes(); len(pids) > 0 {
			out[name] = pids
		}
	}
	return out
}

// FunctionStats reports, per function, how many processes were started and the CPU time all
// of them used (also after they exited, even when killed).
func (s *Stack) FunctionStats() (map[string]FunctionStats, error) {
	out := map[string]FunctionStats{}
	for name, l := range s.launchers {
		st, err := l.stats()
		if err != nil {
			return nil, fmt.Errorf("localstack: %w", err)
		}
		out[name] = st
	}
	return out, nil
}

func (s *Stack) startBroker(repoRoot string, log *slog.Logger) error {
	triggers, err := localbroker.LoadTriggers(filepath.Join(repoRoot, "config", "broker", "triggers.yaml"))
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	// Functions not yet part of the stack have no URL; their Triggers are left out.
	var served []eventingv1.Trigger
	for _, t := range triggers {
		if ref := t.Spec.Subscriber.Ref; ref != nil && s.FunctionURLs[ref.Name] != "" {
			served = append(served, t)
		}
	}
	b, err := localbroker.New("default", served, func(t *eventingv1.Trigger) (string, error) {
		return s.FunctionURLs[t.Spec.Subscriber.Ref.Name], nil
	}, log.With("component", "broker"))
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	s.Broker = b
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("localstack: listen for the broker: %w", err)
	}
	s.BrokerURL = "http://" + ln.Addr().String()
	s.ingress = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.ingress.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("broker ingress: %w", err))
		}
	}()
	return nil
}

// startSources applies each event source manifest's RBAC into SystemNamespace, as
// `kubectl apply -k eventsources/` does, and runs its ApiServerSources there as their
// ServiceAccounts, watching opts.Namespace; then waits (bounded by waitCtx) until their
// watches are established.
func (s *Stack) startSources(runCtx, waitCtx context.Context, opts Options, log *slog.Logger) error {
	manifests, err := eventsource.LoadDir(filepath.Join(opts.RepoRoot, "eventsources"))
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	sink := opts.SinkURL
	if sink == "" {
		sink = s.BrokerURL
	}
	var pings []*sourcesv1.PingSource
	for _, m := range manifests {
		pings = append(pings, m.PingSources...)
		if len(m.ApiServerSources) == 0 {
			continue
		}
		if err := m.ApplyObjects(waitCtx, opts.Config, SystemNamespace); err != nil {
			return fmt.Errorf("localstack: %w", err)
		}
		for _, src := range m.ApiServerSources {
			sa := src.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			kubeconfig, err := identity.WriteKubeconfig(runCtx, opts.Config, SystemNamespace, sa, filepath.Join(s.dir, "sources", src.Name))
			if err != nil {
				return fmt.Errorf("localstack: ApiServerSource %s: %w", src.Name, err)
			}
			cfg, err := kubeconfig.RESTConfig()
			if err != nil {
				return fmt.Errorf("localstack: ApiServerSource %s: %w", src.Name, err)
			}
			a, err := eventsource.Start(runCtx, eventsource.Options{
				Config: cfg, Source: src, Namespace: SystemNamespace, WatchNamespace: opts.Namespace, SinkURL: sink,
			})
			if err != nil {
				return fmt.Errorf("localstack: %w", err)
			}
			s.adapters = append(s.adapters, a)
		}
	}
	interval := opts.PingInterval
	if interval <= 0 {
		interval = DefaultPingInterval
	}
	if err := s.runPings(runCtx, pings, sink, interval, log); err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	for _, a := range s.adapters {
		select {
		case <-a.Ready():
		case <-a.Done():
			return fmt.Errorf("localstack: event source stopped before its watches were ready: %w", a.Err())
		case <-waitCtx.Done():
			return fmt.Errorf("localstack: waiting for event sources: %w", waitCtx.Err())
		}
	}
	log.Info("local stack ready", "broker", s.BrokerURL, "functions", s.FunctionURLs, "sources", len(s.adapters), "pings", len(pings))
	return nil
}

func (s *Stack) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// Stop stops the sources, drains the broker, stops every function instance (each drains its
// in-flight events), and returns what failed while the stack ran.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopSources()
	var errs []error
	for _, a := range s.adapters {
		<-a.Done()
	}
	if s.ingress != nil {
		if err := s.ingress.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broker ingress shutdown: %w", err))
		}
	}
	if s.Broker != nil {
		if err := s.Broker.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range s.Activators {
		if err := a.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range s.fronts {
		if err := f.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("activator shutdown: %w", err))
		}
	}
	s.stopFunctions()
	s.wg.Wait()
	if s.removeDir != "" {
		if err := os.RemoveAll(s.removeDir); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	errs = append(errs, s.errs...)
	s.mu.Unlock()
	return errors.Join(errs...)
}
