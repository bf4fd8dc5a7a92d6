//! seccomp(2): loading a filter, and the user-notification ioctls a
//! listener uses to answer the syscalls a filter hands to it.

use crate::{check, check_int, owned_fd, Errno, Result};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
const NEW_LISTENER: u32 = 1 << 3;

/// Loads a classic BPF program (`(code, jt, jf, k)` instructions) as this
/// thread's seccomp filter. Needs no_new_privs or CAP_SYS_ADMIN. With
/// SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags`, returns the notification fd.
pub fn set_mode_filter(program: &[(u16, u8, u8, u32)], flags: u32) -> Result<Option<OwnedFd>> {
    let filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
        .collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| Errno(libc::EINVAL))?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `filter`, which outlives the call; the kernel
    // copies the program and does not keep the pointer.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & NEW_LISTENER != 0 {
        owned_fd(ret).map(Some)
    } else {
        Ok(None)
    }
}

/// A syscall waiting for a listener's answer.
#[derive(Clone, Copy, Debug)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// Waits for the next notification on a listener fd.
pub fn notif_recv(fd: BorrowedFd<'_>) -> Result<Notification> {
    // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `n` is a live seccomp_notif the ioctl fills in.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        match check_int(r) {
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        args: n.data.args,
    })
}

/// Answers notification `id`: the syscall returns `val`, or fails with
/// `errno` when it is not 0.
pub fn notif_send(fd: BorrowedFd<'_>, id: u64, val: i64, errno: i32) -> Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error: -errno,
        flags: 0,
    };
    // SAFETY: `resp` is a live, initialised seccomp_notif_resp the kernel reads.
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) })?;
    Ok(())
}
