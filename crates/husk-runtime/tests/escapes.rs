//! Regression tests for known container escapes: each plays the attack from
//! inside or around the container and asserts it fails. `weak.rs` then
//! builds husk-runtime with its protections switchable off (feature
//! `weaken`) and shows these same tests failing against it.
//!
//! Covered elsewhere: CVE-2024-21626 and CVE-2019-5736 in `security.rs`; a
//! tmpfs destination through an outside symlink in `rootfs.rs`
//! (`mount_destination_symlink_stays_inside_the_root`).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "escapes/weak.rs"]
mod weak;
use common::{Bundle, Test};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A host directory of this test (empty), as an absolute path string.
fn host_dir(t: &Test, name: &str) -> PathBuf {
    let d = t.dir.join(name);
    fs::create_dir_all(&d).unwrap();
    d
}

fn is_empty(d: &Path) -> bool {
    fs::read_dir(d).unwrap().next().is_none()
}

/// A fake procfs tree on the host: the files a runtime writes to.
fn fake_proc(t: &Test, name: &str, under: &str) -> PathBuf {
    let d = host_dir(t, name);
    for f in [
        format!("{under}net/ipv4/ip_forward"),
        "1/oom_score_adj".into(),
    ] {
        let p = d.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "fake\n").unwrap();
    }
    d
}

fn untouched(d: &Path, rel: &str) {
    assert_eq!(
        fs::read_to_string(d.join(rel)).unwrap(),
        "fake\n",
        "{rel} was written"
    );
}

fn with_sysctl_and_oom(b: &mut Bundle) {
    b.linux()["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    b.process()["oomScoreAdj"] = json!(500);
}

/// CVE-2019-16884: the config puts a host directory at /proc instead of a
/// procfs. The runtime's writes under /proc (sysctl, oom_score_adj, LSM
/// attrs) must go to a real procfs, never into those files.
#[test]
fn cve_2019_16884_fake_proc_receives_no_writes() {
    let t = Test::new("esc-16884");
    let fake = fake_proc(&t, "fakeproc", "sys/");
    let mut b = t.bundle();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            *m = json!({ "destination": "/proc", "type": "bind", "source": fake, "options": ["rbind"] });
        }
    }
    b.linux()["maskedPaths"] = json!([]);
    b.linux()["readonlyPaths"] = json!([]);
    with_sysctl_and_oom(&mut b);
    // The probe's usual reports read /proc, which is fake here.
    t.probe(&mut b, &["exit", "0"]);
    untouched(&fake, "sys/net/ipv4/ip_forward");
    untouched(&fake, "1/oom_score_adj");
}

/// CVE-2025-52881: a real /proc, but a bind of a host directory over
/// /proc/sys; the sysctl write must not be redirected into it.
#[test]
fn cve_2025_52881_bind_over_proc_sys_does_not_redirect_sysctl() {
    let t = Test::new("esc-52881");
    let fake = fake_proc(&t, "fakesys", "");
    let mut b = t.bundle();
    b.add_mount(
        json!({ "destination": "/proc/sys", "type": "bind", "source": fake, "options": ["rbind"] }),
    );
    with_sysctl_and_oom(&mut b);
    t.probe(&mut b, &["pid1"]);
    untouched(&fake, "net/ipv4/ip_forward");
}

