package hostkubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/internal/validationpod"
)

// kubeletDir holds the kubelet's own files inside a pod directory. Volume names are DNS
// labels, which cannot start with a dot, so it never collides with a volume.
const kubeletDir = ".kubelet"

// Modes of projected files. Secrets are owner-only whatever defaultMode says: on the host no
// mount namespace hides them from other users.
const (
	secretFileMode    os.FileMode = 0o400
	configMapFileMode os.FileMode = 0o644
)

// setUpVolumes creates every volume of the Pod under dir. A missing Secret or ConfigMap is an
// error the caller retries, as the kubelet retries a failed mount.
func setUpVolumes(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, dir string) (map[string]string, error) {
	hostPaths := make(map[string]string, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vdir := filepath.Join(dir, v.Name)
		var err error
		switch src := v.VolumeSource; {
		case src.EmptyDir != nil, src.PersistentVolumeClaim != nil, src.Ephemeral != nil:
			// Claims have no storage behind them here: their data lives as long as the Pod.
			err = os.MkdirAll(vdir, 0o755)
		case src.HostPath != nil:
			vdir = src.HostPath.Path
			if t := src.HostPath.Type; t != nil && (*t == corev1.HostPathDirectoryOrCreate) {
				err = os.MkdirAll(vdir, 0o755)
			}
		case src.Secret != nil:
			err = writeObject(ctx, client, kindSecret, pod.Namespace, src.Secret.SecretName, src.Secret.Items, ptrTrue(src.Secret.Optional), vdir)
		case src.ConfigMap != nil:
			err = writeObject(ctx, client, kindConfigMap, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, ptrTrue(src.ConfigMap.Optional), vdir)
		case src.Projected != nil:
			err = os.MkdirAll(vdir, 0o755)
			for _, p := range src.Projected.Sources {
				switch {
				case err != nil:
				case p.Secret != nil:
					err = writeObject(ctx, client, kindSecret, pod.Namespace, p.Secret.Name, p.Secret.Items, ptrTrue(p.Secret.Optional), vdir)
				case p.ConfigMap != nil:
					err = writeObject(ctx, client, kindConfigMap, pod.Namespace, p.ConfigMap.Name, p.ConfigMap.Items, ptrTrue(p.ConfigMap.Optional), vdir)
				default:
					err = fmt.Errorf("projected source other than secret or configMap is not supported on the host")
				}
			}
		default:
			err = fmt.Errorf("this volume type is not supported on the host (emptyDir, persistentVolumeClaim, ephemeral, hostPath, secret, configMap and projected secret/configMap are)")
		}
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err)
		}
		hostPaths[v.Name] = vdir
	}
	return hostPaths, nil
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// Kinds of object whose keys become files or environment variables.
const (
	kindSecret    = "Secret"
	kindConfigMap = "ConfigMap"
)

// objectData reads the keys of a Secret or ConfigMap.
func objectData(ctx context.Context, client kubernetes.Interface, kind, ns, name string) (map[string][]byte, error) {
	if kind == kindSecret {
		s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Data, nil
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

// writeObject writes the keys of a Secret or ConfigMap (or the listed items) into dir.
func writeObject(ctx context.Context, client kubernetes.Interface, kind, ns, name string, items []corev1.KeyToPath, optional bool, dir string) error {
	mode, dirMode := configMapFileMode, os.FileMode(0o755)
	if kind == kindSecret {
		mode, dirMode = secretFileMode, 0o700
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	data, err := objectData(ctx, client, kind, ns, name)
	if apierrors.IsNotFound(err) && optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", strings.ToLower(kind), ns, name, err)
	}
	return writeKeys(dir, data, items, mode, dirMode, optional, kind+" "+ns+"/"+name)
}

// writeKeys writes data (or the listed items of it) as files under dir.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, mode, dirMode os.FileMode, optional bool, what string) error {
	files := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = v
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("couldn't find key %s in %s", it.Key, what)
		}
		files[it.Path] = v
	}
	for rel, v := range files {
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("%s: path %q leaves the volume", what, rel)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
			return err
		}
		// A read-only file left by an earlier attempt cannot be opened for writing.
		_ = os.Remove(p)
		if err := os.WriteFile(p, v, mode); err != nil {
			return err
		}
	}
	return nil
}

// mount is one volumeMount resolved to the host.
type mount struct {
	container, host string
}

// containerMounts resolves c's volumeMounts, longest container path first so /a/b wins
// over /a when rewriting.
func containerMounts(c *corev1.Container, hostPaths map[string]string) ([]mount, error) {
	var ms []mount
	for _, vm := range c.VolumeMounts {
		host, ok := hostPaths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" {
			if !filepath.IsLocal(vm.SubPath) {
				return nil, fmt.Errorf("volumeMount %q: subPath %q leaves the volume", vm.Name, vm.SubPath)
			}
			host = filepath.Join(host, vm.SubPath)
			if err := os.MkdirAll(host, 0o755); err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
		}
		ms = append(ms, mount{container: path.Clean(vm.MountPath), host: host})
	}
	sort.SliceStable(ms, func(i, j int) bool { return len(ms[i].container) > len(ms[j].container) })
	return ms, nil
}

