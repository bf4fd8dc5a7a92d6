//! A container's cgroups: one directory per v1 hierarchy plus one in the
//! unified hierarchy; created, filled with the resource writes, joined by
//! the init, and removed on delete.

use crate::host::{join_inside, Host};
use crate::resources::{self, Write};
use crate::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (controllers of the hierarchy, directory); `None` is the unified hierarchy.
type Dirs = Vec<(Option<Vec<String>>, PathBuf)>;

/// The cgroup directories of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cgroup {
    dirs: Dirs,
    unified_host: bool,
}

impl Cgroup {
    /// Where `cgroups_path` puts the container on this host: absolute paths
    /// are taken from each hierarchy's root, relative ones from the
    /// runtime's own cgroup there.
    pub fn locate(host: &Host, cgroups_path: &Path) -> Cgroup {
        let place = |mount: &Path, own: &Path| {
            if cgroups_path.is_absolute() {
                join_inside(mount, cgroups_path)
            } else {
                join_inside(&join_inside(mount, own), cgroups_path)
            }
        };
        let mut dirs: Dirs = host
            .v1
            .iter()
            .map(|h| (Some(h.controllers.clone()), place(&h.mountpoint, &h.own)))
            .collect();
        if let Some((mount, own)) = &host.unified {
            dirs.push((None, place(mount, own)));
        }
        Cgroup {
            dirs,
            unified_host: host.is_unified(),
        }
    }

    /// A cgroup from directories recorded earlier.
    pub fn from_dirs(dirs: Vec<PathBuf>) -> Cgroup {
        Cgroup::from_dirs_on(&Host::detect(), dirs)
    }

    /// A cgroup from recorded directories, each matched to its hierarchy.
    pub fn from_dirs_on(host: &Host, dirs: Vec<PathBuf>) -> Cgroup {
        let dirs = dirs
            .into_iter()
            .map(|d| {
                let ctrls = host
                    .v1
                    .iter()
                    .find(|h| d.starts_with(&h.mountpoint))
                    .map(|h| h.controllers.clone());
                (ctrls, d)
            })
            .collect();
        Cgroup {
            dirs,
            unified_host: host.is_unified(),
        }
    }

    /// `update`: applies new resource values to a live cgroup.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        if self.unified_host {
            let writes = resources::v2_writes(r)?;
            self.enable_v2_controllers(&writes)?;
            writes.iter().try_for_each(|w| self.write_unified(w))
        } else {
            resources::v1_writes(r)?
                .iter()
                .try_for_each(|w| self.write_v1(w))
        }
    }

    /// The directories, for the state file.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// Creates the directories and applies `resources`, then allows
    /// `extra_devices` (v1 rules such as `c 1:3 rwm`): the devices every
    /// container gets, which a deny-all rule in the config must not cut off.
    pub fn create(
        &self,
        resources: Option<&LinuxResources>,
        extra_devices: &[String],
    ) -> Result<()> {
        for (ctrls, dir) in &self.dirs {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                op: "create cgroup",
                path: dir.clone(),
                source: e,
            })?;
            if ctrls
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c == "cpuset"))
            {
                inherit_cpuset(dir)?;
            }
        }
        let Some(r) = resources else { return Ok(()) };
        if self.unified_host {
            let writes = resources::v2_writes(r)?;
            self.enable_v2_controllers(&writes)?;
            for wr in &writes {
                self.write_unified(wr)?;
            }
        } else {
            for wr in resources::v1_writes(r)? {
                self.write_v1(&wr)?;
            }
            if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
                for rule in extra_devices {
                    self.write_v1(&Write {
                        controller: "devices",
                        file: "devices.allow",
                        value: rule.clone(),
                    })?;
                }
            }
        }
        Ok(())
    }

    fn write_v1(&self, wr: &Write) -> Result<()> {
        let dir = self
            .dirs
            .iter()
            .find(|(c, _)| {
                c.as_ref()
                    .is_some_and(|c| c.iter().any(|c| c == wr.controller))
            })
            .map(|(_, d)| d)
            .ok_or_else(|| Error::Unsupported {
                field: format!("linux.resources ({})", wr.file),
                reason: format!(
                    "the {} controller is not mounted on this host",
                    wr.controller
                ),
            })?;
        write_value(&dir.join(wr.file), &wr.value)
    }

    fn unified_dir(&self) -> Option<&PathBuf> {
        self.dirs.iter().find(|(c, _)| c.is_none()).map(|(_, d)| d)
    }

    fn write_unified(&self, wr: &Write) -> Result<()> {
        let dir = self.unified_dir().ok_or_else(|| Error::Unsupported {
            field: "linux.resources".into(),
            reason: "no cgroup2 hierarchy".into(),
        })?;
        let path = dir.join(wr.file);
        if !path.exists() {
            return Err(Error::Unsupported {
                field: format!("linux.resources ({})", wr.file),
                reason: format!(
                    "the {} controller is not available or not delegated here",
                    wr.controller
                ),
            });
        }
        write_value(&path, &wr.value)
    }

    /// Enables the controllers the writes need in every ancestor's
    /// `cgroup.subtree_control`, from the top down.
    fn enable_v2_controllers(&self, writes: &[Write]) -> Result<()> {
        let Some(dir) = self.unified_dir() else {
            return Ok(());
        };
        let mut ctrls: Vec<&str> = writes.iter().map(|w| w.controller).collect();
        ctrls.sort_unstable();
        ctrls.dedup();
        if ctrls.is_empty() {
            return Ok(());
        }
        let line: String = ctrls.iter().map(|c| format!("+{c} ")).collect();
        let mut ancestors: Vec<&Path> = dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.join("cgroup.subtree_control").exists())
            .collect();
        ancestors.reverse();
        for a in ancestors {
            // Controllers already enabled, or not offered at this level, are
            // reported by write_unified when their files are missing.
            let _ = std::fs::write(a.join("cgroup.subtree_control"), line.trim_end());
        }
        Ok(())
    }

    /// Moves `pid` into every directory.
    pub fn add(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.dirs {
            write_value(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The pids in the container's cgroup (from its first directory).
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self
            .dirs
            .iter()
            .find(|(_, d)| d.join("cgroup.procs").exists())
        else {
            return Vec::new();
        };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
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

    /// Removes the directories; a cgroup whose last process is still exiting
    /// is retried for a short, bounded time.
    pub fn remove(&self) -> Result<()> {
        for (_, dir) in &self.dirs {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(16) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        return Err(Error::Io {
                            op: "remove cgroup",
                            path: dir.clone(),
                            source: e,
                        })
                    }
                }
            }
        }
        Ok(())
    }
}

