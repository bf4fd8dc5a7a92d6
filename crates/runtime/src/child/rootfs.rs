//! The root filesystem (runs in init): propagation, the rootfs bind, every
//! entry of `mounts`, pivot_root, masked and read-only paths.

use super::{fail, Step, StepContext};
use crate::plan::{MountKind, MountPlan, Plan};
use crate::rootpath::Root;
use husk_sys::fs::{self as sysfs, O_DIRECTORY, O_PATH};
use husk_sys::mount::{self, attr, MNT_DETACH, MS_MOVE, MS_REC, MS_SLAVE};
use husk_sys::{cstr, Errno};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Sets the propagation of `/`, then binds the rootfs onto itself so that it
/// is a mount point of its own (pivot_root needs one).
pub fn prepare(plan: &Plan) -> Step<Root> {
    mount::mount(None, c"/", None, plan.propagation_before, None)
        .step(|| "make / private".into())?;
    let show = || plan.rootfs.display().to_string();
    let dir = sysfs::open(&plan.rootfs, O_PATH | O_DIRECTORY, 0)
        .step(|| format!("open rootfs {}", show()))?;
    let tree = mount::clone_tree(dir.as_fd(), true).step(|| format!("bind rootfs {}", show()))?;
    mount::move_mount_onto(tree.as_fd(), dir.as_fd()).step(|| format!("bind rootfs {}", show()))?;
    // Reopen: the path now leads to the root of the new mount.
    let dir = sysfs::open(&plan.rootfs, O_PATH | O_DIRECTORY, 0)
        .step(|| format!("open rootfs {}", show()))?;
    Ok(Root::new(dir))
}

/// Applies every entry of `mounts`, in order. `idmapped` holds the trees
/// the parent made for idmapped binds, by mount index.
pub fn mount_all(plan: &Plan, root: &Root, idmapped: &[(usize, OwnedFd)]) -> Step<()> {
    // Without a cgroup namespace of its own (new or joined), the container
    // would see the host's whole cgroup tree.
    let host_cgroupns = !plan.namespaces.has_own(crate::plan::NsKind::Cgroup)
        && !plan
            .namespaces
            .join
            .iter()
            .any(|(k, _)| *k == crate::plan::NsKind::Cgroup);
    for (i, m) in plan.mounts.iter().enumerate() {
        let tree = idmapped.iter().find(|(k, _)| *k == i).map(|(_, t)| t);
        mount_one(m, root, tree, host_cgroupns)?;
    }
    Ok(())
}

fn mount_one(
    m: &MountPlan,
    root: &Root,
    idmapped: Option<&OwnedFd>,
    host_cgroupns: bool,
) -> Step<()> {
    let dest = m.destination.display().to_string();
    match &m.kind {
        MountKind::Bind { source, recursive } => {
            let show = || format!("bind {} on {dest}", source.display());
            let tree = match idmapped {
                Some(tree) => tree.try_clone().map_err(|e| fail(show(), e.to_string()))?,
                None => {
                    let src = sysfs::open(source, O_PATH, 0)
                        .step(|| format!("open bind source {}", source.display()))?;
                    mount::clone_tree(src.as_fd(), *recursive).step(show)?
                }
            };
            let is_dir = sysfs::fstat(tree.as_fd())
                .step(|| format!("stat {}", source.display()))?
                .st_mode
                & libc::S_IFMT
                == libc::S_IFDIR;
            let target = if is_dir {
                root.mkdir_all(&m.destination)
            } else {
                root.ensure_file(&m.destination)
            }
            .step(|| format!("create mount point {dest}"))?;
            set_attrs(tree.as_fd(), m).step(|| format!("set options of {dest}"))?;
            mount::move_mount_onto(tree.as_fd(), target.as_fd()).step(show)?;
        }
        MountKind::Fs { fstype, source } => {
            let target = root
                .mkdir_all(&m.destination)
                .step(|| format!("create mount point {dest}"))?;
            let tree = new_fs(fstype, source, &m.data, m.attr_set).map_err(|(what, e)| {
                fail(format!("mount {fstype} on {dest}"), format!("{what}: {e}"))
            })?;
            set_attrs(tree.as_fd(), m).step(|| format!("set options of {dest}"))?;
            mount::move_mount_onto(tree.as_fd(), target.as_fd())
                .step(|| format!("mount {fstype} on {dest}"))?;
        }
        MountKind::Cgroup => super::rootfs_cgroup::mount_cgroupfs(m, root, host_cgroupns)?,
    }
    if m.propagation != 0 {
        let top = root
            .open(&m.destination, O_PATH)
            .step(|| format!("open {dest}"))?;
        set_propagation(top.as_fd(), m.propagation)
            .step(|| format!("set propagation of {dest}"))?;
    }
    Ok(())
}

/// Applies the per-mount and recursive attributes to a detached mount.
fn set_attrs(tree: BorrowedFd<'_>, m: &MountPlan) -> husk_sys::Result<()> {
    if m.rec_set != 0 || m.rec_clear != 0 {
        mount::mount_setattr(tree, true, m.rec_set, m.rec_clear, 0, None)?;
    }
    if m.attr_set != 0 || m.attr_clear != 0 {
        mount::mount_setattr(tree, false, m.attr_set, m.attr_clear, 0, None)?;
    }
    Ok(())
}

