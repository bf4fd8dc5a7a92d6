//! Identity and privileges: groups, uids, gids, capabilities, no_new_privs.

use crate::{check, check_int, Result};

/// `setgroups(groups)`.
pub fn setgroups(groups: &[u32]) -> Result<()> {
    // SAFETY: pointer and length describe `groups`.
    check_int(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    Ok(())
}

/// `setresgid(gid, gid, gid)`.
pub fn set_gid(gid: u32) -> Result<()> {
    // SAFETY: plain syscall. We call the raw syscall so only this thread
    // changes; husk-runtime has only one.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) })?;
    Ok(())
}

/// `setresuid(uid, uid, uid)`.
pub fn set_uid(uid: u32) -> Result<()> {
    // SAFETY: as for set_gid.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) })?;
    Ok(())
}

/// `PR_SET_KEEPCAPS`: keep permitted capabilities across a uid change.
pub fn set_keep_caps(on: bool) -> Result<()> {
    // SAFETY: integer-only prctl.
    check_int(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) })?;
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`.
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: integer-only prctl.
    check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    Ok(())
}

/// `PR_CAPBSET_DROP`: remove `cap` from the bounding set.
pub fn drop_bounding(cap: u32) -> Result<()> {
    // SAFETY: integer-only prctl.
    check_int(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) })?;
    Ok(())
}

/// `PR_CAP_AMBIENT_RAISE` for `cap`.
pub fn raise_ambient(cap: u32) -> Result<()> {
    // SAFETY: integer-only prctl.
    check_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    })?;
    Ok(())
}

/// `PR_CAP_AMBIENT_CLEAR_ALL`.
pub fn clear_ambient() -> Result<()> {
    // SAFETY: integer-only prctl.
    check_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    })?;
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `capset` for this thread with 64-bit masks (bit N = capability N).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| [(m & 0xffff_ffff) as u32, (m >> 32) as u32];
    let (e, p, i) = (split(effective), split(permitted), split(inheritable));
    let data = [
        CapData {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        CapData {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: header and a two-element data array as capset(2) v3 expects.
    check(unsafe {
        libc::syscall(
            libc::SYS_capset,
            std::ptr::addr_of_mut!(header),
            data.as_ptr(),
        )
    })?;
    Ok(())
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: join a new session keyring,
/// so the container does not share the caller's keys.
pub fn join_session_keyring(name: &std::ffi::CStr) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is a valid C string for the duration of the call.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })?;
    Ok(())
}
