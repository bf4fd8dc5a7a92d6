#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks style, builds, tests.
# Run as root on a Debian or Ubuntu machine:  bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: test root filesystems; docker-registry, apache2-utils
# (htpasswd) and openssl: the local registry of the image tests; util-linux:
# unshare, nsenter, setpriv used by the runtime tests; podman, containerd and
# docker.io: real engines driving husk-runtime (tests/engines*.rs), podman
# with containers-common's copy of Docker's default seccomp profile;
# libseccomp-dev: the reference husk-seccomp's equivalence test compares its
# BPF with (linked statically).
need_pkgs=(busybox-static docker-registry apache2-utils openssl util-linux uidmap iproute2 podman containerd docker.io libseccomp-dev)
missing=()
for p in "${need_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The cgroup v2 test boots Debian's kernel under qemu (tests/cgroup_v2_vm.rs).
# Debian's qemu-system-x86 must come with the qemu-utils of its own version
# (a newer one from backports may be installed): install them together.
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v cpio >/dev/null; then
    apt-get update -qq
    qv=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades \
        qemu-system-x86 "qemu-utils=$qv" cpio
fi
vm=target/vm
if ! ls "$vm"/k/boot/vmlinuz-* >/dev/null 2>&1; then
    mkdir -p "$vm"
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    (cd "$vm" && apt-get download -qq "$kpkg" 2>/dev/null && dpkg -x ./"$kpkg"_*.deb k)
fi
HUSK_VM_KERNEL=$(ls "$PWD/$vm"/k/boot/vmlinuz-* | head -1)
export HUSK_VM_KERNEL

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
log="$(mktemp)"
# The runtime enables cgroup2 controllers its containers need in the
# ancestors' subtree_control (as runc does) and tests put back what they
# changed; this puts back, after the whole suite, whatever is still on in
# the root that was off before, to leave the host as it was.
st=/sys/fs/cgroup/unified/cgroup.subtree_control
[ -f "$st" ] || st=/sys/fs/cgroup/cgroup.subtree_control
subtree_before="$(cat "$st" 2>/dev/null || true)"
restore_subtree() {
    for c in $(cat "$st" 2>/dev/null || true); do
        case " $subtree_before " in
            *" $c "*) ;;
            *) echo "-$c" > "$st" 2>/dev/null || true ;;
        esac
    done
}
trap 'rm -f "$log"; restore_subtree' EXIT
status=0
cargo test --workspace -- --test-threads="${HUSK_TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
