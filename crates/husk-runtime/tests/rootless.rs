//! Rootless: husk-runtime run by an ordinary user (`nobody`), with the
//! config `spec --rootless` writes: a user namespace mapping that user to
//! root inside, the maps written by the unprivileged parent.
#![allow(clippy::unwrap_used)]

mod common;
use common::subid_user::SubidUser;
use common::{run_cmd, runtime_bin, Out, Test};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const NOBODY: u32 = 65534;

/// The runtime, run as `nobody`, with a state root that user may write.
fn as_nobody(t: &Test, args: &[&str]) -> Out {
    let mut c = Command::new(runtime_bin());
    c.arg("--root")
        .arg(&t.root)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY);
    run_cmd(c, &t.dir, Duration::from_secs(30))
}

fn chown_tree(p: &Path) {
    let out = run_cmd(
        {
            let mut c = Command::new("chown");
            c.arg("-R").arg(format!("{NOBODY}:{NOBODY}")).arg(p);
            c
        },
        p,
        Duration::from_secs(30),
    );
    out.ok();
}

/// A bundle with the config `spec --rootless` writes for `nobody`, in a
/// test dir that user may use.
fn rootless_bundle(t: &Test) -> common::Bundle {
    std::fs::set_permissions(&t.root, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&t.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = t.bundle();
    b.save();
    std::fs::remove_file(b.path.join("config.json")).unwrap();
    chown_tree(&b.path);
    as_nobody(t, &["spec", "--rootless", "--bundle", b.path_str()]).ok();
    b.config = serde_json::from_slice(&std::fs::read(b.path.join("config.json")).unwrap()).unwrap();
    b.config["process"]["terminal"] = serde_json::json!(false);
    b.config["root"]["readonly"] = serde_json::json!(false);
    b
}

#[test]
fn an_ordinary_user_runs_a_container() {
    let t = Test::new("rootless");
    let mut b = rootless_bundle(&t);
    b.probe_args(&[
        "run",
        "ids",
        "--",
        "cat",
        "/proc/self/uid_map",
        "--",
        "hostname",
    ]);
    b.save();
    chown_tree(&b.path);
    let id = t.id();
    let out = as_nobody(&t, &["run", "--bundle", b.path_str(), &id]);
    out.ok();
    let kv = out.kv();
    assert_eq!(kv.get("uid").map(String::as_str), Some("0"), "{out}");
    // Root inside is nobody outside: "0 65534 1".
    let map: Vec<&str> = out
        .stdout
        .lines()
        .find(|l| l.contains("65534"))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", "65534", "1"], "{out}");
    t.assert_no_leftovers(&id, &b.path);

    // The create/start split works too, and the user can delete what it made.
    let id = t.id();
    as_nobody(&t, &["create", "--bundle", b.path_str(), &id]).ok();
    assert!(as_nobody(&t, &["state", &id]).stdout.contains("created"));
    as_nobody(&t, &["start", &id]).ok();
    assert!(common::wait_until(Duration::from_secs(10), || as_nobody(
        &t,
        &["state", &id]
    )
    .stdout
    .contains("stopped")));
    as_nobody(&t, &["delete", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

/// Without delegated cgroups, limits cannot be honoured: like runc, create
/// fails naming the field (device rules alone are skipped with a warning).
#[test]
fn an_ordinary_user_cannot_set_limits_without_delegation() {
    let t = Test::new("rootless-limits");
    let mut b = rootless_bundle(&t);
    b.config["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}});
    b.probe_args(&["hostname"]);
    b.save();
    chown_tree(&b.path);
    let id = t.id();
    as_nobody(&t, &["run", "--bundle", b.path_str(), &id])
        .failed()
        .stderr_mentions(&["linux.resources.pids", "not delegated"]);
    t.assert_no_leftovers(&id, &b.path);
}

/// Under `unshare -r` (root in a user namespace, no real privileges): the
/// re-exec falls back to a sealed memfd, the maps nest, and the container runs.
#[test]
fn runs_under_unshare_r() {
    let t = Test::new("unshare-r");
    let mut b = t.bundle();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    b.config["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    b.config["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    // Without privileges over the host's network namespace, sysfs can only
    // be bound, not mounted fresh.
    for m in b.config["mounts"].as_array_mut().unwrap() {
        // Only gid 0 is mapped: devpts may not use the tty group (5).
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| o != "gid=5");
        }
        if m["destination"] == "/sys" {
            *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
    b.probe_args(&["run", "ids", "--", "hostname"]);
    b.save();
    let id = t.id();
    let mut c = Command::new("unshare");
    c.arg("-r")
        .arg(runtime_bin())
        .arg("--root")
        .arg(&t.root)
        .args(["run", "--bundle", b.path_str(), &id]);
    let out = run_cmd(c, &t.dir, Duration::from_secs(30));
    out.ok();
    assert_eq!(out.kv().get("uid").map(String::as_str), Some("0"), "{out}");
    t.assert_no_leftovers(&id, &b.path);
}

/// An ordinary user maps itself to root and 65536 subordinate ids to
/// 1..65536: the maps are written by newuidmap/newgidmap, and a file chowned
/// to 1000 inside belongs to the subordinate id on the host.
#[test]
fn subordinate_ranges_are_mapped_with_the_setuid_helpers() {
    let t = Test::new("subid");
    let user = SubidUser::new();
    std::fs::set_permissions(&t.root, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&t.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = t.bundle();
    b.save();
    std::fs::remove_file(b.path.join("config.json")).unwrap();
    let owner = format!("{}:{}", user.uid, user.gid);
    let chown = |p: &Path| {
        let mut c = Command::new("chown");
        c.arg("-R").arg(&owner).arg(p);
        run_cmd(c, p, Duration::from_secs(30)).ok();
    };
    chown(&b.path);
    user.run(&t, &["spec", "--rootless", "--bundle", b.path_str()])
        .ok();
    b.config = serde_json::from_slice(&std::fs::read(b.path.join("config.json")).unwrap()).unwrap();
    b.config["process"]["terminal"] = serde_json::json!(false);
    b.config["root"]["readonly"] = serde_json::json!(false);
    for (key, own) in [("uidMappings", user.uid), ("gidMappings", user.gid)] {
        b.config["linux"][key] = serde_json::json!([
            { "containerID": 0, "hostID": own, "size": 1 },
            { "containerID": 1, "hostID": user.range.0, "size": 65536 }
        ]);
    }
    let caps = serde_json::json!(["CAP_CHOWN"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    b.args(&[
        "/bin/sh",
        "-c",
        "cat /proc/self/uid_map; touch /owned && chown 1000:1000 /owned",
    ]);
    b.save();
    chown(&b.path);
    let id = t.id();
    let out = user.run(&t, &["run", "--bundle", b.path_str(), &id]);
    out.ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (own, sub) = (user.uid.to_string(), user.range.0.to_string());
    assert_eq!(
        lines,
        [
            vec!["0", own.as_str(), "1"],
            vec!["1", sub.as_str(), "65536"]
        ],
        "{out}"
    );
    let meta = std::fs::metadata(b.rootfs().join("owned")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.uid(), meta.gid()),
        (user.range.0 + 999, user.range.0 + 999)
    );
    t.assert_no_leftovers(&id, &b.path);

    // `nobody` has no subordinate ids: refused, naming the field and the reason.
    let out = as_nobody(&t, &["run", "--bundle", b.path_str(), &t.id()]);
    out.failed()
        .stderr_mentions(&["linux.uidMappings", "not granted", "/etc/subuid"]);
}
