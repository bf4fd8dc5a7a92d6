//! A throwaway system user with a subordinate uid and gid range, for the
//! rootless tests (`rootless.rs`, `engines_rootless.rs`).

use super::{run_cmd, runtime_bin, Out, Test};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A throwaway system user with a subordinate uid and gid range, made with
/// useradd/usermod; the range and the user are removed on drop, also when
/// the test fails, and the backups those tools write (`/etc/passwd-` ...)
/// are put back as they were.
pub struct SubidUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub range: (u32, u32),
    backups: Vec<(&'static str, Option<Vec<u8>>)>,
}

const BACKUPS: [&str; 6] = [
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/subuid-",
    "/etc/subgid-",
];

/// The backup files' contents, or None where there is none.
fn save_backups() -> Vec<(&'static str, Option<Vec<u8>>)> {
    BACKUPS
        .iter()
        .map(|p| (*p, std::fs::read(p).ok()))
        .collect()
}

impl SubidUser {
    pub fn new() -> SubidUser {
        let pid = std::process::id();
        let name = format!("husk-t{pid}");
        // Far from the ranges useradd hands out, and distinct per process.
        let start = 1_000_000_000 + (pid % 10_000) * 65_536;
        let range = (start, start + 65_535);
        let sh = |args: &[&str]| {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            run_cmd(c, Path::new("/"), Duration::from_secs(30))
        };
        // The guard exists before anything changes, so a panic below still
        // removes whatever was made.
        let mut user = SubidUser {
            name,
            uid: 0,
            gid: 0,
            range,
            backups: save_backups(),
        };
        sh(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            &user.name,
        ])
        .ok();
        let ids = |flag: &str| {
            sh(&["id", flag, &user.name])
                .stdout
                .trim()
                .parse::<u32>()
                .unwrap()
        };
        (user.uid, user.gid) = (ids("-u"), ids("-g"));
        let r = format!("{}-{}", range.0, range.1);
        sh(&[
            "usermod",
            "--add-subuids",
            &r,
            "--add-subgids",
            &r,
            &user.name,
        ])
        .ok();
        user
    }

    /// Runs husk-runtime as this user with the test's `--root`.
    pub fn run(&self, t: &Test, args: &[&str]) -> Out {
        let mut c = Command::new(runtime_bin());
        c.arg("--root")
            .arg(&t.root)
            .args(args)
            .uid(self.uid)
            .gid(self.gid);
        run_cmd(c, &t.dir, Duration::from_secs(30))
    }
}

impl Drop for SubidUser {
    fn drop(&mut self) {
        let r = format!("{}-{}", self.range.0, self.range.1);
        let _ = Command::new("usermod")
            .args(["--del-subuids", &r, "--del-subgids", &r, &self.name])
            .output();
        // Whatever the user left running (rootless podman's pause process)
        // would keep userdel from removing it.
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.uid.to_string()])
            .output();
        std::thread::sleep(Duration::from_millis(100));
        let _ = Command::new("userdel").arg(&self.name).output();
        // Written in place: the files keep their owner and mode.
        for (path, saved) in &self.backups {
            let _ = match saved {
                Some(content) => std::fs::write(path, content),
                None => std::fs::remove_file(path),
            };
        }
    }
}
