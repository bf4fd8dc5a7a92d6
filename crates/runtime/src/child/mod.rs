//! Code that runs in the container's init process, after clone3 and before
//! exec. [`run`] is the checklist; each step lives in a small function in the
//! sibling modules. Runs in: init (the child).

mod devices;
pub mod exec;
mod identity;
mod namespaces;
mod procfs;
mod rootfs;
mod rootfs_cgroup;
mod seccomp;

use crate::channel::{Channel, Msg};
use crate::error::InitError;
use crate::plan::{NsKind, Plan};
use husk_sys::{fs as sysfs, process, signal, Errno};
use std::cell::RefCell;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Result of a setup step.
pub type Step<T> = std::result::Result<T, InitError>;

/// Attaches the step's name to a syscall failure.
pub(crate) trait StepContext<T> {
    fn step(self, what: impl FnOnce() -> String) -> Step<T>;
}

impl<T> StepContext<T> for husk_sys::Result<T> {
    fn step(self, what: impl FnOnce() -> String) -> Step<T> {
        self.map_err(|e: Errno| InitError {
            step: what(),
            errno: Some(e.0),
            message: e.to_string(),
        })
    }
}

/// A failure that is not a syscall's.
pub(crate) fn fail(step: impl Into<String>, message: impl Into<String>) -> InitError {
    InitError {
        step: step.into(),
        errno: None,
        message: message.into(),
    }
}

/// Where init waits before exec'ing the user's program.
#[derive(Debug)]
pub enum Gate {
    /// `create`: a unix socket in the container's state directory; `start`
    /// connects to it. Errors after the gate go back over that connection,
    /// and its close-on-exec closing tells `start` that exec happened.
    Listener(UnixListener),
    /// `run`: the parent sends [`Msg::Start`] over the channel.
    Channel,
}

/// What init receives from the parent besides the plan.
#[derive(Debug)]
pub struct InitContext<'a> {
    pub plan: &'a Plan,
    pub chan: Channel,
    pub gate: Gate,
    /// Namespaces to join, opened by the parent, user first.
    pub join_fds: Vec<(NsKind, OwnedFd)>,
    /// Idmapped bind mounts the parent built, by index in `plan.mounts`.
    pub idmapped: Vec<(usize, OwnedFd)>,
    /// Set once `start` has connected (create/start split).
    start_conn: RefCell<Option<std::os::unix::net::UnixStream>>,
}

impl<'a> InitContext<'a> {
    /// Bundles what init needs.
    pub fn new(
        plan: &'a Plan,
        chan: Channel,
        gate: Gate,
        join_fds: Vec<(NsKind, OwnedFd)>,
        idmapped: Vec<(usize, OwnedFd)>,
    ) -> Self {
        InitContext {
            plan,
            chan,
            gate,
            join_fds,
            idmapped,
            start_conn: RefCell::new(None),
        }
    }

