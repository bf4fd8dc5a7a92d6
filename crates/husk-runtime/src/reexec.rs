//! Defence against CVE-2019-5736: before setting up a container, make sure
//! this process runs from a sealed in-memory copy of the binary, so nothing
//! inside a container can ever get a writable handle on the host's file
//! through /proc/<pid>/exe.

use husk_sys::{fs as sysfs, process};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// Re-executes from a sealed memfd copy unless already running from one.
pub fn ensure_sealed_copy() -> Result<(), husk_sys::Errno> {
    let exe = sysfs::open(Path::new("/proc/self/exe"), sysfs::O_RDONLY, 0)?;
    if sysfs::seals(exe.as_fd()) & libc::F_SEAL_WRITE != 0 {
        return Ok(());
    }
    let copy = sysfs::sealed_memfd_copy(exe.as_fd(), c"husk-runtime")?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.into_vec()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect();
    Err(process::fexecve(copy.as_fd(), &args, &env))
}
