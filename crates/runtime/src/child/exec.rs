//! The process started by `exec` (runs in: the exec child, after fork):
//! join the container's namespaces, fork into its pid namespace, take the
//! process's identity, exec. Talks to the parent over the same channel.

use super::{devices, fail, identity, seccomp, Step, StepContext};
use crate::channel::{Channel, Msg};
use crate::plan::{NsKind, ProcessPlan};
use husk_sys::{fs as sysfs, ns, process, signal};
use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};

/// What the exec child needs from the parent.
#[derive(Debug)]
pub struct ExecContext<'a> {
    pub process: &'a ProcessPlan,
    /// The container's seccomp filter, compiled from its config.
    pub seccomp: Option<&'a husk_seccomp::Filter>,
    pub chan: Channel,
    /// The container's namespaces, opened by the parent, user first.
    pub join_fds: Vec<(NsKind, OwnedFd)>,
}

/// Entry point of the exec child. Never returns.
pub fn run(ctx: ExecContext<'_>) -> ! {
    let Err(e) = setup_and_exec(&ctx);
    let _ = ctx.chan.send(&Msg::Failed(e), &[]);
    process::exit_now(1)
}

fn send(ctx: &ExecContext<'_>, msg: &Msg, fds: &[std::os::fd::BorrowedFd<'_>]) -> Step<()> {
    ctx.chan
        .send(msg, fds)
        .map_err(|e| fail("talk to parent", e.to_string()))
}

/// The checklist for a process joining a running container.
fn setup_and_exec(ctx: &ExecContext<'_>) -> Step<Infallible> {
    let p = ctx.process;
    // The parent first moves us into the container's cgroup, so that the
    // process we fork below is born there.
    match ctx.chan.recv() {
        Ok(Some((Msg::Go, _))) => {}
        _ => return Err(fail("talk to parent", "no go-ahead from the parent")),
    }
    // As for init: nobody may reach the runtime binary through our /proc.
    process::set_dumpable(false).step(|| "prctl PR_SET_DUMPABLE".into())?;
    // User namespace first, so we hold capabilities in the one that owns the rest.
    for (kind, fd) in &ctx.join_fds {
        ns::setns(fd.as_fd(), kind.flag()).step(|| format!("join {} namespace", kind.name()))?;
    }
    // Joining a pid namespace only applies to children: fork; the child goes
    // on, this process hands its pidfd to the parent and exits.
    match process::clone3(0, None).step(|| "fork into the container".into())? {
        process::Forked::Child => {}
        process::Forked::Parent { pidfd, .. } => {
            let sent = send(ctx, &Msg::InitPid, &[pidfd.as_fd()]);
            process::exit_now(i32::from(sent.is_err()))
        }
    }
    if p.terminal {
        let master = devices::open_exec_terminal(p)?;
        send(ctx, &Msg::Console, &[master.as_fd()])?;
    }
    if p.apparmor_profile.is_some() || p.selinux_label.is_some() {
        let proc = super::procfs::open_trusted()?;
        super::procfs::set_exec_labels(p, &proc)?;
    }
    identity::set_rlimits(p)?;
    identity::switch_user(p, seccomp::keeps_sys_admin(ctx.seccomp, p))?;
    identity::enter_cwd(p)?;
    let exe = identity::find_executable(p)?;
    sysfs::cloexec_from(3).step(|| "close_range".into())?;
    // The same order as init's (child/seccomp.rs says why).
    if let Some(f) = ctx.seccomp.filter(|f| f.listener.is_some()) {
        let fd = seccomp::load(f, p)?
            .ok_or_else(|| fail("load seccomp filter", "the kernel returned no listener fd"))?;
        send(ctx, &Msg::SeccompFd, &[fd.as_fd()])?;
        match ctx.chan.recv() {
            Ok(Some((Msg::Continue, _))) => {}
            _ => {
                return Err(fail(
                    "talk to parent",
                    "no answer about the seccomp listener",
                ))
            }
        }
    }
    send(ctx, &Msg::Ready, &[])?;
    signal::reset_dispositions();
    signal::unblock_all().step(|| "sigprocmask".into())?;
    identity::keep_preserved_fds(p)?;
    if let Some(f) = ctx.seccomp.filter(|f| f.listener.is_none()) {
        seccomp::load(f, p)?;
    }
    identity::exec(p, &exe)
}
