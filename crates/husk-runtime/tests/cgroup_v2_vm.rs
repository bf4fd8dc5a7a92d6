//! The pure cgroup v2 path, for real: boots Debian's kernel under qemu
//! (software emulation) with an initramfs holding busybox, husk-runtime, the
//! probe and bundles; /init mounts cgroup2, runs the checks and prints
//! `HUSK-V2 name value` lines on the serial console, which this test reads.
//!
//! `scripts/test.sh` installs qemu and fetches the kernel, and passes its
//! path in HUSK_VM_KERNEL.
#![allow(clippy::unwrap_used)]

mod common;
use common::{baseline_config, probe_bin, run_cmd, runtime_bin, Test};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What /init runs inside the VM. `R` is husk-runtime with its state root.
const INIT: &str = r#"#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The initramfs root cannot be pivoted away from: chroot (--no-pivot).
R="husk-runtime --root /run/husk"
say() { echo "HUSK-V2 $1 $2"; }
say controllers "$(cat /sys/fs/cgroup/cgroup.controllers | tr ' ' ,)"

# A process over its memory limit is OOM-killed: 137.
$R run --no-pivot --bundle /b/oom oom >/dev/null; say oom_exit $?

# Limits land in the v2 files; pids.max stops a fork loop run by exec.
$R create --no-pivot --bundle /b/pids pids && $R start pids
G=/sys/fs/cgroup/husk-pids
say pids_max "$(cat $G/pids.max)"
say memory_max "$(cat $G/memory.max)"
say cpu_weight "$(cat $G/cpu.weight)"
say cpu_max "$(cat $G/cpu.max | tr ' ' _)"
$R exec pids /bin/sh -c 'i=0; while [ $i -lt 30 ]; do /bin/sleep 30 & i=$((i+1)); done' >/dev/null 2>&1
say pids_current "$(cat $G/pids.current)"
say pids_refused "$(grep max $G/pids.events | cut -d' ' -f2)"
$R update --pids-limit 20 pids; say pids_updated "$(cat $G/pids.max)"
$R pause pids; say paused "$($R state pids | grep -c paused)_$(grep frozen $G/cgroup.events | cut -d' ' -f2)"
$R resume pids; say resumed "$(grep frozen $G/cgroup.events | cut -d' ' -f2)"
say stats_pids "$($R events --stats pids | grep -o '"limit":20' | head -1 | tr -d '"')"
$R delete --force pids; say removed "$([ -d $G ] && echo no || echo yes)"

# Block I/O on a RAM disk (brd, 1:0), memory.swap.max, hugetlb, a unified
# key, and checkBeforeUpdate refusing a limit below the usage.
insmod /brd.ko rd_nr=1 rd_size=4096
$R create --no-pivot --bundle /b/io io && $R start io
G=/sys/fs/cgroup/husk-io
say io_max "$(cat $G/io.max | tr ' ' _)"
say io_weight "$(cat $G/io.bfq.weight $G/io.weight 2>/dev/null | grep default | tr ' ' _)"
say swap_max "$(cat $G/memory.swap.max)"
say hugetlb_max "$(cat $G/hugetlb.2MB.max)"
say unified "$(cat $G/memory.high)"
say stats_hugetlb "$($R events --stats io | grep -c '"hugetlb":{.*"2MB"')"
echo '{"memory":{"limit":4096,"checkBeforeUpdate":true}}' > /tmp/low.json
say check_before_update "$($R update -r /tmp/low.json io 2>&1 | grep -c checkBeforeUpdate)_$(cat $G/memory.max)"
$R update --memory-swap 134217728 io; say swap_updated "$(cat $G/memory.swap.max)"
$R delete --force io

# Device rules as an eBPF program: /dev/null allowed, a bound-in /dev/kmsg
# (1:11) denied until an update allows it.
$R create --no-pivot --bundle /b/dev dev && $R start dev
say dev_null "$($R exec dev /probe append /dev/null x | cut -d' ' -f1-2 | tr ' ' _)"
say dev_kmsg "$($R exec dev /probe append /dev/kmsg2 x | cut -d' ' -f1-2 | tr ' ' _)"
echo '{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"rw"}]}' > /tmp/dev.json
$R update -r /tmp/dev.json dev
say dev_kmsg_updated "$($R exec dev /probe append /dev/kmsg2 x | cut -d' ' -f1-2 | tr ' ' _)"
$R delete --force dev

