//! husk-sys: the only crate of husk that contains `unsafe`.
//!
//! Each function is a thin, checked wrapper around one Linux syscall (or a very
//! small group of them). Wrappers take and return owned/borrowed fds rather than
//! raw integers wherever the kernel hands out a file descriptor, and report
//! failures as an [`Errno`] that callers wrap with the operation and the path.
//! Nothing here knows about containers; the runtime crate decides what to call
//! and in which order.

pub mod bpf;
mod errno;
pub mod fs;
pub mod mount;
pub mod ns;
pub mod privs;
pub mod process;
pub mod seccomp;
pub mod signal;
pub mod socket;
pub mod tty;

pub use errno::Errno;

/// Result of a syscall wrapper.
pub type Result<T> = std::result::Result<T, Errno>;

use std::ffi::CString;

/// Turns a Rust string into a C string; an interior NUL is reported as EINVAL,
/// which is what the kernel would say about such a path anyway.
pub fn cstr(s: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(s.as_ref()).map_err(|_| Errno(libc::EINVAL))
}

/// Converts a libc-style return value (-1 plus errno on failure) into a Result.
fn check(ret: libc::c_long) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Like [`check`] for calls returning `c_int`.
fn check_int(ret: libc::c_int) -> Result<libc::c_int> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Wraps a freshly returned, owned descriptor.
fn owned_fd(ret: libc::c_long) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = check(ret)?;
    let fd = i32::try_from(fd).map_err(|_| Errno(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing
    // else in this process owns, so transferring ownership to OwnedFd is sound.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
