//! Defence against CVE-2019-5736: before setting up a container, make sure
//! this process runs from a copy of the binary that nothing can write to, so
//! a container that reaches it through /proc/<pid>/exe (for example with a
//! `#!/proc/self/exe` script) can never modify the host's file.
//!
//! Cheapest first: a binary already on a read-only mount (or a sealed memfd)
//! needs nothing. Otherwise we re-exec through a detached, read-only bind
//! mount of our own file (open_tree + mount_setattr: no copy, the mount lives
//! in no namespace the container can reach). Where mounting is not allowed
//! (rootless), we fall back to a sealed memfd copy, as runc did.

use husk_sys::{fs as sysfs, mount, process, Errno};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// Re-executes from an unwritable copy unless already running from one.
pub fn ensure_sealed_copy() -> Result<(), Errno> {
    let exe = sysfs::open(Path::new("/proc/self/exe"), sysfs::O_RDONLY, 0)?;
    if sysfs::seals(exe.as_fd()) & libc::F_SEAL_WRITE != 0 || sysfs::on_readonly_mount(exe.as_fd())?
    {
        return Ok(());
    }
    let (args, env) = (argv(), envp());
    let readonly_bind = mount::clone_tree(exe.as_fd(), false).and_then(|tree| {
        mount::mount_setattr(tree.as_fd(), false, mount::attr::RDONLY, 0, 0, None)?;
        Ok(tree)
    });
    if let Ok(tree) = readonly_bind {
        // Only returns if exec failed; then try the copy.
        let _ = process::fexecve(tree.as_fd(), &args, &env);
    }
    let copy = sysfs::sealed_memfd_copy(exe.as_fd(), c"husk-runtime")?;
    Err(process::fexecve(copy.as_fd(), &args, &env))
}

fn argv() -> Vec<CString> {
    std::env::args_os()
        .filter_map(|a| CString::new(a.into_vec()).ok())
        .collect()
}

fn envp() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect()
}
