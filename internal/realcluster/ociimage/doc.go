// Package ociimage owns the container images of the e2e node, built without a registry or a
// container daemon: Go programs packaged the way ko packages them (a static binary at
// /ko-app/<name> on a minimal base holding CA certificates and a nonroot user), the pod sandbox
// (pause) image, and a notebook image assembled from Debian packages with debootstrap. Each is
// written as a docker-archive tar tagged with its ref, and Import loads such a tar into a
// containerd namespace with ctr, so that pods run it with imagePullPolicy: Never.
//
// Builds are deterministic (fixed timestamps, owners and modes), so an unchanged input yields the
// same image digest, and a tar whose inputs did not change is not written again.
package ociimage
