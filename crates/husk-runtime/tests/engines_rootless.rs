//! Rootless podman drives husk-runtime: an ordinary user with subordinate
//! id ranges (a throwaway user, removed with everything it ran on drop)
//! runs, execs into, stops and removes containers. podman makes the user
//! namespace (its maps written by newuidmap/newgidmap) and calls
//! husk-runtime inside it, which keeps its state under $XDG_RUNTIME_DIR as
//! runc does.
#![allow(clippy::unwrap_used)]

mod common;
use common::subid_user::SubidUser;
use common::{run_cmd, Out, Test};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// podman as the throwaway user, with its storage, run dir and home in the
/// test's directory.
struct RootlessPodman {
    t: Test,
    user: SubidUser,
    runtime: PathBuf,
}

impl RootlessPodman {
    fn new(name: &str) -> RootlessPodman {
        let t = Test::new(name);
        let user = SubidUser::new();
        for d in ["home", "xdg"] {
            let p = t.dir.join(d);
            std::fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        // A copy the user can surely reach, whatever the checkout's modes.
        let runtime = t.dir.join("husk-runtime");
        std::fs::copy(common::runtime_bin(), &runtime).unwrap();
        let p = RootlessPodman { t, user, runtime };
        let tar = common::rootfs_tarball(&p.t);
        std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o644)).unwrap();
        p.cmd(&[
            "import",
            tar.to_str().unwrap(),
            "localhost/husk-busybox:test",
        ])
        .ok();
        p
    }

    fn cmd(&self, args: &[&str]) -> Out {
        let (home, xdg) = (self.t.dir.join("home"), self.t.dir.join("xdg"));
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(home.join("storage"))
            .arg("--runroot")
            .arg(xdg.join("containers"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "none"])
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("USER", &self.user.name)
            .env("XDG_RUNTIME_DIR", &xdg)
            .current_dir(&home)
            .uid(self.user.uid)
            .gid(self.user.gid);
        run_cmd(c, &self.t.dir, Duration::from_secs(60))
    }
}

impl Drop for RootlessPodman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force", "--time", "0"]);
        common::unmount_under(Path::new(&self.t.dir));
        // `self.user` drops next: it kills what the user still runs
        // (podman's pause process) and removes the user and its ranges.
    }
}

#[test]
fn rootless_podman_runs_execs_stops_and_removes() {
    let p = RootlessPodman::new("podrootless");
    let out = p.cmd(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/husk-busybox:test",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    out.ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    // Root inside is the user; the rest comes from its subordinate range.
    let maps = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(maps.contains(&format!("0 {} 1", p.user.uid)), "{out}");
    assert!(maps.contains(&p.user.range.0.to_string()), "{out}");

    let out = p.cmd(&[
        "run",
        "-d",
        "--network",
        "none",
        "localhost/husk-busybox:test",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    out.ok();
    let id = out.stdout.trim().to_string();
    let exec = p.cmd(&["exec", "--user", "1000", &id, "id", "-u"]);
    exec.ok();
    assert_eq!(exec.stdout.trim(), "1000", "{exec}");
    // husk-runtime kept its state where the user owns it.
    let state = p.t.dir.join("xdg/husk-runtime");
    assert!(state.join(&id).is_dir(), "no state under {state:?}");
    p.cmd(&["stop", "--time", "10", &id]).ok();
    let inspect = p.cmd(&["inspect", "--format", "{{.State.ExitCode}}", &id]);
    assert_eq!(inspect.stdout.trim(), "0", "{inspect}");
    p.cmd(&["rm", &id]).ok();
    assert!(!state.join(&id).exists(), "state of {id} left behind");
}
