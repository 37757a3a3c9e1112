// Package version owns the release version stamped into every binary: `nbv version`, the
// functions' startup log and the runner's summary all read it from here.
//
// A release sets it at link time:
//
//	go build -ldflags "-X github.com/mlops-dev/nbv/internal/version.Version=v0.3.0" ...
//
// A plain `go build` in a git checkout falls back to the VCS revision Go records in the binary.
package version

import (
	"runtime/debug"
	"sync"
)

// Version is set by the release build with -ldflags -X; empty in a development build.
var Version string

// String returns Version when it was stamped, else "devel+<revision>[-dirty]" from the build
// info, else "devel".
var String = sync.OnceValue(func() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(info.Settings)
})

func fromBuildInfo(settings []debug.BuildSetting) string {
	var revision string
	var modified bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "devel"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return "devel+" + revision
}
