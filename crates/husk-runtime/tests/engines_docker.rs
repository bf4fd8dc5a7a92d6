//! Docker drives husk-runtime: a private dockerd (own data root, exec root,
//! socket, network namespace and cgroup parent) whose default runtime is ours
//! runs, execs into, pauses, updates, stops and removes busybox containers.
//! dockerd reaches husk-runtime through its own containerd and
//! containerd-shim-runc-v2, as it would in production.
#![allow(clippy::unwrap_used)]

mod common;
use common::{run_cmd, runtime_bin, wait_until, Out, Test};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private dockerd; `Drop` removes its containers, stops it and removes its
/// network namespace, mounts and cgroups.
struct Docker {
    t: Test,
    sock: PathBuf,
    netns: String,
    cgroup_parent: String,
    daemon: Child,
}

impl Docker {
    fn new(name: &str) -> Docker {
        let t = Test::new(name);
        let tag = t.dir.file_name().unwrap().to_string_lossy().into_owned();
        let netns = format!("husk-{tag}");
        let cgroup_parent = format!("husk-{tag}");
        let ip = |args: &[&str]| {
            let mut c = Command::new("ip");
            c.args(args);
            run_cmd(c, &t.dir, Duration::from_secs(10))
        };
        ip(&["netns", "add", &netns]).ok();
        let sock = t.dir.join("docker.sock");
        let log = std::fs::File::create(t.dir.join("dockerd.log")).unwrap();
        // dockerd needs a network namespace of its own here (it would
        // otherwise touch the host's bridges); `nsenter --net` keeps /sys.
        let daemon = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("dockerd")
            .arg("--data-root")
            .arg(t.dir.join("data"))
            .arg("--exec-root")
            .arg(t.dir.join("exec"))
            .arg("--pidfile")
            .arg(t.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--add-runtime")
            .arg(format!("husk={}", runtime_bin().display()))
            .args(["--default-runtime", "husk", "--bridge", "none"])
            .args(["--iptables=false", "--ip6tables=false"])
            .args(["--storage-driver", "vfs"])
            .arg("--cgroup-parent")
            .arg(format!("/{cgroup_parent}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Docker {
            t,
            sock,
            netns,
            cgroup_parent,
            daemon,
        };
        let up = wait_until(Duration::from_secs(60), || d.cmd(&["info"]).success());
        assert!(up, "dockerd did not come up: {}", d.daemon_log());
        // A one-layer busybox + probe image from the test rootfs.
        let tar = common::rootfs_tarball(&d.t);
        d.cmd(&["import", tar.to_str().unwrap(), "husk-busybox:test"])
            .ok();
        d
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.t.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Debian's docker client (the one that matches its dockerd).
    fn cmd(&self, args: &[&str]) -> Out {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        run_cmd(c, &self.t.dir, Duration::from_secs(60))
    }

    /// The container's directory in one v1 hierarchy (or the v2 tree).
    fn cgroup_dir(&self, controller: &str, id: &str) -> PathBuf {
        let v1 = Path::new("/sys/fs/cgroup").join(controller);
        let base = if v1.is_dir() {
            v1
        } else {
            PathBuf::from("/sys/fs/cgroup")
        };
        base.join(&self.cgroup_parent).join(id)
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let ids = self.cmd(&["ps", "--all", "--quiet", "--no-trunc"]);
        for id in ids.stdout.split_whitespace() {
            let _ = self.cmd(&["rm", "--force", id]);
        }
        // SIGTERM: dockerd stops its containerd and exits.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.daemon),
            rustix::process::Signal::TERM,
        );
        if common::wait_timeout(&mut self.daemon, Duration::from_secs(20)).is_none() {
            eprintln!("dockerd did not stop within 20 s; killed");
        }
        common::unmount_under(&self.t.dir);
        let mut c = Command::new("ip");
        c.args(["netns", "delete", &self.netns]);
        let _ = run_cmd(c, Path::new("/"), Duration::from_secs(10));
        common::remove_cgroup_dirs(&self.cgroup_parent);
    }
}

#[test]
fn docker_runs_a_container_through_husk() {
    let d = Docker::new("dockerrun");
    let out = d.cmd(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--hostname",
        "huskbox",
        "husk-busybox:test",
        "sh",
        "-c",
        "hostname; echo pid=$$; id -u; grep -E '^(CapInh|Seccomp):' /proc/self/status; exit 3",
    ]);
    assert_eq!(out.code, Some(3), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..3], ["huskbox", "pid=1", "0"], "{out}");
    // Docker asks for no inheritable capabilities (CVE-2022-29162).
    assert!(out.stdout.contains("CapInh:\t0000000000000000"), "{out}");
    // Docker's default seccomp profile is loaded (mode 2: filter).
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    // A terminal without stdin: `docker run -t`.
    let tty = d.cmd(&[
        "run",
        "--rm",
        "-t",
        "--network",
        "none",
        "husk-busybox:test",
        "tty",
    ]);
    tty.ok();
    assert!(tty.stdout.trim().starts_with("/dev/pts/"), "{tty}");
    // --privileged: every capability we hold, the host's devices, /sys rw.
    let privileged = d.cmd(&[
        "run",
        "--rm",
        "--privileged",
        "--network",
        "none",
        "husk-busybox:test",
        "sh",
        "-c",
        "grep ' /sys ' /proc/self/mounts; ls /dev | wc -l",
    ]);
    privileged.ok();
    assert!(privileged.stdout.contains("sysfs rw,"), "{privileged}");
    let devices: usize = privileged
        .stdout
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(devices > 20, "{privileged}");
}

#[test]
fn docker_execs_pauses_updates_stops_and_removes() {
    let d = Docker::new("dockerlife");
    let out = d.cmd(&[
        "run",
        "-d",
        "--network",
        "none",
        "--memory",
        "64m",
        "husk-busybox:test",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    out.ok();
    let id = out.stdout.trim().to_string();
    let memory = d.cgroup_dir("memory", &id);
    let limit = |file: &str| {
        std::fs::read_to_string(memory.join(file))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let v1 = memory.starts_with("/sys/fs/cgroup/memory");
    let limit_file = if v1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    assert_eq!(limit(limit_file), (64u64 << 20).to_string());

    // docker exec drives `husk-runtime exec` through the shim.
    let exec = d.cmd(&[
        "exec",
        "-u",
        "1000",
        &id,
        "sh",
        "-c",
        "id -u; cat /proc/1/cmdline",
    ]);
    exec.ok();
    assert!(exec.stdout.starts_with("1000\n"), "{exec}");
    assert!(exec.stdout.contains("while true"), "{exec}");
    let top = d.cmd(&["top", &id]);
    top.ok();
    assert!(top.stdout.contains("while true"), "{top}");

    d.cmd(&["pause", &id]).ok();
    let status = d.cmd(&["inspect", "-f", "{{.State.Status}}", &id]);
    assert_eq!(status.stdout.trim(), "paused", "{status}");
    d.cmd(&["unpause", &id]).ok();

    // docker update sends every field, the ones it leaves alone as zero.
    d.cmd(&["update", "--memory", "128m", "--memory-swap", "256m", &id])
        .ok();
    assert_eq!(limit(limit_file), (128u64 << 20).to_string());

    d.cmd(&["stop", "--time", "10", &id]).ok();
    let exit = d.cmd(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(exit.stdout.trim(), "exited 0", "{exit}");
    d.cmd(&["rm", &id]).ok();
    assert!(!memory.exists(), "cgroup {memory:?} left behind");
    let left = d.cmd(&["ps", "--all", "--quiet"]);
    assert!(left.stdout.trim().is_empty(), "{left}");
}
