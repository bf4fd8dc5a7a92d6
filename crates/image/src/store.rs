//! The content store, by default under `/var/lib/husk/image`:
//!
//! ```text
//! blobs/sha256/<hex>        manifests, configs and compressed layers, by digest
//! layers/<chain-id hex>/    diff/ (the unpacked layer) and layer.json, one per chain ID
//! images/<config hex>.json  one record per image (its ID is its config digest)
//! tags.json                 "registry/repo:tag" -> image ID
//! ingest/<hex>.partial      blob downloads in progress (resumed by the next pull)
//! tmp/<pid>-...             layers being unpacked; renamed into layers/ when verified
//! locks/                    flock files: one per blob, one per layer, one for metadata
//! containers/<id>/          upper/, work/, merged/ of a container's overlay root
//! ```
//!
//! Blobs, layers and records are written to a temp name, fsynced and renamed, so a killed
//! husk leaves only leftovers in tmp/ and ingest/, never a half-written entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{self, Digest};
use crate::error::{Error, Result};
use crate::fsutil::{self, FileLock};
use crate::reference::Reference;

/// One layer of an image, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// The compressed blob.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub diff_id: Digest,
    pub chain_id: Digest,
}

/// What the store keeps about an image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest (Docker's image ID).
    pub id: Digest,
    /// The image manifest (for one platform).
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub config_media_type: String,
    pub layers: Vec<LayerRecord>,
    /// `registry/repo@digest` of what each pull's tag pointed to (index or manifest).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub created: Option<String>,
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    /// Seconds since the epoch when this husk home got the image.
    pub added: u64,
}

impl ImageRecord {
    /// Compressed size of all layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Tags {
    tags: BTreeMap<String, Digest>,
}

/// Metadata written beside an unpacked layer.
#[derive(Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    pub unpacked_bytes: u64,
}

