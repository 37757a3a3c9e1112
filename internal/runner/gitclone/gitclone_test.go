package gitclone_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"

	"github.com/mlops-dev/nbv/internal/runner/gitclone"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// makeRepo creates a repository with two commits on main (nb.ipynb "v1" then "v2"), a tag
// v1 on the first and a branch "feature" holding feature.txt. It returns the path and the
// first commit's hash.
func makeRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	commit := func(file, content string) plumbing.Hash {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(file); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit("add "+file, &git.CommitOptions{Author: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := commit("nb.ipynb", "v1")
	if _, err := repo.CreateTag("v1", first, nil); err != nil {
		t.Fatal(err)
	}
	commit("nb.ipynb", "v2")
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	commit("feature.txt", "f")
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("main")}); err != nil {
		t.Fatal(err)
	}
	return dir, first.String()
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<missing>"
	}
	return string(b)
}

func TestCloneRefs(t *testing.T) {
	src, first := makeRepo(t)
	url := "file://" + src
	tests := []struct {
		ref, file, want string
	}{
		{"main", "nb.ipynb", "v2"},
		{"v1", "nb.ipynb", "v1"},
		{"feature", "feature.txt", "f"},
		{first, "nb.ipynb", "v1"},
		{first[:10], "nb.ipynb", "v1"},
		{"refs/tags/v1", "nb.ipynb", "v1"},
	}
	for _, tc := range tests {
		dst := filepath.Join(t.TempDir(), "repo")
		commit, err := gitclone.Clone(context.Background(), gitclone.Options{URL: url, Ref: tc.ref, Dir: dst})
		if err != nil {
			t.Errorf("ref %s: %v", tc.ref, err)
			continue
		}
		if got := read(t, filepath.Join(dst, tc.file)); got != tc.want {
			t.Errorf("ref %s: %s = %q, want %q", tc.ref, tc.file, got, tc.want)
		}
		if tc.ref == first && commit != first {
			t.Errorf("ref %s: checked out %s", tc.ref, commit)
		}
	}
}

func reasonOf(err error) string {
	var ce *gitclone.Error
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

func TestCloneFailures(t *testing.T) {
	src, _ := makeRepo(t)
	tests := []struct {
		name, url, ref, reason string
	}{
		{"missing branch", "file://" + src, "nope", summary.ReasonRefNotFound},
		{"missing sha", "file://" + src, "0123456789abcdef0123456789abcdef01234567", summary.ReasonRefNotFound},
		{"missing repo", "file://" + filepath.Join(t.TempDir(), "absent"), "main", summary.ReasonRepoNotFound},
	}
	for _, tc := range tests {
		_, err := gitclone.Clone(context.Background(), gitclone.Options{URL: tc.url, Ref: tc.ref, Dir: filepath.Join(t.TempDir(), "r")})
		if got := reasonOf(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %s", tc.name, got, err, tc.reason)
		}
	}
}

// serveHTTP serves repo over git's smart HTTP protocol (git http-backend as CGI) on
// 127.0.0.1, requiring basic auth user/secret.
func serveHTTP(t *testing.T, repo string) string {
	t.Helper()
	backend, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	out, err := exec.Command(backend, "--exec-path").Output()
	if err != nil {
		t.Skip("git --exec-path failed")
	}
	root := filepath.Dir(repo)
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(repo)
}

func creds(t *testing.T, kv map[string]string) string {
	dir := t.TempDir()
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCloneOverHTTPWithCredentials(t *testing.T) {
	src, _ := makeRepo(t)
	url := serveHTTP(t, src)
	tests := []struct {
		name   string
		creds  map[string]string
		reason string
	}{
		{"right password", map[string]string{"username": "user", "password": "secret"}, ""},
		{"token", map[string]string{"username": "user", "token": "secret"}, ""},
		{"wrong password", map[string]string{"username": "user", "password": "wrong"}, summary.ReasonCloneAuthFailed},
		{"no credentials", nil, summary.ReasonCloneAuthFailed},
	}
	for _, tc := range tests {
		dst := filepath.Join(t.TempDir(), "r")
		_, err := gitclone.Clone(context.Background(), gitclone.Options{URL: url, Ref: "main", Dir: dst, CredentialsDir: creds(t, tc.creds)})
		if got := reasonOf(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.reason)
		}
		if tc.reason == "" && read(t, filepath.Join(dst, "nb.ipynb")) != "v2" {
			t.Errorf("%s: clone content wrong", tc.name)
		}
		if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("%s: error leaks the password: %v", tc.name, err)
		}
	}
}

func TestSSHRequiresKnownHosts(t *testing.T) {
	// No known_hosts anywhere: neither in the Secret nor in the standard places.
	t.Setenv("SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("HOME", t.TempDir())
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(block))
	_, err = gitclone.Auth("git@example.com:org/repo.git", creds(t, map[string]string{"ssh-privatekey": key}))
	if err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("SSH without known_hosts: %v", err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	kh := "example.com " + string(ssh.MarshalAuthorizedKey(sshPub))
	auth, err := gitclone.Auth("ssh://git@example.com/org/repo.git", creds(t, map[string]string{"ssh-privatekey": key, "known_hosts": kh}))
	if err != nil || auth == nil || auth.Name() != "ssh-public-keys" {
		t.Errorf("SSH with known_hosts: %v %v", auth, err)
	}
}
