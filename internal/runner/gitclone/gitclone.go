// Package gitclone owns fetching a repository at a branch, tag or commit SHA with go-git,
// authenticated from a mounted Secret directory, and classifying every failure into the
// summary Reason the pod-completed function reports (auth, missing repository, missing ref).
package gitclone

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// Secret keys read from the credentials directory (a mounted Secret: one file per key).
const (
	KeyUsername   = "username"
	KeyPassword   = "password"
	KeyToken      = "token"
	KeySSHKey     = "ssh-privatekey"
	KeyKnownHosts = "known_hosts"
	// KeySSHPassphrase optionally decrypts ssh-privatekey.
	KeySSHPassphrase = "ssh-passphrase"
)

// Options name what to clone.
type Options struct {
	URL string
	Ref string // branch, tag, full ref name (refs/...) or commit SHA (7-40 hex digits)
	Dir string // created; must not exist or be empty
	// CredentialsDir holds the Secret's files; empty or missing means anonymous.
	CredentialsDir string
}

// Error is a clone failure with the summary Reason that describes it.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

var shaLike = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// Clone fetches o.URL at o.Ref into o.Dir and returns the checked-out commit.
func Clone(ctx context.Context, o Options) (string, error) {
	auth, err := Auth(o.URL, o.CredentialsDir)
	if err != nil {
		return "", &Error{Reason: summary.ReasonCloneAuthFailed, Err: err}
	}
	display := redact(o.URL)
	// One round trip lists the refs: it tells a branch from a tag from a SHA and surfaces
	// auth and missing-repository errors before anything is written.
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{o.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return "", &Error{Reason: summary.ReasonRefNotFound, Err: fmt.Errorf("repository %s is empty: no ref %q", display, o.Ref)}
		}
		return "", classify(display, err)
	}
	var target plumbing.ReferenceName
	candidates := []plumbing.ReferenceName{plumbing.NewBranchReferenceName(o.Ref), plumbing.NewTagReferenceName(o.Ref)}
	if strings.HasPrefix(o.Ref, "refs/") {
		candidates = []plumbing.ReferenceName{plumbing.ReferenceName(o.Ref)}
	}
	for _, c := range candidates {
		if slices.ContainsFunc(refs, func(r *plumbing.Reference) bool { return r.Name() == c }) {
			target = c
			break
		}
	}
	if target == "" && !shaLike.MatchString(o.Ref) {
		return "", &Error{Reason: summary.ReasonRefNotFound,
			Err: fmt.Errorf("repository %s has no branch or tag %q (branches: %s)", display, o.Ref, branchNames(refs))}
	}
	if target != "" {
		opts := &git.CloneOptions{URL: o.URL, Auth: auth, ReferenceName: target, SingleBranch: true, Depth: 1, Tags: git.NoTags}
		repo, err := git.PlainCloneContext(ctx, o.Dir, false, opts)
		if err != nil && shallowUnsupported(err) {
			// Some servers (and go-git's own file transport) cannot serve shallow clones.
			if rerr := emptyDir(o.Dir); rerr != nil {
				return "", rerr
			}
			opts.Depth = 0
			repo, err = git.PlainCloneContext(ctx, o.Dir, false, opts)
		}
		if err != nil {
			return "", classify(display, err)
		}
		head, err := repo.Head()
		if err != nil {
			return "", fmt.Errorf("read HEAD of %s: %w", display, err)
		}
		return head.Hash().String(), nil
	}
	// A commit SHA: fetch full history, then check the commit out.
	repo, err := git.PlainCloneContext(ctx, o.Dir, false, &git.CloneOptions{URL: o.URL, Auth: auth, NoCheckout: true})
	if err != nil {
		return "", classify(display, err)
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(o.Ref))
	if err != nil {
		return "", &Error{Reason: summary.ReasonRefNotFound, Err: fmt.Errorf("repository %s has no branch, tag or commit %q", display, o.Ref)}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("worktree of %s: %w", display, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: *hash, Force: true}); err != nil {
		return "", fmt.Errorf("check out %s in %s: %w", hash, display, err)
	}
	return hash.String(), nil
}

// Auth builds go-git credentials for url from the files in dir. HTTPS: username+password, or
// token (sent as the basic-auth password, the form GitHub, GitLab and Gitea accept; the user
// name is the username file or "x-access-token"). SSH: ssh-privatekey, with host keys checked
// against known_hosts from dir, else the standard known_hosts files; never skipped.
func Auth(rawURL, dir string) (transport.AuthMethod, error) {
	if dir == "" {
		return nil, nil
	}
	read := func(key string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("read credential %s: %w", key, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	user, err := read(KeyUsername)
	if err != nil {
		return nil, err
	}
	if isSSH(rawURL) {
		key, err := read(KeySSHKey)
		if err != nil || key == "" {
			return nil, err
		}
		pass, err := read(KeySSHPassphrase)
		if err != nil {
			return nil, err
		}
		if u := sshUser(rawURL); u != "" {
			user = u
		} else if user == "" {
			user = "git"
		}
		pk, err := gitssh.NewPublicKeys(user, []byte(key+"\n"), pass)
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", KeySSHKey, err)
		}
		var files []string
		if kh := filepath.Join(dir, KeyKnownHosts); fileExists(kh) {
			files = append(files, kh)
		}
		cb, err := gitssh.NewKnownHostsCallback(files...)
		if err != nil {
			return nil, fmt.Errorf("SSH needs known host keys: add %s to the credentials Secret (%w)", KeyKnownHosts, err)
		}
		pk.HostKeyCallback = cb
		return pk, nil
	}
	if token, err := read(KeyToken); err != nil {
		return nil, err
	} else if token != "" {
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: token}, nil
	}
	pass, err := read(KeyPassword)
	if err != nil {
		return nil, err
	}
	if user == "" && pass == "" {
		return nil, nil
	}
	if user == "" || pass == "" {
		return nil, fmt.Errorf("credentials need both %s and %s (or %s)", KeyUsername, KeyPassword, KeyToken)
	}
	return &githttp.BasicAuth{Username: user, Password: pass}, nil
}

func classify(display string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "handshake failed"):
		return &Error{Reason: summary.ReasonCloneAuthFailed, Err: fmt.Errorf("authentication to %s failed: %w", display, err)}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &Error{Reason: summary.ReasonRepoNotFound, Err: fmt.Errorf("repository %s not found: %w", display, err)}
	case errors.Is(err, plumbing.ErrReferenceNotFound), errors.Is(err, git.NoMatchingRefSpecError{}):
		return &Error{Reason: summary.ReasonRefNotFound, Err: fmt.Errorf("%s: %w", display, err)}
	}
	return &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("clone %s: %w", display, err)}
}

func shallowUnsupported(err error) bool {
	s := err.Error()
	return strings.Contains(s, "shallow") || strings.Contains(s, "unsupported capability")
}

func emptyDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean %s for a full clone: %w", dir, err)
	}
	return nil
}

func branchNames(refs []*plumbing.Reference) string {
	var names []string
	for _, r := range refs {
		if r.Name().IsBranch() {
			names = append(names, r.Name().Short())
		}
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], "…")
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func isSSH(u string) bool {
	return strings.HasPrefix(u, "ssh://") || (strings.Contains(u, "@") && !strings.Contains(u, "://"))
}

func sshUser(u string) string {
	if strings.HasPrefix(u, "ssh://") {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			return p.User.Username()
		}
		return ""
	}
	if i := strings.IndexByte(u, '@'); i > 0 {
		return u[:i]
	}
	return ""
}

// redact removes any password embedded in a URL before it reaches a message.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