/// CVE-2019-19921 and CVE-2023-27561: the image's /proc, and a directory on
/// a mount's way, are symlinks to host paths. Both resolve inside the root:
/// nothing is mounted or created on the host.
#[test]
fn cve_2019_19921_symlinks_out_of_the_root_stay_inside() {
    let t = Test::new("esc-19921");
    let proc_target = host_dir(&t, "proc-target");
    let vol_target = host_dir(&t, "vol-target");
    let mut b = t.bundle();
    let rootfs = b.rootfs();
    fs::remove_dir(rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink(&proc_target, rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink(&vol_target, rootfs.join("vol")).unwrap();
    let src = host_dir(&t, "src");
    b.add_mount(
        json!({ "destination": "/vol/sub", "type": "bind", "source": src, "options": ["bind"] }),
    );
    let out = t.probe(&mut b, &["stat", "/proc/self/status"]);
    assert_eq!(out.get("type"), "file", "{out}");
    assert!(
        is_empty(&proc_target) && is_empty(&vol_target),
        "created on the host"
    );
    let host_mounts = common::mount_points();
    for d in [&proc_target, &vol_target] {
        assert!(!host_mounts.iter().any(|m| Path::new(m).starts_with(d)));
    }
}

/// CVE-2021-30465: container A swaps a directory on a shared volume with a
/// symlink to a host path, in a loop, while containers are created with a
/// mount whose destination goes through it. No host path is touched.
#[test]
fn cve_2021_30465_racing_symlink_swap_stays_inside() {
    let t = Test::new("esc-30465");
    let vol = host_dir(&t, "vol");
    let target = host_dir(&t, "target");
    let mut a = t.bundle();
    a.add_mount(
        json!({ "destination": "/vol", "type": "bind", "source": vol, "options": ["bind"] }),
    );
    let swap = format!(
        "i=0; while [ $i -lt 200000 ]; do rm -rf /vol/d; mkdir /vol/d; rm -rf /vol/d; \
         ln -s {} /vol/d; i=$((i+1)); done",
        target.display()
    );
    a.args(&["/bin/sh", "-c", &swap]);
    a.writable();
    let (attacker, out) = t.create(&a, &[]);
    out.ok();
    t.rt(&["start", &attacker]).ok();
    assert!(
        common::wait_until(Duration::from_secs(10), || fs::symlink_metadata(
            vol.join("d")
        )
        .is_ok()),
        "the attacker's swap loop did not start"
    );
    let src = host_dir(&t, "src");
    let started = Instant::now();
    let mut runs = 0;
    while runs < 12 && started.elapsed() < Duration::from_secs(40) {
        let mut b = t.bundle();
        b.add_mount(
            json!({ "destination": "/vol", "type": "bind", "source": vol, "options": ["bind"] }),
        );
        b.add_mount(json!({ "destination": "/vol/d/sub", "type": "bind", "source": src, "options": ["bind"] }));
        b.probe_args(&["pid1"]);
        // Creation may fail when the swap removes a directory underway;
        // what matters is where things land.
        let out = t.run(&b);
        eprintln!(
            "run {runs}: {}",
            if out.success() { "created" } else { "refused" }
        );
        runs += 1;
        assert!(
            is_empty(&target),
            "run {runs} created {:?} on the host",
            fs::read_dir(&target).unwrap().collect::<Vec<_>>()
        );
    }
    assert!(runs > 0);
    t.rt(&["delete", "--force", &attacker]);
    assert!(!common::mount_points()
        .iter()
        .any(|m| Path::new(m).starts_with(&target)));
}

/// CVE-2022-29162: the inheritable set is empty unless the config asks.
#[test]
fn cve_2022_29162_inheritable_caps_empty_unless_asked() {
    let t = Test::new("esc-29162");
    let mut b = t.bundle();
    assert_eq!(t.probe(&mut b, &["caps"]).get("CapInh"), "0000000000000000");
    b.process()["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    assert_eq!(t.probe(&mut b, &["caps"]).get("CapInh"), "0000000000000020");
}

/// CVE-2025-31133: /dev/null is swapped for a symlink to a host file (here
/// by a createContainer hook, as a racing neighbour would) before masking.
/// Masks must use the real 1:3 device or fail; never bind the host file.
#[test]
fn cve_2025_31133_masking_never_uses_a_swapped_dev_null() {
    let t = Test::new("esc-31133");
    let data = host_dir(&t, "data");
    fs::write(data.join("target"), "precious\n").unwrap();
    let mut b = t.bundle();
    b.add_mount(
        json!({ "destination": "/data", "type": "bind", "source": data, "options": ["bind"] }),
    );
    fs::write(b.rootfs().join("etc/masked"), "secret\n").unwrap();
    b.linux()["maskedPaths"] = json!(["/etc/masked"]);
    let swap = format!("ln -sfn /data/target {}/dev/null", b.rootfs().display());
    b.config["hooks"] =
        json!({ "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", swap] }] });
    b.probe_args(&[
        "run",
        "append",
        "/etc/masked",
        "PWNED",
        "--",
        "stat",
        "/etc/masked",
    ]);
    let out = t.run(&b);
    if out.success() {
        assert_eq!(out.get("rdev"), "1:3", "{out}");
    } else {
        out.stderr_mentions(&["/dev/null"]);
    }
    assert_eq!(
        fs::read_to_string(data.join("target")).unwrap(),
        "precious\n"
    );
}

