package ociimage

import (
	"path"
	"strings"
)

const (
	// PauseRef is the pod sandbox image that the e2e node's containerd is configured with.
	PauseRef = "local.test/pause:1"
	// NotebookRef is the notebook image in its archive; the e2e cluster pushes it to its
	// registry (realcluster.NotebookImage), from which pods pull it.
	NotebookRef = "local.test/notebook:e2e"

	refRegistry = "local.test/"
	refTag      = ":e2e"
	// defaultAppName is ko's name for a binary whose import path has no usable last element.
	defaultAppName = "ko-app"
)

// RefFor is the image ref of a Go main package: its import path without the host, joined by
// "-", e.g. knative.dev/eventing/cmd/controller -> local.test/eventing-cmd-controller:e2e
// (Eventing's and Serving's cmd/controller must not share a ref). Every run of characters a
// repository name may not hold becomes one "-", so the ref is always valid.
func RefFor(importPath string) string {
	elems := strings.Split(strings.Trim(importPath, "/"), "/")
	if len(elems) > 1 {
		elems = elems[1:]
	}
	name := repoSafe(strings.Join(elems, "-"))
	if name == "" {
		name = defaultAppName
	}
	return refRegistry + name + refTag
}

// repoSafe lower-cases s and turns every run of characters other than [a-z0-9] into one "-",
// trimming them at both ends.
func repoSafe(s string) string {
	var b strings.Builder
	pendingDash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pendingDash && b.Len() > 0 {
				b.WriteByte('-')
			}
			pendingDash = false
			b.WriteRune(r)
			continue
		}
		pendingDash = true
	}
	return b.String()
}

// appName is the binary's file name in the image, as ko names it: the import path's last element.
func appName(importPath string) string {
	base := path.Base(strings.TrimRight(importPath, "/"))
	if base == "." || base == "/" || base == "" {
		return defaultAppName
	}
	return base
}

// archiveFile is the file name of the image tar for ref inside an output directory.
func archiveFile(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}
