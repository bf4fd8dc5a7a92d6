#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks style, builds, tests.
# Run as root on a Debian or Ubuntu machine:  bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: test root filesystems; docker-registry, apache2-utils
# (htpasswd) and openssl: the local registry of the image tests; util-linux:
# unshare, nsenter, setpriv used by the runtime tests; podman: a real engine
# driving husk-runtime (tests/engines.rs).
need_pkgs=(busybox-static docker-registry apache2-utils openssl util-linux uidmap iproute2 podman)
missing=()
for p in "${need_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace -- --test-threads="${HUSK_TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
