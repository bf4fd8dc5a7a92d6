#!/usr/bin/env bash
# Side-by-side timing, in one run, of what issue 4 adds to the hot path:
#   - exec of /bin/true into a running container, husk vs runc
#   - run of a /bin/true bundle with Docker's default seccomp profile, husk vs
#     runc, and husk with vs without the profile
# Docker's profile comes from podman's containers-common (the same rules),
# converted to the OCI form the way Docker does for a container with the
# default capabilities on x86_64. Prints ratios. Run as root:
#   bash bench/exec_seccomp.sh   (installs hyperfine, runc, busybox-static, podman if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
for p in hyperfine runc busybox-static golang-github-containers-common; do
    dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p"; }
done
cargo build --release -q -p husk-runtime
husk="$PWD/target/x86_64-unknown-linux-gnu/release/husk-runtime"
runc="$(command -v runc)"

work="$(mktemp -d /tmp/husk-bench.XXXXXX)"
cleanup() {
    for rt in "$husk:$work/husk" "$runc:$work/runc"; do
        "${rt%%:*}" --root "${rt#*:}" delete -f bench-exec >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in true sleep sh; do ln -s busybox "$bundle/rootfs/bin/$a"; done
"$husk" spec --bundle "$bundle"
sed -i 's/"terminal": true/"terminal": false/; s/^\(\s*\)"sh"$/\1"\/bin\/true"/' "$bundle/config.json"
# The same bundle with Docker's default profile, and one that sleeps (for exec);
# runc wants a real directory as rootfs, not a symlink.
mkdir -p "$work/seccomp" "$work/sleeper"
cp -a "$bundle/rootfs" "$work/seccomp/rootfs"
cp -a "$bundle/rootfs" "$work/sleeper/rootfs"
python3 - "$bundle/config.json" /usr/share/containers/seccomp.json "$work" <<'PY'
import json, os, sys
config, profile, work = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
caps = set(config["process"]["capabilities"]["bounding"])
kernel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
def applies(rule):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("arches") and "amd64" not in inc["arches"]: return False
    if exc.get("arches") and "amd64" in exc["arches"]: return False
    if inc.get("caps") and not set(inc["caps"]) <= caps: return False
    if exc.get("caps") and set(exc["caps"]) & caps: return False
    mk = inc.get("minKernel")
    if mk and tuple(int(x) for x in mk.split(".")[:2]) > kernel: return False
    return True
arches = [a for m in profile["archMap"] if m["architecture"] == "SCMP_ARCH_X86_64"
          for a in [m["architecture"]] + m["subArchitectures"]]
rules = [{k: v for k, v in r.items() if k in ("names", "action", "args", "errnoRet")}
         for r in profile["syscalls"] if applies(r)]
seccomp = {"defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": rules}
if "defaultErrnoRet" in profile: seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
with_profile = json.loads(json.dumps(config)); with_profile["linux"]["seccomp"] = seccomp
json.dump(with_profile, open(f"{work}/seccomp/config.json", "w"))
sleeper = json.loads(json.dumps(config)); sleeper["process"]["args"] = ["/bin/sleep", "600"]
json.dump(sleeper, open(f"{work}/sleeper/config.json", "w"))
PY

for rt in "$husk:$work/husk" "$runc:$work/runc"; do
    "${rt%%:*}" --root "${rt#*:}" run -d --bundle "$work/sleeper" bench-exec >/dev/null
done
hyperfine -N --warmup 5 --runs "${RUNS:-50}" --export-json "$work/res.json" \
    -n husk-exec "$husk --root $work/husk exec bench-exec /bin/true" \
    -n runc-exec "$runc --root $work/runc exec bench-exec /bin/true" \
    -n husk-run "$husk --root $work/husk run --bundle $bundle bench-run" \
    -n husk-run-seccomp "$husk --root $work/husk run --bundle $work/seccomp bench-run" \
    -n runc-run-seccomp "$runc --root $work/runc run --bundle $work/seccomp bench-run"

python3 - "$work/res.json" <<'PY'
import json, sys
med = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
for k, v in med.items():
    print(f"{k:18s} median {v:8.2f} ms")
print(f"exec husk/runc              = {med['husk-exec'] / med['runc-exec']:.3f}")
print(f"run with Docker's profile: husk/runc = {med['husk-run-seccomp'] / med['runc-run-seccomp']:.3f}")
print(f"Docker's profile costs husk {med['husk-run-seccomp'] - med['husk-run']:.2f} ms per run")
PY
