//! Translations of `linux.resources`, v1, v2 and hybrid.
#![allow(clippy::unwrap_used)]

use super::*;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn offered(v1: &[&str], v2: Option<&[&str]>) -> Offered {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_string()).collect();
    Offered {
        v1: own(v1),
        v2: v2.map(own),
    }
}

fn v1_host() -> Offered {
    let all = [
        "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "blkio", "hugetlb", "net_cls",
        "net_prio", "rdma",
    ];
    offered(&all, None)
}

fn v2_host() -> Offered {
    let all = [
        "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
    ];
    offered(&[], Some(&all))
}

/// (file, value) of every write, fallbacks shown as `file|fallback`.
fn files(w: &[Write]) -> Vec<(String, String)> {
    w.iter()
        .map(|w| match &w.fallback {
            Some((f, v)) => (format!("{}|{f}", w.file), format!("{}|{v}", w.value)),
            None => (w.file.clone(), w.value.clone()),
        })
        .collect()
}

fn find(w: &[Write], file: &str) -> Option<String> {
    w.iter().find(|x| x.file == file).map(|x| x.value.clone())
}

#[test]
fn v1_memory_cpu_pids_devices() {
    let r = res(
        r#"{"memory":{"limit":1048576,"swap":2097152,"swappiness":10},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
            "pids":{"limit":10},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
    );
    let w = translate(&r, &v1_host()).unwrap().v1;
    assert_eq!(
        find(&w, "memory.limit_in_bytes").as_deref(),
        Some("1048576")
    );
    assert_eq!(
        find(&w, "memory.memsw.limit_in_bytes").as_deref(),
        Some("2097152")
    );
    assert_eq!(find(&w, "cpu.cfs_quota_us").as_deref(), Some("50000"));
    assert_eq!(find(&w, "cpuset.cpus").as_deref(), Some("0"));
    assert_eq!(find(&w, "pids.max").as_deref(), Some("10"));
    let devs: Vec<_> = w
        .iter()
        .filter(|x| x.controller == "devices")
        .map(|x| (x.file.as_str(), x.value.as_str()))
        .collect();
    assert_eq!(
        devs,
        [("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rw")]
    );
    let pos = |f: &str| w.iter().position(|x| x.file == f).unwrap();
    assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
}

