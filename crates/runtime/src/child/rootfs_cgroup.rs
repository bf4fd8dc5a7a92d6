//! The cgroup filesystem inside the container (runs in init), laid out like
//! the host's: one cgroup2 mount on a unified host; on a v1 or hybrid host a
//! tmpfs holding one mount per v1 hierarchy, plus cgroup2 at `unified`.
//!
//! With a cgroup namespace of its own, each hierarchy is mounted fresh and
//! shows the namespace's root, which is the container's cgroup. Without one
//! (Docker's default on v1 hosts), a fresh mount would show the host's whole
//! tree: the container's own directory is bound from the host's hierarchy
//! instead, so it sees its own cgroup and its own limits (runc binds the
//! same directories on v1; we do it on v2 too). Both work from a user
//! namespace: a v1 hierarchy can be mounted fresh there when the cgroup
//! namespace is owned by it too, and binds need no mount at all.

use super::rootfs::new_fs;
use super::{fail, Step, StepContext};
use crate::plan::MountPlan;
use crate::rootpath::Root;
use husk_sys::{fs as sysfs, mount};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// One line of /proc/self/cgroup: (controllers, path). Controllers are empty
/// for the v2 hierarchy.
fn own_cgroups() -> Step<Vec<(String, String)>> {
    let list = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| fail("read /proc/self/cgroup", e.to_string()))?;
    Ok(list
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((ctrls.to_string(), path.to_string()))
        })
        .collect())
}

/// A detached bind of the container's cgroup directory `path` below the
/// host's hierarchy mounted at `host_dir`, resolved without symlinks and
/// without leaving that mount.
fn bind_own(host_dir: &Path, path: &str, attr_set: u64, mountinfo: &str) -> Step<OwnedFd> {
    let show = || format!("bind {}{path}", host_dir.display());
    let dir = sysfs::open(host_dir, sysfs::O_PATH | sysfs::O_DIRECTORY, 0).step(show)?;
    // Where the host's mount shows only part of the hierarchy (Docker-in-
    // Docker), our path is taken relative to that part.
    let root = husk_cgroups::host::mount_root(mountinfo, host_dir);
    let path = husk_cgroups::host::below_root(&root, path.into());
    let path = path.to_string_lossy();
    let rel = path.trim_start_matches('/');
    let dir = if rel.is_empty() {
        dir
    } else {
        let resolve = sysfs::RESOLVE_BENEATH | sysfs::RESOLVE_NO_SYMLINKS | sysfs::RESOLVE_NO_XDEV;
        sysfs::openat2(
            dir.as_fd(),
            Path::new(rel),
            sysfs::O_PATH | sysfs::O_DIRECTORY,
            0,
            resolve,
        )
        .step(show)?
    };
    let tree = mount::clone_tree(dir.as_fd(), false).step(show)?;
    let set = attr_set
        & (mount::attr::RDONLY | mount::attr::NOSUID | mount::attr::NODEV | mount::attr::NOEXEC);
    mount::mount_setattr(tree.as_fd(), false, set, 0, 0, None).step(show)?;
    Ok(tree)
}

/// Mounts cgroupfs at `m.destination`; `host_cgroupns` when the container
/// shares the host's cgroup namespace.
pub fn mount_cgroupfs(m: &MountPlan, root: &Root, host_cgroupns: bool) -> Step<()> {
    let dest = m.destination.display().to_string();
    let host = sysfs::open(
        Path::new("/sys/fs/cgroup"),
        sysfs::O_PATH | sysfs::O_DIRECTORY,
        0,
    )
    .step(|| "open /sys/fs/cgroup".into())?;
    let unified = sysfs::fstatfs(host.as_fd())
        .step(|| "statfs /sys/fs/cgroup".into())?
        .f_type
        == CGROUP2_SUPER_MAGIC;
    let target = root
        .mkdir_all(&m.destination)
        .step(|| format!("create mount point {dest}"))?;
    let own = own_cgroups()?;
    // Read once for every hierarchy (only binds need it).
    let mountinfo = if host_cgroupns {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| fail("read /proc/self/mountinfo", e.to_string()))?
    } else {
        String::new()
    };
    // `host_dir` is where the host mounts this hierarchy; `path` our cgroup in it.
    let attach = |fstype: &str, opts: &[String], at: &Path, host_dir: &Path, path: &str| {
        let at_show = at.display().to_string();
        let fd = root
            .mkdir_all(at)
            .step(|| format!("create mount point {at_show}"))?;
        let tree = if host_cgroupns {
            bind_own(host_dir, path, m.attr_set, &mountinfo)?
        } else {
            new_fs(fstype, fstype, opts, m.attr_set).map_err(|(w, e)| {
                fail(format!("mount {fstype} on {at_show}"), format!("{w}: {e}"))
            })?
        };
        mount::move_mount_onto(tree.as_fd(), fd.as_fd())
            .step(|| format!("mount {fstype} on {at_show}"))
    };
    let v2_path = own
        .iter()
        .find(|(c, _)| c.is_empty())
        .map_or("/", |(_, p)| p.as_str());
    if unified {
        drop(target);
        return attach(
            "cgroup2",
            &[],
            &m.destination,
            Path::new("/sys/fs/cgroup"),
            v2_path,
        );
    }
    // v1 or hybrid: a tmpfs to hold the hierarchies (read-only at the end if asked).
    let tmp = new_fs("tmpfs", "tmpfs", &["mode=755".to_string()], 0)
        .map_err(|(w, e)| fail(format!("mount tmpfs on {dest}"), format!("{w}: {e}")))?;
    mount::move_mount_onto(tmp.as_fd(), target.as_fd())
        .step(|| format!("mount tmpfs on {dest}"))?;
    for (ctrls, path) in &own {
        if ctrls.is_empty() {
            let host_dir = Path::new("/sys/fs/cgroup/unified");
            if host_dir.is_dir() {
                attach(
                    "cgroup2",
                    &[],
                    &m.destination.join("unified"),
                    host_dir,
                    path,
                )?;
            }
            continue;
        }
        let dir = ctrls.strip_prefix("name=").unwrap_or(ctrls);
        let opts: Vec<String> = ctrls.split(',').map(str::to_string).collect();
        let host_dir = Path::new("/sys/fs/cgroup").join(dir);
        attach("cgroup", &opts, &m.destination.join(dir), &host_dir, path)?;
        // Combined hierarchies (cpu,cpuacct) are also reachable by each name.
        if ctrls.contains(',') {
            let (parent, _) = root
                .parent_of(&m.destination.join(dir))
                .step(|| format!("open {dest}"))?;
            for c in ctrls.split(',') {
                let _ = sysfs::symlinkat(Path::new(dir), parent.as_fd(), Path::new(c));
            }
        }
    }
    if m.attr_set & mount::attr::RDONLY != 0 {
        let top = root
            .open(&m.destination, sysfs::O_PATH)
            .step(|| format!("open {dest}"))?;
        mount::mount_setattr(top.as_fd(), false, mount::attr::RDONLY, 0, 0, None)
            .step(|| format!("make {dest} read-only"))?;
    }
    Ok(())
}
