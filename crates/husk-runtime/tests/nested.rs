//! husk-runtime inside a husk container, laid out like Docker-in-Docker on a
//! v1/hybrid host: the outer container has no cgroup namespace, so each of
//! its cgroup mounts shows only its own cgroup (the mount's root is its
//! path), while /proc/self/cgroup names paths from the host's root. The
//! inner runtime must place its container right below the outer one.
#![allow(clippy::unwrap_used)]

mod common;
use common::{baseline_config, runtime_bin, Test};
use serde_json::json;
use std::fs;
use std::path::Path;

/// Copies a directory tree (files, dirs and symlinks).
fn copy_tree(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_runtime_inside_a_container_places_its_container_below_the_outer_one() {
    let t = Test::new("nested");
    let mut outer = t.bundle();
    let rootfs = outer.rootfs();
    // The inner bundle and the runtime, inside the outer root.
    fs::copy(runtime_bin(), rootfs.join("husk-runtime")).unwrap();
    fs::create_dir_all(rootfs.join("inner")).unwrap();
    copy_tree(&rootfs.join("bin"), &rootfs.join("inner/bin"));
    for d in ["proc", "dev", "sys", "tmp"] {
        fs::create_dir_all(rootfs.join("inner/rootfs").join(d)).unwrap();
    }
    fs::rename(rootfs.join("inner/bin"), rootfs.join("inner/rootfs/bin")).unwrap();
    let mut inner = baseline_config();
    inner["process"]["args"] = json!(["/bin/cat", "/proc/self/cgroup"]);
    inner["root"] = json!({ "path": "rootfs", "readonly": true });
    fs::write(
        rootfs.join("inner/config.json"),
        serde_json::to_vec(&inner).unwrap(),
    )
    .unwrap();

    // The outer container may run a runtime: every capability, all
    // devices, /sys and /sys/fs/cgroup writable, nothing masked.
    outer.writable();
    let caps: Vec<String> = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "NET_ADMIN",
        "SYS_CHROOT",
        "SYS_ADMIN",
        "MKNOD",
        "SETFCAP",
        "SYS_PTRACE",
    ]
    .iter()
    .map(|c| format!("CAP_{c}"))
    .collect();
    outer.process()["capabilities"] =
        json!({ "bounding": caps, "effective": caps, "permitted": caps });
    outer.process()["noNewPrivileges"] = json!(false);
    let linux = outer.linux();
    linux["resources"] = json!({ "devices": [{ "allow": true, "access": "rwm" }] });
    linux.as_object_mut().unwrap().remove("maskedPaths");
    linux.as_object_mut().unwrap().remove("readonlyPaths");
    for m in outer.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev"]);
        }
    }
    outer.args(&[
        "/husk-runtime",
        "--root",
        "/tmp/inner-root",
        "run",
        "--bundle",
        "/inner",
        "inner1",
    ]);
    let out = t.run(&outer);
    out.ok();
    // The outer container's own cgroup, as the host names it.
    let v1 = Path::new("/sys/fs/cgroup/pids").is_dir();
    let line = out
        .stdout
        .lines()
        .find(|l| {
            if v1 {
                l.split(':').nth(1) == Some("pids")
            } else {
                l.starts_with("0::")
            }
        })
        .unwrap_or_else(|| panic!("no pids line: {out}"));
    let path = line.splitn(3, ':').nth(2).unwrap();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // `<runtime's cgroup>/husk-<outer id>/husk-inner1`: the outer container's
    // path appears once, not again below itself.
    assert_eq!(parts.last(), Some(&"husk-inner1"), "{out}");
    let outer_dir = parts[parts.len() - 2];
    assert!(outer_dir.starts_with("husk-husk-nested"), "{out}");
    assert_eq!(
        parts
            .iter()
            .filter(|p| p.starts_with("husk-husk-nested"))
            .count(),
        1,
        "{out}"
    );
}