#[test]
fn v1_blkio_hugetlb_network_rdma() {
    let r = res(r#"{"blockIO":{"weight":500,"leafWeight":300,
            "weightDevice":[{"major":8,"minor":0,"weight":600}],
            "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
            "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":100}]},
        "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
        "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},
        "rdma":{"mlx5_1":{"hcaHandles":3},"mlx4_0":{"hcaHandles":2,"hcaObjects":100}}}"#);
    let w = translate(&r, &v1_host()).unwrap();
    assert_eq!(
        files(&w.v1),
        [
            ("blkio.weight|blkio.bfq.weight", "500|500"),
            ("blkio.leaf_weight", "300"),
            (
                "blkio.weight_device|blkio.bfq.weight_device",
                "8:0 600|8:0 600"
            ),
            ("blkio.throttle.read_bps_device", "8:0 1048576"),
            ("blkio.throttle.write_iops_device", "8:16 100"),
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5"),
            ("rdma.max", "mlx4_0 hca_handle=2 hca_object=100"),
            ("rdma.max", "mlx5_1 hca_handle=3"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(w.v2.is_empty() && !w.bpf_devices);
    assert_eq!(w.v1[0].field, "linux.resources.blockIO");
}

#[test]
fn v2_conversions() {
    let r = res(
        r#"{"memory":{"limit":1048576,"swap":3145728},"cpu":{"shares":1024,"quota":-1},"pids":{"limit":-1},
        "blockIO":{"weight":1000,"weightDevice":[{"major":8,"minor":0,"weight":10}],
            "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
            "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2}],
            "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":3}],
            "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":4}]},
        "hugepageLimits":[{"pageSize":"1GB","limit":-1}],
        "devices":[{"allow":false,"access":"rwm"}],
        "unified":{"memory.high":"2000000","cgroup.max.depth":"3"}}"#,
    );
    let w = translate(&r, &v2_host()).unwrap();
    let v2 = &w.v2;
    assert_eq!(find(v2, "memory.swap.max").as_deref(), Some("2097152"));
    assert_eq!(find(v2, "cpu.weight").as_deref(), Some("39"));
    // A quota without a period keeps the period in force.
    assert_eq!(find(v2, "cpu.max").as_deref(), Some("max"));
    assert_eq!(find(v2, "pids.max").as_deref(), Some("max"));
    assert_eq!(find(v2, "hugetlb.1GB.max").as_deref(), Some("max"));
    let io: Vec<_> = files(v2)
        .into_iter()
        .filter(|(f, _)| f.starts_with("io."))
        .collect();
    assert_eq!(
        io,
        [
            ("io.bfq.weight|io.weight", "1000|10000"),
            ("io.bfq.weight|io.weight", "8:0 10|8:0 1"),
            ("io.max", "8:0 rbps=1048576"),
            ("io.max", "8:0 wbps=2"),
            ("io.max", "8:0 riops=3"),
            ("io.max", "8:0 wiops=4"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(w.bpf_devices);
    assert_eq!(
        w.unified,
        [
            ("cgroup.max.depth".to_string(), "3".to_string()),
            ("memory.high".to_string(), "2000000".to_string())
        ]
    );
    assert_eq!(
        w.v2_controllers(),
        ["cpu", "hugetlb", "io", "memory", "pids"]
    );
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(100), 910);
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(262_144), 10_000);
}

