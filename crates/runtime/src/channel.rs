//! The one channel between the parent (`husk-runtime create|run`) and the
//! container's init: a SEQPACKET socketpair carrying [`Msg`] values as JSON,
//! with file descriptors attached as SCM_RIGHTS.
//!
//! ```text
//!  parent                                   init (after clone3)
//!  ──────                                   ───────────────────
//!  clone3(CLONE_NEW*) ───────────────────►  blocks on recv
//!  write uid_map/gid_map (new userns)
//!  Go ───────────────────────────────────►  join/unshare namespaces
//!                         ◄───── MapIds     (only when unsharing a userns)
//!  write maps; Continue ─────────────────►
//!                         ◄───── InitPid    (only after the pid-namespace fork,
//!                                            with the new init's pidfd)
//!                                           mounts, devices, cgroupfs
//!                         ◄───── RunHooks   (only if there are runtime hooks)
//!  prestart, createRuntime hooks
//!  Continue ─────────────────────────────►  createContainer hooks, pivot_root,
//!                                           masks, console, hostname, sysctl,
//!                                           rlimits, user, capabilities, cwd
//!                         ◄───── Console    (with the pty master, if terminal)
//!                         ◄───── SeccompFd  (only with a seccomp listener:
//!  send it to listenerPath; Continue ───►    the filter is loaded now)
//!                         ◄───── Ready      setup finished
//!  write state "created"; exit              wait at the start gate
//!  (run: Start ─────────────────────────►)  startContainer hooks,
//!                                           load seccomp (no listener), exec
//!
//!  Any step may instead answer  ◄── Failed(InitError) and exit.
//! ```

use crate::error::InitError;
use crate::{Error, Result};
use husk_sys::socket;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A message on the parent<->init channel.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// parent → init: begin setup.
    Go,
    /// parent → init: the step asked for is done, carry on.
    Continue,
    /// parent → init (`run`): start the user's process now.
    Start,
    /// init → parent: I unshared a user namespace; write my id maps (I am
    /// the process the parent cloned).
    MapIds,
    /// init → parent: the real init was forked; its pidfd is attached.
    InitPid,
    /// init → parent: namespaces and mounts are ready; run the runtime hooks.
    RunHooks,
    /// init → parent: the pty master is attached.
    Console,
    /// init → parent: the seccomp notification fd is attached; pass it to
    /// `linux.seccomp.listenerPath`, then answer `Continue`.
    SeccompFd,
    /// init → parent: setup is complete.
    Ready,
    /// init → parent: a step failed.
    Failed(InitError),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    sock: OwnedFd,
}

const MAX_MSG: usize = 16 * 1024;

impl Channel {
    /// Creates a connected pair: (parent end, init end).
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socket::seqpacket_pair()
            .map_err(|e| Error::sys("socketpair", "parent/init channel", e))?;
        Ok((Channel { sock: a }, Channel { sock: b }))
    }

    /// Sends a message with optional descriptors.
    pub fn send(&self, msg: &Msg, fds: &[BorrowedFd<'_>]) -> Result<()> {
        let bytes =
            serde_json::to_vec(msg).map_err(|e| Error::Usage(format!("encode message: {e}")))?;
        socket::send(self.sock.as_fd(), &bytes, fds)
            .map_err(|e| Error::sys("send", "parent/init channel", e))
    }

    /// Receives a message; `None` means the other side closed (or died).
    pub fn recv(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MSG];
        let (n, fds) = socket::recv(self.sock.as_fd(), &mut buf)
            .map_err(|e| Error::sys("recv", "parent/init channel", e))?;
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::Usage(format!("decode message: {e}")))?;
        Ok(Some((msg, fds)))
    }

    /// The socket, for poll().
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
