package childproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on every Linux ABI Go
// supports).
const clockTick = 10 * time.Millisecond

// CPUTime is the CPU time (user + system) the child has used: read from /proc/<pid>/stat while
// it runs, from the kernel's accounting returned by wait4 once it has exited.
func (p *Process) CPUTime() (time.Duration, error) {
	select {
	case <-p.done:
		st := p.cmd.ProcessState
		if st == nil {
			return 0, fmt.Errorf("%s: no exit status", p.name)
		}
		return st.UserTime() + st.SystemTime(), nil
	default:
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
	if err != nil {
		select {
		case <-p.done: // exited between the check and the read
			return p.CPUTime()
		default:
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return statCPU(data)
}

// statCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after its ')'.
func statCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed /proc stat %q", stat)
	}
	fields := bytes.Fields(stat[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed /proc stat %q", stat)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat field %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
