//! Bad input: each case exits non-zero, names the field or path in its
//! error, and leaves nothing behind (state dir, mount, cgroup, process).
#![allow(clippy::unwrap_used)]

mod common;
use common::{is_runc, Bundle, Out, Test};
use serde_json::json;
use std::fs;

/// Checks the error text: `husk` words for husk-runtime, `runc` words when
/// the runtime under test is runc (whose messages are sometimes poorer).
/// husk must also never surface a bare "broken pipe" or "EOF" from its init.
#[track_caller]
fn check_error(out: &Out, husk: &[&str], runc: &[&str]) {
    out.failed();
    if is_runc() {
        out.stderr_mentions(runc);
    } else {
        out.stderr_mentions(husk);
        let err = out.stderr.to_lowercase();
        for symptom in [
            "broken pipe",
            "unexpected eof",
            "pipe: eof",
            "connection reset",
        ] {
            assert!(
                !err.contains(symptom),
                "an init failure must reach the user as its cause, not as `{symptom}`: {out}"
            );
        }
    }
}

/// `create` of a bundle edited by `edit` must fail with an error mentioning
/// one of `husk` (or `runc`) and leave nothing behind.
#[track_caller]
fn bad_config(name: &str, edit: impl FnOnce(&mut Bundle), husk: &[&str], runc: &[&str]) {
    let t = Test::new(name);
    let mut b = t.bundle();
    edit(&mut b);
    b.save();
    let id = t.id();
    let out = t.rt(&["create", "--bundle", b.path_str(), &id]);
    check_error(&out, husk, runc);
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn invalid_json() {
    let t = Test::new("badjson");
    let b = t.bundle();
    fs::write(b.path.join("config.json"), "{ \"ociVersion\": ").unwrap();
    let id = t.id();
    let out = t.rt(&["create", "--bundle", b.path_str(), &id]);
    // runc says only "unexpected EOF".
    check_error(&out, &["config.json"], &["eof", "json"]);
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn wrong_json_type() {
    bad_config(
        "badtype",
        |b| b.process()["user"]["umask"] = json!("022"),
        &["umask"],
        &["umask"],
    );
}

#[test]
fn missing_config_json() {
    let t = Test::new("noconfig");
    let b = t.bundle();
    let id = t.id();
    let out = t.rt(&["create", "--bundle", b.path_str(), &id]);
    check_error(&out, &["config.json"], &["config.json"]);
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn nonexistent_bundle_dir() {
    let t = Test::new("nobundle");
    let missing = t.dir.join("no-such-bundle");
    let id = t.id();
    let out = t.rt(&["create", "--bundle", missing.to_str().unwrap(), &id]);
    check_error(&out, &["no-such-bundle"], &["no-such-bundle"]);
    t.assert_no_leftovers(&id, &missing);
}

#[test]
fn missing_rootfs() {
    bad_config(
        "norootfs",
        |b| b.config["root"]["path"] = json!("no-such-rootfs"),
        &["no-such-rootfs"],
        &["no-such-rootfs"],
    );
}

#[test]
fn missing_root() {
    bad_config(
        "noroot",
        |b| {
            b.config.as_object_mut().unwrap().remove("root");
        },
        &["root"],
        &["root"],
    );
}

#[test]
fn missing_process() {
    bad_config(
        "noprocess",
        |b| {
            b.config.as_object_mut().unwrap().remove("process");
        },
        &["process"],
        &["process"],
    );
}

#[test]
fn unknown_namespace_type() {
    bad_config(
        "badns",
        |b| {
            b.add_namespace("bogus", None);
        },
        &["bogus"],
        &["bogus"],
    );
}

#[test]
fn duplicate_namespace() {
    bad_config(
        "dupns",
        |b| {
            b.linux()["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "type": "pid" }));
        },
        &["pid"],
        &["duplicate"],
    );
}

#[test]
fn namespace_path_that_does_not_exist() {
    bad_config(
        "nspath",
        |b| {
            b.add_namespace("network", Some("/no/such/netns"));
        },
        &["/no/such/netns"],
        &["/no/such/netns"],
    );
}

#[test]
fn relative_cwd() {
    // runtime-spec: process.cwd "MUST be an absolute path".
    bad_config(
        "relcwd",
        |b| b.process()["cwd"] = json!("tmp"),
        &["cwd"],
        &["cwd"],
    );
}

#[test]
fn empty_args() {
    bad_config(
        "emptyargs",
        |b| {
            b.args(&[]);
        },
        &["args"],
        &["args"],
    );
}

#[test]
fn executable_that_does_not_exist() {
    bad_config(
        "noexe",
        |b| {
            b.args(&["/no-such-binary", "x"]);
        },
        &["/no-such-binary"],
        &["/no-such-binary"],
    );
}

#[test]
fn executable_that_does_not_exist_with_run() {
    let t = Test::new("noexerun");
    let mut b = t.bundle();
    b.args(&["no-such-command-in-path"]);
    b.save();
    let id = t.id();
    let out = t.rt(&["run", "--bundle", b.path_str(), &id]);
    check_error(
        &out,
        &["no-such-command-in-path"],
        &["no-such-command-in-path"],
    );
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn unknown_capability() {
    if is_runc() {
        eprintln!("skipped: runc 1.1.5 ignores unknown capabilities with a warning");
        return;
    }
    bad_config(
        "badcap",
        |b| {
            b.process()["capabilities"]["bounding"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_BOGUS"));
        },
        &["CAP_BOGUS"],
        &[],
    );
}

#[test]
fn user_namespace_without_mappings() {
    bad_config(
        "nomaps",
        |b| {
            b.add_namespace("user", None);
        },
        &["mapping"],
        &["mapping"],
    );
}

#[test]
fn overlapping_uid_mappings() {
    bad_config(
        "badmaps",
        |b| {
            b.add_namespace("user", None);
            b.linux()["uidMappings"] = json!([
                { "containerID": 0, "hostID": 100000, "size": 10 },
                { "containerID": 5, "hostID": 200000, "size": 10 }
            ]);
            b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 10 }]);
        },
        &["uidmappings", "uid_map", "uid mapping"],
        // runc: "read(SYNC_USERMAP_ACK): Invalid argument".
        &["usermap"],
    );
}

#[test]
fn invalid_rlimit_type() {
    bad_config(
        "badrlimit",
        |b| {
            b.process()["rlimits"] = json!([{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }]);
        },
        &["RLIMIT_BOGUS"],
        &["RLIMIT_BOGUS"],
    );
}

#[test]
fn rlimit_soft_above_hard() {
    bad_config(
        "rlimitorder",
        |b| {
            b.process()["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "soft": 100, "hard": 50 }]);
        },
        &["RLIMIT_NOFILE", "process.rlimits"],
        &["rlimit"],
    );
}

#[test]
fn rlimit_above_the_host_hard_limit() {
    // The host's hard limit for open files is 20000 and root lacks
    // CAP_SYS_RESOURCE: raising it fails with EPERM.
    bad_config(
        "rlimiteperm",
        |b| {
            b.process()["rlimits"] =
                json!([{ "type": "RLIMIT_NOFILE", "soft": 1_048_576, "hard": 1_048_576 }]);
        },
        &["RLIMIT_NOFILE", "process.rlimits"],
        &["rlimit"],
    );
}

#[test]
fn oom_score_adj_out_of_range() {
    bad_config(
        "badoom",
        |b| b.process()["oomScoreAdj"] = json!(5000),
        &["oom"],
        &["oom"],
    );
}

#[test]
fn bind_mount_source_that_does_not_exist() {
    bad_config(
        "nobindsrc",
        |b| {
            let src = b.path.join("no-such-source");
            b.add_mount(json!({
                "destination": "/data", "type": "bind",
                "source": src.to_str().unwrap(), "options": ["bind"]
            }));
        },
        &["no-such-source"],
        &["no-such-source"],
    );
}

#[test]
fn unknown_filesystem_type() {
    bad_config(
        "badfstype",
        |b| {
            b.add_mount(json!({ "destination": "/data", "type": "nosuchfs", "source": "x" }));
        },
        &["nosuchfs"],
        // runc names the mount, not the type: "mount x:/data ...: no such device".
        &["/data"],
    );
}

#[test]
fn hostname_without_uts_namespace() {
    bad_config(
        "hostnouts",
        |b| {
            b.remove_namespace("uts");
        },
        &["hostname"],
        &["hostname"],
    );
}

#[test]
fn network_sysctl_in_the_host_network_namespace() {
    bad_config(
        "hostsysctl",
        |b| {
            b.remove_namespace("network");
            b.linux()["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
        },
        &["net.ipv4.ip_forward"],
        &["net.ipv4.ip_forward"],
    );
}

#[test]
fn unknown_sysctl() {
    bad_config(
        "badsysctl",
        |b| b.linux()["sysctl"] = json!({ "kernel.no_such_knob": "1" }),
        &["kernel.no_such_knob"],
        &["kernel.no_such_knob"],
    );
}

#[test]
fn invalid_device_type() {
    bad_config(
        "baddevice",
        |b| {
            b.linux()["devices"] =
                json!([{ "path": "/dev/x", "type": "q", "major": 1, "minor": 3 }]);
        },
        &["device"],
        &["device"],
    );
}

#[test]
fn invalid_container_id() {
    let t = Test::new("badid");
    let b = t.bundle();
    b.save();
    for id in ["a/b", "..", ""] {
        let out = t.rt(&["create", "--bundle", b.path_str(), id]);
        check_error(&out, &["id"], &["id"]);
    }
    assert_eq!(fs::read_dir(&t.root).unwrap().count(), 0, "root not empty");
    assert!(!b.path.join("..").join("b").exists());
}

#[test]
fn unknown_id_for_every_command() {
    let t = Test::new("unknownid");
    for cmd in [
        vec!["state", "no-such-id"],
        vec!["start", "no-such-id"],
        vec!["kill", "no-such-id", "KILL"],
        vec!["delete", "no-such-id"],
    ] {
        let out = t.rt(&cmd);
        check_error(&out, &["no-such-id"], &["does not exist"]);
    }
    assert_eq!(fs::read_dir(&t.root).unwrap().count(), 0, "root not empty");
}

#[test]
fn delete_force_of_an_unknown_id_succeeds() {
    // runc (and containerd, which relies on it) treats this as done.
    let t = Test::new("forceunknown");
    t.rt(&["delete", "--force", "no-such-id"]).ok();
}

#[test]
fn duplicate_id_leaves_the_first_container_alone() {
    let t = Test::new("dupid2");
    let b = t.bundle();
    let (id, out) = t.create(&b, &[]);
    out.ok();
    let pid = t.state(&id)["pid"].as_u64().unwrap();
    let b2 = t.bundle();
    b2.save();
    let out = t.rt(&["create", "--bundle", b2.path_str(), &id]);
    check_error(&out, &[&id], &["exists"]);
    let state = t.state(&id);
    assert_eq!(state["pid"].as_u64(), Some(pid));
    assert_eq!(state["status"], "created");
    // Nothing of the second bundle is mounted or running.
    assert!(common::processes_of("no-such-id-at-all", &b2.path).is_empty());
    let b2s = b2.path_str().to_string();
    assert!(!common::mount_points().iter().any(|m| m.starts_with(&b2s)));
}

/// The leftover checks themselves: they must see a live container.
#[test]
fn the_leftover_checks_see_a_live_container() {
    let t = Test::new("selfcheck");
    let mut b = t.bundle();
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    let procs = common::processes_of(&id, &b.path);
    assert!(!procs.is_empty(), "created container's init not detected");
    t.rt(&["start", &id]).ok();
    let procs = common::processes_of(&id, &b.path);
    assert!(!procs.is_empty(), "running container not detected");
    let mounted = common::mount_points();
    eprintln!(
        "processes: {procs:?}; mounts under bundle: {}",
        mounted
            .iter()
            .filter(|m| m.starts_with(b.path_str()))
            .count()
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.assert_no_leftovers(&id, &b.path);
    }));
    assert!(
        result.is_err(),
        "assert_no_leftovers passed on a running container"
    );
}

#[test]
fn systemd_cgroup_driver_is_a_clear_error() {
    // No systemd as PID 1 here: husk and runc both say so.
    let t = Test::new("systemdcg");
    let b = t.bundle();
    b.save();
    let id = t.id();
    let out = t.rt(&["--systemd-cgroup", "create", "--bundle", b.path_str(), &id]);
    check_error(&out, &["systemd"], &["systemd"]);
    t.assert_no_leftovers(&id, &b.path);
}
