package function

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultPort         = "8080"
	DefaultDrainTimeout = 30 * time.Second
	// DefaultMaxBodyBytes bounds a request body: a Pod or PipelineRun object with its status is
	// tens of KiB; anything near this size is not an event we sent ourselves.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultServiceName is used outside Knative, where K_SERVICE is unset.
	DefaultServiceName = "nbv-function"
)

// Config configures Serve. Zero fields take the defaults above.
type Config struct {
	// Port to listen on, all interfaces (PORT).
	Port string
	// DrainTimeout bounds how long in-flight events may run after shutdown begins
	// (NBV_DRAIN_TIMEOUT). Their contexts are cancelled when it expires.
	DrainTimeout time.Duration
	// OTLPEndpoint is the OTLP/HTTP base URL metrics and traces are pushed to
	// (OTEL_EXPORTER_OTLP_ENDPOINT).
	OTLPEndpoint string
	// ServiceName names the function (K_SERVICE).
	ServiceName string
	// Types are the CloudEvent types the handler accepts; any other type is answered 400. Each
	// must have a schema in package schemas. Required.
	Types []string
	// AllowedOrigins answer the webhook abuse-protection handshake (NBV_WEBHOOK_ALLOWED_ORIGINS).
	AllowedOrigins []string
	// MaxBodyBytes bounds a request body; larger ones are answered 413.
	MaxBodyBytes int64
	// Logger receives one JSON line per event; default JSON to stdout.
	Logger *slog.Logger
	// Listener, when set, is served instead of listening on Port (tests, socket activation).
	Listener net.Listener
	// Routes are HTTP handlers served at exact paths next to the CloudEvents endpoint at "/",
	// for requests the runtime must not decode itself: the external-CI route verifies a
	// signature over the raw body and headers, which decoding would lose. A route answers
	// POSTs itself; the runtime answers OPTIONS (the webhook handshake) and other methods for
	// it, counts it in flight for the drain, gives it the Logger of the request, and turns a
	// panic into a 500. A path must start with "/" and cannot be "/", "/healthz" or "/readyz".
	Routes map[string]http.Handler
}

// ConfigFromEnv reads the environment variables documented on the package. Types must still be
// set by the caller: which events a function handles is code, not configuration.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Port:         os.Getenv("PORT"),
		OTLPEndpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		ServiceName:  os.Getenv("K_SERVICE"),
	}
	if v := os.Getenv("NBV_DRAIN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("NBV_DRAIN_TIMEOUT=%q: want a positive Go duration such as 30s", v)
		}
		c.DrainTimeout = d
	}
	if v := os.Getenv("NBV_WEBHOOK_ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	if v := os.Getenv("LISTEN_FDS"); v != "" {
		ln, err := inheritedListener(v, os.Getenv("LISTEN_PID"))
		if err != nil {
			return Config{}, err
		}
		c.Listener = ln
	}
	if c.Port != "" {
		if p, err := strconv.Atoi(c.Port); err != nil || p <= 0 || p > 65535 {
			return Config{}, fmt.Errorf("PORT=%q: want a TCP port number", c.Port)
		}
	}
	return c, nil
}

func (c Config) withDefaults() Config {
	if c.Port == "" {
		c.Port = DefaultPort
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	return c
}

// inheritedListener is the socket passed by socket activation (LISTEN_FDS, LISTEN_PID): one
// listening socket as file descriptor 3. A LISTEN_PID naming another process means the
// variables were meant for that process and are ignored.
func inheritedListener(fds, pid string) (net.Listener, error) {
	if pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	if fds != "1" {
		return nil, fmt.Errorf("LISTEN_FDS=%q: want exactly one inherited socket (1)", fds)
	}
	f := os.NewFile(3, "LISTEN_FDS socket")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS=1: file descriptor 3 is not a listening socket: %w", err)
	}
	return ln, nil
}
