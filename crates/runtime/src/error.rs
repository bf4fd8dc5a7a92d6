//! The runtime's error type: every variant names the operation and the object.

use husk_sys::Errno;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A failure inside the container's init process, carried to the parent as
/// data: which setup step failed, the errno if a syscall failed, and a message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InitError {
    /// The checklist step, such as `mount /proc`.
    pub step: String,
    /// The errno of the failing syscall, if one failed.
    pub errno: Option<i32>,
    /// What happened, in words.
    pub message: String,
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.message)
    }
}

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's configuration is invalid; names the field.
    #[error("invalid config: {field}: {reason}")]
    Config { field: String, reason: String },
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syscall failed on an object.
    #[error("{op} {object}: {errno}")]
    Sys {
        op: &'static str,
        object: String,
        errno: Errno,
    },
    /// The container's init process failed during setup.
    #[error("{0}")]
    Init(InitError),
    /// No container with this ID exists.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with this ID exists already.
    #[error("container {0} already exists")]
    Exists(String),
    /// The requested operation is not valid in the container's current state.
    #[error("container {id} is {status}: cannot {action}")]
    BadState {
        id: String,
        status: String,
        action: &'static str,
    },
    /// A hook failed or timed out.
    #[error("{kind} hook {path}: {reason}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// Creating, filling or joining the container's cgroup failed.
    #[error("{0}")]
    Cgroup(#[from] husk_cgroups::Error),
    /// A bad command-line value.
    #[error("{0}")]
    Usage(String),
}

/// Result with the runtime's error.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Sys`].
    pub fn sys(op: &'static str, object: impl std::fmt::Display, errno: Errno) -> Self {
        Error::Sys {
            op,
            object: object.to_string(),
            errno,
        }
    }
}
