// Package artifact pushes a run's record (the executed notebook, report.html, report.json and
// junit.xml) to a registry as one OCI artifact, and pulls it back.
//
// The artifact follows the OCI image spec 1.1's guidance for artifacts: an image manifest
// whose artifactType is ArtifactType, whose config is the empty descriptor
// (application/vnd.oci.empty.v1+json, "{}"), and with one layer per file, each with its own
// media type and an org.opencontainers.image.title annotation naming the file, so that
// `oras pull` restores the files under their names and `crane manifest` shows them.
package artifact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the artifact.
const (
	// ArtifactType is the manifest's artifactType: a notebook validation run's record.
	ArtifactType = "application/vnd.nbv.report.v1+json"
	// MediaTypeEmpty is the OCI empty descriptor's media type, used for the config.
	MediaTypeEmpty = "application/vnd.oci.empty.v1+json"
	// MediaTypeNotebook is the IANA media type of a Jupyter notebook.
	MediaTypeNotebook = "application/x-ipynb+json"
	// MediaTypeHTML is report.html.
	MediaTypeHTML = "text/html"
	// MediaTypeReport is report.json (schemas: the runner's report).
	MediaTypeReport = "application/vnd.nbv.report.result.v1+json"
	// MediaTypeJUnit is junit.xml.
	MediaTypeJUnit = "application/vnd.nbv.junit+xml"

	// AnnotationTitle names a layer's file (what oras pull writes).
	AnnotationTitle = "org.opencontainers.image.title"
)

// emptyJSON is the content of the empty descriptor.
var emptyJSON = []byte("{}")

// File is one file of the artifact.
type File struct {
	Name      string
	MediaType string
}

// Files are the files a run leaves, in the artifact's layer order. A missing one (a run that
// stopped before writing it) is left out.
var Files = []File{
	{"executed.ipynb", MediaTypeNotebook},
	{"report.html", MediaTypeHTML},
	{"report.json", MediaTypeReport},
	{"junit.xml", MediaTypeJUnit},
}

// MaxFileBytes bounds each file pushed or pulled (the runner refuses notebooks over 50 MiB;
// an executed notebook carries outputs on top).
const MaxFileBytes = 256 << 20

// ErrNothingToPush means the directory holds none of Files.
var ErrNothingToPush = errors.New("no run output to push")

// Options reach the registry.
type Options struct {
	// Keychain resolves credentials; nil means authn.DefaultKeychain ($DOCKER_CONFIG/config.json,
	// else ~/.docker/config.json).
	Keychain authn.Keychain
	// Insecure allows plain HTTP (loopback registries are always reached over HTTP).
	Insecure bool
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Annotations are added to the manifest (e.g. the job it records).
	Annotations map[string]string
}

func (o Options) remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