/// runc's memory.swap.max rules.
#[test]
fn v2_swap_follows_runc() {
    assert_eq!(swap_max(0, 0).unwrap(), None);
    assert_eq!(swap_max(0, -1).unwrap().as_deref(), Some("max"));
    assert_eq!(swap_max(-1, 100).unwrap().as_deref(), Some("max"));
    assert_eq!(swap_max(100, 100).unwrap().as_deref(), Some("0"));
    assert_eq!(swap_max(300, 100).unwrap().as_deref(), Some("200"));
    assert!(swap_max(50, 100)
        .unwrap_err()
        .to_string()
        .contains("at least"));
    assert!(swap_max(50, 0)
        .unwrap_err()
        .to_string()
        .contains("needs a memory limit"));
    assert!(swap_max(50, -1).is_err());
    let w = translate(&res(r#"{"memory":{"limit":100,"swap":100}}"#), &v2_host()).unwrap();
    assert!(
        w.v2[0].optional && w.v2[0].file == "memory.swap.max",
        "{w:?}"
    );
    assert_eq!(w.v2[1].file, "memory.max", "swap first, as runc");
}

#[test]
fn what_v2_cannot_do_is_an_error_naming_the_field() {
    for (json, field) in [
        (r#"{"memory":{"swappiness":10}}"#, "swappiness"),
        (
            r#"{"memory":{"disableOOMKiller":true}}"#,
            "disableOOMKiller",
        ),
        (r#"{"blockIO":{"leafWeight":10}}"#, "leafWeight"),
        (
            r#"{"network":{"classID":1}}"#,
            "linux.resources.network.classID: the net_cls controller",
        ),
        (
            r#"{"hugepageLimits":[{"pageSize":"../2MB","limit":1}]}"#,
            "page size",
        ),
        (
            r#"{"unified":{"memory/../x":"1"}}"#,
            "unified[\"memory/../x\"]",
        ),
        (r#"{"unified":{"nodot":"1"}}"#, "unified[\"nodot\"]"),
        (r#"{"unified":{"foo.bar":"1"}}"#, "foo controller"),
    ] {
        let e = translate(&res(json), &v2_host()).unwrap_err().to_string();
        assert!(e.contains(field), "{json}: {e}");
    }
}

/// On a hybrid host each part goes where its controller is; one missing
/// everywhere names the field.
#[test]
fn hybrid_hosts_route_each_controller() {
    let hybrid = offered(
        &["memory", "cpu", "pids", "devices", "blkio"],
        Some(&["hugetlb"]),
    );
    let r = res(
        r#"{"memory":{"limit":4096},"hugepageLimits":[{"pageSize":"2MB","limit":0}],
        "devices":[{"allow":false}],"unified":{"hugetlb.2MB.rsvd.max":"0"}}"#,
    );
    let w = translate(&r, &hybrid).unwrap();
    assert_eq!(
        files(&w.v2),
        [("hugetlb.2MB.max".to_string(), "0".to_string())]
    );
    assert!(w.v1.iter().any(|w| w.file == "memory.limit_in_bytes"));
    assert!(!w.bpf_devices, "devices stay with the v1 controller");
    let e = translate(&res(r#"{"rdma":{"mlx":{"hcaHandles":1}}}"#), &hybrid)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "linux.resources.rdma: the rdma controller is not available on this host"
    );
    let e = translate(&res(r#"{"unified":{"memory.high":"1"}}"#), &hybrid)
        .unwrap_err()
        .to_string();
    assert!(e.contains("memory controller is in a v1 hierarchy"), "{e}");
    let e = translate(&res(r#"{"unified":{"memory.high":"1"}}"#), &v1_host())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.unified: needs cgroup v2"),
        "{e}"
    );
}

/// `docker update --memory` sends every field, the unchanged ones as 0:
/// runc reads 0 as "leave alone", on v1 and on v2.
#[test]
fn zero_means_unset() {
    let r = res(
        r#"{"memory":{"limit":134217728,"reservation":0,"swap":268435456},
        "cpu":{"shares":0,"quota":0,"period":0,"realtimeRuntime":0,"realtimePeriod":0,"cpus":"","mems":""},
        "pids":{"limit":0},"blockIO":{"weight":0}}"#,
    );
    let w = translate(&r, &v2_host()).unwrap();
    let want = [
        ("memory.swap.max", "134217728"),
        ("memory.max", "134217728"),
    ];
    assert_eq!(
        files(&w.v2),
        want.map(|(f, v)| (f.to_string(), v.to_string()))
    );
    let w = translate(&r, &v1_host()).unwrap();
    let want = [
        ("memory.limit_in_bytes", "134217728"),
        ("memory.memsw.limit_in_bytes", "268435456"),
    ];
    assert_eq!(
        files(&w.v1),
        want.map(|(f, v)| (f.to_string(), v.to_string()))
    );
}

/// A new cgroup denies every device first, with or without rules: a reset
/// before the config's rules on v1, the (deny-all based) program on v2.
#[test]
fn devices_are_denied_first_without_rules() {
    let mut w = translate(&res("{}"), &v1_host()).unwrap();
    w.deny_devices_first(&v1_host());
    assert_eq!(
        (w.v1[0].file.as_str(), w.v1[0].value.as_str()),
        ("devices.deny", "a *:* rwm")
    );
    let r =
        res(r#"{"pids":{"limit":3},"devices":[{"allow":true,"type":"c","major":1,"minor":9}]}"#);
    let mut w = translate(&r, &v1_host()).unwrap();
    w.deny_devices_first(&v1_host());
    let devices: Vec<&str> =
        w.v1.iter()
            .filter(|w| w.controller == "devices")
            .map(|w| w.value.as_str())
            .collect();
    assert_eq!(devices, ["a *:* rwm", "c 1:9 rwm"]);
    let mut w = translate(&res("{}"), &v2_host()).unwrap();
    assert!(!w.bpf_devices);
    w.deny_devices_first(&v2_host());
    assert!(w.bpf_devices);
}
