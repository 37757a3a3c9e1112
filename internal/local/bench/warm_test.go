package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
)

func requestBy(user, name string) controlplane.AuditEvent {
	var e controlplane.AuditEvent
	e.User.Username = user
	e.RequestURI = "/" + name
	return e
}

// TestWithoutWarmUp: the functions' requests logged during the warm-up go, the sources'
// stay, and what came before and after is kept in order.
func TestWithoutWarmUp(t *testing.T) {
	const fn, source = "system:serviceaccount:nbv-system:job-created", "system:serviceaccount:nbv-system:source"
	functions := map[string]string{fn: "job-created"}
	all := []controlplane.AuditEvent{requestBy(source, "list"), requestBy(fn, "warm-get"), requestBy(source, "watch"),
		requestBy(fn, "warm-patch"), requestBy(fn, "run-get"), requestBy(source, "late")}
	got := withoutWarmUp(all, all[1:], all[4:], functions)
	var uris []string
	for _, e := range got {
		uris = append(uris, e.RequestURI)
	}
	if strings.Join(uris, " ") != "/list /watch /run-get /late" {
		t.Errorf("kept %v", uris)
	}
	if got := withoutWarmUp(all, all, all, functions); len(got) != len(all) {
		t.Errorf("an empty warm-up window dropped %d events", len(all)-len(got))
	}
}

// TestWarmRefusedWhenFunctionsScaleToZeroBetweenJobs: a warm start means nothing when the idle
// window is no longer than the gaps a function sees; the default idle window is fine.
func TestWarmRefusedWhenFunctionsScaleToZeroBetweenJobs(t *testing.T) {
	for _, o := range []Options{
		{Warm: true, Interval: time.Second, Idle: 300 * time.Millisecond},
		{Warm: true, Idle: 2 * time.Second},                            // a notebook runs 2 s
		{Warm: true, Interval: 5 * time.Second, Idle: 5 * time.Second}, // the interval
	} {
		o.RepoRoot = t.TempDir()
		if err := o.setDefaults(); err == nil || !strings.Contains(err.Error(), "warm") {
			t.Errorf("%+v: setDefaults = %v, want the warm-up refused", o, err)
		}
	}
	for _, o := range []Options{{Warm: true, Interval: time.Second}, {Interval: time.Second, Idle: 300 * time.Millisecond}} {
		o.RepoRoot = t.TempDir()
		if err := o.setDefaults(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestWarmUpHintsAreAboutNoJob: one hint per event function, each a resource event of the
// warm-up namespace, which holds no job.
func TestWarmUpHintsAreAboutNoJob(t *testing.T) {
	hints := warmUpHints()
	for _, fn := range []string{"job-created", "pod-completed", "build-status-changed"} {
		ev, ok := hints[fn]
		if !ok {
			t.Errorf("no hint for %s", fn)
			continue
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("%s: %v", fn, err)
		}
		re, err := events.DecodeResourceEvent(ev)
		if err != nil {
			t.Errorf("%s: %v", fn, err)
			continue
		}
		if re.Namespace != warmNamespace || warmNamespace == benchNamespace {
			t.Errorf("%s: hint in namespace %s, want %s (not the run's %s)", fn, re.Namespace, warmNamespace, benchNamespace)
		}
	}
	if len(hints) != 3 {
		t.Errorf("%d hints, want the three event functions'", len(hints))
	}
}

func TestTableSaysHowTheRunStarted(t *testing.T) {
	for warm, want := range map[bool]string{true: "; functions warm at the start\n", false: "; from zero\n"} {
		var b strings.Builder
		if err := (&Result{Config: Config{Jobs: 1, Warm: warm}}).WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasSuffix(first+"\n", want) {
			t.Errorf("warm %v: header %q, want it to end %q", warm, first, want)
		}
	}
}
