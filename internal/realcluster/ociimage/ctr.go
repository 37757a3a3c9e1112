package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// criNamespace is the containerd namespace the kubelet's CRI plugin keeps its images in.
const criNamespace = "k8s.io"

// Import loads the image tar at tarPath into the k8s.io namespace of the containerd listening
// on address, unpacked into the default snapshotter so that the CRI plugin can start
// containers from it without a pull.
func Import(ctx context.Context, ctrBin, address, tarPath string) error {
	cmd := exec.CommandContext(ctx, ctrBin, "-a", address, "-n", criNamespace,
		"images", "import", "--no-unpack=false", tarPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr import %s into %s: %w: %s", tarPath, address, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
