// Package cmdoutput runs a command whose standard output is to be parsed. Only stdout is
// returned: tools write progress and warnings to stderr (`go: downloading ...` on a cold module
// cache, kubectl's `Warning: ...`), and mixing them in breaks a parser only on the machines
// that see them. Stderr is kept for the error.
package cmdoutput

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// stderrTail bounds how much of stderr an error carries.
const stderrTail = 4000

// Stdout runs cmd and returns its standard output. On failure the error names the command
// line and ends with the last stderrTail bytes of its stderr.
func Stdout(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.Bytes()
		if len(msg) > stderrTail {
			msg = msg[len(msg)-stderrTail:]
		}
		return out, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(msg)))
	}
	return out, nil
}
