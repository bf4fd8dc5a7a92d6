//! A trusted procfs handle (runs in init): a fresh proc instance mounted
//! nowhere, so nothing the container does to its /proc can redirect our
//! writes. Paths below it are opened without following any symlink and
//! without crossing into another mount.

use super::{fail, Step, StepContext};
use crate::plan::{lsm, Plan, ProcessPlan};
use husk_sys::fs::{
    self as sysfs, O_DIRECTORY, O_PATH, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV,
};
use husk_sys::{mount, process};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Opens a private proc instance, or, where mounting one is not allowed,
/// the host's /proc after checking that it really is procfs.
pub fn open_trusted() -> Step<OwnedFd> {
    let fresh = (|| -> husk_sys::Result<OwnedFd> {
        let ctx = mount::fsopen(c"proc")?;
        mount::fsconfig_create(ctx.as_fd())?;
        mount::fsmount(
            ctx.as_fd(),
            mount::attr::NOSUID | mount::attr::NODEV | mount::attr::NOEXEC,
        )
    })();
    let fd = match fresh {
        Ok(fd) => fd,
        Err(_) => {
            sysfs::open(Path::new("/proc"), O_PATH | O_DIRECTORY, 0).step(|| "open /proc".into())?
        }
    };
    let st = sysfs::fstatfs(fd.as_fd()).step(|| "statfs /proc".into())?;
    if st.f_type != PROC_SUPER_MAGIC {
        return Err(fail("open /proc", "not a procfs"));
    }
    Ok(fd)
}

const RESOLVE: u64 =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

/// Writes `value` to `rel` below the trusted proc handle.
pub fn write(proc: &OwnedFd, rel: &Path, value: &str) -> std::io::Result<()> {
    open_for_write(proc, rel)?.write_all(value.as_bytes())
}

/// Opens `rel` below the trusted proc handle for writing.
pub fn open_for_write(proc: &OwnedFd, rel: &Path) -> std::io::Result<std::fs::File> {
    if crate::weaken::on("procfs-verify") {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(Path::new("/proc").join(rel));
    }
    let fd = sysfs::openat2(proc.as_fd(), rel, sysfs::O_WRONLY, 0, RESOLVE)?;
    Ok(std::fs::File::from(fd))
}

/// Applies `linux.sysctl` through /proc/sys.
pub fn write_sysctls(plan: &Plan, proc: &OwnedFd) -> Step<()> {
    for (key, value) in &plan.sysctl {
        let rel = Path::new("sys").join(key);
        write(proc, &rel, value).map_err(|e| {
            fail(
                format!("sysctl {}", key.display().to_string().replace('/', ".")),
                e.to_string(),
            )
        })?;
    }
    Ok(())
}

/// Our pid as this procfs instance numbers it (its `self` link): a private
/// instance counts in our pid namespace, the host's /proc (the fallback
/// where a private one may not be mounted) in its own.
pub fn own_pid(proc: &OwnedFd) -> String {
    sysfs::readlinkat(proc.as_fd(), Path::new("self")).map_or_else(
        |_| process::getpid().to_string(),
        |p| p.display().to_string(),
    )
}

/// `process.apparmorProfile` and `process.selinuxLabel`, written to our own
/// task's attr files; the kernel applies them at the next exec. Through the
/// trusted procfs, so a fake /proc cannot swallow them (CVE-2019-16884).
pub fn set_exec_labels(p: &ProcessPlan, proc: &OwnedFd) -> Step<()> {
    // `thread-self` is a symlink, which the trusted resolution refuses; we are
    // single-threaded, so our one task has the pid's number.
    let pid = own_pid(proc);
    let task = Path::new(&format!("{pid}/task/{pid}")).to_path_buf();
    if let Some(profile) = &p.apparmor_profile {
        let dir = task.join("attr/apparmor");
        let has_dir = sysfs::openat2(proc.as_fd(), &dir, O_PATH | O_DIRECTORY, 0, RESOLVE).is_ok();
        write(
            proc,
            &task.join(lsm::exec_attr(true, has_dir)),
            &format!("exec {profile}"),
        )
        .map_err(|e| {
            fail(
                format!("apply process.apparmorProfile {profile}"),
                e.to_string(),
            )
        })?;
    }
    if let Some(label) = &p.selinux_label {
        write(proc, &task.join(lsm::exec_attr(false, false)), label)
            .map_err(|e| fail(format!("apply process.selinuxLabel {label}"), e.to_string()))?;
    }
    Ok(())
}
