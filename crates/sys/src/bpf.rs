//! bpf(2) for cgroup device programs: load a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program, attach it to (and detach it from) a cgroup v2 directory, and
//! list the programs attached there. The program itself is built elsewhere
//! as plain data ([`Insn`]s).

use crate::{check, owned_fd, Errno, Result};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// Lets programs attached to descendant cgroups run too (runc attaches
/// with it, so that nested managers can add their own).
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// Destination register in the low nibble, source in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// An instruction from its fields (registers 0..=10).
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0xf) | (src << 4),
            off,
            imm,
        }
    }

    pub const fn dst(&self) -> u8 {
        self.regs & 0xf
    }

    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
/// `attr` must be the attribute struct `cmd` expects, and every pointer in it
/// must be valid (and writable where the kernel writes) for the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long> {
    // SAFETY: the caller guarantees `attr` matches `cmd`; its size is passed,
    // so the kernel reads and writes no more than the struct holds.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    })
}

fn fd_u32(fd: BorrowedFd<'_>) -> Result<u32> {
    u32::try_from(fd.as_raw_fd()).map_err(|_| Errno(libc::EBADF))
}

/// Loads a cgroup device program; the fd keeps it alive until attached.
pub fn load_cgroup_device(insns: &[Insn], license: &CStr) -> Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_LOAD's layout; `insns` and `license` point
    // into borrowed data that outlives the call and are only read.
    owned_fd(unsafe { bpf(BPF_PROG_LOAD, &mut attr) }?)
}

/// Attaches a device program to the cgroup open at `cgroup`.
pub fn attach_cgroup_device(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    flags: u32,
) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup)?,
        attach_bpf_fd: fd_u32(prog)?,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        ..AttachAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_ATTACH's layout and holds no pointers.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// Detaches the device program `prog` from the cgroup open at `cgroup`.
pub fn detach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup)?,
        attach_bpf_fd: fd_u32(prog)?,
        attach_type: BPF_CGROUP_DEVICE,
        ..AttachAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_DETACH's layout and holds no pointers.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// The ids of the device programs attached directly to the cgroup.
pub fn query_cgroup_device(cgroup: BorrowedFd<'_>) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: fd_u32(cgroup)?,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: u32::try_from(ids.len()).map_err(|_| Errno(libc::E2BIG))?,
        ..QueryAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_QUERY's layout; `prog_ids` points to
    // `prog_cnt` writable u32s that outlive the call.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate(usize::try_from(attr.prog_cnt).unwrap_or(0).min(64));
    Ok(ids)
}

/// An fd for the loaded program with this id.
pub fn prog_fd_by_id(id: u32) -> Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..GetFdAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_GET_FD_BY_ID's layout and holds no pointers.
    owned_fd(unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?)
}
