//! Process creation, waiting, signals to processes and exec.

use crate::{check, check_int, owned_fd, Errno, Result};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `CLONE_INTO_CGROUP` (libc's constant has the wrong width).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What `clone3` returned in each of the two processes.
#[derive(Debug)]
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid (in our pid namespace) and pidfd.
    Parent { pid: i32, pidfd: OwnedFd },
}

/// `clone3(2)` with `CLONE_PIDFD` and SIGCHLD as exit signal; `flags` adds
/// namespace flags (`CLONE_NEW*`). With `cgroup` set, the child starts inside
/// that cgroup v2 directory (`CLONE_INTO_CGROUP`).
///
/// The caller must be single-threaded: the child is a copy of this one thread.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut args = libc::clone_args {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).map_err(|_| Errno(libc::EBADF))?;
    }
    // SAFETY: `args` is a properly initialised clone_args of the size we pass;
    // `pidfd` outlives the call. With stack == 0 the child continues on a copy
    // of our stack, exactly like fork(2); husk-runtime is single-threaded, so no
    // lock can be held by another thread at the moment of the copy.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    let pid = check(ret)?;
    if pid == 0 {
        return Ok(Forked::Child);
    }
    let pidfd = owned_fd(libc::c_long::from(pidfd))?;
    Ok(Forked::Parent {
        pid: i32::try_from(pid).map_err(|_| Errno(libc::ERANGE))?,
        pidfd,
    })
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the code, or 128 + signal number.
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// `waitpid(pid, 0)`, retried on EINTR; returns how the child ended.
pub fn wait_exit(pid: i32) -> Result<Exit> {
    loop {
        match try_wait(pid, 0) {
            Ok(Some(e)) => return Ok(e),
            Ok(None) => continue,
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn try_wait(pid: i32, flags: libc::c_int) -> Result<Option<Exit>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    let ret = check_int(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    if ret == 0 {
        return Ok(None);
    }
    if libc::WIFEXITED(status) {
        Ok(Some(Exit::Code(libc::WEXITSTATUS(status))))
    } else if libc::WIFSIGNALED(status) {
        Ok(Some(Exit::Signal(libc::WTERMSIG(status))))
    } else {
        Ok(None)
    }
}

/// Ends this process at once, without running destructors or atexit handlers:
/// the right way out of a forked child whose parent owns the shared state.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `execve(2)`. Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> Errno {
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    // SAFETY: path, argv and envp are NUL-terminated C strings and
    // NULL-terminated arrays that live until the call returns (it only
    // returns on failure).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the program open on `fd`.
/// Returns only on failure.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> Errno {
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    // SAFETY: as for execve; the empty path with AT_EMPTY_PATH makes the kernel
    // execute the file open on `fd`.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

fn null_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// This process's pid (in its own pid namespace).
pub fn getpid() -> i32 {
    std::process::id().cast_signed()
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<()> {
    // SAFETY: plain syscall; a NULL siginfo is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check_int(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// `setsid()`: a new session with this process as leader.
pub fn setsid() -> Result<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::setsid() })?;
    Ok(())
}

fn prctl(op: libc::c_int, arg: libc::c_ulong) -> Result<()> {
    // SAFETY: every caller passes an integer-only prctl operation.
    check_int(unsafe { libc::prctl(op, arg, 0, 0, 0) })?;
    Ok(())
}

/// `PR_SET_DUMPABLE`: while false, other processes (even root in the
/// container) without CAP_SYS_PTRACE cannot open our /proc files.
pub fn set_dumpable(on: bool) -> Result<()> {
    prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on))
}

/// `PR_SET_CHILD_SUBREAPER`.
pub fn set_child_subreaper() -> Result<()> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
}

/// `setrlimit(resource, {soft, hard})`.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit struct for the duration of the call.
    check_int(unsafe { libc::setrlimit(resource, &lim) })?;
    Ok(())
}

/// `umask(mask)`, returning the previous mask.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}
