//! The commands after create (runs in: parent): start, run, state, kill,
//! delete, list.

use crate::channel::Msg;
use crate::create::{self, CreateRequest, Created, Mode};
use crate::state::{self, Action, ContainerDir, Record, Status};
use crate::{hooks, relay, Error, Result};
use husk_sys::{fs as sysfs, process};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// `create`: sets the container up and leaves it waiting for `start`.
/// `warn` receives settings of the config that are not applied.
pub fn create(req: &CreateRequest, warn: &dyn Fn(&str)) -> Result<()> {
    let mut c = create::create(req, Mode::Create, warn)?;
    c.init.release();
    c.dir.keep();
    Ok(())
}

/// `start`: releases a created container and returns once its program runs.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut rec = dir.load()?;
    rec.check(Action::Start)?;
    let mut conn = UnixStream::connect(dir.fd_path("start.sock"))
        .map_err(|e| Error::Usage(format!("start {id}: the container's init is gone ({e})")))?;
    // Init writes an error, or nothing: its end closes when exec succeeds.
    let mut report = String::new();
    let _ = conn.read_to_string(&mut report);
    let _ = std::fs::remove_file(dir.path.join("start.sock"));
    if !report.trim().is_empty() {
        rec.status = Status::Stopped;
        dir.save(&rec)?;
        return Err(Error::Usage(format!("start {id}: {}", report.trim())));
    }
    rec.status = Status::Running;
    dir.save(&rec)?;
    run_poststart(&rec);
    Ok(())
}

/// Poststart hooks: a failure is a warning, as the spec says.
fn run_poststart(rec: &Record) {
    if let Err(e) = hooks::run_all(
        "poststart",
        &rec.poststart,
        &rec.hook_state(Status::Running),
    ) {
        eprintln!("warning: {e}");
    }
}

/// How `run` ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunMode {
    /// Return once the program runs (`--detach`).
    pub detach: bool,
    /// In the foreground, leave the stopped container for `delete` (`--keep`).
    pub keep: bool,
}

/// `run`: create + start; in the foreground, relay the terminal, forward
/// signals, wait, delete (unless `keep`), and return the exit status.
pub fn run(req: &CreateRequest, mode: RunMode, warn: &dyn Fn(&str)) -> Result<i32> {
    let old_mask = if mode.detach {
        None
    } else {
        Some(create::block_signals()?)
    };
    let result = run_inner(req, mode, warn);
    if let Some(m) = old_mask {
        let _ = husk_sys::signal::restore(&m);
    }
    result
}

fn run_inner(req: &CreateRequest, mode: RunMode, warn: &dyn Fn(&str)) -> Result<i32> {
    let mut c: Created = create::create(req, Mode::Run, warn)?;
    c.chan.send(&Msg::Start, &[])?;
    // Exec closes init's end (close-on-exec); a failure arrives as a message.
    if let Some((Msg::Failed(e), _)) = c.chan.recv()? {
        return Err(Error::Init(e));
    }
    c.record.status = Status::Running;
    c.dir.save(&c.record)?;
    run_poststart(&c.record);
    if mode.detach {
        c.init.release();
        c.dir.keep();
        return Ok(0);
    }
    // Others may `state`, `kill` or even `delete -f` the container meanwhile.
    c.dir.unlock();
    let status = relay::supervise(c.init.pid, &c.init.pidfd, c.console.take())?;
    c.init.release();
    if c.dir.relock().is_err() {
        // Deleted by someone else meanwhile (delete -f): nothing left to do.
        return Ok(status);
    }
    c.record.status = Status::Stopped;
    if mode.keep {
        // `delete` removes the cgroup and runs the poststop hooks later.
        c.dir.save(&c.record)?;
        c.dir.keep();
        return Ok(status);
    }
    // Deleting: the cgroup, poststop hooks, then the directory goes with `c.dir`.
    crate::cgroup::remove(&c.record.cgroup, c.record.systemd_unit.as_deref())?;
    if let Err(e) = hooks::run_all(
        "poststop",
        &c.record.poststop,
        &c.record.hook_state(Status::Stopped),
    ) {
        eprintln!("warning: {e}");
    }
    c.dir.remove_when_dropped();
    Ok(status)
}

