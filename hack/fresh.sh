#!/usr/bin/env bash
# The fresh-machine check: what a newcomer meets. Clones HEAD into a temporary directory and
# runs the README's two commands there with empty Go module, Go build and NBV caches, then
# removes everything it made. Prints each command's time and exit code, and exits non-zero
# when one failed.
#
#   hack/fresh.sh                make run, then make test
#   FRESH_E2E=1 hack/fresh.sh    also make e2e (root)
#   FRESH_STEPS="test" ...       only these targets (each list starts from empty caches)
#   FRESH_KEEP=1 ...             keep the directory (its path is printed) to look into a failure
#
# Debian packages the set-up installs stay installed (they are the machine's, not a cache);
# what is checked is everything the repository builds or downloads itself. Committed work only:
# the clone is of HEAD, not of the working tree.
set -uo pipefail

top="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nbv-fresh.XXXXXX")"
cleanup() {
	if [[ "${FRESH_KEEP:-0}" == "1" ]]; then
		echo "fresh: kept ${work}"
		return
	fi
	# The module cache is written read-only; make it removable first.
	chmod -R u+w "${work}" 2>/dev/null
	rm -rf "${work}"
}
trap cleanup EXIT

git clone --quiet --no-local "${top}" "${work}/src" || exit 1
echo "fresh: $(git -C "${work}/src" log -1 --format='%h %s') in ${work}"

export GOPATH="${work}/gopath" GOMODCACHE="${work}/gopath/pkg/mod" GOCACHE="${work}/gocache" NBV_CACHE="${work}/nbv-cache"
unset GOFLAGS

read -r -a steps <<<"${FRESH_STEPS:-run test}"
[[ "${FRESH_E2E:-0}" == "1" ]] && steps+=(e2e)

results=()
failed=0
for step in "${steps[@]}"; do
	log="${work}/make-${step}.log"
	echo "fresh: make ${step} (log ${log})"
	t0=${SECONDS}
	(cd "${work}/src" && make "${step}") >"${log}" 2>&1
	rc=$?
	took=$((SECONDS - t0))
	results+=("make ${step}: exit ${rc} in ${took}s")
	if [[ ${rc} -ne 0 ]]; then
		failed=1
		# The log outlives the directory: a failure after a 30-minute cold run must be readable.
		kept="${TMPDIR:-/tmp}/nbv-fresh-make-${step}.log"
		cp "${log}" "${kept}"
		echo "fresh: make ${step} failed (exit ${rc}); whole log in ${kept}; what failed:"
		grep -m 60 -E -e '^(--- FAIL|FAIL|panic:)' -e '_test\.go:[0-9]+:' "${log}"
		echo "fresh: its last lines:"
		tail -n 20 "${log}"
		break
	fi
done

echo "fresh: results (empty GOMODCACHE, GOCACHE and NBV_CACHE at the start)"
printf '  %s\n' "${results[@]}"
exit ${failed}
