//! Moving images in and out without a registry pull: `push`, `save` (an OCI image layout
//! tar that also carries Docker's manifest.json), `load` (OCI layout or `docker save`
//! archives) and `import` (a root filesystem becomes a one-layer image).
//!
//! Loaded and imported layers go through the same verified path as pulled ones
//! ([`crate::pull::fetch_layers`]): size, digest and diff_id checked, unpacked safely.

mod archive;
mod import;
mod push;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::manifest::{self, Compression, ImageConfig};
use crate::pull::{fetch_layers, now, Progress, PullOptions};
use crate::store::{ImageRecord, LayerRecord, Store};

pub use archive::{load, save};
pub use import::import;
pub use push::push;

/// Stores an image whose blobs are files: layers verified and unpacked, then config,
/// manifest and record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_image(
    store: &Store,
    m: &manifest::Manifest,
    media_type: &str,
    manifest_bytes: &[u8],
    config_bytes: &[u8],
    blob: &(dyn Fn(&Digest) -> PathBuf + Sync),
    opts: &PullOptions,
    progress: &dyn Progress,
    tag: Option<&str>,
) -> Result<ImageRecord> {
    let config = ImageConfig::parse(config_bytes)?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::Manifest {
            what: "load".to_owned(),
            reason: format!(
                "{} layers but {} diff_ids",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }
    let chains = crate::digest::chain_ids(&config.rootfs.diff_ids);
    let layers: Vec<LayerRecord> = m
        .layers
        .iter()
        .zip(config.rootfs.diff_ids.iter().zip(&chains))
        .map(|(d, (diff, chain))| LayerRecord {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            diff_id: diff.clone(),
            chain_id: chain.clone(),
        })
        .collect();
    for l in &layers {
        Compression::from_media_type(&l.media_type)?;
    }
    fetch_layers(store, &layers, opts, progress, &|desc, offset| {
        let p = blob(&desc.digest);
        let mut f = File::open(&p).map_err(Error::io("open blob", &p))?;
        io::copy(&mut (&mut f).take(offset), &mut io::sink()).map_err(Error::io("read", &p))?;
        Ok(Box::new(io::BufReader::with_capacity(256 << 10, f)))
    })?;
    // Blobs already in the store (by an earlier pull) were not copied by fetch_layers.
    for l in &layers {
        if !store.has_blob(&l.digest) {
            let p = blob(&l.digest);
            let (d, size, _) = describe_file(&p)?;
            let what = format!("layer {}", l.digest);
            crate::registry::check_size(&what, l.size, size)?;
            crate::digest::verify(&what, &l.digest, &d)?;
            let dest = store.blob_path(&l.digest);
            let part = store.tmp_path("blob");
            std::fs::copy(&p, &part).map_err(Error::io("copy blob", &part))?;
            std::fs::rename(&part, &dest).map_err(Error::io("move blob into place", &dest))?;
        }
    }
    store.write_blob(&m.config.digest, config_bytes)?;
    let manifest_digest = Digest::of(manifest_bytes);
    store.write_blob(&manifest_digest, manifest_bytes)?;
    let rec = ImageRecord {
        id: m.config.digest.clone(),
        manifest_digest,
        manifest_media_type: media_type.to_owned(),
        config_media_type: m.config.media_type.clone(),
        layers,
        repo_digests: vec![],
        created: config.created.clone(),
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        added: now(),
    };
    store.add_image(rec, tag)
}

/// Digest, size and compression (by magic bytes) of a layer file.
pub(crate) fn describe_file(p: &Path) -> Result<(Digest, u64, Compression)> {
    let mut f = File::open(p).map_err(Error::io("open", p))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(Error::io("read", p))?;
    let compression = match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    };
    let f = File::open(p).map_err(Error::io("open", p))?;
    let mut h = HashingReader::new(io::BufReader::with_capacity(256 << 10, f));
    h.drain().map_err(Error::io("read", p))?;
    let (d, size) = h.finish();
    Ok((d, size, compression))
}

pub(crate) fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => manifest::OCI_LAYER,
        Compression::Gzip => manifest::OCI_LAYER_GZIP,
        Compression::Zstd => manifest::OCI_LAYER_ZSTD,
    }
}

/// `2026-01-01T00:00:00Z` for seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
