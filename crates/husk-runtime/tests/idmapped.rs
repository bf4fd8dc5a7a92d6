//! Idmapped bind mounts (`idmap`, `ridmap`, per-mount `uidMappings` and
//! `gidMappings`): a host directory is seen through the mount with ids
//! shifted, and files created inside land on the host with the unshifted ids.
//! The host directories live in the test's temp dir, on the root filesystem
//! (ext4 on the machines we run on; xfs and btrfs also take idmapped mounts,
//! tmpfs only since Linux 6.3).
#![allow(clippy::unwrap_used)]

mod common;
use common::{Bundle, Test};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// A container whose root is host uid/gid 100000 (65536 ids), without the
/// mounts a user namespace may not make, with `mount` added.
fn userns_bundle(t: &Test, mount: serde_json::Value) -> Bundle {
    let mut b = t.bundle();
    b.add_namespace("user", None);
    b.linux()["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup" && m["type"] != "sysfs");
    b.add_mount(mount);
    // The mapped root creates the mount points.
    let out = common::run_cmd(
        {
            let mut c = std::process::Command::new("chown");
            c.arg("-R").arg("100000:100000").arg(b.rootfs());
            c
        },
        &t.dir,
        common::COMMAND_TIMEOUT,
    );
    out.ok();
    b
}

/// A host directory owned by `uid` holding a file `foo` owned by it too.
fn host_dir(t: &Test, uid: u32) -> PathBuf {
    let dir = t.dir.join(format!("host-{uid}"));
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("foo"), "foo").unwrap();
    chown(dir.join("foo"), Some(uid), Some(uid)).unwrap();
    chown(&dir, Some(uid), Some(uid)).unwrap();
    dir
}

/// The mount's own maps: host uid 1000 is the container's root through it.
#[test]
fn own_mappings_show_a_host_user_as_root() {
    let t = Test::new("idmap-own");
    let dir = host_dir(&t, 1000);
    let map = json!([{ "containerID": 1000, "hostID": 100000, "size": 1 }]);
    let mut b = userns_bundle(
        &t,
        json!({ "destination": "/data", "type": "bind", "source": dir, "options": ["bind"],
                "uidMappings": map, "gidMappings": map }),
    );
    let out = t.probe(
        &mut b,
        &["run", "stat", "/data/foo", "--", "write", "/data/new"],
    );
    assert_eq!(out.get("uid"), "0", "{out}");
    assert_eq!(out.get("gid"), "0", "{out}");
    assert_eq!(out.get("write"), "ok", "{out}");
    let meta = fs::metadata(dir.join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
}

/// `idmap` alone: the container's own maps, so the host's root-owned files
/// are the container root's, and host uid 1000 is container uid 1000.
#[test]
fn idmap_option_uses_the_container_maps() {
    let t = Test::new("idmap-ctr");
    let root_dir = host_dir(&t, 0);
    let user_dir = host_dir(&t, 1000);
    let mut b = userns_bundle(
        &t,
        json!({ "destination": "/r", "type": "bind", "source": root_dir, "options": ["rbind", "ridmap"] }),
    );
    b.add_mount(
        json!({ "destination": "/u", "type": "bind", "source": user_dir, "options": ["bind", "idmap"] }),
    );
    let out = t.probe(
        &mut b,
        &[
            "run", "stat", "/r/foo", "--", "write", "/r/new", "--", "stat", "/u/foo",
        ],
    );
    let uids: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("uid="))
        .collect();
    assert_eq!(uids, ["uid=0", "uid=1000"], "{out}");
    assert_eq!(out.get("write"), "ok", "{out}");
    assert_eq!(fs::metadata(root_dir.join("new")).unwrap().uid(), 0);
}

/// Without idmap the same directory shows the overflow id: the test above
/// measures the mount, not the namespace.
#[test]
fn without_idmap_host_root_is_nobody() {
    let t = Test::new("idmap-none");
    let dir = host_dir(&t, 0);
    let mut b = userns_bundle(
        &t,
        json!({ "destination": "/r", "type": "bind", "source": dir, "options": ["bind"] }),
    );
    let out = t.probe(&mut b, &["stat", "/r/foo"]);
    assert_eq!(out.get("uid"), "65534", "{out}");
}

/// Refused before anything is created: idmap on a tmpfs, and without a
/// user namespace; the error names the field.
#[test]
fn idmap_errors_name_the_mount() {
    let t = Test::new("idmap-bad");
    let mut b = t.bundle();
    b.add_mount(
        json!({ "destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"] }),
    );
    let idx = b.config["mounts"].as_array().unwrap().len() - 1;
    let out = t.run(&b);
    out.failed()
        .stderr_mentions(&[&format!("mounts[{idx}].options"), "bind"]);
    let mut b = t.bundle();
    b.add_mount(json!({ "destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"] }));
    let out = t.run(&b);
    out.failed()
        .stderr_mentions(&[&format!("mounts[{idx}].options"), "user namespace"]);
}
