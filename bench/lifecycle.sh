#!/usr/bin/env bash
# Side-by-side timing of container start-up, in one run:
#   - create + start + delete -f of a busybox /bin/true bundle, husk vs runc
#   - run of the same bundle, husk vs runc
#   - the kernel's floor: unshare + chroot + /bin/true
# plus husk-runtime's peak RSS during `create` (runc's beside it) and the
# size of the release binary. Prints ratios. Run as root:
#   bash bench/lifecycle.sh     (installs hyperfine, runc, busybox-static, gcc if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
for p in hyperfine runc busybox-static gcc libc6-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p"; }
done
cargo build --release -q -p husk-runtime
husk="$PWD/target/x86_64-unknown-linux-gnu/release/husk-runtime"
runc="$(command -v runc)"

work="$(mktemp -d /tmp/husk-bench.XXXXXX)"
trap '"$husk" --root "$work/husk" delete -f bench-life >/dev/null 2>&1 || true;
      "$runc" --root "$work/runc" delete -f bench-life >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
"$husk" spec --bundle "$bundle"
sed -i 's/"terminal": true/"terminal": false/; s/^\(\s*\)"sh"$/\1"\/bin\/true"/' "$bundle/config.json"
rootfs="$bundle/rootfs"
# The same bundle with a memory + cpu + pids limit (issue 3: cgroup setup
# must not dominate start-up).
limited="$work/limited"
mkdir -p "$limited"
ln -s "$rootfs" "$limited/rootfs"
python3 - "$bundle/config.json" "$limited/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("linux", {}).setdefault("resources", {}).update(
    {"memory": {"limit": 268435456}, "cpu": {"shares": 512, "quota": 50000, "period": 100000}, "pids": {"limit": 100}})
json.dump(c, open(sys.argv[2], "w"))
PY

cycle() { # runtime root
    echo "$1 --root $2 create --bundle $bundle bench-life && $1 --root $2 start bench-life && $1 --root $2 delete -f bench-life"
}
hyperfine -N --warmup 5 --runs "${RUNS:-50}" --export-json "$work/life.json" \
    -n husk-lifecycle "sh -c '$(cycle "$husk" "$work/husk")'" \
    -n runc-lifecycle "sh -c '$(cycle "$runc" "$work/runc")'" \
    -n husk-run "$husk --root $work/husk run --bundle $bundle bench-run" \
    -n husk-run-limited "$husk --root $work/husk run --bundle $limited bench-run" \
    -n runc-run "$runc --root $work/runc run --bundle $bundle bench-run" \
    -n floor "unshare -m -u -i -p -n -f --mount-proc=$rootfs/proc chroot $rootfs /bin/true"

# Peak RSS of `create`, measured by a tiny static spawner (bench/maxrss.c):
# a big forking parent would otherwise lend the child its own resident size.
gcc -O2 -static -o "$work/maxrss" bench/maxrss.c
peak_rss() { # runtime root bundle -> KiB
    "$work/maxrss" "$1" --root "$2" create --bundle "$3" bench-rss </dev/null >/dev/null 2>"$work/rss.out"
    tail -1 "$work/rss.out"
    "$1" --root "$2" delete -f bench-rss >/dev/null 2>&1
}
husk_rss=$(peak_rss "$husk" "$work/husk" "$bundle")
runc_rss=$(peak_rss "$runc" "$work/runc" "$bundle")

python3 - "$work/life.json" "$husk_rss" "$runc_rss" "$(stat -c %s "$husk")" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
for k, v in med.items():
    print(f"{k:16s} median {v:8.2f} ms")
print(f"lifecycle husk/runc      = {med['husk-lifecycle'] / med['runc-lifecycle']:.3f}  (target <= 0.3)")
print(f"run       husk/runc      = {med['husk-run'] / med['runc-run']:.3f}")
print(f"run       husk/floor     = {med['husk-run'] / med['floor']:.3f}  (target <= 1.5)")
print(f"run with memory+cpu+pids limits - without = {med['husk-run-limited'] - med['husk-run']:.2f} ms  (target <= 2)")
husk_rss, runc_rss, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"peak RSS of create: husk {husk_rss / 1024:.2f} MiB, runc {runc_rss / 1024:.2f} MiB  (target <= 2 MiB)")
print(f"release binary: {size / 1048576:.2f} MiB  (target <= 3 MiB)")
PY
