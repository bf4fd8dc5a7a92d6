//! Namespaces: unshare, setns, and the identity files written by the parent.

use crate::{check_int, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

pub use libc::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS,
};

/// `unshare(flags)`. The caller must be single-threaded.
pub fn unshare(flags: i32) -> Result<()> {
    // SAFETY: husk-runtime is single-threaded, so moving this (only) thread into
    // new namespaces cannot leave other threads behind in the old ones.
    check_int(unsafe { libc::unshare(flags) })?;
    Ok(())
}

/// `setns(fd, nstype)`: join the namespace open on `fd`.
pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> Result<()> {
    // SAFETY: plain syscall on a valid descriptor; single-threaded caller.
    check_int(unsafe { libc::setns(fd.as_raw_fd(), nstype) })?;
    Ok(())
}

/// `sethostname(name)`.
pub fn sethostname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })?;
    Ok(())
}

/// `setdomainname(name)`.
pub fn setdomainname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    check_int(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) })?;
    Ok(())
}
