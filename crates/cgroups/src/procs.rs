//! The processes of a container's cgroup: listing them, freezing them and
//! killing them all.

use crate::apply::write_value;
use crate::{Cgroup, Error, Result};
use std::time::{Duration, Instant};

impl Cgroup {
    /// The pids in the container's cgroup (from its first directory),
    /// including those in sub-cgroups the container made (runc's
    /// `GetAllPids`): a process cannot hide from `ps` and `kill --all` by
    /// moving itself one level down.
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self
            .dirs
            .iter()
            .find(|(_, d)| d.join("cgroup.procs").exists())
        else {
            return Vec::new();
        };
        let mut pids = Vec::new();
        procs_below(dir, &mut pids);
        pids
    }

    /// Freezes (or thaws) every process of the container: the v1 freezer's
    /// `freezer.state`, or v2's `cgroup.freeze`; waits (bounded) until the
    /// kernel reports the new state.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let v1 = self
            .dirs
            .iter()
            .map(|(_, d)| d.join("freezer.state"))
            .find(|p| p.exists());
        let (file, want, check) = match v1 {
            Some(f) => {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                (f.clone(), want.to_string(), f)
            }
            None => {
                let dir = self
                    .dirs
                    .iter()
                    .map(|(_, d)| d)
                    .find(|d| d.join("cgroup.freeze").exists())
                    .ok_or_else(|| Error::Unsupported {
                        field: "pause".into(),
                        reason: "no freezer: neither a v1 freezer hierarchy nor cgroup.freeze"
                            .into(),
                    })?;
                let want = if frozen { "1" } else { "0" };
                (
                    dir.join("cgroup.freeze"),
                    want.to_string(),
                    dir.join("cgroup.events"),
                )
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            write_value(&file, &want)?;
            let now = std::fs::read_to_string(&check).unwrap_or_default();
            let done = if check.ends_with("cgroup.events") {
                now.lines().any(|l| l == format!("frozen {want}"))
            } else {
                now.trim() == want
            };
            if done {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Unsupported {
                    field: "pause".into(),
                    reason: format!("{} did not become {want}", check.display()),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills every process of the container at once with v2's `cgroup.kill`
    /// (Linux 5.14+), which also catches processes forked while it runs.
    /// Returns false when there is no such file, for the caller to signal
    /// the processes of [`Cgroup::pids`] one by one instead.
    pub fn kill_all(&self) -> Result<bool> {
        let Some(file) = self
            .unified_dir()
            .map(|d| d.join("cgroup.kill"))
            .filter(|f| f.is_file())
        else {
            return Ok(false);
        };
        write_value(&file, "1").map(|()| true)
    }
}

/// Appends the pids of the cgroup `dir` and of every cgroup below it.
fn procs_below(dir: &std::path::Path, out: &mut Vec<i32>) {
    out.extend(
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok()),
    );
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            procs_below(&e.path(), out);
        }
    }
}
