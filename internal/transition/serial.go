package transition

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// serial lets one step of a job run at a time in this process. Two events about one job
// delivered together (a PipelineRun's running and succeeded updates held by the activator
// while the process starts) would otherwise both read the job at the same resourceVersion
// and both write from it: one write is refused with a 409. One after the other, the second
// step reads what the first wrote. Steps of different jobs do not wait for each other. Its
// zero value is ready to use.
type serial struct {
	mu   sync.Mutex
	jobs map[types.NamespacedName]*jobTurn
}

// jobTurn is the lock of one job and how many steps hold or wait for it.
type jobTurn struct {
	sync.Mutex
	users int
}

// lock waits for the job's turn and returns the function that ends it.
func (s *serial) lock(namespace, name string) (unlock func()) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s.mu.Lock()
	if s.jobs == nil {
		s.jobs = map[types.NamespacedName]*jobTurn{}
	}
	turn := s.jobs[key]
	if turn == nil {
		turn = &jobTurn{}
		s.jobs[key] = turn
	}
	turn.users++
	s.mu.Unlock()

	turn.Lock()
	return func() {
		turn.Unlock()
		s.mu.Lock()
		if turn.users--; turn.users == 0 {
			delete(s.jobs, key)
		}
		s.mu.Unlock()
	}
}
