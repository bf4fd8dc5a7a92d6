//! containerd drives husk-runtime: a private containerd (own root, state and
//! socket; no CRI plugin) starts containerd-shim-runc-v2 with husk-runtime as
//! its runc binary, through `ctr`. Covers run in the foreground, detached
//! tasks, task exec, task ps, kill and delete, and checks that nothing is left.
#![allow(clippy::unwrap_used)]

mod common;
use common::{cgroups_named, processes_of, run_cmd, runtime_bin, wait_until, Out, Test};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private containerd; `Drop` deletes its tasks and containers, stops it,
/// and kills any shim of its that is still there.
struct Containerd {
    t: Test,
    sock: PathBuf,
    /// The ctr namespace, which is also the parent of the containers' cgroups.
    ns: String,
    daemon: Child,
}

impl Containerd {
    fn new(name: &str) -> Containerd {
        let t = Test::new(name);
        let tag = t.dir.file_name().unwrap().to_string_lossy().into_owned();
        let sock = t.dir.join("containerd.sock");
        let config = t.dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = {:?}\n[ttrpc]\n  address = {:?}\n",
                t.dir.join("root"),
                t.dir.join("state"),
                sock,
                t.dir.join("ttrpc.sock"),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(t.dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            t,
            sock,
            ns: format!("husk-{tag}"),
            daemon,
        };
        let up = wait_until(Duration::from_secs(30), || c.ctr(&["version"]).success());
        assert!(
            up,
            "containerd did not come up: {}",
            std::fs::read_to_string(c.t.dir.join("containerd.log")).unwrap_or_default()
        );
        c
    }

    fn ctr(&self, args: &[&str]) -> Out {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.sock)
            .arg("--namespace")
            .arg(&self.ns)
            .args(args);
        run_cmd(c, &self.t.dir, Duration::from_secs(60))
    }

    /// `ctr run` with husk-runtime as the shim's runc and the test rootfs.
    fn run(&self, rootfs: &Path, extra: &[&str], id: &str, cmd: &[&str]) -> Out {
        let bin = runtime_bin();
        let mut args = vec!["run", "--runc-binary", bin.to_str().unwrap()];
        args.extend_from_slice(extra);
        // --rootfs is a switch: the first argument is then a directory, not an image.
        args.push("--rootfs");
        args.push(rootfs.to_str().unwrap());
        args.push(id);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let ids = self.ctr(&["containers", "list", "--quiet"]);
        for id in ids.stdout.split_whitespace() {
            let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", id]);
            let _ = self.ctr(&["task", "delete", "--force", id]);
            let _ = self.ctr(&["containers", "delete", id]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // A shim outlives containerd; ours name our socket on their command line.
        let sock = self.sock.to_string_lossy().into_owned();
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&sock) {
                if let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() {
                    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
            }
        }
        common::unmount_under(&self.t.dir);
        common::remove_cgroup_dirs(&self.ns);
    }
}

#[test]
fn containerd_runs_a_container_in_the_foreground() {
    let c = Containerd::new("ctrrun");
    let b = c.t.bundle();
    let id = c.t.id();
    let out = c.run(
        &b.rootfs(),
        &["--rm"],
        &id,
        &["sh", "-c", "echo pid=$$; id -u; exit 3"],
    );
    assert_eq!(out.code, Some(3), "{out}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["pid=1", "0"],
        "{out}"
    );
    assert!(cgroups_named(&id).is_empty(), "{:?}", cgroups_named(&id));
}

#[test]
fn containerd_detached_task_exec_ps_kill_delete() {
    let c = Containerd::new("ctrtask");
    let b = c.t.bundle();
    let id = c.t.id();
    c.run(
        &b.rootfs(),
        &["--detach"],
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ],
    )
    .ok();
    // containerd places the task in /<namespace>/<id>.
    let cgroups = cgroups_named(&id);
    assert!(!cgroups.is_empty(), "no cgroup for {id}");
    assert!(
        cgroups.iter().all(|p| p.to_string_lossy().contains(&c.ns)),
        "{cgroups:?}"
    );

    let exec = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "probe1",
        "--user",
        "1000",
        &id,
        "sh",
        "-c",
        "id -u; cat /proc/1/cmdline",
    ]);
    exec.ok();
    assert!(exec.stdout.starts_with("1000\n"), "{exec}");
    assert!(exec.stdout.contains("while true"), "{exec}");

    let ps = c.ctr(&["task", "ps", &id]);
    ps.ok();
    assert!(ps.stdout.lines().count() >= 2, "{ps}");

    c.ctr(&["task", "kill", "--signal", "SIGTERM", &id]).ok();
    let stopped = wait_until(Duration::from_secs(15), || {
        c.ctr(&["task", "list"])
            .stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("STOPPED"))
    });
    assert!(stopped, "{}", c.ctr(&["task", "list"]));
    c.ctr(&["task", "delete", &id]).ok();
    c.ctr(&["containers", "delete", &id]).ok();
    assert!(cgroups_named(&id).is_empty(), "{:?}", cgroups_named(&id));
    let gone = wait_until(Duration::from_secs(5), || {
        processes_of(&id, Path::new(b.path_str())).is_empty()
    });
    assert!(gone, "{:?}", processes_of(&id, Path::new(b.path_str())));
}
