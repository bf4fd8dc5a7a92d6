//! Paths inside a container root are hostile: a component may be a symlink
//! that points anywhere. Everything here resolves through an fd of the root
//! with `openat2(RESOLVE_IN_ROOT)`, so `..` and absolute symlinks stay inside,
//! and callers act on the descriptor they got, never on a re-resolved string.

use husk_sys::fs::{self as sysfs, O_DIRECTORY, O_PATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use husk_sys::{Errno, Result};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// How every path below the root is resolved.
fn resolve() -> u64 {
    if crate::weaken::on("in-root-resolve") {
        return RESOLVE_NO_MAGICLINKS;
    }
    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
}

/// An open container root.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// `p` relative to the root (`/a/b` → `a/b`, `/` → `.`).
fn relative(p: &Path) -> PathBuf {
    let rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

impl Root {
    /// Wraps an fd of the root directory.
    pub fn new(fd: OwnedFd) -> Self {
        Root { fd }
    }

    /// The root of the current process (`/`): after pivot_root, the
    /// container's.
    pub fn current() -> Result<Root> {
        Ok(Root::new(sysfs::open(
            Path::new("/"),
            O_PATH | O_DIRECTORY,
            0,
        )?))
    }

    /// The root directory fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `p` (absolute, inside the root) with `flags`.
    pub fn open(&self, p: &Path, flags: i32) -> Result<OwnedFd> {
        sysfs::openat2(self.fd.as_fd(), &relative(p), flags, 0, resolve())
    }

    /// Opens `p` with O_PATH, creating missing directories on the way
    /// (mode 0755) like `mkdir -p`. A dangling symlink on the way is
    /// followed inside the root and its target created, as runc does.
    pub fn mkdir_all(&self, p: &Path) -> Result<OwnedFd> {
        self.mkdir_all_depth(p, 0)
    }

    fn mkdir_all_depth(&self, p: &Path, depth: u32) -> Result<OwnedFd> {
        const MAX_LINKS: u32 = 40;
        let rel = relative(p);
        match self.open(&rel, O_PATH | O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(Errno(libc::ENOENT)) => {}
            Err(e) => return Err(e),
        }
        let comps: Vec<Component<'_>> = rel.components().collect();
        let mut prefix = PathBuf::new();
        let mut dir = self.open(Path::new("."), O_PATH | O_DIRECTORY)?;
        for (i, comp) in comps.iter().enumerate() {
            let parent = prefix.clone();
            prefix.push(comp);
            match self.open(&prefix, O_PATH | O_DIRECTORY) {
                Ok(fd) => dir = fd,
                Err(Errno(libc::ENOENT)) => {
                    // One plain name, created inside the directory we hold:
                    // mkdirat never follows a symlink in its last component.
                    let Component::Normal(name) = comp else {
                        return Err(Errno(libc::ENOENT));
                    };
                    match sysfs::mkdirat(dir.as_fd(), Path::new(name), 0o755) {
                        Ok(()) => dir = self.open(&prefix, O_PATH | O_DIRECTORY)?,
                        Err(Errno(libc::EEXIST)) => {
                            // A dangling symlink: create its target (inside
                            // the root) and the rest of the path below it.
                            if depth >= MAX_LINKS {
                                return Err(Errno(libc::ELOOP));
                            }
                            let target = sysfs::readlinkat(dir.as_fd(), Path::new(name))?;
                            let mut next = if target.is_absolute() {
                                target
                            } else {
                                parent.join(target)
                            };
                            for rest in &comps[i + 1..] {
                                next.push(rest);
                            }
                            return self.mkdir_all_depth(&next, depth + 1);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }

    /// Opens `p` with O_PATH, creating it as an empty regular file (and its
    /// parent directories) if it does not exist.
    pub fn ensure_file(&self, p: &Path) -> Result<OwnedFd> {
        match self.open(p, O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(Errno(libc::ENOENT)) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = self.parent_of(p)?;
        match sysfs::mknodat(parent.as_fd(), &name, libc::S_IFREG | 0o644, 0, 0) {
            Ok(()) | Err(Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e),
        }
        self.open(p, O_PATH)
    }

    /// Opens `p` with O_PATH as a regular file of its own: anything else at
    /// that name (a symlink, a device, a fifo) is removed first, so what we
    /// then mount onto is never a target chosen by the image.
    pub fn replace_with_file(&self, p: &Path) -> Result<OwnedFd> {
        let (parent, name) = self.parent_of(p)?;
        match sysfs::lstatat(parent.as_fd(), &name) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                return Err(Errno(libc::EISDIR))
            }
            Ok(_) => sysfs::unlinkat(parent.as_fd(), &name)?,
            Err(Errno(libc::ENOENT)) => {}
            Err(e) => return Err(e),
        }
        match sysfs::mknodat(parent.as_fd(), &name, libc::S_IFREG | 0o644, 0, 0) {
            Ok(()) | Err(Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e),
        }
        sysfs::openat2(
            parent.as_fd(),
            &name,
            O_PATH | libc::O_NOFOLLOW,
            0,
            resolve(),
        )
    }

    /// Opens `p`'s parent directory (created if missing) for *at calls, and
    /// returns it with the final name.
    pub fn parent_of(&self, p: &Path) -> Result<(OwnedFd, PathBuf)> {
        let rel = relative(p);
        let name = PathBuf::from(rel.file_name().ok_or(Errno(libc::EINVAL))?);
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new(".")))?;
        // An O_PATH fd can't be used with mknodat and friends: reopen it.
        let parent = sysfs::openat2(
            parent.as_fd(),
            Path::new("."),
            O_DIRECTORY | sysfs::O_RDONLY,
            0,
            resolve(),
        )?;
        Ok((parent, name))
    }

    /// Opens `p` without following a final symlink; `None` if it does not exist.
    pub fn open_existing(&self, p: &Path) -> Result<Option<OwnedFd>> {
        match self.open(p, O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno(libc::ENOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory, removed when dropped (even if the test fails).
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("husk-rootpath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root")).unwrap();
        TempDir(d)
    }

    #[test]
    fn symlinks_cannot_escape() {
        let guard = tmp("escape");
        let d = &guard.0;
        std::os::unix::fs::symlink("/", d.join("root/up")).unwrap();
        std::os::unix::fs::symlink("../../..", d.join("root/dotdot")).unwrap();
        let root = Root::new(sysfs::open(&d.join("root"), O_PATH | O_DIRECTORY, 0).unwrap());
        // Both resolve to the root itself, and new dirs land inside it.
        root.mkdir_all(Path::new("/up/etc/x")).unwrap();
        root.mkdir_all(Path::new("/dotdot/y")).unwrap();
        assert!(d.join("root/etc/x").is_dir());
        assert!(d.join("root/y").is_dir());
        root.ensure_file(Path::new("/up/f")).unwrap();
        assert!(d.join("root/f").is_file());
        // A dangling absolute symlink is created inside the root.
        std::os::unix::fs::symlink("/outside/dir", d.join("root/dangling")).unwrap();
        root.mkdir_all(Path::new("/dangling/sub")).unwrap();
        assert!(d.join("root/outside/dir/sub").is_dir());
    }
}