# CLONE_INTO_CGROUP: run from a cgroup that may not fork at all (pids.max
# 1); the init is cloned straight into /into, where it sees itself.
echo +pids > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/launch
say clone_into "$(sh -c 'echo $$ > /sys/fs/cgroup/launch/cgroup.procs; echo 1 > /sys/fs/cgroup/launch/pids.max; exec husk-runtime --root /run/husk run --no-pivot --bundle /b/into into' 2>&1 | tr -d '\r')"
rmdir /sys/fs/cgroup/launch

# kill --all uses cgroup.kill: it reaches a process in a sub-cgroup too,
# which the container cgroup's cgroup.procs does not list.
$R create --no-pivot --bundle /b/kill kill && $R start kill
G=/sys/fs/cgroup/husk-kill
sleep 1
mkdir $G/sub
I=$($R state kill | tr -d ' \n' | grep -o '"pid":[0-9]*' | cut -d: -f2)
for p in $(cat $G/cgroup.procs); do [ "$p" != "$I" ] && echo $p > $G/sub/cgroup.procs; done
say kill_sub_before "$(wc -l < $G/sub/cgroup.procs)"
$R kill --all kill KILL; sleep 1
say kill_sub_after "$(wc -l < $G/sub/cgroup.procs)"
rmdir $G/sub; $R delete --force kill; say kill_removed "$([ -d $G ] && echo no || echo yes)"

# The cgroup namespace is rooted at the container's cgroup.
say cgroupns "$($R run --no-pivot --bundle /b/ns ns 2>/dev/null | tr -d '\r')"
poweroff -f
"#;

fn bundle(dir: &Path, args: &[&str], resources: Value, extra_ns: Option<&str>) -> Value {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "sleep", "dd", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::copy(probe_bin(), rootfs.join("probe")).unwrap();
    let mut cfg = baseline_config();
    cfg["process"]["args"] = json!(args);
    cfg["linux"]["resources"] = resources;
    if let Some(ns) = extra_ns {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": ns}));
    }
    fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    cfg
}

/// The RAM disk module of the kernel's package, next to its boot directory
/// (`.../boot/vmlinuz-VER` and `.../lib/modules/VER`).
fn brd_module(kernel: &Path) -> std::path::PathBuf {
    let ver = kernel
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap();
    let brd = kernel
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("lib/modules/{ver}/kernel/drivers/block/brd.ko"));
    assert!(brd.exists(), "{} is missing", brd.display());
    brd
}

