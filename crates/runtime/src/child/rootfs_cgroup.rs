//! The cgroup filesystem inside the container (runs in init), laid out like
//! the host's: one cgroup2 mount on a unified host; on a v1 or hybrid host a
//! tmpfs holding one mount per v1 hierarchy, plus cgroup2 at `unified`.

use super::rootfs::new_fs;
use super::{fail, Step, StepContext};
use crate::plan::MountPlan;
use crate::rootpath::Root;
use husk_sys::{fs as sysfs, mount};
use std::os::fd::AsFd;
use std::path::Path;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Mounts cgroupfs at `m.destination`.
pub fn mount_cgroupfs(m: &MountPlan, root: &Root) -> Step<()> {
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
    let attach = |fstype: &str, opts: &[String], at: &Path| -> Step<()> {
        let at_show = at.display().to_string();
        let fd = root
            .mkdir_all(at)
            .step(|| format!("create mount point {at_show}"))?;
        let tree = new_fs(fstype, fstype, opts, m.attr_set)
            .map_err(|(w, e)| fail(format!("mount {fstype} on {at_show}"), format!("{w}: {e}")))?;
        mount::move_mount_onto(tree.as_fd(), fd.as_fd())
            .step(|| format!("mount {fstype} on {at_show}"))
    };
    if unified {
        drop(target);
        return attach("cgroup2", &[], &m.destination);
    }
    if !crate::caller::in_initial_user_namespace() {
        // v1 hierarchies cannot be mounted from a user namespace: bind the
        // host's tree instead (read-only if asked), as runc does rootless.
        let tree = mount::clone_tree(host.as_fd(), true)
            .step(|| format!("bind /sys/fs/cgroup on {dest}"))?;
        let set = m.attr_set
            & (mount::attr::RDONLY
                | mount::attr::NOSUID
                | mount::attr::NODEV
                | mount::attr::NOEXEC);
        mount::mount_setattr(tree.as_fd(), true, set, 0, 0, None)
            .step(|| format!("set options of {dest}"))?;
        return mount::move_mount_onto(tree.as_fd(), target.as_fd())
            .step(|| format!("bind /sys/fs/cgroup on {dest}"));
    }
    // v1 or hybrid: a tmpfs to hold the hierarchies (read-only at the end if asked).
    let tmp = new_fs("tmpfs", "tmpfs", &["mode=755".to_string()], 0)
        .map_err(|(w, e)| fail(format!("mount tmpfs on {dest}"), format!("{w}: {e}")))?;
    mount::move_mount_onto(tmp.as_fd(), target.as_fd())
        .step(|| format!("mount tmpfs on {dest}"))?;
    let list = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| fail("read /proc/self/cgroup", e.to_string()))?;
    for line in list.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            if Path::new("/sys/fs/cgroup/unified").is_dir() {
                attach("cgroup2", &[], &m.destination.join("unified"))?;
            }
            continue;
        }
        let dir = ctrls.strip_prefix("name=").unwrap_or(ctrls);
        let opts: Vec<String> = ctrls.split(',').map(str::to_string).collect();
        attach("cgroup", &opts, &m.destination.join(dir))?;
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
