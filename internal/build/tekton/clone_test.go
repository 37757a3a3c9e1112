package tekton

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The clone step verifies SSH host keys as the runner does: with the Secret's known_hosts,
// ssh is run with StrictHostKeyChecking=yes against that file; without one (and none in the
// image), the step fails before any connection, saying what to add. The script runs with the
// real git; ssh is a stand-in on PATH that records how git called it.
func TestCloneScriptChecksSSHHostKeys(t *testing.T) {
	if _, err := os.Stat("/etc/ssh/ssh_known_hosts"); err == nil {
		t.Skip("this machine has /etc/ssh/ssh_known_hosts, which the script would use")
	}
	clone := func(t *testing.T, secret map[string]string) (string, string, error) {
		creds, bin, scratch := t.TempDir(), t.TempDir(), t.TempDir()
		for k, v := range secret {
			if err := os.WriteFile(filepath.Join(creds, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		called := filepath.Join(scratch, "ssh-args")
		fakeSSH := "#!/bin/sh\necho \"$@\" > " + called + "\nexit 255\n"
		if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(fakeSSH), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(cloneScript, "/tmp/", scratch+"/"))
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GIT_URL=ssh://git@git.example.invalid/ml/repo.git",
			"GIT_REVISION=main", "SOURCE="+t.TempDir(), "CREDS="+creds, "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		args, _ := os.ReadFile(called)
		return string(out), string(args) + "|creds=" + creds, err
	}

	t.Run("known_hosts in the Secret", func(t *testing.T) {
		out, args, err := clone(t, map[string]string{"ssh-privatekey": "key", "known_hosts": "git.example.invalid ssh-ed25519 AAAA\n"})
		creds := args[strings.Index(args, "|creds=")+len("|creds="):]
		if err == nil || !strings.Contains(args, "StrictHostKeyChecking=yes") || !strings.Contains(args, "UserKnownHostsFile="+creds+"/known_hosts") {
			t.Errorf("ssh called with %q (clone %v: %s), want strict checking against the Secret's known_hosts", args, err, out)
		}
	})
	t.Run("no known_hosts anywhere", func(t *testing.T) {
		out, args, err := clone(t, map[string]string{"ssh-privatekey": "key"})
		if err == nil || !strings.Contains(out, "add known_hosts to the credentials Secret") {
			t.Errorf("clone %v: %s; want a failure saying to add known_hosts", err, out)
		}
		if !strings.HasPrefix(args, "|creds=") {
			t.Errorf("ssh was called (%q) without host keys to check", args)
		}
	})
	if strings.Contains(cloneScript, "accept-new") || strings.Contains(cloneScript, "StrictHostKeyChecking=no") {
		t.Error("the clone script can still trust a host key it does not know")
	}
}

// The clone step runs as the git image's user in a workspace that belongs to root: the real
// git must accept it and check the revision out. Here the workspace belongs to nobody and the
// script runs as root, which git refuses the same way; HOME is not writable.
func TestCloneScriptAcceptsAWorkspaceOwnedByAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give the workspace to another user")
	}
	repo := t.TempDir()
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(repo, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(repo, "add", ".")
	git(repo, "commit", "-q", "-m", "one")

	source, scratch := t.TempDir(), t.TempDir()
	if err := os.Chmod(source, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(source, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(cloneScript, "/tmp/", scratch+"/"))
	cmd.Env = append(os.Environ(), "GIT_URL=file://"+repo, "GIT_REVISION=main", "SOURCE="+source, "HOME=/nonexistent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone into a workspace owned by another user: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(source, "Dockerfile")); err != nil {
		t.Errorf("the revision is not checked out: %v", err)
	}
}
