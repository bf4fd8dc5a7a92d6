//! The parent side of `create` and `run` (runs in: parent): plan, clone3
//! the init, answer its requests over the channel, record the state.

use crate::cgroup::{default_device_rules, CgroupGuard};
use crate::channel::{Channel, Msg};
use crate::child::{self, Gate, InitContext};
use crate::plan::{CreateOptions, NsKind, Plan, Strategy};
use crate::state::{process_start_time, ContainerDir, Record, Status};
use crate::{hooks, Error, Result};
use husk_sys::{fs as sysfs, process, signal};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// What `create` and `run` were asked to do.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub options: CreateOptions,
}

/// How the init waits to be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `create`: wait for a later `start` command.
    Create,
    /// `run`: this process starts it at once and stays in touch.
    Run,
}

/// A container whose init finished setup and waits at its gate.
#[derive(Debug)]
pub struct Created {
    pub dir: ContainerDir,
    pub record: Record,
    pub plan: Plan,
    pub chan: Channel,
    pub init: InitProcess,
    /// The pty master, when `run` must relay the terminal itself.
    pub console: Option<OwnedFd>,
}

/// The init process; killed on drop unless released (a failed create leaves
/// no process behind).
#[derive(Debug)]
pub struct InitProcess {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Our own child (we can wait for it), or a grandchild we adopted.
    armed: bool,
}

impl InitProcess {
    /// Keeps the process alive when this value is dropped.
    pub fn release(&mut self) {
        self.armed = false;
    }
}

impl Drop for InitProcess {
    fn drop(&mut self) {
        if self.armed {
            let _ = process::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
            let _ = process::wait_exit(self.pid);
        }
    }
}

/// Names the capabilities the container asked for but cannot get (see
/// [`crate::plan::CapSets::limit_to`]).
pub fn warn_caps_not_held(p: &crate::plan::ProcessPlan, warn: &dyn Fn(&str)) {
    if !p.caps_not_held.is_empty() {
        warn(&format!(
            "process.capabilities: {} not in husk-runtime's own bounding set: not granted",
            p.caps_not_held.join(", ")
        ));
    }
}