func (o Options) nameOpts() []name.Option {
	if o.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// Pushed is what Push wrote.
type Pushed struct {
	// Reference is the artifact by digest: <repository>@sha256:<hex>.
	Reference string
	// Files are the layers' titles, in order.
	Files []string
}

// rawManifest is a manifest already encoded, for remote.Put.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// Push pushes the files of dir that Files names as one artifact to ref (a tag or repository
// reference; a repository alone is tagged "latest") and returns it by digest.
func Push(ctx context.Context, dir, ref string, o Options) (Pushed, error) {
	tag, err := name.ParseReference(ref, o.nameOpts()...)
	if err != nil {
		return Pushed{}, fmt.Errorf("artifact reference %q: %w", ref, err)
	}
	repo := tag.Context()
	ropts := o.remote(ctx)

	var layers []v1.Descriptor
	var pushed Pushed
	for _, f := range Files {
		b, err := readBounded(filepath.Join(dir, f.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Pushed{}, err
		}
		l := static.NewLayer(b, types.MediaType(f.MediaType))
		if err := remote.WriteLayer(repo, l, ropts...); err != nil {
			return Pushed{}, fmt.Errorf("push %s to %s: %w", f.Name, repo, err)
		}
		d, _ := l.Digest()
		layers = append(layers, v1.Descriptor{MediaType: types.MediaType(f.MediaType), Size: int64(len(b)), Digest: d,
			Annotations: map[string]string{AnnotationTitle: f.Name}})
		pushed.Files = append(pushed.Files, f.Name)
	}
	if len(layers) == 0 {
		return Pushed{}, fmt.Errorf("%w in %s (want any of %s)", ErrNothingToPush, dir, fileNames())
	}
	empty := static.NewLayer(emptyJSON, MediaTypeEmpty)
	if err := remote.WriteLayer(repo, empty, ropts...); err != nil {
		return Pushed{}, fmt.Errorf("push the empty config to %s: %w", repo, err)
	}
	emptyDigest, _ := empty.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: MediaTypeEmpty, Size: int64(len(emptyJSON)), Digest: emptyDigest, Data: emptyJSON},
		Layers:        layers,
		Annotations:   o.Annotations,
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Pushed{}, err
	}
	if err := remote.Put(tag, rawManifest{b, types.OCIManifestSchema1}, ropts...); err != nil {
		return Pushed{}, fmt.Errorf("push the manifest to %s: %w", tag, err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	pushed.Reference = repo.Digest(h.String()).String()
	return pushed, nil
}

// Pull fetches the artifact ref and writes its files into dir under their titles, returning
// their paths. It refuses a manifest of another artifactType and titles that are not plain
// file names.
func Pull(ctx context.Context, ref, dir string, o Options) ([]string, error) {
	r, err := name.ParseReference(ref, o.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("artifact reference %q: %w", ref, err)
	}
	ropts := o.remote(ctx)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", ref, err)
	}
	if m.ArtifactType != ArtifactType {
		return nil, fmt.Errorf("%s is not a notebook run's record: artifactType %q, want %q", ref, m.ArtifactType, ArtifactType)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, l := range m.Layers {
		title := l.Annotations[AnnotationTitle]
		if title == "" || title != filepath.Base(title) || !filepath.IsLocal(title) {
			return nil, fmt.Errorf("%s: layer %s has title %q, not a plain file name", ref, l.Digest, title)
		}
		if l.Size > MaxFileBytes {
			return nil, fmt.Errorf("%s: %s is %d bytes, over %d", ref, title, l.Size, MaxFileBytes)
		}
		layer, err := remote.Layer(r.Context().Digest(l.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", ref, title, err)
		}
		rc, err := layer.Compressed() // verifies the digest as it reads
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", ref, title, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxFileBytes+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", ref, title, err)
		}
		p := filepath.Join(dir, title)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// readBounded reads the regular file p, refusing anything else. The files are the notebook's
// (user code) and the pusher holds a credential: a symlink would make it push what it can read
// and the notebook could not (the credential itself), and a FIFO would block it forever. The
// notebook container has ended when the pusher reads, so nothing swaps the file in between;
// the open file is still checked to be the one examined.
func readBounded(p string) ([]byte, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): refused", p, st.Mode().Type())
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, over the artifact's limit of %d", p, st.Size(), MaxFileBytes)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(st, opened) {
		return nil, fmt.Errorf("%s changed while it was read: refused", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s grew over the artifact's limit of %d", p, MaxFileBytes)
	}
	return b, nil
}

func fileNames() string {
	var ns []string
	for _, f := range Files {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ", ")
}

// DockerConfig is the config.json (what a kubernetes.io/dockerconfigjson Secret holds) of one
// registry login.
func DockerConfig(registry, user, password string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{registry: map[string]string{"auth": auth}}})
	return b
}

// DockerConfigKeychain resolves logins from dir/config.json only (a mounted
// kubernetes.io/dockerconfigjson Secret, or a --docker-config flag).
func DockerConfigKeychain(dir string) authn.Keychain { return dockerConfigDir(dir) }

type dockerConfigDir string

func (d dockerConfigDir) Resolve(r authn.Resource) (authn.Authenticator, error) {
	b, err := os.ReadFile(filepath.Join(string(d), "config.json"))
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s/config.json: %w", d, err)
	}
	for _, key := range []string{r.RegistryStr(), "https://" + r.RegistryStr(), "http://" + r.RegistryStr()} {
		a, ok := cfg.Auths[key]
		if !ok {
			continue
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("%s/config.json: auth of %s: %w", d, key, err)
			}
			u, p, _ := strings.Cut(string(raw), ":")
			return &authn.Basic{Username: u, Password: p}, nil
		}
		return &authn.Basic{Username: a.Username, Password: a.Password}, nil
	}
	return authn.Anonymous, nil
}
