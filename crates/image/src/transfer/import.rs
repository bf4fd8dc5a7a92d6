//! `import`: a root filesystem (directory or tarball) becomes a one-layer image.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde_json::json;

use super::{add_image, describe_file, media_type, rfc3339};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::fsutil::RemoveOnDrop;
use crate::manifest::{self, Compression, Parsed, Platform};
use crate::pull::{now, Progress, PullOptions};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};

/// Makes a one-layer image from a root filesystem: a directory, or a tarball (plain, gzip,
/// zstd) taken as the layer blob as it is.
pub fn import(
    store: &Store,
    source: &Path,
    tag: Option<&Reference>,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    store.clean_tmp();
    let _adding = store.adding()?;
    let tmp = RemoveOnDrop::new(store.tmp_path("import"));
    std::fs::create_dir_all(tmp.path()).map_err(Error::io("create", tmp.path()))?;
    let layer_path = tmp.path().join("layer");
    let meta = std::fs::metadata(source).map_err(Error::io("stat", source))?;
    if meta.is_dir() {
        let f = File::create(&layer_path).map_err(Error::io("create", &layer_path))?;
        let mut b = tar::Builder::new(io::BufWriter::new(f));
        b.follow_symlinks(false);
        b.append_dir_all(".", source)
            .map_err(Error::io("archive", source))?;
        let mut w = b.into_inner().map_err(Error::io("write", &layer_path))?;
        w.flush().map_err(Error::io("write", &layer_path))?;
    } else {
        std::fs::copy(source, &layer_path).map_err(Error::io("copy", source))?;
    }
    let (digest, size, compression) = describe_file(&layer_path)?;
    let diff_id = {
        let f = File::open(&layer_path).map_err(Error::io("open", &layer_path))?;
        let r = io::BufReader::with_capacity(256 << 10, f);
        let dec: Box<dyn Read> = match compression {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(r)
                    .map_err(Error::io("start zstd", &layer_path))?,
            ),
        };
        let mut h = HashingReader::new(dec);
        h.drain().map_err(Error::io("decompress", source))?;
        h.finish().0
    };
    let platform = Platform::host();
    let created = rfc3339(now());
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "husk import"}],
    }))
    .map_err(|source| Error::Json {
        what: "config".to_owned(),
        source,
    })?;
    let manifest_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": Digest::of(&config_bytes), "size": config_bytes.len()},
        "layers": [{"mediaType": media_type(compression), "digest": digest, "size": size}],
    }))
    .map_err(|source| Error::Json { what: "manifest".to_owned(), source })?;
    let Parsed::Image(m) =
        manifest::parse("import", Some(manifest::OCI_MANIFEST), &manifest_bytes)?
    else {
        return Err(Error::Invalid {
            op: "import",
            reason: "bad manifest".to_owned(),
        });
    };
    let tagged = tag.and_then(Reference::tagged);
    let lp = layer_path.clone();
    add_image(
        store,
        &m,
        manifest::OCI_MANIFEST,
        &manifest_bytes,
        &config_bytes,
        &move |_| lp.clone(),
        opts,
        progress,
        tagged.as_deref(),
    )
}