    fn send(&self, msg: &Msg, fds: &[std::os::fd::BorrowedFd<'_>]) -> Step<()> {
        self.chan
            .send(msg, fds)
            .map_err(|e| fail("talk to parent", e.to_string()))
    }

    /// Waits for the parent's `Continue` (or `Go`/`Start`, as `want`).
    fn expect(&self, want: &Msg) -> Step<Vec<OwnedFd>> {
        match self.chan.recv() {
            Ok(Some((m, fds))) if &m == want => Ok(fds),
            Ok(Some((m, _))) => Err(fail(
                "talk to parent",
                format!("expected {want:?}, got {m:?}"),
            )),
            Ok(None) => Err(fail("talk to parent", "parent went away")),
            Err(e) => Err(fail("talk to parent", e.to_string())),
        }
    }

    fn report(&self, e: &InitError) {
        if let Some(conn) = self.start_conn.borrow_mut().as_mut() {
            let _ = writeln!(conn, "{e}");
            return;
        }
        let _ = self.chan.send(&Msg::Failed(e.clone()), &[]);
    }
}

/// Init's entry point: sets the container up, then execs. Never returns.
pub fn run(ctx: InitContext<'_>) -> ! {
    let Err(e) = setup_and_exec(&ctx);
    ctx.report(&e);
    process::exit_now(1)
}

/// The checklist. The order matters; each comment says why a step is where it is.
fn setup_and_exec(ctx: &InitContext<'_>) -> Step<Infallible> {
    let plan = ctx.plan;
    // Device nodes and files get exactly the modes the config asks for.
    process::umask(0);
    ctx.expect(&Msg::Go)?;
    // Namespaces first: everything after happens inside them. This may fork
    // (a new pid namespace after joining others): we continue as the new init.
    namespaces::enter(ctx)?;
    // Until exec, no other process may open our /proc files (and so reach the
    // runtime binary through /proc/<pid>/exe) without CAP_SYS_PTRACE. Not
    // earlier: an unprivileged parent must still write our id maps.
    process::set_dumpable(false).step(|| "prctl PR_SET_DUMPABLE".into())?;
    // A private procfs handle, mounted nowhere the container can reach, for
    // every write under /proc from now on.
    let proc = procfs::open_trusted()?;
    namespaces::set_time_offsets(plan, &proc)?;
    // Build the root filesystem while the host's paths are still visible.
    let root = rootfs::prepare(plan)?;
    rootfs::mount_all(plan, &root, &ctx.idmapped)?;
    devices::create_nodes(plan, &root)?;
    devices::create_links(&root)?;
    // Like runc: a missing working directory is created (as root, now).
    root.mkdir_all(&plan.process.cwd)
        .step(|| format!("create process.cwd {}", plan.process.cwd.display()))?;
    // Runtime hooks see the container's namespaces and mounts, before pivot.
    if !plan.hooks.prestart.is_empty() || !plan.hooks.create_runtime.is_empty() {
        ctx.send(&Msg::RunHooks, &[])?;
        ctx.expect(&Msg::Continue)?;
    }
    crate::hooks::run_all(
        "createContainer",
        &plan.hooks.create_container,
        &hook_state(plan, "created"),
    )
    .map_err(|e| fail("createContainer hook", e.to_string()))?;
    rootfs::enter_root(plan, root)?;
    // Masks are bound from a verified /dev/null, through its fd.
    let dev_null = devices::trusted_dev_null()?;
    rootfs::mask_paths(plan, &dev_null)?;
    rootfs::readonly_paths(plan)?;
    if plan.process.terminal {
        let master = devices::setup_console(plan)?;
        ctx.send(&Msg::Console, &[master.as_fd()])?;
    }
    set_names(plan)?;
    join_keyring(plan)?;
    procfs::write_sysctls(plan, &proc)?;
    procfs::set_exec_labels(&plan.process, &proc)?;
    drop(proc);
    rootfs::make_root_readonly(plan)?;
    identity::set_rlimits(&plan.process)?;
    let filter = plan.seccomp.as_ref();
    identity::switch_user(
        &plan.process,
        seccomp::keeps_sys_admin(filter, &plan.process),
    )?;
    identity::enter_cwd(&plan.process)?;
    let exe = identity::find_executable(&plan.process)?;
    // Nothing of ours may reach the container's program: every fd from 3 up
    // becomes close-on-exec (the preserved ones are reopened to it below).
    sysfs::cloexec_from(3).step(|| "close_range".into())?;
    // A seccomp listener gets its fd through the parent, which is gone
    // after Ready: load such a filter now (see child/seccomp.rs).
    if let Some(f) = filter.filter(|f| f.listener.is_some()) {
        hand_over_listener_fd(ctx, seccomp::load(f, &plan.process)?)?;
    }
    ctx.send(&Msg::Ready, &[])?;
    wait_at_gate(ctx)?;
    crate::hooks::run_all(
        "startContainer",
        &plan.hooks.start_container,
        &hook_state(plan, "created"),
    )
    .map_err(|e| fail("startContainer hook", e.to_string()))?;
    identity::keep_preserved_fds(&plan.process)?;
    // Last: only execve (and a capset) of ours run under the filter.
    if let Some(f) = filter.filter(|f| f.listener.is_none()) {
        seccomp::load(f, &plan.process)?;
    }
    identity::exec(&plan.process, &exe)
}

/// Sends the seccomp notification fd to the parent, which passes it on to
/// the listener, and waits until it has.
fn hand_over_listener_fd(ctx: &InitContext<'_>, fd: Option<OwnedFd>) -> Step<()> {
    let fd = fd.ok_or_else(|| fail("load seccomp filter", "the kernel returned no listener fd"))?;
    ctx.send(&Msg::SeccompFd, &[fd.as_fd()])?;
    ctx.expect(&Msg::Continue)?;
    Ok(())
}

/// A session keyring of the container's own: keys are not namespaced, so
/// without this the container would share the caller's.
fn join_keyring(plan: &Plan) -> Step<()> {
    if !plan.new_keyring {
        return Ok(());
    }
    let name = std::ffi::CString::new(format!("_ses.{}", plan.id)).unwrap_or_default();
    match husk_sys::privs::join_session_keyring(&name) {
        // Kernels without keyrings, or where they are denied: nothing to share.
        Ok(()) | Err(Errno(libc::ENOSYS | libc::EACCES | libc::EPERM)) => Ok(()),
        Err(e) => Err(e).step(|| "join session keyring".into()),
    }
}

fn set_names(plan: &Plan) -> Step<()> {
    if let Some(h) = &plan.hostname {
        husk_sys::ns::sethostname(h).step(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = &plan.domainname {
        husk_sys::ns::setdomainname(d).step(|| format!("setdomainname {d}"))?;
    }
    Ok(())
}

/// Blocks until the container is started, then restores what exec needs.
fn wait_at_gate(ctx: &InitContext<'_>) -> Step<()> {
    match &ctx.gate {
        Gate::Channel => {
            ctx.expect(&Msg::Start)?;
        }
        Gate::Listener(l) => {
            // The parent has exited; `start` connects when the user asks.
            let (conn, _) = loop {
                match l.accept() {
                    Ok(c) => break c,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(fail("wait for start", e.to_string())),
                }
            };
            *ctx.start_conn.borrow_mut() = Some(conn);
        }
    }
    signal::reset_dispositions();
    signal::unblock_all().step(|| "sigprocmask".into())?;
    Ok(())
}

fn hook_state(plan: &Plan, status: &str) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": plan.oci_version,
        "id": plan.id,
        "status": status,
        "pid": process::getpid(),
        "bundle": plan.bundle,
        "annotations": plan.annotations,
    })
}
