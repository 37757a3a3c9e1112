// Package localstack assembles the event-driven system on one machine, against a real API
// server: each function served over HTTP on loopback by the same runtime as in a cluster, the
// Broker routing by the Triggers in config/broker (localbroker), and Knative's own
// ApiServerSource adapter for every source in eventsources/ sinking into that Broker. It is
// what `nbv run` starts, and what the integration tests drive.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/mlops-dev/nbv/internal/buildstatus"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/local/eventsource"
	"github.com/mlops-dev/nbv/internal/local/localbroker"
	"github.com/mlops-dev/nbv/internal/podcompleted"
	"github.com/mlops-dev/nbv/internal/sweep"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// Options configure a Stack.
type Options struct {
	// Config is an admin configuration of the API server.
	Config *rest.Config
	// RepoRoot holds config/ and eventsources/.
	RepoRoot string
	// Namespace is where the event sources run and what they watch.
	Namespace string
	// Pod configures the validation pods the functions create.
	Pod validationpod.Options
	// SinkURL, when set, is where the sources send their events instead of the broker
	// ingress (tests put a proxy there that duplicates deliveries).
	SinkURL string
	// PingInterval replaces the PingSources' schedules; zero means DefaultPingInterval.
	PingInterval time.Duration
	// Log receives the stack's logs; nil discards them.
	Log *slog.Logger
}

// Stack is a running local system. Stop it with Stop.
type Stack struct {
	// Broker routes the events; tests inspect its deliveries and dead letters.
	Broker *localbroker.Broker
	// BrokerURL is the broker ingress (where sources and external senders post events).
	BrokerURL string
	// FunctionURLs maps each function's name to its URL.
	FunctionURLs map[string]string

	stopSources, stopFunctions context.CancelFunc

	ingress  *http.Server
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
	adapters []*eventsource.Adapter
}

// functionSpec is one function of the stack: its name (the Trigger subscriber's name), the
// event types it accepts, and its assembly, the same call as its functions/<name>/main.go.
type functionSpec struct {
	name  string
	types []string
	build func(functionenv.Settings, Options) (served, error)
}

// served is what a function serves: its CloudEvents handler and extra HTTP routes.
type served struct {
	handler function.Handler
	routes  map[string]http.Handler
}

var functions = []functionSpec{
	{"job-created", jobcreated.EventTypes, func(s functionenv.Settings, _ Options) (served, error) {
		h, err := jobcreated.New(s)
		return served{handler: h}, err
	}},
	{"pod-completed", podcompleted.EventTypes, func(s functionenv.Settings, _ Options) (served, error) {
		h, err := podcompleted.New(s)
		return served{handler: h}, err
	}},
	{"build-status-changed", buildstatus.EventTypes, func(s functionenv.Settings, _ Options) (served, error) {
		h, routes, err := buildstatus.New(s)
		return served{handler: h, routes: routes}, err
	}},
	{"sweep", sweep.EventTypes, func(s functionenv.Settings, o Options) (served, error) {
		h, err := sweep.NewFunction(s, sweep.Options{Namespace: o.Namespace})
		return served{handler: h}, err
	}},
}

// Start brings the stack up and returns once every source watches the API server.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Config == nil || opts.RepoRoot == "" || opts.Namespace == "" {
		return nil, errors.New("localstack: Config, RepoRoot and Namespace are required")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The stack outlives Start's ctx; Stop ends it, sources first and functions last, so that
	// every event already in the broker is delivered to a live function.
	sourcesCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	functionsCtx, stopFunctions := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{stopSources: stopSources, stopFunctions: stopFunctions, FunctionURLs: map[string]string{}}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
		}
	}()

	settings := functionenv.Settings{Kube: opts.Config, Pod: opts.Pod}
	for _, f := range functions {
		if err := s.serveFunction(functionsCtx, f, settings, opts, log); err != nil {
			return nil, err
		}
	}
	if err := s.startBroker(opts.RepoRoot, log); err != nil {
		return nil, err
	}
	if err := s.startSources(sourcesCtx, ctx, opts, log); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) serveFunction(ctx context.Context, f functionSpec, settings functionenv.Settings, opts Options, log *slog.Logger) error {
	fn, err := f.build(settings, opts)
	if err != nil {
		return fmt.Errorf("localstack: function %s: %w", f.name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("localstack: listen for %s: %w", f.name, err)
	}
	s.FunctionURLs[f.name] = "http://" + ln.Addr().String()
	cfg := function.Config{Listener: ln, Types: f.types, ServiceName: f.name, Routes: fn.routes,
		Logger: log.With("function", f.name), DrainTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := function.Serve(ctx, cfg, fn.handler); err != nil {
			s.fail(fmt.Errorf("function %s: %w", f.name, err))
		}
	}()
	return nil
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

// startSources applies each event source manifest's RBAC and runs its ApiServerSources,
// waiting (bounded by waitCtx) until their watches are established.
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
		if err := m.ApplyObjects(waitCtx, opts.Config, opts.Namespace); err != nil {
			return fmt.Errorf("localstack: %w", err)
		}
		for _, src := range m.ApiServerSources {
			a, err := eventsource.Start(runCtx, eventsource.Options{
				Config: opts.Config, Source: src, Namespace: opts.Namespace, WatchNamespace: opts.Namespace, SinkURL: sink,
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

// Stop stops the sources, drains the broker and the functions, and returns what failed while
// the stack ran.
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
	s.stopFunctions()
	s.wg.Wait()
	s.mu.Lock()
	errs = append(errs, s.errs...)
	s.mu.Unlock()
	return errors.Join(errs...)
}
