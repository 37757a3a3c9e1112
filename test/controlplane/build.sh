#!/usr/bin/env bash
# Builds the real control plane used by integration tests and by the local stack:
# etcd, kube-apiserver, kube-controller-manager and kubectl, compiled from the pinned
# modules of test/controlplane/tools (a separate module, so the main go.mod stays on k8s 0.35).
#
# Output: ${NBV_CACHE:-$HOME/.cache/nbv}/bin/{etcd,kube-apiserver,kube-controller-manager,kubectl}
#
# Idempotent: a stamp records a hash of the tools module (go.mod, go.sum), the Go version and
# the link flags. When all four binaries exist and the stamp matches, nothing is rebuilt.
# NBV_FORCE_BUILD=1 rebuilds anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${here}/tools"
cache="${NBV_CACHE:-${HOME}/.cache/nbv}"
bin="${cache}/bin"
stamp="${bin}/.stamp"

k8s_version="v1.37.2"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=${k8s_version}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version}"

# Package path -> binary name. etcd's main lives at the module root, whose default binary
# name would be "server".
pkgs=(
	"go.etcd.io/etcd/server/v3"
	"k8s.io/kubernetes/cmd/kube-apiserver"
	"k8s.io/kubernetes/cmd/kube-controller-manager"
	"k8s.io/kubernetes/cmd/kubectl"
)
names=(etcd kube-apiserver kube-controller-manager kubectl)

want_stamp="$(
	{
		cat "${tools}/go.mod" "${tools}/go.sum"
		go env GOVERSION GOOS GOARCH
		echo "${ldflags}"
	} | sha256sum | cut -d' ' -f1
)"

up_to_date() {
	[[ -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" ]] || return 1
	local n
	for n in "${names[@]}"; do
		[[ -x "${bin}/${n}" ]] || return 1
	done
}

if [[ "${NBV_FORCE_BUILD:-0}" != "1" ]] && up_to_date; then
	echo "controlplane: binaries up to date in ${bin} (stamp ${want_stamp:0:12}); nothing to do"
	exit 0
fi

mkdir -p "${bin}"
# Build into a scratch directory and move into place only on success, so an interrupted build
# never leaves a half-written binary that a later run would mistake for a good one.
scratch="$(mktemp -d "${bin}/.build.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT

echo "controlplane: building ${names[*]} (${k8s_version}) into ${bin}; a cold build takes ~7-10 min on 2 cores"
start=$(date +%s)
for i in "${!pkgs[@]}"; do
	t0=$(date +%s)
	(cd "${tools}" && go build -ldflags "${ldflags}" -o "${scratch}/${names[$i]}" "${pkgs[$i]}")
	echo "controlplane:   ${names[$i]} built in $(($(date +%s) - t0))s"
done
for n in "${names[@]}"; do
	mv -f "${scratch}/${n}" "${bin}/${n}"
done
echo "${want_stamp}" >"${stamp}"
echo "controlplane: done in $(($(date +%s) - start))s"
"${bin}/kube-apiserver" --version
"${bin}/etcd" --version | head -1
