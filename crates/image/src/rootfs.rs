//! Container root filesystems: an overlay of an image's unpacked layers (lowest last in
//! `lowerdir`) with a per-container upper and work directory under
//! `<store>/containers/<id>/`, removed with the container.
//!
//! Mounted with the new mount API (fsopen/fsconfig/fsmount/move_mount), adding each lower
//! dir with `lowerdir+` so the page-sized option limit of mount(2) never caps the layer count.

use std::path::{Path, PathBuf};

use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, unmount, FsMountFlags,
    FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags,
};

use crate::error::{Error, Result};
use crate::store::{ImageRecord, Store};

/// A mounted container root.
#[derive(Clone, Debug)]
pub struct Rootfs {
    pub container: String,
    /// The merged view: the container's `/`.
    pub merged: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
}

fn container_dir(store: &Store, id: &str) -> Result<PathBuf> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.');
    if !ok {
        return Err(Error::Invalid {
            op: "container rootfs",
            reason: format!(
                "container id {id:?} must be 1-128 of [A-Za-z0-9_.-], not starting with ."
            ),
        });
    }
    Ok(store.root().join("containers").join(id))
}

/// Mounts the root filesystem of container `id` from `image` (at `<dir>/merged`, or at
/// `target` when given). The container dir records the image, so `rmi` refuses it.
pub fn mount_rootfs(
    store: &Store,
    id: &str,
    image: &ImageRecord,
    target: Option<&Path>,
) -> Result<Rootfs> {
    let dir = container_dir(store, id)?;
    let upper = dir.join("upper");
    let work = dir.join("work");
    let merged = target.map_or_else(|| dir.join("merged"), Path::to_path_buf);
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).map_err(Error::io("create", d))?;
    }
    std::fs::write(dir.join("image"), image.id.to_string())
        .map_err(Error::io("write", dir.join("image")))?;
    let mut lowers: Vec<PathBuf> = Vec::new();
    for l in image.layers.iter().rev() {
        if !store.has_layer(&l.chain_id) {
            return Err(Error::Invalid {
                op: "mount rootfs",
                reason: format!(
                    "layer {} of image {} is not unpacked; pull the image again",
                    l.chain_id, image.id
                ),
            });
        }
        lowers.push(store.layer_diff(&l.chain_id));
    }
    if lowers.is_empty() {
        // An image without layers: an empty lower dir.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).map_err(Error::io("create", &empty))?;
        lowers.push(empty);
    }
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fs) => fs,
        // No overlayfs in this kernel: give the container its own copy of the image.
        Err(rustix::io::Errno::NODEV) => return copy_rootfs(store, id, image, target),
        Err(e) => return Err(Error::io("fsopen overlay for", &merged)(e)),
    };
    for l in &lowers {
        fsconfig_set_string(&fs, "lowerdir+", l).map_err(Error::io("add overlay lower dir", l))?;
    }
    fsconfig_set_string(&fs, "upperdir", &upper)
        .map_err(Error::io("set overlay upper dir", &upper))?;
    fsconfig_set_string(&fs, "workdir", &work).map_err(Error::io("set overlay work dir", &work))?;
    fsconfig_create(&fs).map_err(Error::io("create overlay for", &merged))?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(Error::io("fsmount overlay for", &merged))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        &merged,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(Error::io("move_mount overlay to", &merged))?;
    Ok(Rootfs {
        container: id.to_owned(),
        merged,
        upper,
        work,
    })
}

/// The copy-mode fallback (no overlayfs): the image's layers unpacked, in order, into the
/// container's own directory (`<dir>/merged`, or `target`), whiteouts applied as deletions.
/// Each blob is read from the store and checked against its digest again.
pub fn copy_rootfs(
    store: &Store,
    id: &str,
    image: &ImageRecord,
    target: Option<&Path>,
) -> Result<Rootfs> {
    use crate::digest::HashingReader;
    use crate::manifest::Compression;
    use std::io::Read;

    let dir = container_dir(store, id)?;
    let merged = target.map_or_else(|| dir.join("merged"), Path::to_path_buf);
    std::fs::create_dir_all(&merged).map_err(Error::io("create", &merged))?;
    std::fs::write(dir.join("image"), image.id.to_string())
        .map_err(Error::io("write", dir.join("image")))?;
    let opts = crate::unpack::UnpackOptions {
        whiteouts: crate::unpack::Whiteouts::Apply,
        ..crate::unpack::UnpackOptions::default()
    };
    for l in &image.layers {
        let path = store.blob_path(&l.digest);
        let file = std::fs::File::open(&path).map_err(Error::io("open layer blob", &path))?;
        let mut blob = HashingReader::new(std::io::BufReader::with_capacity(256 << 10, file));
        let what = format!("layer {}", l.digest);
        {
            let tar: Box<dyn Read + '_> = match Compression::from_media_type(&l.media_type)? {
                Compression::None => Box::new(&mut blob),
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut blob)),
                Compression::Zstd => Box::new(
                    zstd::stream::read::Decoder::new(&mut blob)
                        .map_err(Error::io("start zstd", &path))?,
                ),
            };
            crate::unpack::unpack_layer(&what, tar, &merged, &opts)?;
        }
        blob.drain().map_err(Error::io("read layer blob", &path))?;
        crate::digest::verify(&what, &l.digest, &blob.finish().0)?;
    }
    Ok(Rootfs {
        container: id.to_owned(),
        upper: merged.clone(),
        work: dir.join("work"),
        merged,
    })
}

/// Unmounts a container's root (lazily, so a busy mount does not block removal) and
/// removes its upper, work and merged directories.
pub fn unmount_rootfs(store: &Store, id: &str, target: Option<&Path>) -> Result<()> {
    let dir = container_dir(store, id)?;
    let merged = target.map_or_else(|| dir.join("merged"), Path::to_path_buf);
    match unmount(&merged, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(Error::io("unmount", &merged)(e)),
    }
    crate::fsutil::remove_tree(&dir).map_err(Error::io("remove container directory", &dir))?;
    if target.is_some() {
        let _ = std::fs::remove_dir(&merged);
    }
    Ok(())
}
