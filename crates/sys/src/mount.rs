//! Mounts: the classic mount(2) and the fd-based mount API (open_tree,
//! move_mount, mount_setattr), plus pivot_root and chroot.

use crate::{check, check_int, cstr, owned_fd, Result};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use libc::{
    MNT_DETACH, MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK, MS_MOVE, MS_NOATIME, MS_NODEV,
    MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT,
    MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
};

/// `MOUNT_ATTR_*` bits for [`mount_setattr`].
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const IDMAP: u64 = 0x0010_0000;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// Classic `mount(2)`. `target` may be `/proc/self/fd/N` naming a descriptor
/// we opened safely: the kernel then mounts onto exactly that object.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<()> {
    let opt = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a valid C string for the call.
    check_int(unsafe {
        libc::mount(
            opt(source),
            target.as_ptr(),
            opt(fstype),
            flags,
            opt(data).cast(),
        )
    })?;
    Ok(())
}

/// `umount2(path, flags)`.
pub fn umount2(path: &Path, flags: i32) -> Result<()> {
    let p = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::umount2(p.as_ptr(), flags) })?;
    Ok(())
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`:
/// a detached copy of the mount (tree) at the object open on `fd`. Binding from
/// a descriptor means the source can't be swapped for a symlink in between.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: empty path literal with AT_EMPTY_PATH; integer flags.
    owned_fd(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attach the
/// detached mount `from` onto the object open on `to`.
pub fn move_mount_onto(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: empty path literals with the EMPTY_PATH flags; valid descriptors.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    })?;
    Ok(())
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: change the
/// attributes of the mount open on `fd`. `userns` (a user-namespace fd) is
/// required with `attr::IDMAP`.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
    userns: Option<BorrowedFd<'_>>,
) -> Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: userns.map_or(0, |u| u64::try_from(u.as_raw_fd()).unwrap_or(0)),
    };
    // SAFETY: `attr` is valid for the call and its size is passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            std::ptr::addr_of!(attr),
            std::mem::size_of::<libc::mount_attr>(),
        )
    })?;
    Ok(())
}

/// `pivot_root(new_root, put_old)`.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let n = cstr(new_root.as_os_str().as_bytes())?;
    let o = cstr(put_old.as_os_str().as_bytes())?;
    // SAFETY: both are valid C strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) })?;
    Ok(())
}

/// `chroot(path)`.
pub fn chroot(path: &Path) -> Result<()> {
    let p = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: `p` is a valid C string.
    check_int(unsafe { libc::chroot(p.as_ptr()) })?;
    Ok(())
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a filesystem context to configure.
pub fn fsopen(fstype: &CStr) -> Result<OwnedFd> {
    // SAFETY: valid C string; integer flags.
    owned_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) })
}

fn fsconfig(
    fd: BorrowedFd<'_>,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    value: Option<&CStr>,
) -> Result<()> {
    let opt = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: key and value are NULL or valid C strings; aux is 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            cmd,
            opt(key),
            opt(value),
            0,
        )
    })?;
    Ok(())
}

/// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
pub fn fsconfig_set_string(fd: BorrowedFd<'_>, key: &CStr, value: &CStr) -> Result<()> {
    fsconfig(fd, libc::FSCONFIG_SET_STRING, Some(key), Some(value))
}

/// `fsconfig(FSCONFIG_SET_FLAG, key)`.
pub fn fsconfig_set_flag(fd: BorrowedFd<'_>, key: &CStr) -> Result<()> {
    fsconfig(fd, libc::FSCONFIG_SET_FLAG, Some(key), None)
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: create the superblock.
pub fn fsconfig_create(fd: BorrowedFd<'_>) -> Result<()> {
    fsconfig(fd, libc::FSCONFIG_CMD_CREATE, None, None)
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the created
/// filesystem, with `MOUNT_ATTR_*` attributes.
pub fn fsmount(fd: BorrowedFd<'_>, attrs: u64) -> Result<OwnedFd> {
    // SAFETY: integer arguments on a valid fs context fd.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fd.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    })
}