/// An image whose /dev is a symlink to a host directory (and no tmpfs on
/// /dev): device nodes are created inside the root, never on the host.
#[test]
fn image_dev_symlink_to_the_host_stays_inside() {
    let t = Test::new("esc-devlink");
    let hostdev = host_dir(&t, "hostdev");
    let mut b = t.bundle();
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    let rootfs = b.rootfs();
    fs::remove_dir(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink(&hostdev, rootfs.join("dev")).unwrap();
    fs::create_dir_all(rootfs.join(hostdev.strip_prefix("/").unwrap())).unwrap();
    let out = t.probe(&mut b, &["stat", "/dev/null"]);
    assert_eq!(out.get("rdev"), "1:3", "{out}");
    assert!(is_empty(&hostdev), "devices created on the host");
}

/// CVE-2025-31133 and CVE-2025-52565 from the image: a writable image
/// without a tmpfs on /dev whose `/dev/<name>` is a
/// symlink to its own file /etc/target (holding "precious").
fn image_with_dev_link(t: &Test, name: &str) -> Bundle {
    let mut b = t.bundle();
    b.writable();
    let mounts = b.config["mounts"].as_array().unwrap().clone();
    b.config["mounts"] = serde_json::Value::Array(
        mounts
            .into_iter()
            .filter(|m| m["destination"] != "/dev")
            .collect(),
    );
    fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    fs::create_dir_all(b.rootfs().join("etc")).unwrap();
    fs::write(b.rootfs().join("etc/target"), "precious\n").unwrap();
    let link = b.rootfs().join("dev").join(name);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink("/etc/target", link).unwrap();
    b
}

/// An image whose /dev/null is a symlink to one of its own files (and no
/// tmpfs on /dev): the runtime replaces the link with the real device and
/// never writes through it.
#[test]
fn image_dev_null_symlink_is_replaced_not_followed() {
    let t = Test::new("devnulllink");
    let mut b = image_with_dev_link(&t, "null");
    let out = t.probe(
        &mut b,
        &["run", "lstat", "/dev/null", "--", "write", "/dev/null"],
    );
    assert!(
        out.stdout.contains("type=char") && out.stdout.contains("rdev=1:3"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/target")).unwrap(),
        "precious\n"
    );
}

/// An image whose /dev/console is a symlink: with a terminal, the pty is
/// bound on a fresh /dev/console, not on the link's target.
#[test]
fn image_dev_console_symlink_is_not_followed() {
    let t = Test::new("consolelink");
    let mut b = image_with_dev_link(&t, "console");
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
        }));
    b.process()["terminal"] = serde_json::json!(true);
    b.args(&[
        "/probe",
        "run",
        "lstat",
        "/dev/console",
        "--",
        "stat",
        "/etc/target",
    ]);
    let console = common::ConsoleSocket::new(&t.dir);
    let (id, out) = t.create(&b, &["--console-socket", console.path_str()]);
    out.ok();
    let master = console.receive_master(Duration::from_secs(10));
    t.rt(&["start", &id]).ok();
    let text = common::read_pty(master, Duration::from_secs(10)).replace('\r', "");
    // /dev/console is the pty itself; /etc/target is still the image's file.
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("type=")).collect();
    assert_eq!(types, ["type=char", "type=file"], "{text:?}");
    assert!(text.contains("rdev=136:"), "{text:?}");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/target")).unwrap(),
        "precious\n"
    );
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
}
