//! husk-seccomp: compiles an OCI seccomp profile (`linux.seccomp`) into a
//! classic BPF program for seccomp(2), as a pure function of the profile and
//! the host's architecture. Runs in: the parent (`create`, `exec`), before
//! any fork, so that a bad profile fails early and init only loads bytes.
//!
//! The program means what libseccomp's would for the same profile as runc
//! feeds it (that is checked instruction by instruction on many inputs
//! against libseccomp itself, in `tests/equivalence.rs`), without linking
//! libseccomp: the runtime binary stays static and small.
#![forbid(unsafe_code)]

mod arch;
mod bpf;
mod enosys;
pub mod interp;
mod multiplex;
mod profile;
mod program;
mod syscalls;

pub use arch::Arch;
pub use bpf::Insn;
pub use profile::compile;

use std::path::PathBuf;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// `seccomp(SECCOMP_SET_MODE_FILTER)` flags.
pub mod flags {
    /// Log every action but ALLOW (SECCOMP_FILTER_FLAG_LOG).
    pub const LOG: u32 = 1 << 1;
    /// Leave speculative store bypass mitigation off (SECCOMP_FILTER_FLAG_SPEC_ALLOW).
    pub const SPEC_ALLOW: u32 = 1 << 2;
    /// Return a user-notification fd (SECCOMP_FILTER_FLAG_NEW_LISTENER).
    pub const NEW_LISTENER: u32 = 1 << 3;
    /// Waits for a notification answer are killable only (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV).
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

/// What a filter returns to the kernel (SECCOMP_RET_*).
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
}

/// A compiled profile, ready for seccomp(2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub program: Vec<Insn>,
    /// `flags::*`, including NEW_LISTENER when some rule notifies.
    pub flags: u32,
    /// Where the notification fd goes (`listenerPath`), when one is needed.
    pub listener: Option<Listener>,
}

/// `linux.seccomp.listenerPath` and `listenerMetadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub path: PathBuf,
    pub metadata: String,
}

/// A profile that cannot be compiled; `field` is its place in config.json.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct Error {
    pub field: String,
    pub reason: String,
}

impl Error {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests;
