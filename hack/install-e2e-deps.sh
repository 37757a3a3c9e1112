#!/usr/bin/env bash
# Installs the Debian packages the e2e node runs on: containerd, runc and the CNI plugins (the
# container runtime and the pod network), iptables and conntrack (kube-proxy), iproute2 and
# util-linux (the node's network namespace: ip, nsenter), debootstrap (the notebook image),
# and git (the test's repository server). A no-op when they are there.
set -euo pipefail

pkgs=(containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux debootstrap git)
have() {
	command -v containerd && command -v ctr && command -v runc && [[ -x /usr/lib/cni/bridge ]] &&
		command -v iptables && command -v conntrack && command -v ip && command -v nsenter &&
		command -v debootstrap && command -v git
}
if have >/dev/null; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-e2e-deps: run as root, or install: ${pkgs[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
have >/dev/null || { echo "install-e2e-deps: packages installed but a command is still missing" >&2; exit 1; }
echo "install-e2e-deps: installed ${pkgs[*]}"
