//! A real engine drives husk-runtime: podman (with conmon) runs busybox
//! containers through it, in the foreground and detached, execs into them,
//! then stops and removes them. Each test uses its own podman root.
#![allow(clippy::unwrap_used)]

mod common;
use common::{run_cmd, runtime_bin, Out, Test};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A private podman (own storage and run dirs) whose runtime is ours.
struct Podman {
    t: Test,
    root: PathBuf,
    runroot: PathBuf,
}

impl Podman {
    fn new(name: &str) -> Podman {
        let t = Test::new(name);
        let root = t.dir.join("podman-root");
        let runroot = t.dir.join("podman-run");
        let p = Podman { t, root, runroot };
        // A one-layer busybox image, imported from a tarball of the test rootfs.
        let tar = common::rootfs_tarball(&p.t);
        p.cmd(&[
            "import",
            tar.to_str().unwrap(),
            "localhost/husk-busybox:test",
        ])
        .ok();
        p
    }

    fn cmd(&self, args: &[&str]) -> Out {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .arg("--runtime")
            .arg(runtime_bin())
            .args(args);
        run_cmd(c, &self.t.dir, Duration::from_secs(60))
    }

    /// `podman run` flags every test needs on this host: no network setup,
    /// and rlimits within the host's hard limits (podman's default nofile of
    /// 1048576 is above what root may set here).
    fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "run",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
        ];
        v.extend_from_slice(extra);
        v
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force", "--time", "0"]);
        common::unmount_under(Path::new(&self.t.dir));
        // podman parks conmon in /libpod_parent/conmon of every hierarchy;
        // remove those once empty (a concurrent test's conmon keeps them busy).
        common::remove_cgroup_dirs("libpod_parent/conmon");
        common::remove_cgroup_dirs("libpod_parent");
    }
}

#[test]
fn podman_runs_a_container_in_the_foreground() {
    let p = Podman::new("podmanrun");
    let out = p.cmd(&Podman::run_args(&[
        "--rm",
        "--hostname",
        "huskbox",
        "localhost/husk-busybox:test",
        "sh",
        "-c",
        "hostname; echo pid=$$; exit 3",
    ]));
    assert_eq!(out.code, Some(3), "{out}");
    assert!(out.stdout.contains("huskbox"), "{out}");
    assert!(out.stdout.contains("pid=1"), "{out}");
}

#[test]
fn podman_detaches_stops_and_removes() {
    let p = Podman::new("podmandetach");
    let out = p.cmd(&Podman::run_args(&[
        "-d",
        "localhost/husk-busybox:test",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]));
    out.ok();
    let id = out.stdout.trim().to_string();
    let ps = p.cmd(&["ps", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.stdout.contains(&id[..12]) && ps.stdout.contains("Up"),
        "{ps}"
    );
    // podman exec drives `husk-runtime exec` through conmon.
    let exec = p.cmd(&[
        "exec",
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
    p.cmd(&["stop", "--time", "10", &id]).ok();
    let inspect = p.cmd(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(inspect.stdout.trim(), "exited 0", "{inspect}");
    p.cmd(&["rm", &id]).ok();
    let left = p.cmd(&["ps", "--all", "--quiet"]);
    assert!(left.stdout.trim().is_empty(), "{left}");
}
