#!/usr/bin/env bash
# Installs the Debian packages that execute notebooks locally and in tests: nbclient,
# nbformat, ipykernel and jupyter-client for /usr/bin/python3, matplotlib (the tests that
# compare figures by type and size; with numpy and scipy about 74 MB to download, ~30 s),
# and git (the clone tests serve repositories with git http-backend). A no-op when they are
# there.
set -euo pipefail

if /usr/bin/python3 -c 'import nbclient, nbformat, ipykernel, jupyter_client, matplotlib' 2>/dev/null && command -v git >/dev/null; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-python-deps: run as root, or install: python3-nbclient python3-nbformat python3-ipykernel python3-jupyter-client python3-matplotlib git" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	python3-nbclient python3-nbformat python3-ipykernel python3-jupyter-client python3-matplotlib git >/dev/null
/usr/bin/python3 -c 'import nbclient, nbformat, ipykernel, jupyter_client, matplotlib'
echo "install-python-deps: installed nbclient stack and matplotlib for /usr/bin/python3"
