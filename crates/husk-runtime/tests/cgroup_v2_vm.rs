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

# The cgroup namespace is rooted at the container's cgroup.
say cgroupns "$($R run --no-pivot --bundle /b/ns ns 2>/dev/null | tr -d '\r')"
poweroff -f
"#;

fn bundle(dir: &Path, args: &[&str], resources: Value, extra_ns: Option<&str>) {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "sleep", "dd", "cat"] {
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
}
