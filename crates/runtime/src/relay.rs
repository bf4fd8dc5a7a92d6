//! The foreground of `run` (runs in: parent): forwards signals to the
//! container, relays its terminal, and waits for it to exit.

use crate::{Error, Result};
use husk_sys::fs::{self as sysfs, POLLHUP, POLLIN};
use husk_sys::{process, signal, tty};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Waits for init to exit and returns its status in the shell's convention
/// (code, or 128 + signal). Signals we receive are forwarded to init; with a
/// pty master, our stdin/stdout are relayed to it in raw mode.
pub fn supervise(pid: i32, pidfd: &OwnedFd, console: Option<OwnedFd>) -> Result<i32> {
    let sigfd = signal::signalfd_all().map_err(|e| Error::sys("signalfd", "run", e))?;
    let stdin = std::io::stdin();
    let raw = match &console {
        Some(m) if tty::is_terminal(stdin.as_fd()) => {
            if let Ok((rows, cols)) = tty::window_size(stdin.as_fd()) {
                let _ = tty::set_window_size(m.as_fd(), rows, cols);
            }
            tty::make_raw(stdin.as_fd()).ok()
        }
        _ => None,
    };
    let result = wait_loop(pid, pidfd, &sigfd, console.as_ref());
    if let Some(saved) = raw {
        let _ = tty::restore_mode(stdin.as_fd(), &saved);
    }
    result
}

fn wait_loop(pid: i32, pidfd: &OwnedFd, sigfd: &OwnedFd, console: Option<&OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    loop {
        let mut fds = vec![sysfs::poll_in(pidfd.as_fd()), sysfs::poll_in(sigfd.as_fd())];
        if let (Some(m), true) = (console, master_open) {
            fds.push(sysfs::poll_in(m.as_fd()));
        }
        if stdin_open {
            fds.push(sysfs::poll_in(stdin.as_fd()));
        }
        sysfs::poll(&mut fds, -1).map_err(|e| Error::sys("poll", "run", e))?;
        if fds[1].revents & POLLIN != 0 {
            while let Ok(Some(sig)) = signal::read_signal(sigfd) {
                forward(sig, pidfd, console);
            }
        }
        if let Some(m) = console {
            let mut i = 2;
            if master_open {
                if fds[i].revents & (POLLIN | POLLHUP) != 0 {
                    master_open = copy(m.as_fd(), &mut std::io::stdout());
                }
                i += 1;
            }
            if stdin_open && fds[i].revents & (POLLIN | POLLHUP) != 0 {
                let mut out =
                    std::fs::File::from(m.try_clone().map_err(|e| Error::io("dup", "pty", e))?);
                stdin_open = copy(stdin.as_fd(), &mut out);
            }
        }
        if fds[0].revents & POLLIN != 0 {
            // Drain what the container printed last.
            if let (Some(m), true) = (console, master_open) {
                let mut more = [sysfs::poll_in(m.as_fd())];
                while sysfs::poll(&mut more, 0).unwrap_or(0) > 0
                    && copy(m.as_fd(), &mut std::io::stdout())
                {}
            }
            let exit =
                process::wait_exit(pid).map_err(|e| Error::sys("wait", format!("pid {pid}"), e))?;
            return Ok(exit.shell_status());
        }
    }
}

fn forward(sig: i32, pidfd: &OwnedFd, console: Option<&OwnedFd>) {
    match sig {
        libc::SIGCHLD => {}
        libc::SIGWINCH => {
            if let (Some(m), Ok((rows, cols))) =
                (console, tty::window_size(std::io::stdin().as_fd()))
            {
                let _ = tty::set_window_size(m.as_fd(), rows, cols);
            }
        }
        _ => {
            let _ = process::pidfd_send_signal(pidfd.as_fd(), sig);
        }
    }
}

/// Copies one chunk; false once the source is finished.
fn copy(from: BorrowedFd<'_>, to: &mut dyn Write) -> bool {
    let mut buf = [0u8; 8192];
    let mut f = match from.try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(_) => return false,
    };
    match f.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
    }
}
