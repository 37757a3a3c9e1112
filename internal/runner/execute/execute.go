// Package execute owns running one notebook with a Python interpreter's nbclient: it finds an
// interpreter that can import nbclient, drives it with the driver script embedded here, and
// turns the driver's per-cell event stream into a Result (or an *Error naming what is missing).
// It does not judge the outcome: checks and golden comparison live in other packages.
package execute

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

//go:embed driver.py
var driverScript string

// Options configure one execution.
type Options struct {
	// Python is the interpreter to use. Empty: those of Interpreters, in order; the first
	// that can import nbclient wins.
	Python string
	// Chose, if set, is told which interpreter runs the notebook (once its driver started)
	// and, with a reason, each one passed over before it.
	Chose func(it Interpreter, passedOver string)
	// Notebook is the notebook file to run (parameters already injected).
	Notebook string
	// Output receives the executed notebook.
	Output string
	// Dir is the kernel's working directory (the notebook's own directory in practice).
	Dir string
	// CellTimeout bounds each cell; zero means no limit.
	CellTimeout time.Duration
	// Kernel overrides the kernel named in the notebook metadata.
	Kernel string
	// StartupTimeout bounds kernel start; zero means 60 s.
	StartupTimeout time.Duration
	// ProbeCells are cell indexes whose result object is inspected in the kernel after they
	// run (type, shape, length, numeric value) for expected-output checks.
	ProbeCells []int
	// Cells holds what the notebook's markers ask of each code cell, by index.
	Cells map[int]CellPlan
	// AllowErrors, when set, names why no cell's error fails the notebook (nbmake's
	// metadata.execution.allow_errors).
	AllowErrors string
	// Progress, if set, is called for every event as it arrives.
	Progress func(Event)
	// Stderr, if set, receives the driver's and kernel's stderr as it is written.
	Stderr io.Writer
}

// CellPlan is what the runner does differently for one code cell.
type CellPlan struct {
	// Skip, when set, names the marker that keeps the cell from running.
	Skip string `json:"skip,omitempty"`
	// AllowError, when set, names the marker under which the cell may raise.
	AllowError string `json:"allow_error,omitempty"`
	// After is code run once the cell succeeded; its failure fails the cell.
	After []notebook.Snippet `json:"after,omitempty"`
}

// AllowedError is an exception a cell raised that its markers allowed.
type AllowedError struct {
	EName  string `json:"ename"`
	EValue string `json:"evalue"`
	By     string `json:"by"`
}