// hostPath maps a container path under one of the mounts to the host; other paths are
// returned unchanged (commands and data outside volumes are the host's own).
func hostPath(p string, mounts []mount, termPath, termHost string) string {
	if termPath != "" && p == termPath {
		return termHost
	}
	if !strings.HasPrefix(p, "/") {
		return p
	}
	for _, m := range mounts {
		if p == m.container {
			return m.host
		}
		if rest, ok := strings.CutPrefix(p, m.container+"/"); ok {
			return filepath.Join(m.host, rest)
		}
		if m.container == "/" {
			return filepath.Join(m.host, p)
		}
	}
	return p
}

// rewriteArg maps a path argument, or the value of a --flag=path argument.
func rewriteArg(a string, mounts []mount, termPath, termHost string) string {
	if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
		return name + "=" + hostPath(val, mounts, termPath, termHost)
	}
	return hostPath(a, mounts, termPath, termHost)
}

// argv is the host command line of c: $(VAR) references expanded as the kubelet does, paths
// mapped, nbv-runner replaced by the host binary, and execute given the host's Python.
func argv(c *corev1.Container, env map[string]string, mounts []mount, termHost string, opts *Options) ([]string, error) {
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command: images are not run on the host, so the command must be explicit", c.Name)
	}
	var out []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		out = append(out, rewriteArg(expand(a, env), mounts, c.TerminationMessagePath, termHost))
	}
	if path.Base(c.Command[0]) != validationpod.RunnerBinary {
		return out, nil
	}
	out[0] = opts.RunnerBinary
	if len(out) > 1 && out[1] == "execute" && !hasFlag(out[2:], "python") {
		out = insertFlag(out, "--python", opts.Python)
	}
	return out, nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// insertFlag adds a flag before a "--" terminator, else at the end.
func insertFlag(args []string, flag, value string) []string {
	for i, a := range args {
		if a == "--" {
			return append(append(append([]string{}, args[:i]...), flag, value), args[i:]...)
		}
	}
	return append(args, flag, value)
}

// expand replaces $(NAME) with env's value, leaves unknown references as they are and turns
// $$ into $, the kubelet's rules for command, args and env values.
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := env[name]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte('$')
	}
	return b.String()
}

// containerEnv resolves c's environment in the kubelet's order (envFrom, then env, later
// entries winning) and returns it as a map for expansion plus the ordered KEY=VALUE list.
// Literal values naming a path inside a mount are mapped to the host with mapPath, since a
// program told "the data is in /data" must find it there. Errors read like the kubelet's
// CreateContainerConfigError messages.
func containerEnv(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, mapPath func(string) string) (map[string]string, []string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	cache := map[string]map[string][]byte{}
	// lookup reads a referenced object once per container; skip reports an optional one
	// that is missing.
	lookup := func(kind, name string, optional bool) (data map[string][]byte, skip bool, err error) {
		if d, ok := cache[kind+"/"+name]; ok {
			return d, false, nil
		}
		d, err := objectData(ctx, client, kind, pod.Namespace, name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("%s %q: %w", strings.ToLower(kind), name, err)
		}
		cache[kind+"/"+name] = d
		return d, false, nil
	}
	// key reads one key of a referenced object.
	key := func(kind, name, k string, optional bool) (string, bool, error) {
		d, skip, err := lookup(kind, name, optional)
		if err != nil || skip {
			return "", skip, err
		}
		v, ok := d[k]
		if !ok && !optional {
			return "", false, fmt.Errorf("couldn't find key %s in %s %s/%s", k, kind, pod.Namespace, name)
		}
		return string(v), !ok, nil
	}

	for _, ef := range c.EnvFrom {
		kind, name, optional := kindConfigMap, "", false
		switch {
		case ef.SecretRef != nil:
			kind, name, optional = kindSecret, ef.SecretRef.Name, ptrTrue(ef.SecretRef.Optional)
		case ef.ConfigMapRef != nil:
			name, optional = ef.ConfigMapRef.Name, ptrTrue(ef.ConfigMapRef.Optional)
		default:
			continue
		}
		d, skip, err := lookup(kind, name, optional)
		if err != nil {
			return nil, nil, fmt.Errorf("envFrom: %w", err)
		}
		if skip {
			continue
		}
		for _, k := range sortedKeys(d) {
			if name := ef.Prefix + k; validEnvName(name) {
				set(name, string(d[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, mapPath(expand(e.Value, vals)))
			continue
		}
		var v string
		var skip bool
		var err error
		switch vf := e.ValueFrom; {
		case vf.SecretKeyRef != nil:
			v, skip, err = key(kindSecret, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, ptrTrue(vf.SecretKeyRef.Optional))
		case vf.ConfigMapKeyRef != nil:
			v, skip, err = key(kindConfigMap, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, ptrTrue(vf.ConfigMapKeyRef.Optional))
		case vf.FieldRef != nil:
			v, err = fieldValue(pod, vf.FieldRef.FieldPath)
		default:
			err = errors.New("only secretKeyRef, configMapKeyRef and fieldRef are supported on the host")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+vals[k])
	}
	return vals, list, nil
}

// fieldValue resolves the downward-API fields that make sense without a node.
func fieldValue(pod *corev1.Pod, field string) (string, error) {
	switch field {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "status.hostIP", "status.podIP":
		return hostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(field, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return m[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not supported on the host", field)
}

func validEnvName(name string) bool { return len(validation.IsEnvVarName(name)) == 0 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
