//! The process's limits, identity, working directory and exec (runs in init).

use super::{fail, Step, StepContext};
use crate::plan::ProcessPlan;
use husk_sys::{fs as sysfs, privs, process, Errno};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `process.rlimits`, set while we still may raise them.
pub fn set_rlimits(process: &ProcessPlan) -> Step<()> {
    for (i, &(res, soft, hard)) in process.rlimits.iter().enumerate() {
        let name = &process.rlimit_names[i];
        process::setrlimit(res, soft, hard)
            .step(|| format!("setrlimit {name} to {soft}/{hard} (process.rlimits[{i}])"))?;
    }
    Ok(())
}

/// Groups, gid, uid, then the five capability sets. The bounding set is
/// reduced while we still hold CAP_SETPCAP; keep-caps carries the permitted
/// set across the uid change so capset can then pick from it. With
/// `keep_sys_admin`, CAP_SYS_ADMIN stays effective until the seccomp filter
/// is loaded (see `child/seccomp.rs`).
pub fn switch_user(process: &ProcessPlan, keep_sys_admin: bool) -> Step<()> {
    let p = process;
    let last = crate::plan::caps::last_cap();
    privs::set_keep_caps(true).step(|| "prctl PR_SET_KEEPCAPS".into())?;
    for cap in 0..=last {
        if p.caps.bounding & (1 << cap) == 0 {
            privs::drop_bounding(cap).step(|| {
                format!(
                    "drop {} from bounding set",
                    crate::plan::caps::name(cap).unwrap_or_default()
                )
            })?;
        }
    }
    match privs::setgroups(&p.additional_gids) {
        Ok(()) => {}
        // In a user namespace where setgroups is denied, an empty list is fine.
        Err(Errno(libc::EPERM)) if p.additional_gids.is_empty() => {}
        Err(e) => return Err(e).step(|| "setgroups (process.user.additionalGids)".into()),
    }
    privs::set_gid(p.gid).step(|| format!("setgid {} (process.user.gid)", p.gid))?;
    privs::set_uid(p.uid).step(|| format!("setuid {} (process.user.uid)", p.uid))?;
    privs::set_keep_caps(false).step(|| "prctl PR_SET_KEEPCAPS".into())?;
    let inheritable = if crate::weaken::on("inheritable-caps") {
        p.caps.permitted
    } else {
        p.caps.inheritable
    };
    let extra = if keep_sys_admin { 1 << 21 } else { 0 };
    privs::capset(
        p.caps.effective | extra,
        p.caps.permitted | extra,
        inheritable,
    )
    .step(|| "capset (process.capabilities)".into())?;
    privs::clear_ambient().step(|| "clear ambient capabilities".into())?;
    // The kernel only keeps ambient capabilities that are both permitted and
    // inheritable; like runc, others in the list are skipped, not an error
    // (runc's default spec lists ambient capabilities without inheritable ones).
    let raisable = p.caps.ambient & p.caps.permitted & p.caps.inheritable;
    for cap in 0..=last {
        if raisable & (1 << cap) != 0 {
            privs::raise_ambient(cap).step(|| {
                format!(
                    "raise ambient {}",
                    crate::plan::caps::name(cap).unwrap_or_default()
                )
            })?;
        }
    }
    if p.no_new_privs {
        privs::set_no_new_privs().step(|| "prctl PR_SET_NO_NEW_PRIVS".into())?;
    }
    if let Some(mask) = p.umask {
        process::umask(mask);
    } else {
        process::umask(0o022);
    }
    Ok(())
}

/// chdir to `process.cwd` as the container user, then check that the result
/// lies inside the container's root (a leaked host fd could lead outside).
pub fn enter_cwd(process: &ProcessPlan) -> Step<()> {
    let cwd = &process.cwd;
    let show = cwd.display().to_string();
    sysfs::chdir(cwd).step(|| format!("chdir to {show} (process.cwd)"))?;
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(fail(
            format!("chdir to {show} (process.cwd)"),
            "working directory is outside the container root",
        )),
    }
}

/// Looks `args[0]` up the way execvp does, using the container's PATH.
pub fn find_executable(process: &ProcessPlan) -> Step<CString> {
    let arg0 = process.args[0].to_bytes();
    let name = Path::new(std::ffi::OsStr::from_bytes(arg0));
    let candidates: Vec<PathBuf> = if arg0.contains(&b'/') {
        vec![name.to_path_buf()]
    } else {
        process
            .path_var
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
            .collect()
    };
    for c in &candidates {
        if let Ok(meta) = std::fs::metadata(c) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return CString::new(c.as_os_str().as_bytes())
                    .map_err(|_| fail("find args[0]", "NUL in path"));
            }
        }
    }
    let show = name.display();
    if arg0.contains(&b'/') {
        Err(fail(
            format!("exec {show} (process.args[0])"),
            "no such executable file",
        ))
    } else {
        Err(fail(
            format!("exec {show} (process.args[0])"),
            format!("executable file not found in $PATH ({})", process.path_var),
        ))
    }
}

/// Reopens the preserved fds to the program about to be exec'd.
pub fn keep_preserved_fds(process: &ProcessPlan) -> Step<()> {
    for fd in 3..3 + process.preserve_fds {
        let fd = i32::try_from(fd).unwrap_or(i32::MAX);
        sysfs::clear_cloexec(fd).step(|| format!("keep fd {fd} (--preserve-fds)"))?;
    }
    Ok(())
}

/// Replaces this process with the user's program.
pub fn exec(process: &ProcessPlan, exe: &CString) -> Step<std::convert::Infallible> {
    let e = process::execve(exe, &process.args, &process.env);
    Err(e).step(|| format!("exec {}", exe.to_string_lossy()))
}