// Event is one line of the driver's event stream.
type Event struct {
	Event string `json:"event"` // start | cell_start | cell | probe | fatal | done

	// start
	Cells     int    `json:"cells,omitempty"`
	CodeCells int    `json:"codeCells,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	Python    string `json:"python,omitempty"`
	NBClient  string `json:"nbclient,omitempty"`
	StartupMs int64  `json:"startupMs,omitempty"`

	// cell_start, cell, probe
	Index     int      `json:"index"`
	Status    string   `json:"status,omitempty"` // success | failure | timeout | skipped
	Ms        int64    `json:"ms,omitempty"`
	EName     string   `json:"ename,omitempty"`
	EValue    string   `json:"evalue,omitempty"`
	Traceback []string `json:"traceback,omitempty"`
	Values    *Probe   `json:"values,omitempty"`
	Error     string   `json:"error,omitempty"`
	// Exited: the cell ended the notebook early with a clean SystemExit (EValue holds its
	// code); the cell succeeded and the later ones are skipped.
	Exited bool `json:"exited,omitempty"`
	// Allowed is the error a successful cell raised under raises-exception or allow_errors.
	Allowed *AllowedError `json:"allowed,omitempty"`
	// From names the code run after the cell that failed it (nbmake.mock,
	// nbmake.post_cell_execute).
	From string `json:"from,omitempty"`

	// fatal (Reason, Message); cell skipped (Reason)
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Cell statuses reported by the driver.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusTimeout = "timeout"
	StatusSkipped = "skipped"
)

// Probe describes a cell's result object as the kernel sees it.
type Probe struct {
	Has      bool   `json:"has"` // the cell produced a result (Out[n] exists)
	Type     string `json:"type,omitempty"`
	QualType string `json:"qualtype,omitempty"`
	Shape    []int  `json:"shape,omitempty"`
	Len      *int   `json:"len,omitempty"`
	// Number is float(result) when finite; a string ("nan", "inf") otherwise.
	Number json.RawMessage `json:"number,omitempty"`
}

// Result is what the driver reported.
type Result struct {
	Python    string // interpreter that ran the notebook
	Start     Event
	Cells     []Event       // one "cell" event per code cell, in notebook order
	Probes    map[int]Probe // by cell index
	ProbeErrs map[int]string
	Total     time.Duration // kernel start to last cell
}

// Error is an infrastructure failure: the notebook could not be run at all.
type Error struct {
	Reason  string // summary.ReasonPythonMissing, ReasonKernelMissing or ReasonRunnerError
	Message string
}

func (e *Error) Error() string { return e.Message }

// Run executes the notebook. A notebook whose cells fail is a normal Result; *Error is
// returned when no usable interpreter or kernel exists or the driver broke.
func Run(ctx context.Context, o Options) (*Result, error) {
	candidates := []Interpreter{{Path: o.Python, Source: "--python"}}
	if o.Python == "" {
		candidates = defaultInterpreters()
	}
	var tried []string
	for _, py := range candidates {
		res, err := runWith(ctx, py, o)
		var e *Error
		if errors.As(err, &e) && e.Reason == summary.ReasonPythonMissing {
			tried = append(tried, e.Message)
			if o.Chose != nil {
				o.Chose(py, e.Message)
			}
			continue
		}
		return res, err
	}
	return nil, &Error{Reason: summary.ReasonPythonMissing,
		Message: "no Python interpreter with nbclient: " + strings.Join(tried, "; ")}
}

type driverConfig struct {
	EventsFD       int              `json:"events_fd"`
	Input          string           `json:"input"`
	Output         string           `json:"output"`
	Cwd            string           `json:"cwd"`
	Timeout        float64          `json:"timeout,omitempty"`
	Kernel         string           `json:"kernel,omitempty"`
	StartupTimeout float64          `json:"startup_timeout,omitempty"`
	ProbeCells     []int            `json:"probe_cells,omitempty"`
	Cells          map[int]CellPlan `json:"cells,omitempty"`
	AllowErrors    string           `json:"allow_errors,omitempty"`
}

func runWith(ctx context.Context, it Interpreter, o Options) (*Result, error) {
	python := it.Path
	if _, err := os.Stat(python); err != nil {
		if _, lerr := exec.LookPath(python); lerr != nil {
			return nil, &Error{Reason: summary.ReasonPythonMissing, Message: fmt.Sprintf("%s: not found", python)}
		}
	}
	cfg, err := json.Marshal(driverConfig{
		EventsFD: 3, Input: o.Notebook, Output: o.Output, Cwd: o.Dir,
		Timeout: o.CellTimeout.Seconds(), Kernel: o.Kernel,
		StartupTimeout: o.StartupTimeout.Seconds(), ProbeCells: o.ProbeCells,
		Cells: o.Cells, AllowErrors: o.AllowErrors,
	})
	if err != nil {
		return nil, fmt.Errorf("encode driver config: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("events pipe: %w", err)
	}
	defer evR.Close()

	// Not -I: images may provide nbclient through PYTHONPATH or user site-packages. The driver
	// drops the current directory from sys.path itself.
	cmd := exec.CommandContext(ctx, python, "-c", driverScript)
	cmd.Stdin = bytes.NewReader(cfg)
	cmd.ExtraFiles = []*os.File{evW} // fd 3
	// The kernel's debugger warns about frozen modules on every start; it is noise here.
	cmd.Env = append(os.Environ(), "PYDEVD_DISABLE_FILE_VALIDATION=1")
	tail := &tailBuffer{max: 16 << 10}
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, o.Stderr)
	} else {
		cmd.Stderr = tail
	}
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		evW.Close()
		return nil, &Error{Reason: summary.ReasonPythonMissing, Message: fmt.Sprintf("start %s: %v", python, err)}
	}
	evW.Close()

	res := &Result{Python: python, Probes: map[int]Probe{}, ProbeErrs: map[int]string{}}
	var fatal *Event
	var done bool
	rd := bufio.NewReaderSize(evR, 64<<10)
	var readErr error
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var ev Event
			if jerr := json.Unmarshal(line, &ev); jerr != nil {
				readErr = fmt.Errorf("driver sent an unreadable event %.200q: %w", line, jerr)
			} else {
				switch ev.Event {
				case "start":
					res.Start = ev
					if o.Chose != nil {
						o.Chose(it, "")
					}
				case "cell":
					res.Cells = append(res.Cells, ev)
				case "probe":
					if ev.Values != nil {
						res.Probes[ev.Index] = *ev.Values
					} else {
						res.ProbeErrs[ev.Index] = ev.Error
					}
				case "fatal":
					fatal = &ev
				case "done":
					done = true
					res.Total = time.Duration(ev.Ms) * time.Millisecond
				}
				if o.Progress != nil {
					o.Progress(ev)
				}
			}
		}
		if err != nil {
			break
		}
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Message: fmt.Sprintf("execution stopped: %v", ctx.Err())}
	}
	if fatal != nil {
		return nil, &Error{Reason: fatal.Reason, Message: fatal.Message}
	}
	if readErr != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Message: readErr.Error()}
	}
	if !done || waitErr != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError,
			Message: fmt.Sprintf("notebook driver (%s) ended without finishing (%v): %s", python, waitErr, tail.lastLines(12))}
	}
	return res, nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if s == "" {
		return "(no output on stderr)"
	}
	return s
}
