//! The cgroup tree around a container on this (v1/hybrid) host: cgroups a
//! container makes below its own are listed, killed and removed; devices
//! are denied without rules; a user namespace sees only its own cgroup.
#![allow(clippy::unwrap_used)]

mod common;
use common::Test;
use serde_json::json;
use std::fs;
use std::path::PathBuf;

/// A container that made a cgroup of its own below its cgroup (as systemd
/// or a nested runtime does) is still deleted, its cgroup with it: runc
/// removes the sub-cgroups first.
/// The container at `/<id>` with a cgroup namespace and a writable
/// cgroupfs, so that it can make cgroups below its own.
fn own_writable_cgroupfs(b: &mut common::Bundle, id: &str) {
    b.linux()["cgroupsPath"] = json!(format!("/{id}"));
    b.add_namespace("cgroup", None);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    let cg = mounts.iter_mut().find(|m| m["type"] == "cgroup").unwrap();
    cg["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
}

#[test]
fn delete_removes_sub_cgroups_the_container_made() {
    let t = Test::new("cgsub");
    let mut b = t.bundle();
    let id = t.id();
    own_writable_cgroupfs(&mut b, &id);
    b.args(&[
        "/bin/mkdir",
        "-p",
        "/sys/fs/cgroup/pids/a/b",
        "/sys/fs/cgroup/memory/c",
    ]);
    let out = t.run(&b);
    let left = common::cgroups_named(&id);
    // Whatever happened, leave the host clean (the deepest first).
    for d in &left {
        for sub in ["a/b", "a", "c", ""] {
            let _ = fs::remove_dir(d.join(sub));
        }
    }
    out.ok();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    t.assert_no_leftovers(&id, &b.path);
}

/// A process that moved itself into a sub-cgroup is still the container's:
/// `ps` lists it and `kill --all` with a signal other than SIGKILL (which
/// has v2's cgroup.kill) reaches it, as runc's recursive walk does.
#[test]
fn ps_and_kill_all_reach_processes_in_sub_cgroups() {
    let t = Test::new("cgsubps");
    let mut b = t.bundle();
    let id = t.id();
    b.writable();
    own_writable_cgroupfs(&mut b, &id);
    b.args(&[
        "/bin/sh",
        "-c",
        "for d in /sys/fs/cgroup/*/; do mkdir ${d}sub; done; \
         sh -c 'for d in /sys/fs/cgroup/*/; do echo $$ > ${d}sub/cgroup.procs; done; \
         echo ready > /ready; exec sleep 60' & wait",
    ]);
    b.save();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    t.rt(&["start", &id]).ok();
    let ready = common::wait_until(std::time::Duration::from_secs(10), || {
        b.rootfs().join("ready").exists()
    });
    assert!(ready, "the process never moved");
    let out = t.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    t.rt(&["kill", "--all", &id, "TERM"]).ok();
    let sub = PathBuf::from(format!("/sys/fs/cgroup/pids/{id}/sub/cgroup.procs"));
    let gone = common::wait_until(std::time::Duration::from_secs(5), || {
        fs::read_to_string(&sub)
            .unwrap_or_default()
            .trim()
            .is_empty()
    });
    t.rt(&["delete", "--force", &id]).ok();
    assert_eq!(pids.len(), 2, "{out}");
    assert!(gone, "kill --all TERM missed the process in the sub-cgroup");
    t.assert_no_leftovers(&id, &b.path);
}

/// Device access starts from deny-all as in runc (its device emulator
/// starts as a whitelist), whatever `linux.resources.devices` says: with no
/// rules at all, or with allow rules only, a device node the container
/// makes itself (CAP_MKNOD) cannot be opened; the default devices can.
#[test]
fn devices_are_denied_without_device_rules() {
    let t = Test::new("cgnodevrules");
    for devices in [
        None,
        Some(json!([{"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"}])),
    ] {
        let mut b = t.bundle();
        match devices {
            None => {
                b.linux().as_object_mut().unwrap().remove("resources");
            }
            Some(d) => b.linux()["resources"] = json!({ "devices": d }),
        }
        let caps = json!(["CAP_MKNOD", "CAP_KILL"]);
        for set in ["bounding", "effective", "permitted"] {
            b.process()["capabilities"][set] = caps.clone();
        }
        // 1:11 is /dev/kmsg: opening it write-only needs no capability.
        b.args(&[
            "/bin/sh",
            "-c",
            "echo -n > /dev/null || exit 3; mknod /dev/k c 1 11 || exit 4; echo -n > /dev/k && echo OPENED",
        ]);
        let out = t.run(&b);
        assert!(!out.stdout.contains("OPENED"), "device 1:11 opened: {out}");
        assert!(
            out.code.is_some_and(|c| c != 0 && c != 3 && c != 4),
            "{out}"
        );
    }
}

/// With a user namespace but no cgroup namespace, the container still sees
/// only its own cgroup, as without a user namespace (runc binds the same
/// directories), not the host's whole tree.
#[test]
fn a_user_namespace_sees_only_its_own_cgroup() {
    sees_own_pids_limit_in_a_user_namespace("cguserns", false, 77);
}

/// With a user namespace and a cgroup namespace, the container's cgroupfs
/// is rooted at its own cgroup (fresh mounts in its cgroup namespace), not
/// the host's whole tree.
#[test]
fn a_user_and_cgroup_namespace_see_only_their_own_cgroup() {
    sees_own_pids_limit_in_a_user_namespace("cguserns2", true, 78);
}

fn sees_own_pids_limit_in_a_user_namespace(name: &str, cgroupns: bool, limit: u32) {
    let t = Test::new(name);
    let mut b = t.bundle();
    let id = t.id();
    b.linux()["cgroupsPath"] = json!(format!("/{id}"));
    b.linux()["resources"]["pids"] = json!({ "limit": limit });
    b.add_namespace("user", None);
    if cgroupns {
        b.add_namespace("cgroup", None);
    }
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.linux()["uidMappings"] = map.clone();
    b.linux()["gidMappings"] = map;
    b.args(&["/bin/cat", "/sys/fs/cgroup/pids/pids.max"]);
    let out = t.run(&b);
    assert_eq!(out.stdout.trim(), limit.to_string(), "{out}");
}