fn set_propagation(fd: BorrowedFd<'_>, flags: u64) -> husk_sys::Result<()> {
    let recursive = flags & MS_REC != 0;
    mount::mount_setattr(fd, recursive, 0, 0, flags & !MS_REC, None)
}

/// A detached instance of a filesystem, configured with `data` options.
/// On failure, says which option the kernel refused.
pub fn new_fs(
    fstype: &str,
    source: &str,
    data: &[String],
    attrs: u64,
) -> Result<OwnedFd, (String, Errno)> {
    let c = |s: &str| cstr(s).map_err(|e| (s.to_string(), e));
    let ctx = mount::fsopen(&c(fstype)?).map_err(|e| ("fsopen".to_string(), e))?;
    let _ = mount::fsconfig_set_string(ctx.as_fd(), c"source", &c(source)?);
    for opt in data {
        let r = match opt.split_once('=') {
            Some((k, v)) => mount::fsconfig_set_string(ctx.as_fd(), &c(k)?, &c(v)?),
            None => mount::fsconfig_set_flag(ctx.as_fd(), &c(opt)?),
        };
        r.map_err(|e| (format!("option {opt}"), e))?;
    }
    mount::fsconfig_create(ctx.as_fd()).map_err(|e| ("create".to_string(), e))?;
    let keep = attr::RDONLY
        | attr::NOSUID
        | attr::NODEV
        | attr::NOEXEC
        | attr::ATIME_MASK
        | attr::NODIRATIME;
    mount::fsmount(ctx.as_fd(), attrs & keep).map_err(|e| ("fsmount".to_string(), e))
}

/// Makes the rootfs `/`: pivot_root (or, with --no-pivot, move + chroot),
/// then detaches the old root so no host path stays reachable.
pub fn enter_root(plan: &Plan, root: Root) -> Step<()> {
    sysfs::fchdir(root.fd()).step(|| "chdir to rootfs".into())?;
    drop(root);
    if plan.no_pivot {
        mount::mount(Some(c"."), c"/", None, MS_MOVE, None).step(|| "move rootfs to /".into())?;
        mount::chroot(Path::new(".")).step(|| "chroot".into())?;
    } else {
        mount::pivot_root(Path::new("."), Path::new(".")).step(|| "pivot_root".into())?;
        // The old root is now stacked on "."; make it a slave so unmounting it
        // cannot propagate to the host, then detach it.
        mount::mount(None, c".", None, MS_SLAVE | MS_REC, None)
            .step(|| "make old root rslave".into())?;
        mount::umount2(Path::new("."), MNT_DETACH).step(|| "detach old root".into())?;
    }
    sysfs::chdir(Path::new("/")).step(|| "chdir /".into())?;
    if plan.propagation_after != 0 {
        let slash =
            sysfs::open(Path::new("/"), O_PATH | O_DIRECTORY, 0).step(|| "open /".into())?;
        set_propagation(slash.as_fd(), plan.propagation_after)
            .step(|| "set rootfs propagation".into())?;
    }
    Ok(())
}

/// `linux.maskedPaths`: files get the verified /dev/null bound over them,
/// directories an empty read-only tmpfs. Missing paths are skipped.
pub fn mask_paths(plan: &Plan, dev_null: &OwnedFd) -> Step<()> {
    let root = Root::current().step(|| "open /".into())?;
    for p in &plan.masked_paths {
        let show = p.display().to_string();
        let Some(target) = root
            .open_existing(p)
            .step(|| format!("open masked path {show}"))?
        else {
            continue;
        };
        let st = sysfs::fstat(target.as_fd()).step(|| format!("stat {show}"))?;
        let tree = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            new_fs("tmpfs", "tmpfs", &[], attr::RDONLY)
                .map_err(|(w, e)| fail(format!("mask {show}"), format!("{w}: {e}")))?
        } else {
            mount::clone_tree(dev_null.as_fd(), false).step(|| format!("mask {show}"))?
        };
        mount::move_mount_onto(tree.as_fd(), target.as_fd()).step(|| format!("mask {show}"))?;
    }
    Ok(())
}

/// `linux.readonlyPaths`: a read-only bind of each path over itself.
pub fn readonly_paths(plan: &Plan) -> Step<()> {
    let root = Root::current().step(|| "open /".into())?;
    for p in &plan.readonly_paths {
        let show = p.display().to_string();
        let Some(target) = root
            .open_existing(p)
            .step(|| format!("open read-only path {show}"))?
        else {
            continue;
        };
        let tree =
            mount::clone_tree(target.as_fd(), true).step(|| format!("bind {show} read-only"))?;
        mount::mount_setattr(tree.as_fd(), true, attr::RDONLY, 0, 0, None)
            .step(|| format!("make {show} read-only"))?;
        mount::move_mount_onto(tree.as_fd(), target.as_fd())
            .step(|| format!("bind {show} read-only"))?;
    }
    Ok(())
}

/// `root.readonly`: the last mount change, after everything is in place.
pub fn make_root_readonly(plan: &Plan) -> Step<()> {
    if !plan.rootfs_readonly {
        return Ok(());
    }
    let slash = sysfs::open(Path::new("/"), O_PATH | O_DIRECTORY, 0).step(|| "open /".into())?;
    mount::mount_setattr(slash.as_fd(), false, attr::RDONLY, 0, 0, None)
        .step(|| "make / read-only".into())
}
