//! Block I/O, hugetlb, network, rdma and unified resources on this hybrid
//! host (v1 hierarchies, hugetlb only in cgroup2): values land in the
//! container's cgroup files and the container sees them through its cgroup
//! namespace; what the host cannot honour is an error naming the field,
//! with nothing left behind. (net_cls and net_prio are not mounted here and
//! cannot be mounted by a test: /proc/self/cgroup is machine-wide, so every
//! other container on the machine would try to mount them too. Their
//! writes are unit-tested in husk-cgroups; here, their error.)
#![allow(clippy::unwrap_used)]

mod common;
use common::Test;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// `major:minor` of a real disk of this host (the first non-empty one).
fn disk() -> (u64, u64) {
    let mut disks: Vec<PathBuf> = fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| fs::read_to_string(p.join("size")).is_ok_and(|s| s.trim() != "0"))
        .collect();
    disks.sort();
    let dev = fs::read_to_string(disks[0].join("dev")).unwrap();
    let (a, b) = dev.trim().split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

/// A bundle placed at the absolute cgroup `/<id>` (so the leftover check
/// finds it by name) with a cgroup namespace, running `args`.
fn bundle(t: &Test, id: &str, resources: Value, args: &[&str]) -> common::Bundle {
    let mut b = t.bundle();
    b.linux()["cgroupsPath"] = json!(format!("/{id}"));
    b.linux()["resources"] = resources;
    b.add_namespace("cgroup", None);
    b.args(args);
    b.save();
    b
}

#[test]
fn blkio_weight_and_throttles_are_set_and_seen_inside() {
    let t = Test::new("cgblkio");
    let id = t.id();
    let (major, minor) = disk();
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let b = bundle(
        &t,
        &id,
        json!({"blockIO": {"weight": 300, "throttleReadBpsDevice": dev(1_048_576),
            "throttleWriteIOPSDevice": dev(100)}}),
        &[
            "/bin/cat",
            "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device",
        ],
    );
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    let dir = PathBuf::from(format!("/sys/fs/cgroup/blkio/{id}"));
    let line = format!("{major}:{minor} 1048576");
    assert_eq!(read(dir.join("blkio.throttle.read_bps_device")), line);
    assert_eq!(
        read(dir.join("blkio.throttle.write_iops_device")),
        format!("{major}:{minor} 100")
    );
    // CFQ's file, or BFQ's on kernels without CFQ (this one).
    let weight = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .find_map(|f| fs::read_to_string(dir.join(f)).ok())
        .unwrap();
    assert!(weight.contains("300"), "{weight}");
    // `update` replaces a throttle; stats carry a blkio object.
    let file = t.dir.join("r.json");
    let r = json!({"blockIO": {"throttleReadBpsDevice": dev(2_097_152)}});
    fs::write(&file, r.to_string()).unwrap();
    t.rt(&["update", "-r", file.to_str().unwrap(), &id]).ok();
    let line = format!("{major}:{minor} 2097152");
    assert_eq!(read(dir.join("blkio.throttle.read_bps_device")), line);
    let stats = t.rt(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_str(stats.stdout.trim()).unwrap();
    assert!(ev["data"]["blkio"].is_object(), "{ev}");
    t.rt(&["start", &id]).ok();
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
    // The container saw its own limit through its cgroup namespace.
    let out = t.run(&bundle(
        &t,
        &t.id(),
        json!({"blockIO": {"throttleReadBpsDevice": dev(4096)}}),
        &[
            "/bin/cat",
            "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device",
        ],
    ));
    out.ok();
    assert_eq!(out.stdout.trim(), format!("{major}:{minor} 4096"), "{out}");
}

/// Serialises the tests that change the unified root's subtree_control.
static ROOT_SUBTREE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The runtime enables a controller it needs in the ancestors'
/// `cgroup.subtree_control` (as runc does); the test turns off again what
/// was off before, to leave the host as it found it (best effort: a
/// concurrent container still using it keeps it on).
struct SubtreeControl {
    file: PathBuf,
    before: String,
}

impl SubtreeControl {
    fn save(file: &str) -> SubtreeControl {
        let file = PathBuf::from(file);
        let before = std::fs::read_to_string(&file).unwrap_or_default();
        SubtreeControl { file, before }
    }
}

impl Drop for SubtreeControl {
    fn drop(&mut self) {
        let now = std::fs::read_to_string(&self.file).unwrap_or_default();
        let before: Vec<&str> = self.before.split_whitespace().collect();
        for c in now.split_whitespace().filter(|c| !before.contains(c)) {
            let _ = std::fs::write(&self.file, format!("-{c}"));
        }
    }
}

/// hugetlb lives only in cgroup2 here: the limit goes to hugetlb.2MB.max in
/// the container's unified directory, as does a unified key of it.
#[test]
fn hugetlb_limit_and_unified_keys_go_to_cgroup2_on_a_hybrid_host() {
    let _one = ROOT_SUBTREE.lock().unwrap_or_else(|e| e.into_inner());
    let _restore = SubtreeControl::save("/sys/fs/cgroup/unified/cgroup.subtree_control");
    let t = Test::new("cghuge");
    let id = t.id();
    let b = bundle(
        &t,
        &id,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4_194_304}],
               "unified": {"hugetlb.1GB.max": "0"}}),
        &["/bin/cat", "/sys/fs/cgroup/unified/hugetlb.2MB.max"],
    );
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    let dir = PathBuf::from(format!("/sys/fs/cgroup/unified/{id}"));
    assert_eq!(read(dir.join("hugetlb.2MB.max")), "4194304");
    assert_eq!(read(dir.join("hugetlb.1GB.max")), "0");
    let stats = t.rt(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_str(stats.stdout.trim()).unwrap();
    assert_eq!(ev["data"]["hugetlb"]["2MB"]["usage"], 0, "{ev}");
    t.rt(&["start", &id]).ok();
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
    let out = t.run(&bundle(
        &t,
        &t.id(),
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2_097_152}]}),
        &["/bin/cat", "/sys/fs/cgroup/unified/hugetlb.2MB.max"],
    ));
    out.ok();
    assert_eq!(out.stdout.trim(), "2097152", "{out}");
}

