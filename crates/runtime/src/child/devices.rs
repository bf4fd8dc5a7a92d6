//! Device nodes, /dev links and the console (runs in init).

use super::{fail, Step, StepContext};
use crate::plan::{DevicePlan, Plan};
use crate::rootpath::Root;
use husk_sys::fs::{self as sysfs, O_NOCTTY, O_NOFOLLOW, O_PATH, O_RDWR};
use husk_sys::{mount, process, tty, Errno};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Creates the default devices and `linux.devices`. Where mknod is not
/// allowed (a user namespace), the host's device is bind-mounted instead,
/// after checking that it is the device it claims to be.
pub fn create_nodes(plan: &Plan, root: &Root) -> Step<()> {
    for d in &plan.devices {
        let show = d.path.display().to_string();
        let (parent, name) = root.parent_of(&d.path).step(|| format!("create {show}"))?;
        // Whatever the image put at this path (a symlink to a file of its
        // choosing, a regular file, a wrong device) is replaced, never followed.
        if let Ok(st) = sysfs::lstatat(parent.as_fd(), &name) {
            let kind = st.st_mode & libc::S_IFMT;
            if kind == d.file_type && sysfs::major_minor(st.st_rdev) == (d.major, d.minor) {
                continue;
            }
            if kind == libc::S_IFDIR {
                return Err(fail(format!("create {show}"), "a directory is in the way"));
            }
            sysfs::unlinkat(parent.as_fd(), &name).step(|| format!("replace {show}"))?;
        }
        match sysfs::mknodat(
            parent.as_fd(),
            &name,
            d.file_type | d.mode,
            d.major,
            d.minor,
        ) {
            Ok(()) => {
                let node = root
                    .open(&d.path, O_PATH | O_NOFOLLOW)
                    .step(|| format!("open {show}"))?;
                sysfs::fchown(node.as_fd(), d.uid, d.gid).step(|| format!("chown {show}"))?;
            }
            Err(Errno(libc::EPERM)) => bind_host_device(d, root)?,
            Err(e) => return Err(e).step(|| format!("mknod {show}")),
        }
    }
    Ok(())
}

fn bind_host_device(d: &DevicePlan, root: &Root) -> Step<()> {
    let show = d.path.display().to_string();
    let host = sysfs::open(&d.path, O_PATH | O_NOFOLLOW, 0).step(|| format!("open host {show}"))?;
    let st = sysfs::fstat(host.as_fd()).step(|| format!("stat host {show}"))?;
    if st.st_mode & libc::S_IFMT != d.file_type
        || sysfs::major_minor(st.st_rdev) != (d.major, d.minor)
    {
        return Err(fail(
            format!("bind host {show}"),
            "host file is not the expected device",
        ));
    }
    let target = root
        .ensure_file(&d.path)
        .step(|| format!("create {show}"))?;
    let tree = mount::clone_tree(host.as_fd(), false).step(|| format!("bind host {show}"))?;
    mount::move_mount_onto(tree.as_fd(), target.as_fd()).step(|| format!("bind host {show}"))
}

/// The standard links: /dev/fd, stdin, stdout, stderr, core and ptmx.
pub fn create_links(root: &Root) -> Step<()> {
    const LINKS: [(&str, &str); 6] = [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("/proc/kcore", "/dev/core"),
        ("pts/ptmx", "/dev/ptmx"),
    ];
    for (target, link) in LINKS {
        let (parent, name) = root
            .parent_of(Path::new(link))
            .step(|| format!("create {link}"))?;
        match sysfs::symlinkat(Path::new(target), parent.as_fd(), &name) {
            Ok(()) | Err(Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e).step(|| format!("symlink {link}")),
        }
    }
    Ok(())
}

/// The container's /dev/null (after pivot_root), verified to be the
/// character device 1:3: masking with anything else could expose or clobber
/// a file, and an image may ship a /dev/null that is a symlink or a file.
pub fn trusted_dev_null() -> Step<OwnedFd> {
    let root = Root::current().step(|| "open /".into())?;
    if crate::weaken::on("devnull-verify") {
        return root
            .open(Path::new("/dev/null"), O_PATH)
            .step(|| "open /dev/null".into());
    }
    let fd = root
        .open(Path::new("/dev/null"), O_PATH | O_NOFOLLOW)
        .step(|| "open /dev/null".into())?;
    let st = sysfs::fstat(fd.as_fd()).step(|| "stat /dev/null".into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || sysfs::major_minor(st.st_rdev) != (1, 3) {
        return Err(fail("verify /dev/null", "not the character device 1:3"));
    }
    Ok(fd)
}

/// A pty for an exec'd process, from the container's devpts: the peer
/// becomes our controlling terminal and stdio; the master goes to the parent.
pub fn open_exec_terminal(process: &crate::plan::ProcessPlan) -> Step<OwnedFd> {
    let root = Root::current().step(|| "open /".into())?;
    let (master, peer) = open_pty(&root, process.console_size)?;
    attach_terminal(&peer)?;
    Ok(master)
}

/// Opens a new pty in the container's devpts: (master, peer).
fn open_pty(root: &Root, size: Option<(u16, u16)>) -> Step<(OwnedFd, OwnedFd)> {
    let master = root
        .open(Path::new("/dev/pts/ptmx"), O_RDWR | O_NOCTTY)
        .or_else(|_| root.open(Path::new("/dev/ptmx"), O_RDWR | O_NOCTTY))
        .step(|| "open /dev/pts/ptmx".into())?;
    let st = sysfs::fstat(master.as_fd()).step(|| "stat ptmx".into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || sysfs::major_minor(st.st_rdev).0 != 5 {
        return Err(fail("open /dev/pts/ptmx", "not a pty multiplexer"));
    }
    tty::unlockpt(master.as_fd()).step(|| "unlockpt".into())?;
    let peer = tty::open_peer(master.as_fd()).step(|| "open pty peer".into())?;
    if let Some((rows, cols)) = size {
        tty::set_window_size(peer.as_fd(), rows, cols).step(|| "set console size".into())?;
    }
    Ok((master, peer))
}

/// A new session with `peer` as controlling terminal and stdio.
fn attach_terminal(peer: &OwnedFd) -> Step<()> {
    process::setsid().step(|| "setsid".into())?;
    tty::set_controlling_terminal(peer.as_fd()).step(|| "set controlling terminal".into())?;
    for n in 0..3 {
        sysfs::dup_onto(peer.as_fd(), n).step(|| format!("dup pty onto fd {n}"))?;
    }
    Ok(())
}

/// Creates the container's pty in its own devpts, binds the peer onto
/// /dev/console from the fd (never by path), makes it our controlling
/// terminal and stdio, and returns the master for the parent.
pub fn setup_console(plan: &Plan) -> Step<OwnedFd> {
    let root = Root::current().step(|| "open /".into())?;
    let (master, peer) = open_pty(&root, plan.process.console_size)?;
    let console = if crate::weaken::on("console-fd") {
        root.ensure_file(Path::new("/dev/console"))
    } else {
        root.replace_with_file(Path::new("/dev/console"))
    }
    .step(|| "create /dev/console".into())?;
    let tree = mount::clone_tree(peer.as_fd(), false).step(|| "bind pty on /dev/console".into())?;
    mount::move_mount_onto(tree.as_fd(), console.as_fd())
        .step(|| "bind pty on /dev/console".into())?;
    attach_terminal(&peer)?;
    Ok(master)
}
