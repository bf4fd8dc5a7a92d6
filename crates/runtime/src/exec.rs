//! The parent side of `exec` (runs in: parent): open the container's
//! namespaces, fork the exec child, relay its terminal and signals, and
//! return its exit status (or, detached, its pid).

use crate::channel::{Channel, Msg};
use crate::child::exec::{self as exec_child, ExecContext};
use crate::plan::exec::{plan_exec_process, ExecOptions};
use crate::plan::NsKind;
use crate::state::{Action, ContainerDir, Status};
use crate::{create, relay, Error, Result};
use husk_sys::{fs as sysfs, process, signal};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// How `exec` runs its process.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub options: ExecOptions,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    /// Exec into a paused container too.
    pub ignore_paused: bool,
}

/// Runs a process in container `id`; returns its exit status (0 if detached).
/// `warn` receives what the config asks for that cannot be given.
pub fn exec(root: &Path, id: &str, req: &ExecRequest, warn: &dyn Fn(&str)) -> Result<i32> {
    let (process, seccomp, state, join_fds, cgroup) = {
        // Hold the container's lock only while reading what we need.
        let dir = ContainerDir::open(root, id)?;
        let rec = dir.load()?;
        let status = rec.status();
        if !(Action::Exec.allowed_in(status) || (status == Status::Paused && req.ignore_paused)) {
            rec.check(Action::Exec)?;
        }
        // The config saved at create; containers made by an older husk
        // have none there: their bundle's.
        let saved = dir.config_path();
        let spec = if saved.exists() {
            crate::spec::load_file(&saved)?.0
        } else {
            crate::spec::load(&rec.bundle)?
        };
        let mut process = plan_exec_process(&spec, &req.options)?;
        crate::create::warn_caps_not_held(&process, warn);
        if crate::plan::lsm::wanted(&process, None) {
            for w in crate::plan::lsm::HostLsm::detect().drop_unavailable(&mut process) {
                warn(&w);
            }
        }
        // Like runc, the exec'd process gets the container's filter, built
        // from its config (a process's own noNewPrivileges still counts).
        let seccomp = match spec.linux() {
            Some(l) => crate::plan::plan_seccomp(l)?,
            None => None,
        };
        let join_fds = namespaces_of(rec.pid)?;
        // The fds pin the namespaces; make sure they were still the container's.
        if rec.status() == Status::Stopped {
            rec.check(Action::Exec)?;
        }
        (
            process,
            seccomp,
            rec.hook_state(rec.status()),
            join_fds,
            husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone()),
        )
    };
    let console_sock = match &req.console_socket {
        Some(p) => {
            Some(UnixStream::connect(p).map_err(|e| Error::io("connect console socket", p, e))?)
        }
        None => None,
    };
    if process.terminal && console_sock.is_none() && req.detach {
        return Err(Error::Usage(
            "exec --tty --detach needs --console-socket".into(),
        ));
    }
    let old_mask = if req.detach {
        None
    } else {
        Some(create::block_signals()?)
    };
    let result = spawn(
        &process,
        Seccomp {
            filter: seccomp.as_ref(),
            state,
        },
        join_fds,
        &cgroup,
        console_sock,
        req,
    );
    if let Some(m) = old_mask {
        let _ = signal::restore(&m);
    }
    result
}

/// The container's seccomp filter and, for its listener, the container's state.
struct Seccomp<'a> {
    filter: Option<&'a husk_seccomp::Filter>,
    state: serde_json::Value,
}

