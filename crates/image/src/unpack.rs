//! Safe unpacking of one layer (an uncompressed tar stream) into an empty directory.
//!
//! Every entry is applied by hand, never by the tar crate's `unpack`:
//! - paths are cleaned lexically (`.`, `..` clamped at the layer root, leading `/` dropped)
//!   and parents are opened with `openat2(RESOLVE_IN_ROOT)`, so `..`, absolute paths and
//!   paths through symlinks all stay inside the layer;
//! - the last component is created with `*at` calls relative to that parent, never followed;
//! - a hardlink may only name an earlier non-directory entry of the same layer;
//! - device nodes only when allowed (root); `trusted.overlay.*` xattrs from the tar refused;
//! - AUFS whiteouts become overlay whiteouts (0/0 char devices, `trusted.overlay.opaque=y`);
//! - file data is counted against a byte limit (decompression bombs, sparse files).
//!
//! Runs in the husk process (no fork); callers hash the stream around it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    chownat, fchmod, fchown, fsetxattr, futimens, linkat, makedev, mkdirat, mknodat, openat,
    openat2, statat, symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, OFlags,
    ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use crate::error::{Error, Result};

mod whiteout;

/// The name of the overlay opaque-directory xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// What an unpack may do.
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// Create character and block devices (needs root); otherwise such entries are errors.
    pub allow_devices: bool,
    /// chown entries to the uid/gid in the tar (needs root).
    pub preserve_owner: bool,
    /// The most file data the layer may expand to.
    pub max_bytes: u64,
    /// The most entries the layer may have.
    pub max_entries: u64,
    /// What whiteout entries become.
    pub whiteouts: Whiteouts,
}

/// How whiteouts (`.wh.NAME`, `.wh..wh..opq`) are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whiteouts {
    /// Into overlayfs whiteouts (0/0 char devices, the opaque xattr): one dir per layer.
    Overlay,
    /// Applied to what earlier layers unpacked into the same directory: NAME is removed,
    /// an opaque dir loses what earlier layers put in it (the copy-mode fallback).
    Apply,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        let root = rustix::process::geteuid().is_root();
        Self {
            allow_devices: root,
            preserve_owner: root,
            max_bytes: 64 << 30,
            max_entries: 10_000_000,
            whiteouts: Whiteouts::Overlay,
        }
    }
}

/// Counts of what a layer unpacked to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
}

struct DirMeta {
    mode: u32,
    mtime: i64,
}

struct Unpacker<'a> {
    layer: &'a str,
    opts: &'a UnpackOptions,
    root: OwnedFd,
    /// Non-directory entries created so far (hardlink targets), by cleaned path.
    earlier: HashSet<Vec<u8>>,
    /// Directory mode and mtime, applied at the end (children change a dir's mtime, and a
    /// read-only dir must stay writable until its children exist).
    dirs: HashMap<Vec<u8>, DirMeta>,
    /// The last parent directory opened: (cleaned path, fd).
    parent_cache: Option<(Vec<u8>, OwnedFd)>,
    stats: UnpackStats,
    buf: Vec<u8>,
}