/// What this host cannot honour fails `create`, naming the field, and
/// leaves no cgroup, state or process behind; so does a value the kernel
/// refuses (naming the file and the value).
#[test]
fn resources_the_host_lacks_are_errors_naming_the_field() {
    let t = Test::new("cglack");
    let mut cases = vec![
        (
            json!({"rdma": {"mlx5_0": {"hcaHandles": 2}}}),
            vec!["linux.resources.rdma: the rdma controller is not available on this host"],
        ),
        (
            json!({"unified": {"memory.high": "100000"}}),
            vec!["memory.high", "v1 hierarchy"],
        ),
        (
            json!({"unified": {"hugetlb.3MB.max": "0"}}),
            vec![
                "linux.resources.unified[\"hugetlb.3MB.max\"]",
                "does not exist",
            ],
        ),
        (
            json!({"blockIO": {"throttleReadBpsDevice": [{"major": 7, "minor": 250, "rate": 100}]}}),
            vec!["blkio.throttle.read_bps_device", "7:250 100"],
        ),
    ];
    if !Path::new("/sys/fs/cgroup/net_cls").exists() {
        cases.push((
            json!({"network": {"classID": 1_048_577}}),
            vec!["linux.resources.network.classID: the net_cls controller is not available"],
        ));
    }
    let _one = ROOT_SUBTREE.lock().unwrap_or_else(|e| e.into_inner());
    let subtree = "/sys/fs/cgroup/unified/cgroup.subtree_control";
    let before = std::fs::read_to_string(subtree).unwrap_or_default();
    for (resources, words) in cases {
        let id = t.id();
        let b = bundle(&t, &id, resources, &["/bin/true"]);
        t.rt(&["create", "--bundle", b.path_str(), &id])
            .failed()
            .stderr_mentions(&words);
        t.assert_no_leftovers(&id, &b.path);
        // A failed create turns off again the controllers it turned on.
        let after = std::fs::read_to_string(subtree).unwrap_or_default();
        assert_eq!(after, before, "{subtree} changed by a failed create");
    }
}
