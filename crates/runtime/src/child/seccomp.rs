//! Loading the container's seccomp filter (runs in: init, and exec's child).
//!
//! When: as late as possible, so that as few of our own syscalls as possible
//! run under the container's profile (a restrictive one must not break
//! setup). Without a listener that is right before execve, after the start
//! gate and the startContainer hooks. runc loads earlier when
//! noNewPrivileges is false, before dropping capabilities, because
//! seccomp(2) then needs CAP_SYS_ADMIN; we instead keep CAP_SYS_ADMIN in
//! the effective and permitted sets across the user switch and drop it with
//! one capset right after loading, so only capset and execve of ours pass
//! through the filter.
//!
//! A filter with a listener is loaded before `Ready`, while the parent still
//! waits: init hands the notification fd over the channel (one sendmsg,
//! which is why a profile may not notify sendmsg), the parent passes it to
//! `listenerPath`. The start gate and the hooks then run under the filter,
//! as they do in runc.

use super::{Step, StepContext};
use crate::plan::ProcessPlan;
use husk_seccomp::Filter;
use husk_sys::privs;
use std::os::fd::OwnedFd;

/// CAP_SYS_ADMIN's bit.
const SYS_ADMIN: u64 = 1 << 21;

/// Whether the process's own capabilities are not enough to load the
/// filter, so the user switch must keep CAP_SYS_ADMIN until it is loaded.
pub fn keeps_sys_admin(filter: Option<&Filter>, p: &ProcessPlan) -> bool {
    filter.is_some() && !p.no_new_privs && p.caps.effective & SYS_ADMIN == 0
}

/// Loads the filter, then drops the CAP_SYS_ADMIN kept for it. Returns the
/// notification fd when the filter has a listener.
pub fn load(filter: &Filter, p: &ProcessPlan) -> Step<Option<OwnedFd>> {
    let program: Vec<_> = filter
        .program
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect();
    let fd = husk_sys::seccomp::set_mode_filter(&program, filter.flags).step(|| {
        format!(
            "load seccomp filter of {} instructions (linux.seccomp)",
            program.len()
        )
    })?;
    if keeps_sys_admin(Some(filter), p) {
        privs::capset(p.caps.effective, p.caps.permitted, p.caps.inheritable)
            .step(|| "capset after loading seccomp (process.capabilities)".into())?;
    }
    Ok(fd)
}
