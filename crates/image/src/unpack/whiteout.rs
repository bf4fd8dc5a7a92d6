//! Whiteouts: AUFS-style `.wh.` entries of a layer tar, turned into overlayfs whiteouts
//! or, in copy mode, applied to what earlier layers unpacked.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fsetxattr, makedev, mknodat, openat, FileType, Mode, OFlags, XattrFlags};

use super::{join, show, Unpacker, Whiteouts, OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::error::Result;

impl Unpacker<'_> {
    /// `.wh.NAME` and `.wh..wh..opq`, as overlay whiteouts or (copy mode) deletions.
    pub(super) fn whiteout(&mut self, parents: &[&[u8]], name: &[u8], path: &[u8]) -> Result<()> {
        let parent = self.parent(parents)?;
        if name == OPAQUE_MARKER && self.opts.whiteouts == Whiteouts::Apply {
            return self.clear_lower_children(&parent, parents);
        }
        if name == OPAQUE_MARKER {
            let dir = openat(
                &parent,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(self.sys("open opaque directory", path))?;
            return fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(self.sys("set opaque xattr", path));
        }
        if name.starts_with(b".wh..wh.") {
            // AUFS bookkeeping (hardlink dirs): meaningless to overlayfs.
            return Ok(());
        }
        let target = &name[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(self.err(&show(path), "whiteout without a name".into()));
        }
        let mut tpath = join(parents);
        if !tpath.is_empty() {
            tpath.push(b'/');
        }
        tpath.extend_from_slice(target);
        self.clear_existing(&parent, target, &tpath, false)?;
        if self.opts.whiteouts == Whiteouts::Apply {
            return Ok(());
        }
        mknodat(
            &parent,
            target,
            FileType::CharacterDevice,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(self.sys("create whiteout", &tpath))?;
        Ok(())
    }

    /// An opaque dir in copy mode: remove every child this layer did not create.
    fn clear_lower_children(&mut self, parent: &OwnedFd, parents: &[&[u8]]) -> Result<()> {
        let dir_path = join(parents);
        let via_fd = Path::new("/proc/self/fd").join(parent.as_raw_fd().to_string());
        let entries = std::fs::read_dir(&via_fd)
            .map_err(|e| self.err(&show(&dir_path), format!("list opaque directory: {e}")))?;
        let mut lower = Vec::new();
        for e in entries {
            let e =
                e.map_err(|e| self.err(&show(&dir_path), format!("list opaque directory: {e}")))?;
            let name = e.file_name().into_encoded_bytes();
            let mut child = dir_path.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            if !self.earlier.contains(&child) && !self.dirs.contains_key(&child) {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                lower.push((name, child, is_dir));
            }
        }
        for (name, child, is_dir) in lower {
            self.remove(parent, &name, &child, is_dir)?;
        }
        Ok(())
    }
}
