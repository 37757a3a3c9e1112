package function

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestInheritedListenerRefusesWhatItCannotServe: socket activation passes exactly one socket;
// variables addressed to another process are ignored, not misread.
func TestInheritedListenerRefusesWhatItCannotServe(t *testing.T) {
	if _, err := inheritedListener("2", ""); err == nil || !strings.Contains(err.Error(), "LISTEN_FDS") {
		t.Errorf("two sockets: error %v, want one naming LISTEN_FDS", err)
	}
	ln, err := inheritedListener("1", strconv.Itoa(os.Getpid()+1))
	if err != nil || ln != nil {
		t.Errorf("LISTEN_PID of another process: %v, %v; want them ignored", ln, err)
	}
}
