package cmdoutput

import (
	"os/exec"
	"strings"
	"testing"
)

func TestStdoutLeavesStderrOut(t *testing.T) {
	out, err := Stdout(exec.Command("sh", "-c", "echo 'go: downloading x v1' >&2; echo main"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "main\n" {
		t.Errorf("stdout %q, want only %q", out, "main\n")
	}
}

func TestStdoutErrorCarriesStderr(t *testing.T) {
	_, err := Stdout(exec.Command("sh", "-c", "echo partial; echo 'no such package' >&2; exit 3"))
	if err == nil {
		t.Fatal("a failing command returned no error")
	}
	for _, want := range []string{"sh -c", "exit status 3", "no such package"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestStdoutBoundsStderr(t *testing.T) {
	_, err := Stdout(exec.Command("sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1"))
	if err == nil {
		t.Fatal("a failing command returned no error")
	}
	if len(err.Error()) > stderrTail+200 || !strings.HasSuffix(err.Error(), "END") {
		t.Errorf("error of %d bytes, want at most ~%d ending with the tail of stderr", len(err.Error()), stderrTail)
	}
}
