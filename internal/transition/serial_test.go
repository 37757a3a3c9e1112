package transition

import (
	"runtime"
	"sync"
	"testing"
)

// TestSerialOneStepOfAJobAtATime: steps of one job never overlap; a step of another job
// does not wait for them; the lock of a job nobody holds is forgotten.
func TestSerialOneStepOfAJobAtATime(t *testing.T) {
	var s serial
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			unlock := s.lock("ns", "a")
			defer unlock()
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			runtime.Gosched() // give another step the chance to enter if it could
			mu.Lock()
			inside--
			mu.Unlock()
		})
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d steps of one job ran at once, want 1", most)
	}

	unlockA := s.lock("ns", "a")
	unlockB := s.lock("ns", "b") // would never return if b waited for a
	unlockB()
	unlockA()
	if n := len(s.jobs); n != 0 {
		t.Errorf("%d job locks remembered after every step ended, want 0", n)
	}
}
