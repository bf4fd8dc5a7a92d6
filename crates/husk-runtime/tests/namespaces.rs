//! Namespaces: new ones, joined ones by `path`, user ns id maps, time ns offsets.
#![allow(clippy::unwrap_used)]

mod common;
use common::{host_ns, is_runc, NsHolder, Test};
use serde_json::json;

#[test]
fn process_is_pid1_in_a_new_pid_namespace() {
    let t = Test::new("pid1");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["run", "pid1", "--", "ns", "--", "ls", "/proc"]);
    assert_eq!(out.get("pid"), "1");
    assert_eq!(out.get("ppid"), "0");
    assert_ne!(out.get("ns.pid"), host_ns("pid"));
    // Only our process is visible in the container's /proc.
    let pids: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(pids, ["1"], "{out}");
}

#[test]
fn hostname_and_domainname() {
    let t = Test::new("uts");
    let mut b = t.bundle();
    b.config["hostname"] = json!("husk-host");
    b.config["domainname"] = json!("husk.example");
    let out = t.probe(&mut b, &["run", "hostname", "--", "domainname"]);
    assert_eq!(out.get("hostname"), "husk-host");
    if is_runc() {
        eprintln!("domainname not checked: runc 1.1.5 ignores it (spec 1.1 field)");
        return;
    }
    assert_eq!(out.get("domainname"), "husk.example");
}

#[test]
fn new_namespaces_differ_from_the_host() {
    let t = Test::new("newns");
    let mut b = t.bundle();
    b.add_namespace("cgroup", None);
    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    let out = t.probe(&mut b, &["ns"]);
    for kind in kinds {
        assert_ne!(
            out.get(&format!("ns.{kind}")),
            host_ns(kind),
            "{kind}: {out}"
        );
    }
    // Not asked for: shared with the host.
    assert_eq!(out.get("ns.user"), host_ns("user"));
    assert_eq!(out.get("ns.time"), host_ns("time"));
}

#[test]
fn namespaces_not_listed_are_shared_with_the_host() {
    let t = Test::new("sharens");
    let mut b = t.bundle();
    b.remove_namespace("network").remove_namespace("ipc");
    let out = t.probe(&mut b, &["ns"]);
    assert_eq!(out.get("ns.net"), host_ns("net"));
    assert_eq!(out.get("ns.ipc"), host_ns("ipc"));
    assert_ne!(out.get("ns.uts"), host_ns("uts"));
}

#[test]
fn namespaces_joined_by_path() {
    let t = Test::new("joinns");
    let holder = NsHolder::new(&["--uts", "--ipc", "--net", "--cgroup"]);
    let mut b = t.bundle();
    for (spec, kind) in [
        ("uts", "uts"),
        ("ipc", "ipc"),
        ("network", "net"),
        ("cgroup", "cgroup"),
    ] {
        b.add_namespace(spec, Some(&holder.ns_path(kind)));
    }
    // Joining a uts namespace and setting a hostname would change the holder's.
    b.config.as_object_mut().unwrap().remove("hostname");
    let out = t.probe(&mut b, &["ns"]);
    for kind in ["uts", "ipc", "net", "cgroup"] {
        assert_eq!(
            out.get(&format!("ns.{kind}")),
            holder.ns(kind),
            "{kind}: {out}"
        );
        assert_ne!(holder.ns(kind), host_ns(kind));
    }
}

#[test]
fn network_namespace_joined_by_path_sees_its_interfaces() {
    let t = Test::new("joinnet");
    let holder = NsHolder::new(&["--net"]);
    let mut b = t.bundle();
    b.add_namespace("network", Some(&holder.ns_path("net")));
    let out = t.probe(&mut b, &["cat", "/proc/net/dev"]);
    assert!(out.stdout.contains("lo:"), "{out}");
    assert!(!out.stdout.contains("eth0"), "{out}");
}

#[test]
fn user_namespace_with_id_mappings() {
    let t = Test::new("userns");
    let mut b = t.bundle();
    b.add_namespace("user", None);
    b.linux()["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    // The rootfs must be reachable by the mapped root.
    let rootfs = b.rootfs();
    chown_tree(&rootfs, 100_000);
    // sysfs and cgroup cannot be mounted by a user ns that doesn't own the netns... keep it simple.
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    let out = t.probe(
        &mut b,
        &["run", "ids", "--", "cat", "/proc/self/uid_map", "--", "ns"],
    );
    assert_eq!(out.get("uid"), "0");
    assert_eq!(out.get("gid"), "0");
    let map: Vec<&str> = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().count() == 3 && !l.contains('='))
        .unwrap_or_else(|| panic!("no uid_map line: {out}"))
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    assert_ne!(out.get("ns.user"), host_ns("user"));
}

