//! Entering namespaces (runs in init). On the fast path clone3 has already
//! put us in every new namespace; otherwise we join, unshare and maybe fork.

use super::{fail, InitContext, Step, StepContext};
use crate::channel::Msg;
use crate::plan::{NsKind, Plan, Strategy};
use husk_sys::{ns, privs, process};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Puts this process (or a forked successor) in all of the container's
/// namespaces except time, whose offsets are written later.
pub fn enter(ctx: &InitContext<'_>) -> Step<()> {
    let plan = ctx.plan;
    match plan.namespaces.strategy {
        Strategy::Clone { .. } => {
            if plan.namespaces.has_own(NsKind::User) {
                // The parent wrote our maps before sending Go; act as the
                // namespace's root from here on.
                become_root()?;
            }
        }
        Strategy::JoinThenUnshare { fork_for_pid } => {
            for (kind, fd) in &ctx.join_fds {
                ns::setns(fd.as_fd(), kind.flag())
                    .step(|| format!("join {} namespace", kind.name()))?;
                if *kind == NsKind::User {
                    become_root()?;
                }
            }
            if plan.namespaces.has_own(NsKind::User) {
                ns::unshare(ns::CLONE_NEWUSER).step(|| "unshare user namespace".into())?;
                ctx.send(&Msg::MapIds, &[])?;
                ctx.expect(&Msg::Continue)?;
                become_root()?;
            }
            let flags = plan
                .namespaces
                .new
                .iter()
                .filter(|k| !matches!(k, NsKind::User | NsKind::Time))
                .fold(0, |f, k| f | k.flag());
            if flags != 0 {
                ns::unshare(flags).step(|| "unshare namespaces".into())?;
            }
            if fork_for_pid {
                fork_into_pid_namespace(ctx)?;
            }
        }
    }
    if plan.namespaces.has_own(NsKind::Cgroup)
        && matches!(plan.namespaces.strategy, Strategy::Clone { .. })
    {
        // The parent has moved us into the container's cgroup by now: the
        // new cgroup namespace is rooted there.
        ns::unshare(ns::CLONE_NEWCGROUP).step(|| "unshare cgroup namespace".into())?;
    }
    if plan.namespaces.has_own(NsKind::Time) {
        ns::unshare(ns::CLONE_NEWTIME).step(|| "unshare time namespace".into())?;
    }
    Ok(())
}

/// setresuid/setresgid(0) inside a user namespace whose maps are written.
fn become_root() -> Step<()> {
    privs::set_gid(0).step(|| "setresgid 0 in user namespace".into())?;
    privs::set_uid(0).step(|| "setresuid 0 in user namespace".into())?;
    Ok(())
}

/// A pid namespace only applies to children: fork once more; the child goes
/// on as init, this process hands its pidfd to the parent and exits.
fn fork_into_pid_namespace(ctx: &InitContext<'_>) -> Step<()> {
    match process::clone3(0, None).step(|| "fork into pid namespace".into())? {
        // Our first message must come after our parent's InitPid: wait
        // until the runtime has it.
        process::Forked::Child => ctx.expect(&Msg::Continue).map(drop),
        process::Forked::Parent { pidfd, .. } => {
            let sent = ctx.send(&Msg::InitPid, &[pidfd.as_fd()]);
            process::exit_now(i32::from(sent.is_err()))
        }
    }
}

/// Writes `linux.timeOffsets` for the new time namespace; they take effect
/// when we exec (the offsets apply to the namespace our children enter).
pub fn set_time_offsets(plan: &Plan, proc: &OwnedFd) -> Step<()> {
    if plan.namespaces.time_offsets.is_empty() {
        return Ok(());
    }
    let rel = format!("{}/timens_offsets", super::procfs::own_pid(proc));
    // We are non-dumpable by now, and in a user namespace becoming its root
    // made us so too: our /proc files then belong to the host's root, whom
    // we cannot act as. Open this one while briefly dumpable (nothing of
    // the container runs yet) and write through the fd, which keeps the
    // credentials it was opened with.
    process::set_dumpable(true).step(|| "prctl PR_SET_DUMPABLE".into())?;
    let file = super::procfs::open_for_write(proc, Path::new(&rel));
    process::set_dumpable(false).step(|| "prctl PR_SET_DUMPABLE".into())?;
    file.and_then(|mut f| {
        use std::io::Write;
        f.write_all(plan.namespaces.time_offsets.as_bytes())
    })
    .map_err(|e| fail("write timens_offsets", e.to_string()))
}
