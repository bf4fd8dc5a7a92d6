//! Files and descriptors: openat2 confinement, node creation, fd hygiene.

use crate::{check, check_int, cstr, owned_fd, Errno, Result};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use libc::{
    O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY,
    O_RDWR, O_WRONLY, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
};

/// The current working directory as a dirfd argument.
pub const AT_FDCWD: BorrowedFd<'static> =
    // SAFETY: AT_FDCWD is a sentinel the kernel understands in every *at call;
    // it is never closed or read as a real descriptor.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };

fn path_c(p: &Path) -> Result<std::ffi::CString> {
    cstr(p.as_os_str().as_bytes())
}

/// `openat(dirfd, path, flags | O_CLOEXEC, mode)`.
pub fn openat(dirfd: BorrowedFd<'_>, path: &Path, flags: i32, mode: u32) -> Result<OwnedFd> {
    let p = path_c(path)?;
    // SAFETY: `p` is a valid C string for the duration of the call.
    owned_fd(libc::c_long::from(unsafe {
        libc::openat(dirfd.as_raw_fd(), p.as_ptr(), flags | O_CLOEXEC, mode)
    }))
}

/// `open(path, flags | O_CLOEXEC, mode)`.
pub fn open(path: &Path, flags: i32, mode: u32) -> Result<OwnedFd> {
    openat(AT_FDCWD, path, flags, mode)
}

/// `openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve})`. With
/// `RESOLVE_IN_ROOT` every `..` and absolute symlink is resolved as if `dirfd`
/// were `/`: the result can never lie outside it.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd> {
    let p = path_c(path)?;
    // SAFETY: open_how is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::try_from(flags | O_CLOEXEC).map_err(|_| Errno(libc::EINVAL))?;
    how.mode = if flags & O_CREAT != 0 {
        u64::from(mode)
    } else {
        0
    };
    how.resolve = resolve;
    // SAFETY: `p` and `how` are valid for the duration of the call and the size
    // passed matches the struct.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            p.as_ptr(),
            std::ptr::addr_of!(how),
            std::mem::size_of::<libc::open_how>(),
        )
    })
}

/// `mkdirat(dirfd, name, mode)`; EEXIST is passed through for the caller.
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let p = path_c(name)?;
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::mkdirat(dirfd.as_raw_fd(), p.as_ptr(), mode) })?;
    Ok(())
}

/// `mknodat(dirfd, name, mode, makedev(major, minor))`.
pub fn mknodat(
    dirfd: BorrowedFd<'_>,
    name: &Path,
    mode: u32,
    major: u32,
    minor: u32,
) -> Result<()> {
    let p = path_c(name)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::mknodat(dirfd.as_raw_fd(), p.as_ptr(), mode, dev) })?;
    Ok(())
}

/// `symlinkat(target, dirfd, name)`.
pub fn symlinkat(target: &Path, dirfd: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let t = path_c(target)?;
    let p = path_c(name)?;
    // SAFETY: both are valid C strings.
    check_int(unsafe { libc::symlinkat(t.as_ptr(), dirfd.as_raw_fd(), p.as_ptr()) })?;
    Ok(())
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH)`: chown what `fd` refers to,
/// even an O_PATH descriptor.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<()> {
    // SAFETY: empty C string literal with AT_EMPTY_PATH.
    check_int(unsafe {
        libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH)
    })?;
    Ok(())
}

/// File status of what `fd` refers to (works on O_PATH descriptors).
pub fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat> {
    // SAFETY: stat is plain old data; zero is a valid initial value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; empty path with AT_EMPTY_PATH.
    check_int(unsafe {
        libc::fstatat(fd.as_raw_fd(), c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH)
    })?;
    Ok(st)
}

/// `statfs` of what `fd` refers to; `f_type` tells procfs from a fake.
pub fn fstatfs(fd: BorrowedFd<'_>) -> Result<libc::statfs> {
    // SAFETY: statfs is plain old data.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check_int(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// Major and minor numbers of a device number.
pub fn major_minor(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}

/// Marks every descriptor from `first` upwards close-on-exec
/// (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`), so nothing of ours leaks
/// into the program we exec.
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOEXEC only sets flags; it closes nothing, so no
    // OwnedFd elsewhere in the process is invalidated.
    check_int(unsafe {
        libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC.cast_signed())
    })?;
    Ok(())
}

/// Clears close-on-exec on `fd`, so that it survives exec (for --preserve-fds).
pub fn clear_cloexec(fd: i32) -> Result<()> {
    // SAFETY: F_SETFD with an integer flag on a caller-named descriptor number.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })?;
    Ok(())
}

