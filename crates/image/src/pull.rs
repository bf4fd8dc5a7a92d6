//! `husk pull`: resolve the manifest for a platform, fetch and check the config, then let
//! [`crate::fetch`] download, verify and unpack the missing layers (the registry's
//! [`crate::registry::BlobReader`] resumes dropped connections with Range), and record the
//! image. Nothing reaches blobs/ or layers/ before its digest, size and diff_id are checked.

use crate::digest::{chain_ids, Digest};
use crate::error::{Error, Result};
pub use crate::fetch::{fetch_layers, Source};
use crate::manifest::{self, Compression, ImageConfig, Parsed, Platform};
use crate::reference::Reference;
use crate::registry::{check_size, Client};
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::unpack::UnpackOptions;

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    pub platform: Platform,
    /// Layers downloaded at once.
    pub parallel: usize,
    pub unpack: UnpackOptions,
    /// A layer may expand to at most this many times its compressed size (gzip cannot
    /// exceed ~1032:1; zstd and plain tar can), and never beyond `unpack.max_bytes`.
    pub max_ratio: u64,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            platform: Platform::host(),
            parallel: 3,
            unpack: UnpackOptions::default(),
            max_ratio: 1100,
        }
    }
}

/// What a pull reports as it goes (the binary draws bars or prints lines).
#[derive(Debug)]
pub enum Event<'a> {
    Resolved {
        reference: &'a Reference,
        digest: &'a Digest,
    },
    LayerStart {
        digest: &'a Digest,
        size: u64,
    },
    LayerBytes {
        digest: &'a Digest,
        done: u64,
    },
    LayerDone {
        digest: &'a Digest,
        cached: bool,
    },
}

/// Receives pull [`Event`]s from the download threads.
pub trait Progress: Sync {
    fn event(&self, e: Event<'_>);
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: Event<'_>) {}
}

/// Resolves a reference to an image manifest for the wanted platform. Returns the top
/// manifest's digest (what the tag points to), the image manifest, its bytes, media type
/// and digest.
pub struct Resolved {
    pub top_digest: Digest,
    pub top_bytes: Vec<u8>,
    pub manifest: manifest::Manifest,
    pub manifest_bytes: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: Digest,
}

pub fn resolve(client: &Client, r: &Reference, platform: &Platform) -> Result<Resolved> {
    let what = r.to_string();
    let (bytes, ctype, top_digest) = client.get_manifest(r, &r.manifest_ref())?;
    match manifest::parse(&what, ctype.as_deref(), &bytes)? {
        Parsed::Image(m) => Ok(Resolved {
            top_digest: top_digest.clone(),
            manifest_media_type: media_type_of(&m.media_type, ctype.as_deref()),
            top_bytes: bytes.clone(),
            manifest: m,
            manifest_bytes: bytes,
            manifest_digest: top_digest,
        }),
        Parsed::Index(index) => {
            let desc = manifest::select(&what, &index, platform)?;
            let (mbytes, mtype, mdigest) = client.get_manifest(r, &desc.digest.to_string())?;
            check_size(
                &format!("manifest {}", desc.digest),
                desc.size,
                mbytes.len() as u64,
            )?;
            match manifest::parse(&what, mtype.as_deref(), &mbytes)? {
                Parsed::Image(m) => Ok(Resolved {
                    top_digest,
                    top_bytes: bytes,
                    manifest_media_type: media_type_of(&m.media_type, mtype.as_deref()),
                    manifest: m,
                    manifest_bytes: mbytes,
                    manifest_digest: mdigest,
                }),
                Parsed::Index(_) => Err(Error::Manifest {
                    what,
                    reason: "an index inside an index is not supported".to_owned(),
                }),
            }
        }
    }
}

fn media_type_of(field: &Option<String>, header: Option<&str>) -> String {
    field
        .clone()
        .or_else(|| header.map(str::to_owned))
        .unwrap_or_else(|| manifest::OCI_MANIFEST.to_owned())
}

/// Pulls `r` into `store` and tags it; returns the image record.
pub fn pull(
    store: &Store,
    client: &Client,
    r: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    store.clean_tmp();
    let _adding = store.adding()?;
    let res = resolve(client, r, &opts.platform)?;
    progress.event(Event::Resolved {
        reference: r,
        digest: &res.top_digest,
    });
    let m = &res.manifest;
    let config_bytes = if store.has_blob(&m.config.digest) {
        store.read_blob(&m.config.digest)?
    } else {
        client.get_blob_bytes(r, &m.config, 16 << 20)?
    };
    let config = ImageConfig::parse(&config_bytes)?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::Manifest {
            what: r.to_string(),
            reason: format!(
                "the manifest lists {} layers but the config has {} diff_ids",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }
    let chains = chain_ids(&config.rootfs.diff_ids);
    let mut layers = Vec::with_capacity(m.layers.len());
    for (i, desc) in m.layers.iter().enumerate() {
        Compression::from_media_type(&desc.media_type)?;
        layers.push(LayerRecord {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            size: desc.size,
            diff_id: config.rootfs.diff_ids[i].clone(),
            chain_id: chains[i].clone(),
        });
    }
    fetch_layers(store, &layers, opts, progress, &|desc, offset| {
        Ok(Box::new(client.blob_reader(r, desc, offset)?))
    })?;
    store.write_blob(&m.config.digest, &config_bytes)?;
    store.write_blob(&res.manifest_digest, &res.manifest_bytes)?;
    store.write_blob(&res.top_digest, &res.top_bytes)?;
    let rec = ImageRecord {
        id: m.config.digest.clone(),
        manifest_digest: res.manifest_digest.clone(),
        manifest_media_type: res.manifest_media_type.clone(),
        config_media_type: m.config.media_type.clone(),
        layers,
        repo_digests: vec![r.with_digest(&res.top_digest)],
        created: config.created.clone(),
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        added: now(),
    };
    store.add_image(rec, r.tagged().as_deref())
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
