#!/usr/bin/env bash
# The seed demo, done properly: build husk-runtime, make a busybox bundle on
# the fly, and run a shell in it. Inside, `ps` shows the shell as PID 1 and
# nothing of the host, `hostname` prints the container's own name, and `ls /`
# shows the container's files.
#
# Run as root on a fresh Debian or Ubuntu machine:  bash scripts/demo.sh
# With a terminal you get an interactive shell (type `exit` to leave);
# without one, the demo runs those three commands and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1 || ! file -L /bin/busybox 2>/dev/null | grep -q static; then
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static
    fi
fi
command -v cargo >/dev/null || { echo "demo: cargo (Rust) is needed to build husk" >&2; exit 1; }
cargo build --release -q -p husk-runtime
runtime="$PWD/target/x86_64-unknown-linux-gnu/release/husk-runtime"

bundle="$(mktemp -d /tmp/husk-demo.XXXXXX)"
state="$bundle/state"
trap 'rm -rf "$bundle"' EXIT

# A root filesystem: one static busybox plus a symlink per applet.
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $("$bundle/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" > "$bundle/rootfs/etc/passwd"

# A default config.json, like `runc spec`: new namespaces, /proc, /dev, a
# terminal, hostname "husk". We keep the root writable for the demo.
"$runtime" spec --bundle "$bundle"
sed -i 's/"readonly": true/"readonly": false/' "$bundle/config.json"

if [ -t 0 ] && [ -t 1 ]; then
    echo "husk demo: a shell in a new container. Try: ps; hostname; ls /; exit"
    "$runtime" --root "$state" run --bundle "$bundle" "husk-demo-$$"
else
    sed -i 's/"terminal": true/"terminal": false/' "$bundle/config.json"
    sed -i 's/^\(\s*\)"sh"$/\1"sh", "-c", "echo \\"$ ps\\"; ps; echo \\"$ hostname\\"; hostname; echo \\"$ ls \/\\"; ls \/"/' "$bundle/config.json"
    "$runtime" --root "$state" run --bundle "$bundle" "husk-demo-$$"
fi
