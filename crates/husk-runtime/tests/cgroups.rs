//! Resource control on this (v1/hybrid) host: the container's cgroup is
//! created where `cgroupsPath` says, limits are enforced by the kernel, bad
//! values are named, and nothing is left behind.
#![allow(clippy::unwrap_used)]

mod common;
use common::Test;
use serde_json::json;
use std::fs;
use std::path::PathBuf;

/// The container's directory in a v1 hierarchy (from its init's /proc).
fn cgroup_dir(pid: u64, controller: &str) -> PathBuf {
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = own
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        })
        .unwrap();
    let path = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
    PathBuf::from(format!("/sys/fs/cgroup/{controller}")).join(path)
}

#[test]
fn cgroups_path_is_created_joined_and_removed() {
    let t = Test::new("cgpath");
    let mut b = t.bundle();
    let id = t.id();
    b.linux()["cgroupsPath"] = json!(format!("/{id}"));
    b.probe_args(&["sleep", "60"]);
    b.save();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    let pid = t.state(&id)["pid"].as_u64().unwrap();
    let dir = cgroup_dir(pid, "pids");
    assert_eq!(dir, PathBuf::from(format!("/sys/fs/cgroup/pids/{id}")));
    assert!(fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap()
        .contains(&pid.to_string()));
    t.rt(&["delete", "--force", &id]).ok();
    assert!(!dir.exists(), "cgroup left behind: {}", dir.display());
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn pids_limit_stops_a_fork_loop_and_exec_joins_the_cgroup() {
    let t = Test::new("cgpids");
    let mut b = t.bundle();
    b.linux()["resources"] = json!({"pids": {"limit": 8}});
    b.probe_args(&["sleep", "60"]);
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    t.rt(&["start", &id]).ok();
    // A fork loop run by exec: it is born in the container's cgroup.
    let out = t.rt(&[
        "exec",
        &id,
        "/bin/sh",
        "-c",
        "i=0; while [ $i -lt 30 ]; do /bin/sleep 30 & i=$((i+1)); done",
    ]);
    let pid = t.state(&id)["pid"].as_u64().unwrap();
    let dir = cgroup_dir(pid, "pids");
    let current: u32 = fs::read_to_string(dir.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (2..=8).contains(&current),
        "pids.current {current} (limit 8): {out}"
    );
    // The kernel counted the forks it refused.
    let events = fs::read_to_string(dir.join("pids.events")).unwrap();
    let refused: u32 = events.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(refused > 0, "no fork was refused: {events}");
    t.rt(&["kill", "--all", &id, "KILL"]).ok();
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
    assert!(!dir.exists());
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let t = Test::new("cgmem");
    let mut b = t.bundle();
    let limit = 32 * 1024 * 1024;
    b.linux()["resources"] = json!({"memory": {"limit": limit, "swap": limit}});
    // dd allocates (and touches) one 128 MiB buffer: far over the limit.
    b.args(&[
        "/bin/dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=128M",
        "count=1",
    ]);
    let out = t.run(&b);
    assert_eq!(out.code, Some(137), "{out}");
}

#[test]
fn a_value_the_kernel_refuses_names_the_file() {
    let t = Test::new("cgbad");
    let mut b = t.bundle();
    b.linux()["resources"] = json!({"cpu": {"cpus": "4096-4100"}});
    b.save();
    let id = t.id();
    let out = t.rt(&["create", "--bundle", b.path_str(), &id]);
    out.failed().stderr_mentions(&["cpuset.cpus", "4096-4100"]);
    t.assert_no_leftovers(&id, &b.path);
    let mut b = t.bundle();
    b.linux()["resources"] = json!({"memory": {"swappiness": 200}});
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id])
        .failed()
        .stderr_mentions(&["swappiness"]);
    t.assert_no_leftovers(&id, &b.path);
}

/// With a cgroup namespace, the container sees its own cgroup as the root.
#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    let t = Test::new("cgns");
    let mut b = t.bundle();
    b.add_namespace("cgroup", None);
    b.probe_args(&["cat", "/proc/self/cgroup"]);
    let out = t.run(&b);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(':')).collect();
    assert!(!lines.is_empty(), "{out}");
    for l in lines {
        assert!(
            l.ends_with(":/"),
            "not rooted at the container's cgroup: {l:?} in {out}"
        );
    }
}

