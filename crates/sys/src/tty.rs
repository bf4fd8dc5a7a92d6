//! Terminals: pty peers, controlling terminals, window size and raw mode.

use crate::{check_int, owned_fd, Result};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Unlocks the pty open on `master` (what unlockpt(3) does).
pub fn unlockpt(master: BorrowedFd<'_>) -> Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer.
    check_int(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    Ok(())
}

/// `ioctl(master, TIOCGPTPEER)`: opens the peer (slave) of `master` without
/// going through a path in /dev/pts that someone could have replaced.
pub fn open_peer(master: BorrowedFd<'_>) -> Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes integer open flags and returns a new fd.
    owned_fd(libc::c_long::from(unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags)
    }))
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make `fd` our controlling terminal.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: integer argument ioctl.
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) })?;
    Ok(())
}

/// True if `fd` is a terminal.
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// Window size (rows, cols) of the terminal on `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> Result<(u16, u16)> {
    // SAFETY: winsize is plain old data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer.
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Sets the window size of the terminal on `fd`.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize through the pointer.
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
    Ok(())
}

/// Saved terminal settings, restored by [`restore_mode`].
pub type Termios = libc::termios;

/// Puts the terminal on `fd` in raw mode and returns the previous settings.
pub fn make_raw(fd: BorrowedFd<'_>) -> Result<Termios> {
    // SAFETY: termios is plain old data.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    check_int(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) })?;
    let saved = t;
    // SAFETY: cfmakeraw edits the struct in place.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: valid in-pointer.
    check_int(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) })?;
    Ok(saved)
}

/// Restores settings saved by [`make_raw`].
pub fn restore_mode(fd: BorrowedFd<'_>, saved: &Termios) -> Result<()> {
    // SAFETY: valid in-pointer.
    check_int(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, saved) })?;
    Ok(())
}