/// Creates the container up to its start gate.
pub fn create(req: &CreateRequest, mode: Mode, warn: &dyn Fn(&str)) -> Result<Created> {
    let (mut plan, config_text) = Plan::load(&req.id, &req.bundle, &req.options)?;
    if crate::plan::lsm::wanted(&plan.process, plan.mount_label.as_deref()) {
        let lsm = crate::plan::lsm::HostLsm::detect();
        for w in lsm.drop_unavailable(&mut plan.process) {
            warn(&w);
        }
        if let Some(w) = lsm.drop_mount_label(&mut plan.mount_label, &mut plan.mounts) {
            warn(&w);
        }
    }
    if !plan.unapplied.is_empty() {
        warn(&format!(
            "not applied by this version of husk-runtime: {}",
            plan.unapplied.join(", ")
        ));
    }
    warn_caps_not_held(&plan.process, warn);
    if plan.systemd_unit.is_some() && !husk_cgroups::systemd::booted() {
        return Err(Error::Usage(
            "--systemd-cgroup: systemd is not running as PID 1 here (/run/systemd/system \
             is not a directory); run without --systemd-cgroup to use cgroupfs"
                .into(),
        ));
    }
    let mut dir = ContainerDir::create(&req.root, &req.id)?;
    dir.save_config(&config_text)?;
    let console_sock = match &req.console_socket {
        Some(p) => {
            Some(UnixStream::connect(p).map_err(|e| Error::io("connect console socket", p, e))?)
        }
        None => None,
    };
    if plan.process.terminal && console_sock.is_none() && mode == Mode::Create {
        return Err(Error::config(
            "process.terminal",
            "a terminal needs --console-socket",
        ));
    }
    let join_fds = open_namespaces(&plan)?;
    let idmapped = crate::idmap::prepare(&plan)?;
    let gate = match mode {
        Mode::Create => {
            let p = dir.fd_path("start.sock");
            Gate::Listener(
                UnixListener::bind(&p)
                    .map_err(|e| Error::io("listen on", dir.path.join("start.sock"), e))?,
            )
        }
        Mode::Run => Gate::Channel,
    };
    // Declared before the init so that, on failure, the init is killed
    // before its cgroup is removed (and its systemd unit stopped).
    let mut cgroup = CgroupGuard::prepare(&plan, warn)?;
    let cgroup_fd = cgroup.clone_into()?;
    let (chan, init_chan) = Channel::pair()?;
    let clone_flags = match plan.namespaces.strategy {
        Strategy::Clone { flags } => flags,
        Strategy::JoinThenUnshare { .. } => {
            // The real init may be a grandchild: adopt it when its parent exits.
            process::set_child_subreaper()
                .map_err(|e| Error::sys("prctl", "PR_SET_CHILD_SUBREAPER", e))?;
            0
        }
    };
    let forked = process::clone3(clone_flags, cgroup_fd.as_ref().map(AsFd::as_fd))
        .map_err(|e| Error::sys("clone3", "container init", e))?;
    let (pid, pidfd) = match forked {
        process::Forked::Child => {
            dir.forget_in_child();
            drop(cgroup_fd);
            drop(chan);
            drop(console_sock);
            child::run(InitContext::new(&plan, init_chan, gate, join_fds, idmapped))
        }
        process::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(init_chan);
    drop(gate);
    drop(idmapped);
    let mut first = InitProcess {
        pid,
        pidfd,
        armed: true,
    };
    // Into its cgroup before it runs anything of the container's (unless
    // clone3 already started it there); with the systemd driver, systemd
    // makes the unit around it now.
    if cgroup_fd.is_none() {
        cgroup.add(pid)?;
    }
    write_oom_score_adj(&plan.process, pid)?;
    if matches!(plan.namespaces.strategy, Strategy::Clone { .. })
        && plan.namespaces.has_own(NsKind::User)
    {
        crate::subid::write_id_maps(&plan, pid)?;
    }
    chan.send(&Msg::Go, &[])?;
    let mut init: Option<InitProcess> = None;
    let mut record: Option<Record> = None;
    let mut console = None;
    loop {
        let Some((msg, mut fds)) = chan.recv()? else {
            return Err(init_vanished(&mut first, init.as_mut()));
        };
        match msg {
            Msg::MapIds => {
                crate::subid::write_id_maps(&plan, pid)?;
                chan.send(&Msg::Continue, &[])?;
            }
            Msg::InitPid => {
                let fd = fds
                    .pop()
                    .ok_or_else(|| Error::Usage("init pid message without a pidfd".into()))?;
                let real = pid_of_pidfd(&fd)?;
                // The intermediate process exits right after sending this.
                first.armed = false;
                let _ = process::wait_exit(first.pid);
                init = Some(InitProcess {
                    pid: real,
                    pidfd: fd,
                    armed: true,
                });
                // The new init waits for this: none of its messages can
                // overtake InitPid, so they all speak of the right pid.
                chan.send(&Msg::Continue, &[])?;
            }
            Msg::RunHooks => {
                let p = init.as_ref().map_or(pid, |i| i.pid);
                let rec = new_record(&plan, p);
                dir.save(&rec)?;
                let state = rec.hook_state(Status::Creating);
                hooks::run_all("prestart", &plan.hooks.prestart, &state)?;
                hooks::run_all("createRuntime", &plan.hooks.create_runtime, &state)?;
                record = Some(rec);
                chan.send(&Msg::Continue, &[])?;
            }
            Msg::Console => {
                let master = fds
                    .pop()
                    .ok_or_else(|| Error::Usage("console message without a pty".into()))?;
                match &console_sock {
                    Some(s) => husk_sys::socket::send(s.as_fd(), b"/dev/ptmx", &[master.as_fd()])
                        .map_err(|e| Error::sys("send pty to", "console socket", e))?,
                    None => console = Some(master),
                }
            }
            Msg::SeccompFd => {
                let fd = fds
                    .pop()
                    .ok_or_else(|| Error::Usage("seccomp message without an fd".into()))?;
                let p = init.as_ref().map_or(pid, |i| i.pid);
                let state = new_record(&plan, p).hook_state(Status::Creating);
                if let Some(l) = plan.seccomp.as_ref().and_then(|f| f.listener.as_ref()) {
                    crate::seccomp_listener::hand_over(l, p, state, &fd)?;
                }
                chan.send(&Msg::Continue, &[])?;
            }
            Msg::Ready => break,
            Msg::Failed(e) => return Err(Error::Init(e)),
            Msg::Go | Msg::Continue | Msg::Start => {
                return Err(Error::Usage(format!(
                    "unexpected message from init: {msg:?}"
                )));
            }
        }
    }
    let init = match init {
        Some(i) => {
            first.release();
            i
        }
        None => first,
    };
    let mut record = record.unwrap_or_else(|| new_record(&plan, init.pid));
    record.status = Status::Created;
    (record.cgroup, record.systemd_unit) = cgroup.keep();
    record.device_rules = default_device_rules(&plan);
    // `run` writes its state once, as running, right after the start.
    if mode == Mode::Create {
        dir.save(&record)?;
    }
    if let Some(p) = &req.pid_file {
        write_pid_file(p, init.pid)?;
    }
    Ok(Created {
        dir,
        record,
        plan,
        chan,
        init,
        console,
    })
}

/// `process.oomScoreAdj` for `pid`, inherited by everything it forks and
/// execs (init, or exec's first child). Written by the parent, as runc does
/// before the namespaces are entered: init, non-dumpable and root only in
/// its user namespace, may not write its own.
pub fn write_oom_score_adj(p: &crate::plan::ProcessPlan, pid: i32) -> Result<()> {
    let Some(adj) = p.oom_score_adj else {
        return Ok(());
    };
    let path = format!("/proc/{pid}/oom_score_adj");
    std::fs::write(&path, adj.to_string())
        .map_err(|e| Error::config("process.oomScoreAdj", format!("writing {path}: {e}")))
}

fn new_record(plan: &Plan, pid: i32) -> Record {
    Record {
        oci_version: plan.oci_version.clone(),
        id: plan.id.clone(),
        status: Status::Creating,
        pid,
        pid_start: process_start_time(pid).map_or(0, |(s, _)| s),
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: crate::time::now_rfc3339(),
        owner: crate::caller::uid(),
        annotations: plan.annotations.clone(),
        poststart: plan.hooks.poststart.clone(),
        poststop: plan.hooks.poststop.clone(),
        cgroup: Vec::new(),
        systemd_unit: None,
        device_rules: Vec::new(),
    }
}

/// The init died without saying why: report how it ended.
fn init_vanished(first: &mut InitProcess, init: Option<&mut InitProcess>) -> Error {
    let p = init.unwrap_or(first);
    p.armed = false;
    let how = match process::wait_exit(p.pid) {
        Ok(process::Exit::Code(c)) => format!("exited with status {c}"),
        Ok(process::Exit::Signal(s)) => format!("was killed by signal {s}"),
        Err(e) => format!("vanished ({e})"),
    };
    Error::Usage(format!("container init {how} during setup"))
}

/// Opens every namespace to join before the fork, so the paths are
/// resolved in the runtime's mount namespace.
fn open_namespaces(plan: &Plan) -> Result<Vec<(NsKind, OwnedFd)>> {
    plan.namespaces
        .join
        .iter()
        .map(|(kind, path)| {
            let fd = sysfs::open(path, sysfs::O_RDONLY, 0)
                .map_err(|e| Error::sys("open namespace", path.display(), e))?;
            Ok((*kind, fd))
        })
        .collect()
}

/// The pid (in our namespace) of the process a pidfd refers to.
pub fn pid_of_pidfd(fd: &OwnedFd) -> Result<i32> {
    let p = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let info = std::fs::read_to_string(&p).map_err(|e| Error::io("read", &p, e))?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|p: &i32| *p > 0)
        .ok_or_else(|| Error::Usage(format!("{p}: no pid")))
}

/// Writes `--pid-file` atomically.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("husk-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write pid file", path, e))
}

/// Blocks every signal in this process so that `run` can receive them from
/// a signalfd; the init unblocks them before exec. Returns the old mask.
pub fn block_signals() -> Result<signal::SigMask> {
    signal::block_all().map_err(|e| Error::sys("sigprocmask", "block", e))
}