/// Unpacks the tar stream `tar` into the existing directory `dest`.
pub fn unpack_layer<R: Read>(
    layer: &str,
    tar: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let root = rustix::fs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Error::io("open layer directory", dest))?;
    let mut u = Unpacker {
        layer,
        opts,
        root,
        earlier: HashSet::new(),
        dirs: HashMap::new(),
        parent_cache: None,
        stats: UnpackStats::default(),
        buf: vec![0; 256 * 1024],
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| u.err("<archive>", format!("read tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| u.err("<archive>", format!("read tar entry: {e}")))?;
        u.stats.entries += 1;
        if u.stats.entries > opts.max_entries {
            return Err(Error::LayerTooLarge {
                layer: layer.to_owned(),
                reason: format!("more than {} entries", opts.max_entries),
            });
        }
        u.apply(&mut entry)?;
    }
    u.finish_dirs()?;
    Ok(u.stats)
}

/// Cleans a tar path into components: no empty, `.` or `..` parts; `..` is clamped at the
/// root, as the kernel does for RESOLVE_IN_ROOT.
fn clean(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// What an entry's header and PAX records say about the object to create.
struct Meta {
    mode: u32,
    owner: Option<(u32, u32)>,
    mtime: i64,
    dev: rustix::fs::Dev,
    xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct Extra {
    xattrs: Vec<(String, Vec<u8>)>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<i64>,
}

impl Unpacker<'_> {
    fn err(&self, path: &str, reason: String) -> Error {
        Error::Unpack {
            layer: self.layer.to_owned(),
            path: path.to_owned(),
            reason,
        }
    }

    fn sys(&self, op: &str, path: &[u8]) -> impl FnOnce(Errno) -> Error + '_ {
        let path = show(path);
        let op = op.to_owned();
        move |e| self.err(&path, format!("{op}: {e}"))
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        use tar::EntryType as T;
        let raw_path = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind == T::XGlobalHeader {
            return Ok(());
        }
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let meta = self.meta(entry, &raw_path)?;
        let comps = clean(&raw_path);
        let Some((name, parents)) = comps.split_last() else {
            // The layer root itself ("./"): its metadata belongs to the image's lower dirs.
            return Ok(());
        };
        let path = join(&comps);
        if name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parents, name, &path);
        }
        let parent = self.parent(parents)?;
        self.clear_existing(&parent, name, &path, kind == T::Directory)?;
        let missing = |what: &str| self.err(&show(&path), format!("{what} without target"));
        match kind {
            T::Directory => self.make_dir(&parent, name, path, &meta),
            T::Regular | T::Continuous | T::GNUSparse => {
                self.make_file(&parent, name, path, &meta, entry)
            }
            T::Symlink => {
                let target = link.ok_or_else(|| missing("symlink"))?;
                self.make_symlink(&parent, name, path, &meta, &target)
            }
            T::Link => {
                let target = link.ok_or_else(|| missing("hardlink"))?;
                self.hardlink(&parent, name, &path, &target)
            }
            T::Char | T::Block | T::Fifo => self.make_node(&parent, name, path, &meta, kind),
            other => Err(self.err(
                &show(&path),
                format!("unsupported tar entry type {other:?}"),
            )),
        }
    }

    /// Mode, owner (when preserved), mtime, device numbers and xattrs of an entry.
    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, raw_path: &[u8]) -> Result<Meta> {
        let extra = self.extra(entry, raw_path)?;
        let header = entry.header();
        let mode = header
            .mode()
            .map_err(|e| self.err(&show(raw_path), e.to_string()))?
            & 0o7777;
        let id = |pax: Option<u32>, field: io::Result<u64>| {
            pax.or_else(|| field.ok().and_then(|v| u32::try_from(v).ok()))
        };
        let (Some(uid), Some(gid)) = (id(extra.uid, header.uid()), id(extra.gid, header.gid()))
        else {
            return Err(self.err(&show(raw_path), "bad uid/gid field".to_owned()));
        };
        #[allow(clippy::cast_possible_wrap)]
        let mtime = extra
            .mtime
            .unwrap_or_else(|| header.mtime().map_or(0, |m| m as i64));
        Ok(Meta {
            mode,
            owner: self.opts.preserve_owner.then_some((uid, gid)),
            mtime,
            dev: makedev(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            ),
            xattrs: extra.xattrs,
        })
    }

    fn make_dir(&mut self, parent: &OwnedFd, name: &[u8], path: Vec<u8>, m: &Meta) -> Result<()> {
        match mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(self.sys("mkdir", &path)(e)),
        }
        let fd = openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(self.sys("open directory", &path))?;
        self.own_and_xattrs(&fd, &path, m.owner, &m.xattrs)?;
        // Mode and mtime at the end, once the children exist.
        self.dirs.insert(
            path,
            DirMeta {
                mode: m.mode,
                mtime: m.mtime,
            },
        );
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: Vec<u8>,
        m: &Meta,
        data: &mut R,
    ) -> Result<()> {
        let fd = openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(self.sys("create file", &path))?;
        let mut file = File::from(fd);
        self.copy_data(data, &mut file, &path)?;
        self.own_and_xattrs(&file, &path, m.owner, &m.xattrs)?;
        // After chown, which clears setuid/setgid.
        fchmod(&file, Mode::from_raw_mode(m.mode)).map_err(self.sys("chmod", &path))?;
        futimens(&file, &times(m.mtime)).map_err(self.sys("set times", &path))?;
        self.earlier.insert(path);
        Ok(())
    }

    fn make_symlink(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: Vec<u8>,
        m: &Meta,
        target: &[u8],
    ) -> Result<()> {
        symlinkat(target, parent, name).map_err(self.sys("symlink", &path))?;
        self.set_owner_and_times(parent, name, &path, m)?;
        // Resolution through this path changed.
        self.parent_cache = None;
        self.earlier.insert(path);
        Ok(())
    }

    /// Ownership and mtime of the entry `name` itself (never a link's target).
    fn set_owner_and_times(
        &self,
        parent: &OwnedFd,
        name: &[u8],
        path: &[u8],
        m: &Meta,
    ) -> Result<()> {
        if let Some((u, g)) = m.owner {
            chownat(
                parent,
                name,
                Some(Uid::from_raw(u)),
                Some(Gid::from_raw(g)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(self.sys("chown", path))?;
        }
        utimensat(parent, name, &times(m.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(self.sys("set times", path))?;
        Ok(())
    }

    /// Character and block devices (when allowed) and FIFOs.
    fn make_node(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: Vec<u8>,
        m: &Meta,
        kind: tar::EntryType,
    ) -> Result<()> {
        let ftype = match kind {
            tar::EntryType::Char => FileType::CharacterDevice,
            tar::EntryType::Block => FileType::BlockDevice,
            _ => FileType::Fifo,
        };
        if ftype != FileType::Fifo && !self.opts.allow_devices {
            return Err(self.err(
                &show(&path),
                "device node in layer: only root may create device nodes".into(),
            ));
        }
        mknodat(parent, name, ftype, Mode::from_raw_mode(m.mode), m.dev)
            .map_err(self.sys("mknod", &path))?;
        self.set_owner_and_times(parent, name, &path, m)?;
        self.earlier.insert(path);
        Ok(())
    }

    /// PAX records: xattrs and the numeric fields that overflow the ustar header.
    fn extra<R: Read>(&self, entry: &mut tar::Entry<'_, R>, path: &[u8]) -> Result<Extra> {
        let mut extra = Extra::default();
        let Some(pax) = entry
            .pax_extensions()
            .map_err(|e| self.err(&show(path), format!("read pax header: {e}")))?
        else {
            return Ok(extra);
        };
        for ext in pax {
            let ext = ext.map_err(|e| self.err(&show(path), format!("read pax header: {e}")))?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
            };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
                    return Err(
                        self.err(&show(path), format!("xattr {name} would control overlayfs"))
                    );
                }
                extra.xattrs.push((name.to_owned(), value.to_vec()));
            } else if key == "uid" {
                extra.uid = num().and_then(|v| u32::try_from(v).ok());
            } else if key == "gid" {
                extra.gid = num().and_then(|v| u32::try_from(v).ok());
            } else if key == "mtime" {
                extra.mtime = num();
            }
        }
        Ok(extra)
    }

    fn copy_data<R: Read>(&mut self, from: &mut R, to: &mut File, path: &[u8]) -> Result<()> {
        loop {
            let n = match from.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_err(path, &e)),
            };
            self.stats.bytes += n as u64;
            if self.stats.bytes > self.opts.max_bytes {
                return Err(Error::LayerTooLarge {
                    layer: self.layer.to_owned(),
                    reason: format!("expands to more than {} bytes", self.opts.max_bytes),
                });
            }
            to.write_all(&self.buf[..n])
                .map_err(|e| self.err(&show(path), format!("write: {e}")))?;
        }
    }

    fn read_err(&self, path: &[u8], e: &io::Error) -> Error {
        if e.kind() == io::ErrorKind::FileTooLarge {
            return Error::LayerTooLarge {
                layer: self.layer.to_owned(),
                reason: e.to_string(),
            };
        }
        self.err(&show(path), format!("read: {e}"))
    }

    fn own_and_xattrs<Fd: AsFd>(
        &self,
        fd: Fd,
        path: &[u8],
        owner: Option<(u32, u32)>,
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<()> {
        if let Some((u, g)) = owner {
            fchown(&fd, Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))
                .map_err(self.sys("chown", path))?;
        }
        for (k, v) in xattrs {
            fsetxattr(&fd, k.as_str(), v, XattrFlags::empty())
                .map_err(self.sys(&format!("set xattr {k}"), path))?;
        }
        Ok(())
    }

    /// Opens (creating as needed) the parent directory named by `parents`, inside the root.
    fn parent(&mut self, parents: &[&[u8]]) -> Result<OwnedFd> {
        let key = join(parents);
        if let Some((p, fd)) = &self.parent_cache {
            if *p == key {
                return fd
                    .try_clone()
                    .map_err(|e| self.err(&show(&key), format!("dup: {e}")));
            }
        }
        let fd = match self.open_in_root(&key) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.create_parents(parents)?,
            Err(e) => return Err(self.sys("open parent directory", &key)(e)),
        };
        let copy = fd
            .try_clone()
            .map_err(|e| self.err(&show(&key), format!("dup: {e}")))?;
        self.parent_cache = Some((key, copy));
        Ok(fd)
    }

    fn open_in_root(&self, path: &[u8]) -> rustix::io::Result<OwnedFd> {
        let path: &[u8] = if path.is_empty() { b"." } else { path };
        openat2(
            &self.root,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
        )
    }

    /// Parents missing from the tar are created 0755, each step resolved inside the root. A
    /// dangling symlink on the way has its target created (inside the root), as the kernel
    /// would resolve it; at most 40 links deep, like the kernel.
    fn create_parents(&mut self, parents: &[&[u8]]) -> Result<OwnedFd> {
        self.create_parents_depth(parents, 0)
    }

    fn create_parents_depth(&mut self, parents: &[&[u8]], depth: u32) -> Result<OwnedFd> {
        let mut cur = self
            .open_in_root(b"")
            .map_err(self.sys("open layer root", b"."))?;
        for i in 0..parents.len() {
            let prefix = join(&parents[..=i]);
            match mkdirat(&cur, parents[i], Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(self.sys("mkdir", &prefix)(e)),
            }
            cur = match self.open_in_root(&prefix) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if depth < 40 => {
                    let target = rustix::fs::readlinkat(&cur, parents[i], Vec::new())
                        .map_err(self.sys("read symlink", &prefix))?;
                    let mut resolved = if target.as_bytes().starts_with(b"/") {
                        Vec::new()
                    } else {
                        join(&parents[..i])
                    };
                    resolved.push(b'/');
                    resolved.extend_from_slice(target.as_bytes());
                    let comps = clean(&resolved);
                    let owned: Vec<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
                    let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                    self.create_parents_depth(&refs, depth + 1)?;
                    self.open_in_root(&prefix)
                        .map_err(self.sys("open directory", &prefix))?
                }
                Err(e) => return Err(self.sys("open directory", &prefix)(e)),
            };
        }
        Ok(cur)
    }

    /// Tar semantics: a later entry replaces an earlier one, except dir over dir.
    fn clear_existing(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &[u8],
        is_dir: bool,
    ) -> Result<()> {
        let st = match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.sys("stat", path)(e)),
        };
        let existing_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if existing_dir && is_dir {
            return Ok(());
        }
        self.remove(parent, name, path, existing_dir)
    }

    fn remove(&mut self, parent: &OwnedFd, name: &[u8], path: &[u8], is_dir: bool) -> Result<()> {
        if is_dir {
            // std's remove_dir_all never follows symlinks inside the tree; the parent is
            // reached through its already-resolved fd.
            let via_fd = Path::new("/proc/self/fd")
                .join(parent.as_raw_fd().to_string())
                .join(std::ffi::OsStr::new(&show(name)));
            std::fs::remove_dir_all(&via_fd)
                .map_err(|e| self.err(&show(path), format!("remove directory: {e}")))?;
            let mut prefix = path.to_vec();
            prefix.push(b'/');
            self.earlier.retain(|p| !p.starts_with(&prefix));
            self.dirs
                .retain(|p, _| p != path && !p.starts_with(&prefix));
        } else {
            unlinkat(parent, name, AtFlags::empty()).map_err(self.sys("remove", path))?;
            self.earlier.remove(path);
        }
        self.parent_cache = None;
        Ok(())
    }

    fn hardlink(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &[u8],
        target: &[u8],
    ) -> Result<()> {
        let tcomps = clean(target);
        let tpath = join(&tcomps);
        if !self.earlier.contains(&tpath) {
            return Err(self.err(
                &show(path),
                format!(
                    "hardlink to {:?}, which is not an earlier entry of this layer",
                    show(target)
                ),
            ));
        }
        let Some((tname, tparents)) = tcomps.split_last() else {
            return Err(self.err(&show(path), "hardlink to the layer root".into()));
        };
        let tparent = self
            .open_in_root(&join(tparents))
            .map_err(self.sys("open hardlink target", &tpath))?;
        linkat(&tparent, *tname, parent, name, AtFlags::empty())
            .map_err(self.sys("hardlink", path))?;
        self.earlier.insert(path.to_vec());
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, meta) in &dirs {
            let fd = openat2(
                &self.root,
                path.as_slice(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
            );
            let fd = match fd {
                Ok(fd) => fd,
                // Replaced by a later entry or whited out: nothing to finish.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(self.sys("open directory", path)(e)),
            };
            fchmod(&fd, Mode::from_raw_mode(meta.mode)).map_err(self.sys("chmod", path))?;
            futimens(&fd, &times(meta.mtime)).map_err(self.sys("set times", path))?;
        }
        Ok(())
    }
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}