/// `pause` freezes every process of the container (its counter stops),
/// `state` says paused, `resume` lets it go on, and a paused container can
/// still be deleted with --force.
#[test]
fn pause_stops_the_container_and_resume_continues_it() {
    let t = Test::new("cgpause");
    let mut b = t.bundle();
    b.writable();
    b.args(&[
        "/bin/sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /count; done",
    ]);
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    t.rt(&["start", &id]).ok();
    let count = || {
        fs::read_to_string(b.rootfs().join("count"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || count() > 0
    ));
    t.rt(&["pause", &id]).ok();
    assert_eq!(t.status(&id), "paused");
    let frozen_at = count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(count(), frozen_at, "the counter advanced while paused");
    t.rt(&["pause", &id]).failed().stderr_mentions(&["paused"]);
    t.rt(&["resume", &id]).ok();
    assert_eq!(t.status(&id), "running");
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || count() > frozen_at
    ));
    t.rt(&["pause", &id]).ok();
    t.rt(&["delete", "--force", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

/// `update` changes live limits with runc's flags and with `-r FILE`, and a
/// value the kernel refuses names its file.
#[test]
fn update_changes_live_limits() {
    let t = Test::new("cgupdate");
    let mut b = t.bundle();
    b.linux()["resources"] = json!({"pids": {"limit": 8}, "memory": {"limit": 268_435_456}});
    b.probe_args(&["sleep", "60"]);
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    t.rt(&["start", &id]).ok();
    let pid = t.state(&id)["pid"].as_u64().unwrap();
    let read = |ctrl: &str, file: &str| {
        fs::read_to_string(cgroup_dir(pid, ctrl).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("pids", "pids.max"), "8");
    t.rt(&["update", "--pids-limit", "20", "--memory", "128m", &id])
        .ok();
    assert_eq!(read("pids", "pids.max"), "20");
    assert_eq!(read("memory", "memory.limit_in_bytes"), "134217728");
    let file = t.dir.join("resources.json");
    fs::write(&file, r#"{"cpu": {"shares": 512}}"#).unwrap();
    t.rt(&["update", "-r", file.to_str().unwrap(), &id]).ok();
    assert_eq!(read("cpu", "cpu.shares"), "512");
    // Raising memory and memory+swap together: memsw must go first (runc's
    // order), or the kernel refuses a limit above memsw. Zeros leave the
    // other fields alone, as engines send them.
    if cgroup_dir(pid, "memory")
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        t.rt(&["update", "--memory", "128m", "--memory-swap", "256m", &id])
            .ok();
        fs::write(
            &file,
            r#"{"memory": {"limit": 536870912, "swap": 1073741824, "reservation": 0},
               "cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 0}}"#,
        )
        .unwrap();
        t.rt(&["update", "-r", file.to_str().unwrap(), &id]).ok();
        assert_eq!(read("memory", "memory.limit_in_bytes"), "536870912");
        assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "1073741824");
        assert_eq!(read("cpu", "cpu.shares"), "512");
        assert_eq!(read("pids", "pids.max"), "20");
        t.rt(&["update", "--memory", "64m", "--memory-swap", "96m", &id])
            .ok();
        assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "100663296");
    }
    t.rt(&["update", "--cpuset-cpus", "4096", &id])
        .failed()
        .stderr_mentions(&["cpuset.cpus"]);
    t.rt(&["update", "--memory", "lots", &id])
        .failed()
        .stderr_mentions(&["--memory"]);
    t.rt(&["delete", "--force", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

/// `events --stats`: runc's JSON, with a cpu quota showing up as throttling.
#[test]
fn events_stats_show_cpu_throttling_memory_and_pids() {
    let t = Test::new("cgstats");
    let mut b = t.bundle();
    b.linux()["resources"] =
        json!({"cpu": {"quota": 10000, "period": 100000}, "pids": {"limit": 50}});
    b.args(&["/bin/sh", "-c", "while true; do :; done"]);
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    t.rt(&["start", &id]).ok();
    let throttled = common::wait_until(std::time::Duration::from_secs(10), || {
        let out = t.rt(&["events", "--stats", &id]);
        let ev: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        ev["data"]["cpu"]["throttling"]["throttledPeriods"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    assert!(throttled, "a 10% quota never throttled the busy loop");
    let out = t.rt(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(
        ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{ev}"
    );
    assert!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{ev}"
    );
    assert_eq!(ev["data"]["pids"]["limit"], 50, "{ev}");
    t.rt(&["delete", "--force", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

/// `events` reports an OOM kill as it happens, while the container lives on.
#[test]
fn events_report_an_oom_kill() {
    let t = Test::new("cgoom");
    let mut b = t.bundle();
    let limit = 32 * 1024 * 1024;
    b.linux()["resources"] = json!({"memory": {"limit": limit, "swap": limit}});
    b.args(&[
        "/bin/sh",
        "-c",
        "sleep 1; /bin/dd if=/dev/zero of=/dev/null bs=128M count=1; sleep 60",
    ]);
    b.save();
    let id = t.id();
    t.rt(&["create", "--bundle", b.path_str(), &id]).ok();
    let mut events = t
        .rt_cmd(&["events", "--interval", "100ms", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    t.rt(&["start", &id]).ok();
    let stdout = events.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(r#""type":"oom""#) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(20));
    let _ = events.kill();
    let _ = events.wait();
    assert!(got.is_ok(), "no oom event");
    assert_eq!(t.status(&id), "running");
    t.rt(&["delete", "--force", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}
