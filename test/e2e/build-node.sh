#!/usr/bin/env bash
# Builds the node half of the e2e cluster: kubelet, kube-scheduler and kube-proxy from the same
# pinned module as the control plane (test/controlplane/tools, k8s v1.37.2), and a CoreDNS with
# the cluster-DNS plugins from test/e2e/coredns.
#
# Output: ${NBV_CACHE:-$HOME/.cache/nbv}/bin/{kubelet,kube-scheduler,kube-proxy,coredns}
# Idempotent like test/controlplane/build.sh: a stamp of both modules, the Go version and the
# link flags; NBV_FORCE_BUILD=1 rebuilds anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s_tools="${here}/../controlplane/tools"
dns_tools="${here}/coredns"
cache="${NBV_CACHE:-${HOME}/.cache/nbv}"
bin="${cache}/bin"
stamp="${bin}/.stamp-node"

k8s_version="v1.37.2"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=${k8s_version}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version}"

# name|module dir|package
targets=(
	"kubelet|${k8s_tools}|k8s.io/kubernetes/cmd/kubelet"
	"kube-scheduler|${k8s_tools}|k8s.io/kubernetes/cmd/kube-scheduler"
	"kube-proxy|${k8s_tools}|k8s.io/kubernetes/cmd/kube-proxy"
	"coredns|${dns_tools}|."
)

want_stamp="$(
	{
		cat "${k8s_tools}/go.mod" "${k8s_tools}/go.sum" "${dns_tools}/go.mod" "${dns_tools}/go.sum" "${dns_tools}/main.go"
		go env GOVERSION GOOS GOARCH
		echo "${ldflags}"
	} | sha256sum | cut -d' ' -f1
)"

up_to_date() {
	[[ -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" ]] || return 1
	local t
	for t in "${targets[@]}"; do
		[[ -x "${bin}/${t%%|*}" ]] || return 1
	done
}

if [[ "${NBV_FORCE_BUILD:-0}" != "1" ]] && up_to_date; then
	echo "node: binaries up to date in ${bin} (stamp ${want_stamp:0:12}); nothing to do"
	exit 0
fi

mkdir -p "${bin}"
scratch="$(mktemp -d "${bin}/.build-node.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT

echo "node: building kubelet, kube-scheduler, kube-proxy (${k8s_version}) and coredns into ${bin}; cold ~8 min on 2 cores"
start=$(date +%s)
for t in "${targets[@]}"; do
	IFS='|' read -r name dir pkg <<<"${t}"
	t0=$(date +%s)
	# The same flags as test/controlplane/build.sh, so the two share Go's build cache.
	(cd "${dir}" && go build -ldflags "${ldflags}" -o "${scratch}/${name}" "${pkg}")
	echo "node:   ${name} built in $(($(date +%s) - t0))s"
done
for t in "${targets[@]}"; do
	mv -f "${scratch}/${t%%|*}" "${bin}/${t%%|*}"
done
echo "${want_stamp}" >"${stamp}"
echo "node: done in $(($(date +%s) - start))s"
