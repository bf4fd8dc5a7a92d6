//! Signals: blocking them and receiving them as data through a signalfd.

use crate::{check_int, owned_fd, Errno, Result};
use std::io::Read;
use std::os::fd::OwnedFd;

/// A set of blocked signals, as saved by [`block_all`].
#[derive(Clone, Copy)]
pub struct SigMask(libc::sigset_t);

impl std::fmt::Debug for SigMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigMask")
    }
}

/// Blocks every signal and returns the previous mask.
pub fn block_all() -> Result<SigMask> {
    // SAFETY: sigset_t is plain old data, initialised by sigfillset.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigset_t is plain old data.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to sigset_t.
    unsafe { libc::sigfillset(&mut all) };
    // SAFETY: valid pointers; single-threaded caller.
    check_int(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old) })?;
    Ok(SigMask(old))
}

/// Restores a mask saved by [`block_all`].
pub fn restore(mask: &SigMask) -> Result<()> {
    // SAFETY: valid pointer to a sigset_t.
    check_int(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) })?;
    Ok(())
}

/// Unblocks every signal (what an exec'd program expects to start with).
pub fn unblock_all() -> Result<()> {
    // SAFETY: sigset_t is plain old data, initialised by sigemptyset.
    let mut none: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::sigemptyset(&mut none) };
    // SAFETY: valid pointer.
    check_int(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) })?;
    Ok(())
}

/// A close-on-exec signalfd that receives every (blocked) signal.
pub fn signalfd_all() -> Result<OwnedFd> {
    // SAFETY: sigset_t is plain old data, initialised by sigfillset.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::sigfillset(&mut all) };
    // SAFETY: valid pointer; -1 asks for a new descriptor.
    owned_fd(libc::c_long::from(unsafe {
        libc::signalfd(-1, &all, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    }))
}

/// Reads one pending signal from a signalfd; `None` when none is pending.
pub fn read_signal(fd: &OwnedFd) -> Result<Option<i32>> {
    let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    let mut file = std::fs::File::from(
        fd.try_clone()
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EBADF)))?,
    );
    match file.read(&mut buf) {
        Ok(n) if n == buf.len() => {
            let signo = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
            Ok(Some(i32::try_from(signo).unwrap_or(0)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(Errno(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

/// Resets the disposition of every catchable signal to its default, so a
/// program we exec does not inherit "ignored" signals from us.
pub fn reset_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always safe; invalid numbers just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
