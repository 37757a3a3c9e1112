package prefetch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// The read starts before Get is called, Get returns its answer once, and a later Get reads
// again: a step decided again must not see the first answer twice.
func TestReadStartsAheadAndOnlyTheFirstGetUsesIt(t *testing.T) {
	var reads atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	r := Start(context.Background(), func(context.Context) (int32, error) {
		n := reads.Add(1)
		if n == 1 {
			close(started)
			<-release
		}
		return n, nil
	})
	<-started // read ahead: under way before anyone asked for it
	close(release)
	if v, err := r.Get(context.Background()); v != 1 || err != nil {
		t.Fatalf("first Get = %d, %v; want the read started ahead (1)", v, err)
	}
	if v, err := r.Get(context.Background()); v != 2 || err != nil {
		t.Fatalf("second Get = %d, %v; want a fresh read (2)", v, err)
	}
	r.Wait()
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads, want 2", n)
	}
}

func TestReadErrorIsReturned(t *testing.T) {
	boom := errors.New("boom")
	r := Start(context.Background(), func(context.Context) (string, error) { return "", boom })
	r.Wait()
	if _, err := r.Get(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Get error %v, want %v", err, boom)
	}
}
