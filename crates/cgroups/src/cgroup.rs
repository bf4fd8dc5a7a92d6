//! A container's cgroups: one directory per v1 hierarchy plus one in the
//! unified hierarchy; created, filled with the resource writes, joined by
//! the init (on a pure v2 host, cloned straight into it), and removed on
//! delete.

use crate::apply::{inherit_cpuset, write_value};
use crate::host::{join_inside, Host};
use crate::resources::{self, Offered};
use crate::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (controllers of the hierarchy, directory); `None` is the unified hierarchy.
type Dirs = Vec<(Option<Vec<String>>, PathBuf)>;

/// The cgroup directories of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cgroup {
    pub(crate) dirs: Dirs,
    unified_host: bool,
    /// Where the host offers which controller.
    offered: Offered,
}

/// The controllers of the host's v1 hierarchies and of its unified one.
fn offered_by(host: &Host) -> Offered {
    Offered {
        v1: host.v1.iter().flat_map(|h| h.controllers.clone()).collect(),
        v2: host.unified.as_ref().map(|_| host.v2_controllers()),
    }
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
            offered: offered_by(host),
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
            offered: offered_by(host),
        }
    }

    /// `update`: applies new resource values to a live cgroup;
    /// `extra_devices` as for [`Cgroup::create`].
    pub fn update(&self, r: &LinuxResources, extra_devices: &[LinuxDeviceCgroup]) -> Result<()> {
        let r = self.with_current_memory_limit(r);
        let writes = resources::translate(&r, &self.offered)?;
        self.apply(&writes, &r, extra_devices, &mut Vec::new())
    }

    /// runc merges an `update` into the config it keeps, so a swap limit
    /// alone (`update --memory-swap`) still has a memory limit to convert
    /// against on v2, where memory.swap.max is swap alone. We keep no
    /// config: the limit in force (memory.max) is that base.
    fn with_current_memory_limit(&self, r: &LinuxResources) -> LinuxResources {
        let mut r = r.clone();
        let on_v2 = !self.offered.v1.iter().any(|c| c == "memory");
        let dir = self.unified_dir().filter(|_| on_v2);
        if let (Some(m), Some(dir)) = (r.memory_mut().as_mut(), dir) {
            if m.swap().is_some() && m.limit().is_none() {
                let now = std::fs::read_to_string(dir.join("memory.max")).unwrap_or_default();
                m.set_limit(match now.trim() {
                    "max" => Some(-1),
                    v => v.parse().ok(),
                });
            }
        }
        r
    }

    /// Fails as [`Cgroup::create`] would for a resource the host cannot
    /// honour, without making anything (the systemd driver checks before
    /// it asks systemd for a unit).
    pub fn check(&self, resources: Option<&LinuxResources>) -> Result<()> {
        resources
            .map(|r| resources::translate(r, &self.offered))
            .transpose()
            .map(|_| ())
    }

    /// True on a pure cgroup v2 host.
    pub fn unified_host(&self) -> bool {
        self.unified_host
    }

    /// The directories, for the state file.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// Creates the directories and applies `resources`. `extra_devices`
    /// are the devices every container gets (runc's default allowances and
    /// `linux.devices`), appended to the config's device rules so that a
    /// deny-all rule there does not cut them off. A resource the host cannot
    /// honour fails before any directory is made. Device access starts
    /// from deny-all, also without `resources` ([`Writes::deny_devices_first`]).
    ///
    /// [`Writes::deny_devices_first`]: resources::Writes::deny_devices_first
    pub fn create(
        &self,
        resources: Option<&LinuxResources>,
        extra_devices: &[LinuxDeviceCgroup],
    ) -> Result<()> {
        let r = resources.cloned().unwrap_or_default();
        let mut writes = resources::translate(&r, &self.offered)?;
        writes.deny_devices_first(&self.offered);
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
        let mut enabled = Vec::new();
        let applied = self.apply(&writes, &r, extra_devices, &mut enabled);
        if applied.is_err() {
            // The caller removes the directories; the host's ancestors get
            // back the controllers they had.
            Cgroup::disable_controllers(&enabled);
        }
        applied
    }

    /// On a pure v2 host, the container's directory opened for clone3's
    /// `CLONE_INTO_CGROUP`: the init then starts inside it, with no window
    /// in which it runs in the runtime's cgroup and no migration to pay.
    /// `None` elsewhere: processes are moved in with [`Cgroup::add`].
    pub fn clone_into(&self) -> Result<Option<OwnedFd>> {
        if !self.unified_host {
            return Ok(None);
        }
        let Some(dir) = self.unified_dir() else {
            return Ok(None);
        };
        std::fs::File::open(dir)
            .map(|f| Some(OwnedFd::from(f)))
            .map_err(|e| Error::Io {
                op: "open cgroup",
                path: dir.clone(),
                source: e,
            })
    }

    pub(crate) fn unified_dir(&self) -> Option<&PathBuf> {
        self.dirs.iter().find(|(c, _)| c.is_none()).map(|(_, d)| d)
    }

    /// Moves `pid` into every directory.
    pub fn add(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.dirs {
            write_value(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Removes the directories, with the sub-cgroups the container made in
    /// them (deepest first, as runc's `RemovePath`); a cgroup whose last
    /// process is still exiting is retried for a short, bounded time.
    pub fn remove(&self) -> Result<()> {
        for (_, dir) in &self.dirs {
            // A cgroupsPath of "/" names a hierarchy's root, which is never
            // removed, nor are the host's cgroups below it.
            if !dir
                .parent()
                .is_some_and(|p| p.join("cgroup.procs").exists())
            {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match remove_tree(dir) {
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

/// Removes the cgroup `dir` and every cgroup below it. A cgroupfs holds
/// only directories and the kernel's files, which go with their directory.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let e = e?;
                if e.file_type()?.is_dir() {
                    remove_tree(&e.path())?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    std::fs::remove_dir(dir)
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

    /// A fake hybrid host in a temp dir, its files made beforehand as the
    /// kernel would: writes land in the right files, a missing weight file
    /// falls back to BFQ's, cgroup2-only controllers go to the unified
    /// directory, devices start from deny-all without rules, and a
    /// controller the host lacks fails before any directory is made.
    #[test]
    fn applies_writes_to_a_fake_hybrid_cgroupfs() {
        let root = std::env::temp_dir().join(format!("husk-cgfake-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let v1 = |c: &str| V1Hierarchy {
            controllers: vec![c.into()],
            mountpoint: root.join(c),
            own: "/".into(),
        };
        let host = Host {
            v1: vec![v1("pids"), v1("memory"), v1("blkio"), v1("devices")],
            unified: Some((root.join("unified"), "/".into())),
        };
        let files = [
            "devices/c1/devices.deny",
            "pids/c1/pids.max",
            "memory/c1/memory.limit_in_bytes",
            "blkio/c1/blkio.bfq.weight",
            "unified/cgroup.controllers",
            "unified/cgroup.subtree_control",
            "unified/c1/hugetlb.2MB.max",
            "unified/c1/memory.high",
        ];
        for f in files {
            let f = root.join(f);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "").unwrap();
        }
        std::fs::write(root.join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        let cg = Cgroup::locate(&host, Path::new("/c1"));
        let r: LinuxResources = serde_json::from_str(
            r#"{"pids":{"limit":7},"memory":{"limit":4096},"blockIO":{"weight":300},
                "hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#,
        )
        .unwrap();
        cg.create(Some(&r), &[]).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
        assert_eq!(read("pids/c1/pids.max"), "7");
        assert_eq!(read("memory/c1/memory.limit_in_bytes"), "4096");
        assert_eq!(read("blkio/c1/blkio.bfq.weight"), "300");
        assert_eq!(read("unified/c1/hugetlb.2MB.max"), "2097152");
        assert_eq!(read("unified/cgroup.subtree_control"), "+hugetlb");
        // No device rules: devices are still denied first (runc's whitelist).
        assert_eq!(read("devices/c1/devices.deny"), "a *:* rwm");
        let r: LinuxResources = serde_json::from_str(r#"{"unified":{"memory.high":"1"}}"#).unwrap();
        let e = cg.update(&r, &[]).unwrap_err().to_string();
        assert!(e.contains("memory controller is in a v1 hierarchy"), "{e}");
        let r: LinuxResources = serde_json::from_str(r#"{"cpu":{"shares":2}}"#).unwrap();
        let c2 = Cgroup::locate(&host, Path::new("/c2"));
        let e = c2.create(Some(&r), &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "linux.resources.cpu: the cpu controller is not available on this host"
        );
        assert!(
            c2.dirs().iter().all(|d| !d.exists()),
            "a directory was made"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A cgroupsPath of "/" names the hierarchy's root: removing it must not
    /// sweep away the host's other (empty) cgroups below it.
    #[test]
    fn removing_a_hierarchy_root_leaves_the_cgroups_below() {
        let root = std::env::temp_dir().join(format!("husk-cgroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("memory/other")).unwrap();
        std::fs::write(root.join("memory/cgroup.procs"), "").unwrap();
        let host = Host {
            v1: vec![V1Hierarchy {
                controllers: vec!["memory".into()],
                mountpoint: root.join("memory"),
                own: "/".into(),
            }],
            unified: None,
        };
        let _ = Cgroup::locate(&host, Path::new("/")).remove();
        let kept = root.join("memory/other").is_dir();
        std::fs::remove_dir_all(&root).unwrap();
        assert!(kept, "a cgroup below the root was removed");
    }
}