/// `pause` (or, with `frozen` false, `resume`): freezes every process of
/// the container through its cgroup.
pub fn set_paused(root: &Path, id: &str, frozen: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut rec = dir.load()?;
    rec.check(if frozen {
        Action::Pause
    } else {
        Action::Resume
    })?;
    if rec.cgroup.is_empty() {
        return Err(Error::Usage(format!(
            "{id}: the container has no cgroup to freeze"
        )));
    }
    husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone()).set_frozen(frozen)?;
    rec.status = if frozen {
        Status::Paused
    } else {
        Status::Running
    };
    dir.save(&rec)
}

/// `update`: new resource limits for a live container.
pub fn update(root: &Path, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let rec = dir.load()?;
    if rec.status() == Status::Stopped {
        return Err(Error::BadState {
            id: id.to_string(),
            status: "stopped".into(),
            action: "update",
        });
    }
    if rec.cgroup.is_empty() {
        return Err(Error::Usage(format!(
            "{id}: the container has no cgroup to update"
        )));
    }
    let cg = husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone());
    // runc's systemd driver: the unit's properties first, then the files.
    if let Some(unit) = &rec.systemd_unit {
        husk_cgroups::systemd::set_properties(unit, resources, cg.unified_host())?;
    }
    cg.update(resources, &rec.device_rules)?;
    Ok(())
}

/// `events`: runc's event stream. With `stats_only`, one stats event;
/// otherwise a stats event every `interval` and an `oom` event whenever the
/// kernel's OOM killer acts, until the container stops.
pub fn events(
    root: &Path,
    id: &str,
    stats_only: bool,
    interval: Duration,
    emit: &mut dyn FnMut(serde_json::Value),
) -> Result<()> {
    let rec = ContainerDir::open(root, id)?.load()?;
    if rec.status() == Status::Stopped {
        return Err(Error::BadState {
            id: id.to_string(),
            status: "stopped".into(),
            action: "report events",
        });
    }
    let cg = husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone());
    let stats = |cg: &husk_cgroups::Cgroup| serde_json::json!({"type": "stats", "id": id, "data": cg.stats()});
    if stats_only {
        emit(stats(&cg));
        return Ok(());
    }
    let tick = interval
        .min(Duration::from_millis(100))
        .max(Duration::from_millis(10));
    let mut ooms = cg.oom_kills();
    let mut next_stats = Instant::now();
    while rec.status() != Status::Stopped {
        let now_ooms = cg.oom_kills();
        if now_ooms > ooms {
            emit(serde_json::json!({"type": "oom", "id": id}));
            ooms = now_ooms;
        }
        if Instant::now() >= next_stats {
            emit(stats(&cg));
            next_stats = Instant::now() + interval;
        }
        std::thread::sleep(tick);
    }
    Ok(())
}

/// `state`: the OCI state document.
pub fn state(root: &Path, id: &str) -> Result<serde_json::Value> {
    let dir = ContainerDir::open(root, id)?;
    Ok(dir.load()?.oci_state())
}

/// `kill`: sends `sig` to init, or with `all` to every process of the
/// container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let rec = dir.load()?;
    if all && rec.status() == Status::Stopped {
        return Ok(());
    }
    rec.check(Action::Kill)?;
    signal_container(&rec, sig, all)
}

