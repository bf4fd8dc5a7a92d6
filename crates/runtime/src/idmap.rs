//! Idmapped bind mounts, built by the parent (runs in: parent). Only the
//! host's root may idmap a host filesystem, so like runc we clone each
//! source into a detached mount here, idmap it, and let init inherit the fd
//! and attach it inside the container (`child::rootfs`).
//!
//! The user namespace that carries a mount's maps is a throwaway: a child
//! cloned into a new user namespace, its maps written, its `ns/user` opened,
//! then killed. The open fd keeps the namespace alive for mount_setattr.

use crate::plan::{IdMapPlan, MountKind, Plan};
use crate::{Error, Result};
use husk_sys::fs::{self as sysfs, O_PATH, O_RDONLY};
use husk_sys::mount::{self, attr};
use husk_sys::{process, socket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Detached, idmapped copies of the bind sources, by index in `plan.mounts`.
pub fn prepare(plan: &Plan) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    let mut namespaces: Vec<(String, String, OwnedFd)> = Vec::new();
    for (i, m) in plan.mounts.iter().enumerate() {
        let (Some(map), MountKind::Bind { source, recursive }) = (&m.idmap, &m.kind) else {
            continue;
        };
        if !crate::caller::privileged() {
            return Err(Error::config(
                format!("mounts[{i}].options"),
                "id-mapped mounts are not supported for rootless containers",
            ));
        }
        let known = namespaces
            .iter()
            .position(|(u, g, _)| *u == map.uid_map && *g == map.gid_map);
        let k = match known {
            Some(k) => k,
            None => {
                let fd = throwaway_userns(map).map_err(|e| {
                    Error::config(format!("mounts[{i}].uidMappings"), e.to_string())
                })?;
                namespaces.push((map.uid_map.clone(), map.gid_map.clone(), fd));
                namespaces.len() - 1
            }
        };
        let tree = idmapped_tree(source, *recursive, map, namespaces[k].2.as_fd())
            .map_err(|e| Error::sys("idmap bind mount of", source.display(), e))?;
        out.push((i, tree));
    }
    Ok(out)
}

fn idmapped_tree(
    source: &Path,
    recursive: bool,
    map: &IdMapPlan,
    userns: std::os::fd::BorrowedFd<'_>,
) -> husk_sys::Result<OwnedFd> {
    let src = sysfs::open(source, O_PATH, 0)?;
    let tree = mount::clone_tree(src.as_fd(), recursive)?;
    mount::mount_setattr(tree.as_fd(), map.recursive, attr::IDMAP, 0, 0, Some(userns))?;
    Ok(tree)
}

/// A user namespace with `map`'s id maps and no process left in it.
fn throwaway_userns(map: &IdMapPlan) -> std::io::Result<OwnedFd> {
    let (ours, theirs) = socket::seqpacket_pair()?;
    let forked = process::clone3(libc::CLONE_NEWUSER as u64, None)?;
    let (pid, pidfd) = match forked {
        process::Forked::Child => {
            // Wait until the parent is done with us (or is gone), then leave.
            drop(ours);
            let _ = socket::recv(theirs.as_fd(), &mut [0u8; 1]);
            process::exit_now(0)
        }
        process::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(theirs);
    let opened = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), &map.uid_map)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), &map.gid_map)?;
        Ok(sysfs::open(
            Path::new(&format!("/proc/{pid}/ns/user")),
            O_RDONLY,
            0,
        )?)
    })();
    let _ = process::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    let _ = process::wait_exit(pid);
    drop(ours);
    opened
}