fn write_value(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Io {
            op: "write",
            path: path.to_path_buf(),
            source: e,
        },
        _ => Error::Rejected {
            path: path.to_path_buf(),
            value: value.to_string(),
            source: e,
        },
    })
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and no
/// process can join it: copy them from the nearest ancestor that has them.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let current = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if !current.trim().is_empty() {
            continue;
        }
        let mut chain: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| a.join(file).exists())
            .collect();
        chain.reverse();
        let mut value = String::new();
        for d in chain {
            let v = std::fs::read_to_string(d.join(file)).unwrap_or_default();
            if v.trim().is_empty() {
                write_value(&d.join(file), value.trim())?;
            } else {
                value = v;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::V1Hierarchy;

    #[test]
    fn locate_absolute_and_relative_paths() {
        let host = Host {
            v1: vec![V1Hierarchy {
                controllers: vec!["memory".into()],
                mountpoint: "/sys/fs/cgroup/memory".into(),
                own: "/sandbox".into(),
            }],
            unified: Some(("/sys/fs/cgroup/unified".into(), "/".into())),
        };
        let abs = Cgroup::locate(&host, Path::new("/libpod_parent/c1"));
        assert_eq!(
            abs.dirs(),
            [
                PathBuf::from("/sys/fs/cgroup/memory/libpod_parent/c1"),
                PathBuf::from("/sys/fs/cgroup/unified/libpod_parent/c1")
            ]
        );
        let rel = Cgroup::locate(&host, Path::new("husk/c1"));
        assert_eq!(
            rel.dirs()[0],
            PathBuf::from("/sys/fs/cgroup/memory/sandbox/husk/c1")
        );
        let sneaky = Cgroup::locate(&host, Path::new("/../../etc"));
        assert_eq!(sneaky.dirs()[0], PathBuf::from("/sys/fs/cgroup/memory/etc"));
    }

    /// A fake v1 hierarchy in a temp dir: writes land in the right files.
    #[test]
    fn applies_v1_writes_to_a_fake_cgroupfs() {
        let root = std::env::temp_dir().join(format!("husk-cgfake-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let host = Host {
            v1: vec![
                V1Hierarchy {
                    controllers: vec!["pids".into()],
                    mountpoint: root.join("pids"),
                    own: "/".into(),
                },
                V1Hierarchy {
                    controllers: vec!["memory".into()],
                    mountpoint: root.join("memory"),
                    own: "/".into(),
                },
            ],
            unified: None,
        };
        let cg = Cgroup::locate(&host, Path::new("/c1"));
        let r: LinuxResources =
            serde_json::from_str(r#"{"pids":{"limit":7},"memory":{"limit":4096}}"#).unwrap();
        cg.create(Some(&r), &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("pids/c1/pids.max")).unwrap(),
            "7"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("memory/c1/memory.limit_in_bytes")).unwrap(),
            "4096"
        );
        let r: LinuxResources = serde_json::from_str(r#"{"cpu":{"shares":2}}"#).unwrap();
        let e = cg.create(Some(&r), &[]).unwrap_err().to_string();
        assert!(e.contains("cpu controller is not mounted"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