fn signal_container(rec: &Record, sig: i32, all: bool) -> Result<()> {
    let pidfd = process::pidfd_open(rec.pid).map_err(|e| Error::sys("pidfd_open", rec.pid, e))?;
    // The pidfd pins the process: check it is still ours before signalling.
    if rec.status() == Status::Stopped {
        return Err(Error::BadState {
            id: rec.id.clone(),
            status: "stopped".into(),
            action: "kill",
        });
    }
    // SIGKILL to all: v2's cgroup.kill, at once and race-free, if there is one.
    if all && sig == libc::SIGKILL && !rec.cgroup.is_empty() {
        let cg = husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone());
        if cg.kill_all()? {
            return Ok(());
        }
    }
    if all {
        for pid in processes_of(rec) {
            if pid != rec.pid {
                let _ = process::kill(pid, sig);
            }
        }
    }
    process::pidfd_send_signal(pidfd.as_fd(), sig)
        .map_err(|e| Error::sys("kill", format!("container {} (pid {})", rec.id, rec.pid), e))
}

/// `ps`: the host pids of the container's processes (its cgroup's, or
/// without one, the members of init's pid or mount namespace).
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let dir = ContainerDir::open(root, id)?;
    let rec = dir.load()?;
    if rec.status() == Status::Stopped {
        return Ok(Vec::new());
    }
    let mut pids = processes_of(&rec);
    pids.sort_unstable();
    Ok(pids)
}

/// Every process of the container: those of its cgroup; without one, those
/// sharing init's pid namespace or its mount namespace, where init has one
/// of its own (else just init).
fn processes_of(rec: &Record) -> Vec<i32> {
    if !rec.cgroup.is_empty() {
        let pids = husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone()).pids();
        if !pids.is_empty() {
            return pids;
        }
    }
    processes_in_pid_namespace_of(rec.pid)
}

fn processes_in_pid_namespace_of(init: i32) -> Vec<i32> {
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    let me = process::getpid();
    let own: Vec<(&str, std::path::PathBuf)> = ["pid", "mnt"]
        .into_iter()
        .filter_map(|k| Some((k, ns(init, k)?)))
        .filter(|(k, link)| ns(me, k).as_ref() != Some(link))
        .collect();
    if own.is_empty() {
        return vec![init];
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            own.iter()
                .any(|(k, link)| ns(*pid, k).as_ref() == Some(link))
        })
        .collect()
}

/// `delete`: removes a stopped (or, with `force`, any) container.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let mut dir = match ContainerDir::open(root, id) {
        Err(Error::NotFound(_)) if force => {
            // A create killed before it wrote any state leaves a bare
            // directory behind: --force clears it so the ID can be reused.
            return state::remove_stale(root, id);
        }
        r => r?,
    };
    let rec = dir.load()?;
    let status = rec.status();
    match status {
        Status::Stopped => {}
        // Like runc: a created container never ran anything; delete kills it.
        Status::Created | Status::Creating => kill_and_wait(&rec)?,
        _ if force => kill_and_wait(&rec)?,
        _ => rec.check(Action::Delete).map(|_| ())?,
    }
    crate::cgroup::remove(&rec.cgroup, rec.systemd_unit.as_deref())?;
    if let Err(e) = hooks::run_all("poststop", &rec.poststop, &rec.hook_state(Status::Stopped)) {
        eprintln!("warning: {e}");
    }
    dir.remove_when_dropped();
    Ok(())
}

fn kill_and_wait(rec: &Record) -> Result<()> {
    // Frozen processes cannot act on SIGKILL: thaw them first.
    if rec.status() == Status::Paused {
        let _ = husk_cgroups::Cgroup::from_dirs(rec.cgroup.clone()).set_frozen(false);
    }
    let Ok(pidfd) = process::pidfd_open(rec.pid) else {
        return Ok(());
    };
    if rec.status() == Status::Stopped {
        return Ok(());
    }
    let _ = signal_container(rec, libc::SIGKILL, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut fds = [sysfs::poll_in(pidfd.as_fd())];
        if sysfs::poll(&mut fds, 100).unwrap_or(0) > 0 || rec.status() == Status::Stopped {
            return Ok(());
        }
    }
    Err(Error::Usage(format!(
        "delete {}: init (pid {}) did not die",
        rec.id, rec.pid
    )))
}

/// `list`: every container under the root.
pub fn list(root: &Path) -> Result<Vec<Record>> {
    state::list(root)
}
