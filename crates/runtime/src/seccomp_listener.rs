//! Handing a seccomp notification fd to the agent at
//! `linux.seccomp.listenerPath` (runs in: the parent of `create`, `run` and
//! `exec`). As runc does: one message on a new connection, the
//! `ContainerProcessState` JSON with the fd attached by SCM_RIGHTS.

use crate::{Error, Result};
use husk_seccomp::Listener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Sends `fd` with the runtime-spec's container process state: the pid of
/// the process whose filter it is, the listener metadata and `state`, the
/// container's OCI state.
pub fn hand_over(
    listener: &Listener,
    pid: i32,
    state: serde_json::Value,
    fd: &OwnedFd,
) -> Result<()> {
    let path = &listener.path;
    let doc = serde_json::json!({
        "ociVersion": state["ociVersion"].clone(),
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": listener.metadata,
        "state": state,
    });
    let sock = UnixStream::connect(path).map_err(|e| {
        Error::io(
            "connect to seccomp agent (linux.seccomp.listenerPath)",
            path,
            e,
        )
    })?;
    husk_sys::socket::send(sock.as_fd(), doc.to_string().as_bytes(), &[fd.as_fd()])
        .map_err(|e| Error::sys("send seccomp fd to", path.display(), e))
}
