//! Control groups for husk (runs in: the runtime's parent process).
//!
//! [`host`] reads which hierarchies the host has (v1, v2 or both), [`resources`]
//! translates `linux.resources` into a list of file writes for each kind of
//! hierarchy (pure data, unit-tested), [`devices_bpf`] turns device rules
//! into the eBPF program cgroup v2 needs, and [`cgroup`] creates a
//! container's cgroups, applies the writes (`apply`), moves processes in,
//! freezes, signals (`procs`) and removes them again. [`systemd`] is the
//! systemd driver: a transient scope made by PID 1 over D-Bus.
#![forbid(unsafe_code)]

mod apply;
pub mod cgroup;
pub mod devices_bpf;
pub mod host;
mod procs;
pub mod resources;
pub mod stats;
pub mod systemd;

pub use cgroup::Cgroup;
pub use host::Host;

use std::path::PathBuf;

/// What can go wrong with cgroups; every variant names the file or resource.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cgroup file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The kernel refused a value.
    #[error("{path}: the kernel refused {value:?}: {source}")]
    Rejected {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    /// A resource the host cannot honour.
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// systemd refused or failed a call about the container's unit.
    #[error("systemd: {op} {unit}: {reason}")]
    Systemd {
        op: &'static str,
        unit: String,
        reason: String,
    },
}

/// Result with the cgroups error.
pub type Result<T> = std::result::Result<T, Error>;