/// `dup3(fd, target, 0)`: make `target` refer to `fd`, inheritable across exec.
pub fn dup_onto(fd: BorrowedFd<'_>, target: i32) -> Result<()> {
    if fd.as_raw_fd() == target {
        return clear_cloexec(target);
    }
    // SAFETY: dup3 replaces descriptor number `target`; callers only use it for
    // 0, 1 and 2, which no OwnedFd in this process owns.
    check_int(unsafe { libc::dup3(fd.as_raw_fd(), target, 0) })?;
    Ok(())
}

/// `fchdir(fd)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: plain syscall on a valid descriptor.
    check_int(unsafe { libc::fchdir(fd.as_raw_fd()) })?;
    Ok(())
}

/// `chdir(path)`.
pub fn chdir(path: &Path) -> Result<()> {
    let p = path_c(path)?;
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::chdir(p.as_ptr()) })?;
    Ok(())
}

/// `readlinkat(dirfd, name)`.
pub fn readlinkat(dirfd: BorrowedFd<'_>, name: &Path) -> Result<std::path::PathBuf> {
    let p = path_c(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` has the length we pass.
    let n = check(unsafe {
        libc::readlinkat(
            dirfd.as_raw_fd(),
            p.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        ) as libc::c_long
    })?;
    buf.truncate(usize::try_from(n).unwrap_or(0));
    let os: std::ffi::OsString = std::os::unix::ffi::OsStringExt::from_vec(buf);
    Ok(std::path::PathBuf::from(os))
}

/// A sealed, close-on-exec memfd holding a copy of the file open on `src`:
/// executing it cannot give anyone a writable handle on the original.
pub fn sealed_memfd_copy(src: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd> {
    // SAFETY: `name` is a valid C string.
    let memfd = owned_fd(libc::c_long::from(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    }))?;
    let size = fstat(src)?.st_size;
    let mut left = usize::try_from(size).map_err(|_| Errno(libc::EFBIG))?;
    let mut off: libc::off_t = 0;
    while left > 0 {
        // SAFETY: both descriptors are valid; `off` is a valid in/out pointer.
        let n = check(unsafe {
            libc::sendfile(memfd.as_raw_fd(), src.as_raw_fd(), &mut off, left) as libc::c_long
        })?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        left -= usize::try_from(n).unwrap_or(left);
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an integer argument.
    check_int(unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(memfd)
}

/// The seals on a memfd (0 for other files or on error).
pub fn seals(fd: BorrowedFd<'_>) -> i32 {
    // SAFETY: F_GET_SEALS takes no argument.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) }.max(0)
}

/// `flock(fd, LOCK_EX)`: an exclusive advisory lock, released on close.
pub fn lock_exclusive(fd: BorrowedFd<'_>) -> Result<()> {
    loop {
        // SAFETY: plain syscall on a valid descriptor.
        match check_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r.map(|_| ()),
        }
    }
}

/// One entry for [`poll`].
pub type PollFd = libc::pollfd;
pub use libc::{POLLERR, POLLHUP, POLLIN, POLLNVAL};

/// Builds a pollfd waiting for input on `fd`.
pub fn poll_in(fd: BorrowedFd<'_>) -> PollFd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: POLLIN,
        revents: 0,
    }
}

/// `poll(fds, timeout_ms)`; EINTR is reported as zero ready descriptors.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> Result<usize> {
    let n = libc::nfds_t::try_from(fds.len()).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: `fds` is a valid slice of pollfd of length n.
    match check_int(unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) }) {
        Ok(r) => Ok(usize::try_from(r).unwrap_or(0)),
        Err(Errno(libc::EINTR)) => Ok(0),
        Err(e) => Err(e),
    }
}

/// True if the file open on `fd` lives on a read-only mount.
pub fn on_readonly_mount(fd: BorrowedFd<'_>) -> Result<bool> {
    // SAFETY: statvfs is plain old data.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check_int(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: true if we got the lock, false if someone
/// else holds it.
pub fn try_lock_exclusive(fd: BorrowedFd<'_>) -> Result<bool> {
    // SAFETY: plain syscall on a valid descriptor.
    match check_int(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(Errno(libc::EWOULDBLOCK)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)`: what the name itself is.
pub fn lstatat(dirfd: BorrowedFd<'_>, name: &Path) -> Result<libc::stat> {
    let p = path_c(name)?;
    // SAFETY: stat is plain old data; zero is a valid initial value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is a valid C string and `st` a valid out-pointer.
    check_int(unsafe {
        libc::fstatat(
            dirfd.as_raw_fd(),
            p.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

/// `unlinkat(dirfd, name, 0)`: removes a non-directory entry (a symlink is
/// removed itself, never followed).
pub fn unlinkat(dirfd: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let p = path_c(name)?;
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::unlinkat(dirfd.as_raw_fd(), p.as_ptr(), 0) })?;
    Ok(())
}