/// The content store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating) the store in `<husk root>/image`.
    pub fn open(husk_root: &Path) -> Result<Self> {
        let root = husk_root.join("image");
        std::fs::create_dir_all(&root).map_err(Error::io("create store directory", &root))?;
        // Layers hold the images' setuid binaries and devices: host users must not reach
        // them (Docker makes /var/lib/docker 0710 for the same reason).
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(Error::io("chmod 0700", &root))?;
        for sub in [
            "blobs/sha256",
            "layers",
            "images",
            "ingest",
            "tmp",
            "locks",
            "containers",
        ] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).map_err(Error::io("create store directory", &d))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).exists()
    }

    /// Stores `bytes` under their digest, which must equal `d`.
    pub fn write_blob(&self, d: &Digest, bytes: &[u8]) -> Result<()> {
        digest::verify(&format!("blob {d}"), d, &Digest::of(bytes))?;
        if self.has_blob(d) {
            return Ok(());
        }
        fsutil::write_atomic(&self.blob_path(d), bytes, 0o644)
    }

    /// Reads a small blob and checks it against its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let bytes = std::fs::read(&p).map_err(Error::io("read blob", &p))?;
        digest::verify(
            &format!("stored blob {}", p.display()),
            d,
            &Digest::of(&bytes),
        )?;
        Ok(bytes)
    }

    pub fn ingest_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("ingest")
            .join(format!("{}.partial", d.hex()))
    }

    pub fn layer_path(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    /// The unpacked contents of a layer (an overlay lower dir).
    pub fn layer_diff(&self, chain_id: &Digest) -> PathBuf {
        self.layer_path(chain_id).join("diff")
    }

    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_path(chain_id).join("layer.json").exists()
    }

    /// A fresh directory under tmp/, named after this process.
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        self.root.join("tmp").join(fsutil::unique_name(what))
    }

    /// Removes leftovers in tmp/ of husk processes that no longer run.
    pub fn clean_tmp(&self) {
        let dir = self.root.join("tmp");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !Path::new("/proc").join(pid.to_string()).exists() {
                    let _ = fsutil::remove_tree(&e.path());
                }
            }
        }
    }

    /// An exclusive lock named `name` (`layer-<hex>`, `blob-<hex>`, `metadata`).
    pub fn lock(&self, name: &str) -> Result<FileLock> {
        FileLock::exclusive(&self.root.join("locks").join(format!("{name}.lock")))
    }

    /// Held (shared) while a pull, load or import adds layers that no record names yet;
    /// [`Store::gc`] waits for it. Take it before the metadata lock, never after.
    pub fn adding(&self) -> Result<std::fs::File> {
        self.lock_file("gc", rustix::fs::FlockOperation::LockShared)
    }

    /// Moves a verified, unpacked layer directory into place.
    pub fn commit_layer(&self, tmp: &Path, meta: &LayerMeta) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(meta).map_err(|source| Error::Json {
            what: "layer metadata".to_owned(),
            source,
        })?;
        fsutil::write_atomic(&tmp.join("layer.json"), &bytes, 0o644)?;
        let dir = rustix::fs::open(
            tmp,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .map_err(Error::io("open", tmp))?;
        rustix::fs::syncfs(&dir).map_err(Error::io("syncfs", tmp))?;
        let dest = self.layer_path(&meta.chain_id);
        std::fs::rename(tmp, &dest).map_err(Error::io("move layer into place", &dest))?;
        fsutil::sync_dir(&self.root.join("layers"))
    }

    /// The unpacked size of an image (compressed sizes where a layer has no record).
    pub fn image_size(&self, rec: &ImageRecord) -> u64 {
        rec.layers
            .iter()
            .map(|l| {
                std::fs::read(self.layer_path(&l.chain_id).join("layer.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LayerMeta>(&b).ok())
                    .map_or(l.size, |m| m.unpacked_bytes)
            })
            .sum()
    }

    fn image_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
        fsutil::write_atomic(path, &bytes, 0o644)
    }

    fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })
    }

    fn tags(&self) -> Result<Tags> {
        let p = self.root.join("tags.json");
        if !p.exists() {
            return Ok(Tags::default());
        }
        Self::read_json(&p)
    }

    /// Records an image and points `tag` (if any) at it, merging repo digests with an
    /// existing record of the same ID.
    pub fn add_image(&self, mut rec: ImageRecord, tag: Option<&str>) -> Result<ImageRecord> {
        let _lock = self.lock("metadata")?;
        if let Ok(old) = self.image(&rec.id) {
            for d in old.repo_digests {
                if !rec.repo_digests.contains(&d) {
                    rec.repo_digests.push(d);
                }
            }
            rec.added = old.added;
        }
        self.write_json(&self.image_path(&rec.id), &rec)?;
        if let Some(t) = tag {
            let mut tags = self.tags()?;
            tags.tags.insert(t.to_owned(), rec.id.clone());
            self.write_json(&self.root.join("tags.json"), &tags)?;
        }
        Ok(rec)
    }

    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        let p = self.image_path(id);
        if !p.exists() {
            return Err(Error::ImageNotFound(id.to_string()));
        }
        Self::read_json(&p)
    }

    /// Every image with its tags, newest first.
    pub fn images(&self) -> Result<Vec<(ImageRecord, Vec<String>)>> {
        let tags = self.tags()?;
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let e = e.map_err(Error::io("list", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            let Ok(id) = Digest::parse(&format!("sha256:{hex}")) else {
                continue;
            };
            let rec = self.image(&id)?;
            let t = tags
                .tags
                .iter()
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())
                .collect();
            out.push((rec, t));
        }
        out.sort_by(|a, b| b.0.added.cmp(&a.0.added).then(a.0.id.cmp(&b.0.id)));
        Ok(out)
    }

    /// Finds an image by tag, `name@digest`, full or short ID.
    pub fn resolve(&self, s: &str) -> Result<ImageRecord> {
        let hexish = s.strip_prefix("sha256:").unwrap_or(s);
        if hexish.len() >= 4
            && hexish.len() <= 64
            && hexish
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let matches: Vec<_> = self
                .images()?
                .into_iter()
                .filter(|(r, _)| r.id.hex().starts_with(hexish))
                .collect();
            match matches.len() {
                1 => {
                    return matches
                        .into_iter()
                        .next()
                        .map(|(r, _)| r)
                        .ok_or_else(|| Error::ImageNotFound(s.to_owned()))
                }
                0 => {}
                _ => {
                    return Err(Error::Ambiguous {
                        reference: s.to_owned(),
                        candidates: matches
                            .iter()
                            .map(|(r, _)| r.id.short().to_owned())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
        let r = Reference::parse(s).map_err(|_| Error::ImageNotFound(s.to_owned()))?;
        if let Some(d) = &r.digest {
            let pinned = r.with_digest(d);
            if let Some((rec, _)) = self
                .images()?
                .into_iter()
                .find(|(rec, _)| rec.repo_digests.contains(&pinned) || rec.manifest_digest == *d)
            {
                return Ok(rec);
            }
            return Err(Error::ImageNotFound(s.to_owned()));
        }
        let tagged = r.tagged().unwrap_or_default();
        match self.tags()?.tags.get(&tagged) {
            Some(id) => self.image(id),
            None => Err(Error::ImageNotFound(s.to_owned())),
        }
    }

    /// Points `tag` (normalised `registry/repo:tag`) at image `id`.
    pub fn set_tag(&self, tag: &str, id: &Digest) -> Result<()> {
        let _lock = self.lock("metadata")?;
        let mut tags = self.tags()?;
        tags.tags.insert(tag.to_owned(), id.clone());
        self.write_json(&self.root.join("tags.json"), &tags)
    }

    /// Removes a tag; returns the image it pointed to.
    pub fn remove_tag(&self, tag: &str) -> Result<Option<Digest>> {
        let _lock = self.lock("metadata")?;
        let mut tags = self.tags()?;
        let old = tags.tags.remove(tag);
        self.write_json(&self.root.join("tags.json"), &tags)?;
        Ok(old)
    }

    /// Tags pointing at `id`.
    pub fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self
            .tags()?
            .tags
            .into_iter()
            .filter(|(_, v)| v == id)
            .map(|(k, _)| k)
            .collect())
    }

    /// Containers (by ID) whose root filesystem uses image `id`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<String>> {
        let dir = self.root.join("containers");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir)
            .map_err(Error::io("list", &dir))?
            .flatten()
        {
            if std::fs::read_to_string(e.path().join("image"))
                .is_ok_and(|s| s.trim() == id.to_string())
            {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }

    /// Deletes an image record and its tags, then whatever content no image references.
    pub fn remove_image(&self, id: &Digest) -> Result<()> {
        {
            let _lock = self.lock("metadata")?;
            let mut tags = self.tags()?;
            tags.tags.retain(|_, v| v != id);
            self.write_json(&self.root.join("tags.json"), &tags)?;
            let p = self.image_path(id);
            std::fs::remove_file(&p).map_err(Error::io("remove image record", &p))?;
        }
        self.gc()
    }

    /// Removes blobs and layers no image references (holding the metadata lock).
    pub fn gc(&self) -> Result<()> {
        // Pulls, loads and imports hold this lock shared from their first layer to their
        // image record: what they have committed but not yet recorded is not garbage.
        let _gc = self.lock("gc")?;
        let _lock = self.lock("metadata")?;
        let images = self.images()?;
        let mut keep_blobs = std::collections::HashSet::new();
        let mut keep_layers = std::collections::HashSet::new();
        for (rec, _) in &images {
            keep_blobs.insert(rec.id.hex().to_owned());
            keep_blobs.insert(rec.manifest_digest.hex().to_owned());
            for d in &rec.repo_digests {
                if let Some((_, dig)) = d.split_once("@sha256:") {
                    keep_blobs.insert(dig.to_owned());
                }
            }
            for l in &rec.layers {
                keep_blobs.insert(l.digest.hex().to_owned());
                keep_layers.insert(l.chain_id.hex().to_owned());
            }
        }
        for (sub, keep) in [("layers", &keep_layers), ("blobs/sha256", &keep_blobs)] {
            let dir = self.root.join(sub);
            for e in std::fs::read_dir(&dir)
                .map_err(Error::io("list", &dir))?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if keep.contains(&name) {
                    continue;
                }
                // A pull in progress holds this lock while it writes the layer or blob.
                let lock_name = if sub == "layers" {
                    format!("layer-{name}")
                } else {
                    format!("blob-{name}")
                };
                let Ok(_l) = self.try_lock(&lock_name) else {
                    continue;
                };
                fsutil::remove_tree(&e.path()).map_err(Error::io("remove", e.path()))?;
            }
        }
        Ok(())
    }

    /// Deletes interrupted downloads in ingest/ that no pull is resuming right now (they
    /// are otherwise kept for the next pull); returns the bytes freed.
    pub fn prune_ingest(&self) -> Result<u64> {
        let dir = self.root.join("ingest");
        let mut freed = 0;
        for e in std::fs::read_dir(&dir)
            .map_err(Error::io("list", &dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".partial") else {
                continue;
            };
            let Ok(_l) = self.try_lock(&format!("blob-{hex}")) else {
                continue;
            };
            freed += e.metadata().map_or(0, |m| m.len());
            fsutil::remove_tree(&e.path()).map_err(Error::io("remove", e.path()))?;
        }
        Ok(freed)
    }

    fn try_lock(&self, name: &str) -> Result<std::fs::File> {
        self.lock_file(name, rustix::fs::FlockOperation::NonBlockingLockExclusive)
    }

    /// Opens `locks/<name>.lock` (creating it) and flocks it with `op`.
    fn lock_file(&self, name: &str, op: rustix::fs::FlockOperation) -> Result<std::fs::File> {
        let p = self.root.join("locks").join(format!("{name}.lock"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(Error::io("open lock", &p))?;
        rustix::fs::flock(&f, op).map_err(Error::io("lock", &p))?;
        Ok(f)
    }
}
