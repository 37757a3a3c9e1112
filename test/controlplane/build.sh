#!/usr/bin/env bash
# Builds the real Kubernetes binaries the tests run, from pinned modules, into
# ${NBV_CACHE:-$HOME/.cache/nbv}/bin. Two sets:
#
#   build.sh [controlplane]  etcd, kube-apiserver, kube-controller-manager, kubectl: integration
#                            tests and the local stack (from test/controlplane/tools, a separate
#                            module, so the main go.mod stays on k8s 0.35)
#   build.sh node            kubelet, kube-scheduler, kube-proxy from the same module, and a
#                            CoreDNS with the cluster-DNS plugins (test/e2e/coredns): make e2e
#   build.sh helm            helm (hack/tools/helm): helm lint and helm template of charts/nbv
#   build.sh promtool        promtool and nbv-promql (hack/tools/prometheus): promtool check rules
#                            and test rules of config/monitoring; nbv-promql parses the rules'
#                            and the dashboard's PromQL (internal/metrics monitoring_test.go)
#   build.sh registry        the CNCF Distribution registry v3 (hack/tools/registry): the local
#                            stack's registry for run records (nbv run), bound to loopback
#
# Idempotent: a stamp per set records a hash of its modules (go.mod, go.sum, any .go file), the
# Go version and the link flags. When the set's binaries exist and the stamp matches, nothing
# is rebuilt. NBV_FORCE_BUILD=1 rebuilds anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${here}/tools"
cache="${NBV_CACHE:-${HOME}/.cache/nbv}"
bin="${cache}/bin"

k8s_version="v1.37.2"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=${k8s_version}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version}"

# Each target is name|module dir|package. etcd's main lives at its module root, whose default
# binary name would be "server".
set_name="${1:-controlplane}"
version_args=(--version)
case "${set_name}" in
controlplane)
	stamp="${bin}/.stamp"
	targets=(
		"etcd|${tools}|go.etcd.io/etcd/server/v3"
		"kube-apiserver|${tools}|k8s.io/kubernetes/cmd/kube-apiserver"
		"kube-controller-manager|${tools}|k8s.io/kubernetes/cmd/kube-controller-manager"
		"kubectl|${tools}|k8s.io/kubernetes/cmd/kubectl"
	)
	took="a cold build takes ~5-10 min on 2 cores"
	;;
node)
	stamp="${bin}/.stamp-node"
	targets=(
		"kubelet|${tools}|k8s.io/kubernetes/cmd/kubelet"
		"kube-scheduler|${tools}|k8s.io/kubernetes/cmd/kube-scheduler"
		"kube-proxy|${tools}|k8s.io/kubernetes/cmd/kube-proxy"
		"coredns|${here}/../e2e/coredns|."
	)
	took="~1-2 min after the control plane (shared build cache)"
	;;
helm)
	stamp="${bin}/.stamp-helm"
	helm_version="v4.3.2"
	ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${helm_version}"
	targets=("helm|${here}/../../hack/tools/helm|helm.sh/helm/v4/cmd/helm")
	version_args=(version --short)
	took="~3-5 min cold on 2 cores"
	;;
promtool)
	stamp="${bin}/.stamp-promtool"
	prometheus_version="3.16.0"
	ldflags="-s -w -X github.com/prometheus/common/version.Version=${prometheus_version}"
	targets=(
		"promtool|${here}/../../hack/tools/prometheus|github.com/prometheus/prometheus/cmd/promtool"
		"nbv-promql|${here}/../../hack/tools/prometheus|."
	)
	took="~3-5 min cold on 2 cores"
	;;
registry)
	stamp="${bin}/.stamp-registry"
	ldflags="-s -w -X github.com/distribution/distribution/v3/version.version=v3.1.2"
	targets=("registry|${here}/../../hack/tools/registry|github.com/distribution/distribution/v3/cmd/registry")
	took="~2-5 min cold on 2 cores"
	;;
*)
	echo "build.sh: unknown set ${set_name}: want controlplane, node, helm, promtool or registry" >&2
	exit 2
	;;
esac

modules=()
for t in "${targets[@]}"; do
	IFS='|' read -r _ dir _ <<<"${t}"
	[[ " ${modules[*]} " == *" ${dir} "* ]] || modules+=("${dir}")
done
want_stamp="$(
	{
		for dir in "${modules[@]}"; do
			cat "${dir}/go.mod" "${dir}/go.sum"
			if compgen -G "${dir}/*.go" >/dev/null; then cat "${dir}"/*.go; fi
		done
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
	echo "${set_name}: binaries up to date in ${bin} (stamp ${want_stamp:0:12}); nothing to do"
	exit 0
fi

mkdir -p "${bin}"
# Build into a scratch directory and move into place only on success, so an interrupted build
# never leaves a half-written binary that a later run would mistake for a good one.
scratch="$(mktemp -d "${bin}/.build.XXXXXX")"
trap 'rm -rf "${scratch}"' EXIT

echo "${set_name}: building ${targets[*]%%|*} into ${bin}; ${took}"
start=$(date +%s)
for t in "${targets[@]}"; do
	IFS='|' read -r name dir pkg <<<"${t}"
	t0=$(date +%s)
	(cd "${dir}" && go build -ldflags "${ldflags}" -o "${scratch}/${name}" "${pkg}")
	echo "${set_name}:   ${name} built in $(($(date +%s) - t0))s"
done
for t in "${targets[@]}"; do
	mv -f "${scratch}/${t%%|*}" "${bin}/${t%%|*}"
done
echo "${want_stamp}" >"${stamp}"
echo "${set_name}: done in $(($(date +%s) - start))s"
# The first line of the version, without a pipe: "| head -1" would close the pipe early and,
# under pipefail, fail the whole build when the binary dies of SIGPIPE.
version="$("${bin}/${targets[0]%%|*}" "${version_args[@]}")"
echo "${version%%$'\n'*}"
