package localstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlops-dev/nbv/internal/local/activator"
	"github.com/mlops-dev/nbv/internal/local/childproc"
)

// processLauncher starts instances of one function as child processes of the function's
// binary, each with the function's environment and its own loopback socket.
type processLauncher struct {
	name          string
	bin           string
	env           []string
	dir           string // working directory and logs
	readinessPath string
	output        io.Writer
	started       atomic.Int64

	mu       sync.Mutex
	launched []*childproc.Process // every instance ever started, for FunctionStats
}

// launch binds a loopback socket, hands it to a new process as file descriptor 3 (socket
// activation: LISTEN_FDS=1, see internal/function), and returns the running instance.
func (l *processLauncher) launch(context.Context) (activator.Instance, error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", l.name, err)
	}
	sock, err := ln.File()
	_ = ln.Close() // the duplicate in sock keeps the socket open
	if err != nil {
		return nil, fmt.Errorf("socket for %s: %w", l.name, err)
	}
	// Closed once the child has its copy: an instance that dies then leaves nothing listening,
	// so a probe fails at once instead of waiting on a socket nobody serves.
	defer sock.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	n := l.started.Add(1)
	env := append(append([]string(nil), l.env...), "PORT="+strconv.Itoa(port), "LISTEN_FDS=1")
	p, err := childproc.Start(childproc.Spec{
		Name: fmt.Sprintf("%s instance %d", l.name, n), Bin: l.bin, Dir: l.dir,
		LogPath: filepath.Join(l.dir, fmt.Sprintf("%s-%d.log", l.name, n)), Output: l.output,
		Env: env, ExtraFiles: []*os.File{sock},
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.launched = append(l.launched, p)
	l.mu.Unlock()
	return &processInstance{Process: p, url: &url.URL{Scheme: "http", Host: ln.Addr().String()}, readiness: l.readinessPath}, nil
}

// processInstance is one function process.
type processInstance struct {
	*childproc.Process
	url       *url.URL
	readiness string
}

func (i *processInstance) URL() *url.URL { return i.url }

// readinessProbe is the probe client: each probe is short, the caller's ctx bounds them all.
var readinessProbe = &http.Client{Timeout: 2 * time.Second}

// WaitReady probes the readiness path until it answers 200, as Knative's queue-proxy does
// before the activator sends the first request.
func (i *processInstance) WaitReady(ctx context.Context) error {
	target := i.url.JoinPath(i.readiness).String()
	for {
		if gone, err := i.Exited(); gone {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		resp, err := readinessProbe.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no ready answer from %s: %w; last output:\n%s", target, ctx.Err(), i.LogTail(20))
		case <-i.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// FunctionStats is what the processes of one function have cost so far.
type FunctionStats struct {
	// Instances is how many processes were started (each a cold start).
	Instances int
	// CPU is the CPU time (user + system) of all of them, running or exited.
	CPU time.Duration
}

// stats sums the CPU time of every process l started.
func (l *processLauncher) stats() (FunctionStats, error) {
	l.mu.Lock()
	procs := append([]*childproc.Process(nil), l.launched...)
	l.mu.Unlock()
	st := FunctionStats{Instances: len(procs)}
	for _, p := range procs {
		cpu, err := p.CPUTime()
		if err != nil {
			return st, fmt.Errorf("cpu time of %s: %w", l.name, err)
		}
		st.CPU += cpu
	}
	return st, nil
}