fn spawn(
    process: &crate::plan::ProcessPlan,
    seccomp: Seccomp<'_>,
    join_fds: Vec<(NsKind, OwnedFd)>,
    cgroup: &husk_cgroups::Cgroup,
    console_sock: Option<UnixStream>,
    req: &ExecRequest,
) -> Result<i32> {
    // The process is our grandchild: adopt it when its parent exits.
    process::set_child_subreaper().map_err(|e| Error::sys("prctl", "PR_SET_CHILD_SUBREAPER", e))?;
    let (chan, child_chan) = Channel::pair()?;
    // On a pure v2 host the process starts in the container's cgroup.
    let cgroup_fd = cgroup.clone_into().map_err(Error::Cgroup)?;
    let (first, _first_fd) = match process::clone3(0, cgroup_fd.as_ref().map(AsFd::as_fd))
        .map_err(|e| Error::sys("clone3", "exec process", e))?
    {
        process::Forked::Child => {
            drop(chan);
            exec_child::run(ExecContext {
                process,
                seccomp: seccomp.filter,
                chan: child_chan,
                join_fds,
            })
        }
        process::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_chan);
    drop(join_fds);
    // Into the container's cgroup before it forks into the container.
    let joined = match cgroup_fd {
        Some(_) => Ok(()),
        None => cgroup.add(first).map_err(Error::Cgroup),
    }
    .and_then(|()| create::write_oom_score_adj(process, first));
    if let Err(e) = joined.and_then(|()| chan.send(&Msg::Go, &[])) {
        let _ = process::kill(first, libc::SIGKILL);
        let _ = process::wait_exit(first);
        return Err(e);
    }
    let mut target: Option<(i32, OwnedFd)> = None;
    let mut console = None;
    // The notification fd, when it overtook InitPid (two processes write).
    let mut pending_seccomp: Option<OwnedFd> = None;
    let outcome = (|| -> Result<()> {
        loop {
            let Some((msg, mut fds)) = chan.recv()? else {
                // End of channel: the process exec'd (or died without a word).
                return if target.is_some() {
                    Ok(())
                } else {
                    Err(Error::Usage(
                        "exec: the process vanished during setup".into(),
                    ))
                };
            };
            match msg {
                Msg::InitPid => {
                    let fd = fds
                        .pop()
                        .ok_or_else(|| Error::Usage("exec: pid message without a pidfd".into()))?;
                    let pid = create::pid_of_pidfd(&fd)?;
                    let _ = process::wait_exit(first);
                    target = Some((pid, fd));
                    if let Some(fd) = pending_seccomp.take() {
                        hand_over_seccomp(&seccomp, pid, &fd, &chan)?;
                    }
                }
                Msg::Console => {
                    let master = fds.pop().ok_or_else(|| {
                        Error::Usage("exec: console message without a pty".into())
                    })?;
                    match &console_sock {
                        Some(s) => {
                            husk_sys::socket::send(s.as_fd(), b"/dev/ptmx", &[master.as_fd()])
                                .map_err(|e| Error::sys("send pty to", "console socket", e))?
                        }
                        None => console = Some(master),
                    }
                }
                Msg::SeccompFd => {
                    let fd = fds.pop().ok_or_else(|| {
                        Error::Usage("exec: seccomp message without an fd".into())
                    })?;
                    match &target {
                        Some((pid, _)) => hand_over_seccomp(&seccomp, *pid, &fd, &chan)?,
                        None => pending_seccomp = Some(fd),
                    }
                }
                Msg::Ready => {}
                Msg::Failed(e) => return Err(Error::Init(e)),
                other => return Err(Error::Usage(format!("exec: unexpected message {other:?}"))),
            }
        }
    })();
    if let Err(e) = outcome {
        if let Some((pid, fd)) = &target {
            let _ = process::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
            let _ = process::wait_exit(*pid);
        } else {
            let _ = process::wait_exit(first);
        }
        return Err(e);
    }
    let Some((pid, pidfd)) = target else {
        return Err(Error::Usage("exec: no process".into()));
    };
    if let Some(p) = &req.pid_file {
        create::write_pid_file(p, pid)?;
    }
    if req.detach {
        return Ok(0);
    }
    relay::supervise(pid, &pidfd, console)
}

/// Passes the exec'd process's notification fd to the listener, then lets
/// the process go on.
fn hand_over_seccomp(s: &Seccomp<'_>, pid: i32, fd: &OwnedFd, chan: &Channel) -> Result<()> {
    if let Some(l) = s.filter.and_then(|f| f.listener.as_ref()) {
        crate::seccomp_listener::hand_over(l, pid, s.state.clone(), fd)?;
    }
    chan.send(&Msg::Continue, &[])
}

/// The namespaces of `pid` that differ from ours, opened, user first.
fn namespaces_of(pid: i32) -> Result<Vec<(NsKind, OwnedFd)>> {
    const KINDS: [(NsKind, &str); 8] = [
        (NsKind::User, "user"),
        (NsKind::Mount, "mnt"),
        (NsKind::Pid, "pid"),
        (NsKind::Uts, "uts"),
        (NsKind::Ipc, "ipc"),
        (NsKind::Net, "net"),
        (NsKind::Cgroup, "cgroup"),
        (NsKind::Time, "time"),
    ];
    let mut out = Vec::new();
    for (kind, name) in KINDS {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
        let Ok(link) = std::fs::read_link(&theirs) else {
            continue;
        };
        if Some(&link) == ours.as_ref() {
            continue;
        }
        let fd = sysfs::open(&theirs, sysfs::O_RDONLY, 0)
            .map_err(|e| Error::sys("open namespace", theirs.display(), e))?;
        out.push((kind, fd));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}
