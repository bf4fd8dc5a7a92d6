#!/usr/bin/env bash
# Pull speed: `husk pull` (download, verify, unpack) against `skopeo copy` + `umoci raw
# unpack` and `podman pull`, side by side in one run, from one docker-registry on loopback.
#
# Images: "debian" (debootstrap --variant=minbase bookworm, one gzip layer, like the
# official image) and "big" (1 GiB in four gzip layers of 256 MiB of incompressible data).
# Prints hyperfine's table per image, husk's speed-up over the fastest other tool, and the
# peak RSS of each tool (GNU time).
#
# Needs root and: docker-registry skopeo umoci podman hyperfine time python3 (and
# debootstrap with a Debian mirror, unless DEBIAN_ROOTFS points at a root filesystem).
#   bash bench/pull.sh            # RUNS=5 WORK=/var/tmp/husk-bench by default
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
WORK=${WORK:-/var/tmp/husk-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for tool in docker-registry skopeo umoci podman hyperfine python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done

cargo build --release -q -p husk
HUSK=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/husk

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
REG_PID=
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null || true
    umount -l "$WORK/podman/overlay" 2>/dev/null || true
    rm -rf "$WORK/husk" "$WORK/oci" "$WORK/umoci-rootfs" "$WORK/podman" "$WORK/podman-run"
}
trap cleanup EXIT

# --- the registry, on a free loopback port -------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
rm -rf "$WORK/registry"
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}}
http: {addr: $REG}
YML
docker-registry serve "$WORK/registry/config.yml" 2>"$WORK/registry/log" &
REG_PID=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
    sleep 0.1
done

# --- test images, built once and kept in $WORK/images --------------------------------
# make_image NAME LAYER.tar.gz...: an OCI layout in $WORK/images/NAME, pushed with skopeo.
make_image() {
    local name=$1; shift
    python3 - "$WORK/images/$name" "$@" <<'PY'
import hashlib, json, os, shutil, sys, gzip
out, layers = sys.argv[1], sys.argv[2:]
blobs = os.path.join(out, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(path=None, data=None):
    h = hashlib.sha256()
    if data is None:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
        size = os.path.getsize(path)
        dst = os.path.join(blobs, h.hexdigest())
        if not os.path.exists(dst): os.link(path, dst) if os.stat(path).st_dev == os.stat(blobs).st_dev else shutil.copy(path, dst)
    else:
        h.update(data); size = len(data)
        open(os.path.join(blobs, h.hexdigest()), "wb").write(data)
    return "sha256:" + h.hexdigest(), size
descs, diffs = [], []
for l in layers:
    d = hashlib.sha256()
    with gzip.open(l, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""): d.update(chunk)
    diffs.append("sha256:" + d.hexdigest())
    dg, sz = put(path=l)
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": sz})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                  "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd, cs = put(data=cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                  "layers": descs}).encode()
md, ms = put(data=man)
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(out, "oci-layout"), "w"))
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
          open(os.path.join(out, "index.json"), "w"))
PY
}

mkdir -p "$WORK/images"
if [ ! -f "$WORK/images/debian/index.json" ]; then
    rootfs=${DEBIAN_ROOTFS:-$WORK/debian-rootfs}
    if [ ! -d "$rootfs/usr" ]; then
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    fi
    # Like the official image: no downloaded .debs, no apt lists.
    tar -C "$rootfs" --numeric-owner --xattrs --exclude='./var/cache/apt/archives/*.deb' \
        --exclude='./var/lib/apt/lists/*' -cf - . | gzip -6 > "$WORK/images/debian.tar.gz"
    make_image debian "$WORK/images/debian.tar.gz"
fi
if [ ! -f "$WORK/images/big/index.json" ]; then
    for i in 1 2 3 4; do
        d=$WORK/images/big-layer$i
        mkdir -p "$d/data$i"
        for f in $(seq 16); do head -c $((16 << 20)) /dev/urandom > "$d/data$i/file$f"; done
        tar -C "$d" -cf - . | gzip -1 > "$WORK/images/big$i.tar.gz"
        rm -rf "$d"
    done
    make_image big "$WORK/images"/big{1,2,3,4}.tar.gz
fi
for img in debian big; do
    skopeo copy -q --dest-tls-verify=false "oci:$WORK/images/$img:1" "docker://$REG/bench/$img:1"
done

# --- the contenders --------------------------------------------------------------------
PODMAN="podman --root $WORK/podman --runroot $WORK/podman-run --storage-driver overlay --cgroup-manager cgroupfs --events-backend none"
reset_all="umount -l $WORK/podman/overlay 2>/dev/null; rm -rf $WORK/husk $WORK/oci $WORK/umoci-rootfs $WORK/podman $WORK/podman-run; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true"
husk_cmd() { echo "$HUSK --root $WORK/husk pull -q $REG/bench/$1:1"; }
skopeo_cmd() { echo "skopeo copy -q --src-tls-verify=false docker://$REG/bench/$1:1 oci:$WORK/oci:img && umoci raw unpack --image $WORK/oci:img $WORK/umoci-rootfs"; }
podman_cmd() { echo "$PODMAN pull -q --tls-verify=false $REG/bench/$1:1"; }

peak_rss() { # peak RSS in MiB of a shell command (the largest of its processes)
    bash -c "$reset_all" >/dev/null 2>&1
    /usr/bin/time -f "%M" -o "$WORK/rss" bash -c "$1" >/dev/null 2>&1
    echo $(( $(cat "$WORK/rss") / 1024 ))
}

echo "husk $($HUSK --version), $(skopeo --version), umoci $(umoci --version | awk '{print $NF}'), $(podman --version)"
echo "registry $REG; $RUNS runs each; caches dropped before each run"
for img in debian big; do
    size=$(du -sh "$WORK/images/$img/blobs" | cut -f1)
    echo
    echo "## $img ($size of blobs)"
    hyperfine --runs "$RUNS" --prepare "$reset_all" --style basic \
        --export-json "$WORK/$img.json" --export-markdown "$WORK/$img.md" \
        -n "husk pull" "$(husk_cmd $img)" \
        -n "skopeo copy + umoci raw unpack" "$(skopeo_cmd $img)" \
        -n "podman pull" "$(podman_cmd $img)" >/dev/null
    cat "$WORK/$img.md"
    python3 - "$WORK/$img.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
husk = r.pop("husk pull")
best = min(r, key=r.get)
print(f"\nhusk pull: {husk:.2f} s; fastest other: {best} {r[best]:.2f} s; speed-up x{r[best] / husk:.2f}")
PY
    echo "peak RSS: husk $(peak_rss "$(husk_cmd $img)") MiB," \
        "skopeo+umoci $(peak_rss "$(skopeo_cmd $img)") MiB," \
        "podman $(peak_rss "$(podman_cmd $img)") MiB"
done