#[test]
fn cgroup_v2_in_a_vm() {
    let kernel = std::env::var("HUSK_VM_KERNEL").expect(
        "HUSK_VM_KERNEL must name a vmlinuz: run the suite with scripts/test.sh, which fetches one",
    );
    let t = Test::new("v2vm");
    let ird = t.dir.join("initramfs");
    for d in ["bin", "proc", "sys", "dev", "run", "tmp", "b"] {
        fs::create_dir_all(ird.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", ird.join("bin/busybox")).unwrap();
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&applets.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        std::os::unix::fs::symlink("busybox", ird.join("bin").join(a)).unwrap();
    }
    fs::copy(runtime_bin(), ird.join("bin/husk-runtime")).unwrap();
    fs::write(ird.join("init"), INIT).unwrap();
    fs::set_permissions(ird.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
    let limit = 32 * 1024 * 1024;
    bundle(
        &ird.join("b/oom"),
        &[
            "/bin/dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=128M",
            "count=1",
        ],
        json!({"memory": {"limit": limit, "swap": limit}}),
        None,
    );
    bundle(
        &ird.join("b/pids"),
        &["/probe", "sleep", "120"],
        json!({"pids": {"limit": 8}, "memory": {"limit": 268_435_456}, "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}),
        None,
    );
    bundle(
        &ird.join("b/ns"),
        &["/bin/cat", "/proc/self/cgroup"],
        json!({}),
        Some("cgroup"),
    );
    fs::copy(brd_module(Path::new(&kernel)), ird.join("brd.ko")).unwrap();
    let rate = |r: u64| json!([{"major": 1, "minor": 0, "rate": r}]);
    bundle(
        &ird.join("b/io"),
        &["/probe", "sleep", "120"],
        json!({"memory": {"limit": 67_108_864, "swap": 100_663_296},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": rate(1_048_576), "throttleWriteIOPSDevice": rate(100)},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2_097_152}],
            "unified": {"memory.high": "49999872"}}),
        None,
    );
    let mut dev = bundle(
        &ird.join("b/dev"),
        &["/probe", "sleep", "120"],
        json!({"devices": [{"allow": false, "access": "rwm"}]}),
        None,
    );
    dev["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/dev/kmsg2", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}),
    );
    fs::write(ird.join("b/dev/config.json"), dev.to_string()).unwrap();
    let mut into = bundle(
        &ird.join("b/into"),
        &["/bin/cat", "/proc/self/cgroup"],
        json!({}),
        None,
    );
    into["linux"]["cgroupsPath"] = json!("/into");
    fs::write(ird.join("b/into/config.json"), into.to_string()).unwrap();
    bundle(
        &ird.join("b/kill"),
        &["/bin/sh", "-c", "/bin/sleep 100 & exec /bin/sleep 101"],
        json!({}),
        None,
    );
    let initrd = t.dir.join("initrd.gz");
    let pack = format!(
        "cd {} && find . | cpio -o -H newc 2>/dev/null | gzip -1 > {}",
        ird.display(),
        initrd.display()
    );
    run_cmd(
        {
            let mut c = Command::new("sh");
            c.arg("-c").arg(pack);
            c
        },
        &t.dir,
        Duration::from_secs(60),
    )
    .ok();
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-accel",
        "tcg",
        "-m",
        "1024",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-kernel",
        &kernel,
        "-initrd",
    ])
    .arg(&initrd)
    .args(["-append", "console=ttyS0 panic=-1 quiet"]);
    let out = run_cmd(qemu, &t.dir, Duration::from_secs(240));
    let results: BTreeMap<String, String> = out
        .stdout
        .lines()
        .filter_map(|l| l.find("HUSK-V2 ").map(|i| &l[i + 8..]))
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        })
        .collect();
    let get = |k: &str| results.get(k).cloned().unwrap_or_default();
    eprintln!("VM results: {results:?}");
    assert!(
        get("controllers").contains("memory") && get("controllers").contains("pids"),
        "{out}"
    );
    assert_eq!(get("oom_exit"), "137", "{results:?}");
    assert_eq!(get("pids_max"), "8", "{results:?}");
    assert_eq!(get("memory_max"), "268435456", "{results:?}");
    assert_eq!(get("cpu_weight"), "39", "{results:?}");
    assert_eq!(get("cpu_max"), "50000_100000", "{results:?}");
    let current: u32 = get("pids_current").parse().unwrap_or(99);
    assert!((2..=8).contains(&current), "{results:?}");
    assert!(
        get("pids_refused").parse::<u32>().unwrap_or(0) > 0,
        "{results:?}"
    );
    assert_eq!(get("pids_updated"), "20", "{results:?}");
    assert_eq!(get("paused"), "1_1", "{results:?}");
    assert_eq!(get("resumed"), "0", "{results:?}");
    assert_eq!(get("stats_pids"), "limit:20", "{results:?}");
    assert_eq!(get("removed"), "yes", "{results:?}");
    assert_eq!(get("cgroupns"), "0::/", "{results:?}");
    assert_eq!(
        get("io_max"),
        "1:0_rbps=1048576_wbps=max_riops=max_wiops=100",
        "{results:?}"
    );
    assert_eq!(get("io_weight"), "default_4950", "{results:?}");
    assert_eq!(get("swap_max"), "33554432", "{results:?}");
    assert_eq!(get("swap_updated"), "67108864", "{results:?}");
    assert_eq!(get("hugetlb_max"), "2097152", "{results:?}");
    assert_eq!(get("unified"), "49999872", "{results:?}");
    assert_eq!(get("stats_hugetlb"), "1", "{results:?}");
    assert_eq!(get("check_before_update"), "1_67108864", "{results:?}");
    assert_eq!(get("dev_null"), "write=ok", "{results:?}");
    assert_eq!(get("dev_kmsg"), "write=errno_1", "{results:?}");
    assert_eq!(get("dev_kmsg_updated"), "write=ok", "{results:?}");
    assert_eq!(get("clone_into"), "0::/into", "{results:?}");
    assert_eq!(get("kill_sub_before"), "1", "{results:?}");
    assert_eq!(get("kill_sub_after"), "0", "{results:?}");
    assert_eq!(get("kill_removed"), "yes", "{results:?}");
}