fn chown_tree(path: &std::path::Path, id: u32) {
    let status = std::process::Command::new("chown")
        .args(["-R", "-h", &format!("{id}:{id}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    // The bundle dir itself must be searchable by the mapped root.
    let parent = path.parent().unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("755")
        .arg(parent)
        .status();
}

#[test]
fn time_namespace_with_offsets() {
    time_offsets(false);
}

/// Inside a user namespace too: the offsets are written before init turns
/// non-dumpable (its /proc files then belong to the host's root).
#[test]
fn time_namespace_with_offsets_in_a_user_namespace() {
    time_offsets(true);
}

fn time_offsets(userns: bool) {
    if is_runc() {
        eprintln!("skipped: runc 1.1.5 has no time namespace support");
        return;
    }
    let t = Test::new("timens");
    let mut b = t.bundle();
    b.add_namespace("time", None);
    if userns {
        b.add_namespace("user", None);
        b.linux()["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        chown_tree(&b.rootfs(), 100_000);
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    }
    let offset = 100_000_i64;
    b.linux()["timeOffsets"] = json!({
        "monotonic": { "secs": offset, "nanosecs": 0 },
        "boottime": { "secs": offset, "nanosecs": 0 }
    });
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let out = t.probe(&mut b, &["run", "uptime", "--", "ns"]);
    assert_ne!(out.get("ns.time"), host_ns("time"));
    let inside: f64 = out.get("uptime").parse().unwrap();
    #[allow(clippy::cast_precision_loss)]
    let expected = host_uptime + offset as f64;
    assert!(
        (inside - expected).abs() < 60.0,
        "uptime inside {inside}, host {host_uptime}, offset {offset}: {out}"
    );
}

#[test]
fn new_time_namespace_without_offsets() {
    if is_runc() {
        eprintln!("skipped: runc 1.1.5 has no time namespace support");
        return;
    }
    let t = Test::new("timens0");
    let mut b = t.bundle();
    b.add_namespace("time", None);
    let out = t.probe(&mut b, &["ns"]);
    assert_ne!(out.get("ns.time"), host_ns("time"));
}

#[test]
fn pid_namespace_joined_by_path() {
    let t = Test::new("joinpid");
    // With --fork, sleep is PID 1 of the new namespace (a pid namespace
    // without an init cannot be entered); the container joins as PID 2+.
    let holder = NsHolder::new_forked(&["--pid"]);
    let mut b = t.bundle();
    b.add_namespace("pid", Some(&holder.ns_path("pid_for_children")));
    let out = t.probe(&mut b, &["run", "pid1", "--", "ns"]);
    assert_eq!(out.get("ns.pid"), holder.ns("pid_for_children"));
    assert_ne!(out.get("ns.pid"), host_ns("pid"));
    assert_ne!(out.get("pid"), "1");
}

#[test]
fn mount_namespace_joined_by_path() {
    let t = Test::new("joinmnt");
    let holder = NsHolder::new(&["--mount"]);
    let mut b = t.bundle();
    b.add_namespace("mount", Some(&holder.ns_path("mnt")));
    let out = t.probe(&mut b, &["ns"]);
    assert_eq!(out.get("ns.mnt"), holder.ns("mnt"));
}

#[test]
fn user_namespace_joined_by_path() {
    let t = Test::new("joinuser");
    // A user namespace mapping root to root (unshare maps other ranges only
    // through newuidmap and /etc/subuid).
    let holder = NsHolder::new(&["--user", "--map-root-user"]);
    let mut b = t.bundle();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "cgroup");
    // gid 5 is not mapped in that namespace.
    for m in mounts.iter_mut().filter(|m| m["type"] == "devpts") {
        m["options"] = json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
    }
    b.add_namespace("user", Some(&holder.ns_path("user")));
    // The mappings of the joined namespace (runc 1.1.5 insists on them).
    b.linux()["uidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    let out = t.probe(
        &mut b,
        &["run", "ids", "--", "ns", "--", "cat", "/proc/self/uid_map"],
    );
    assert_eq!(out.get("ns.user"), holder.ns("user"));
    assert_ne!(out.get("ns.user"), host_ns("user"));
    assert_eq!(out.get("uid"), "0");
}

#[test]
fn time_namespace_joined_by_path() {
    if is_runc() {
        eprintln!("skipped: runc 1.1.5 has no time namespace support");
        return;
    }
    let t = Test::new("jointime");
    let holder = NsHolder::new(&["--time", "--boottime", "50000", "--monotonic", "50000"]);
    let mut b = t.bundle();
    b.add_namespace("time", Some(&holder.ns_path("time")));
    let out = t.probe(&mut b, &["run", "ns", "--", "uptime"]);
    assert_eq!(out.get("ns.time"), holder.ns("time"));
    let inside: f64 = out.get("uptime").parse().unwrap();
    assert!(inside > 50_000.0, "{out}");
}
