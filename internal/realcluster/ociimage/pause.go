package ociimage

import "context"

// pausePackage is the main package of the pod sandbox image, in this module.
const pausePackage = "github.com/mlops-dev/nbv/test/e2e/images/pause"

// Pause builds the pod sandbox image PauseRef into outDir and returns the tar's path. It builds
// from this module, so the current directory must be inside it (as it is for its tests).
func Pause(ctx context.Context, outDir string) (string, error) {
	return BuildGo(ctx, GoImage{Package: pausePackage, Ref: PauseRef}, outDir)
}
