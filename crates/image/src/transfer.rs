//! Moving images in and out without a registry pull: `push`, `save` (an OCI image layout
//! tar that also carries Docker's manifest.json), `load` (OCI layout or `docker save`
//! archives) and `import` (a root filesystem becomes a one-layer image).
//!
//! Loaded and imported layers go through the same verified path as pulled ones
//! ([`crate::pull::fetch_layers`]): size, digest and diff_id checked, unpacked safely.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::fsutil::{self, RemoveOnDrop};
use crate::manifest::{self, Compression, Descriptor, ImageConfig, Parsed, Platform};
use crate::pull::{fetch_layers, now, Event, Progress, PullOptions};
use crate::reference::Reference;
use crate::registry::{Client, Payload};
use crate::store::{ImageRecord, LayerRecord, Store};

/// Pushes an image from the store to `target`; returns the manifest digest.
pub fn push(
    store: &Store,
    client: &Client,
    rec: &ImageRecord,
    target: &Reference,
    progress: &dyn Progress,
) -> Result<Digest> {
    for l in &rec.layers {
        let path = store.blob_path(&l.digest);
        if !path.exists() {
            return Err(Error::Invalid {
                op: "push",
                reason: format!(
                    "layer blob {} is missing from the store; pull the image again",
                    l.digest
                ),
            });
        }
        progress.event(Event::LayerStart {
            digest: &l.digest,
            size: l.size,
        });
        let exists = client.blob_exists(target, &l.digest)?;
        if !exists {
            client.upload_blob(target, &l.digest, Payload::File(&path))?;
        }
        progress.event(Event::LayerDone {
            digest: &l.digest,
            cached: exists,
        });
    }
    if !client.blob_exists(target, &rec.id)? {
        client.upload_blob(target, &rec.id, Payload::File(&store.blob_path(&rec.id)))?;
    }
    let bytes = store.read_blob(&rec.manifest_digest)?;
    client.put_manifest(
        target,
        &target.manifest_ref(),
        &rec.manifest_media_type,
        &bytes,
    )?;
    let mut updated = rec.clone();
    let pinned = target.with_digest(&rec.manifest_digest);
    if !updated.repo_digests.contains(&pinned) {
        updated.repo_digests.push(pinned);
    }
    store.add_image(updated, None)?;
    Ok(rec.manifest_digest.clone())
}

/// Writes `images` (each with the tags to record) to a tar at `out`: an OCI image layout
/// (`oci-layout`, `index.json`, `blobs/`) plus Docker's `manifest.json`.
pub fn save(store: &Store, images: &[(ImageRecord, Vec<String>)], out: &Path) -> Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}", fsutil::unique_name("husk-save")));
    let mut guard = RemoveOnDrop::new(tmp.clone());
    let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    let mut b = tar::Builder::new(io::BufWriter::new(file));
    let mut index = Vec::new();
    let mut docker = Vec::new();
    let mut written = std::collections::HashSet::new();
    let mut add_blob = |b: &mut tar::Builder<io::BufWriter<File>>, d: &Digest| -> Result<()> {
        if !written.insert(d.clone()) {
            return Ok(());
        }
        let p = store.blob_path(d);
        let f = File::open(&p).map_err(Error::io("open blob", &p))?;
        let len = f.metadata().map_err(Error::io("stat", &p))?.len();
        let mut h = header(len);
        b.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), f)
            .map_err(Error::io("write", &tmp))
    };
    for (rec, tags) in images {
        add_blob(&mut b, &rec.manifest_digest)?;
        add_blob(&mut b, &rec.id)?;
        for l in &rec.layers {
            if !store.has_blob(&l.digest) {
                return Err(Error::Invalid {
                    op: "save",
                    reason: format!(
                        "layer blob {} is missing from the store; pull the image again",
                        l.digest
                    ),
                });
            }
            add_blob(&mut b, &l.digest)?;
        }
        let size = std::fs::metadata(store.blob_path(&rec.manifest_digest))
            .map_err(Error::io("stat", store.blob_path(&rec.manifest_digest)))?
            .len();
        let desc = |ann: serde_json::Value| json!({"mediaType": rec.manifest_media_type, "digest": rec.manifest_digest, "size": size, "annotations": ann});
        let mut repo_tags = Vec::new();
        for t in tags {
            let r = Reference::parse(t)?;
            index.push(desc(json!({
                "io.containerd.image.name": t,
                "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
            })));
            repo_tags.push(format!(
                "{}:{}",
                r.familiar_name(),
                r.tag.unwrap_or_default()
            ));
        }
        if tags.is_empty() {
            index.push(desc(json!({})));
        }
        docker.push(json!({
            "Config": format!("blobs/sha256/{}", rec.id.hex()),
            "RepoTags": repo_tags,
            "Layers": rec.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
        }));
    }
    let small = |b: &mut tar::Builder<io::BufWriter<File>>,
                 name: &str,
                 v: &serde_json::Value|
     -> Result<()> {
        let bytes = serde_json::to_vec(v).map_err(|source| Error::Json {
            what: name.to_owned(),
            source,
        })?;
        let mut h = header(bytes.len() as u64);
        b.append_data(&mut h, name, &bytes[..])
            .map_err(Error::io("write", &tmp))
    };
    small(
        &mut b,
        "oci-layout",
        &json!({"imageLayoutVersion": "1.0.0"}),
    )?;
    small(
        &mut b,
        "index.json",
        &json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": index}),
    )?;
    small(&mut b, "manifest.json", &serde_json::Value::Array(docker))?;
    let w = b.into_inner().map_err(Error::io("write", &tmp))?;
    let f = w
        .into_inner()
        .map_err(|e| Error::io("write", &tmp)(e.into_error()))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    std::fs::rename(&tmp, out).map_err(Error::io("rename into place", out))?;
    guard.disarm();
    Ok(())
}

fn header(len: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Loads every image of an archive (OCI layout, or `docker save` format); returns each
/// image with the tags it got.
pub fn load(
    store: &Store,
    input: &Path,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Vec<(ImageRecord, Vec<String>)>> {
    store.clean_tmp();
    let _adding = store.adding()?;
    let tmp = RemoveOnDrop::new(store.tmp_path("load"));
    let dir = tmp.path().to_path_buf();
    extract_archive(input, &dir)?;
    if dir.join("index.json").exists() {
        load_oci(store, &dir, opts, progress)
    } else if dir.join("manifest.json").exists() {
        load_docker(store, &dir, opts, progress)
    } else {
        Err(Error::Invalid {
            op: "load",
            reason: format!(
                "{}: neither index.json (OCI layout) nor manifest.json (docker save) found",
                input.display()
            ),
        })
    }
}

/// Extracts an archive's regular files whose names are plain relative paths.
fn extract_archive(input: &Path, dir: &Path) -> Result<()> {
    let f = File::open(input).map_err(Error::io("open archive", input))?;
    let mut a = tar::Archive::new(io::BufReader::new(f));
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    // `docker save` dedups layers with symlinks (`<id>/layer.tar -> ../<sha>.tar`).
    let mut links: Vec<(String, String)> = Vec::new();
    for e in a.entries().map_err(Error::io("read archive", input))? {
        let mut e = e.map_err(Error::io("read archive", input))?;
        let kind = e.header().entry_type();
        if kind == tar::EntryType::Directory {
            continue;
        }
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let Some(name) = plain_path(&name) else {
            continue;
        };
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            let base = if kind.is_symlink() {
                name.rsplit_once('/').map_or("", |(d, _)| d)
            } else {
                ""
            };
            if let Some(t) = plain_path(&format!("{base}/{target}")) {
                links.push((name, t));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let dest = dir.join(&name);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(Error::io("create", p))?;
        }
        let mut out = File::create(&dest).map_err(Error::io("create", &dest))?;
        io::copy(&mut e, &mut out).map_err(Error::io("extract", &dest))?;
    }
    // Links become hardlinks to files extracted above: nothing outside `dir` is reachable.
    for (name, target) in links {
        let (src, dest) = (dir.join(&target), dir.join(&name));
        if src.is_file() && !dest.exists() {
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(Error::io("create", p))?;
            }
            std::fs::hard_link(&src, &dest).map_err(Error::io("link", &dest))?;
        }
    }
    Ok(())
}

/// A relative path of plain names (`..` resolved lexically, never above the top), or None.
fn plain_path(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c if c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b)) =>
            {
                out.push(c)
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then(|| out.join("/"))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })
}

fn load_oci(
    store: &Store,
    dir: &Path,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Vec<(ImageRecord, Vec<String>)>> {
    let index_bytes =
        std::fs::read(dir.join("index.json")).map_err(Error::io("read", dir.join("index.json")))?;
    let Parsed::Index(index) = manifest::parse("index.json", None, &index_bytes)? else {
        return Err(Error::Invalid {
            op: "load",
            reason: "index.json is not an image index".to_owned(),
        });
    };
    let blob = |d: &Digest| dir.join("blobs/sha256").join(d.hex());
    let mut out: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    for desc in &index.manifests {
        let name = desc.annotations.as_ref().and_then(|a| {
            a.get("io.containerd.image.name")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
        let mut mdesc = desc.clone();
        let mut bytes = read_verified(&blob(&desc.digest), desc)?;
        if let Parsed::Index(inner) =
            manifest::parse(&desc.digest.to_string(), Some(&desc.media_type), &bytes)?
        {
            mdesc = manifest::select(&desc.digest.to_string(), &inner, &opts.platform)?.clone();
            bytes = read_verified(&blob(&mdesc.digest), &mdesc)?;
        }
        let Parsed::Image(m) =
            manifest::parse(&mdesc.digest.to_string(), Some(&mdesc.media_type), &bytes)?
        else {
            return Err(Error::Invalid {
                op: "load",
                reason: format!("{}: nested index", mdesc.digest),
            });
        };
        let config = read_verified(&blob(&m.config.digest), &m.config)?;
        let tag = name
            .map(|n| Reference::parse(&n))
            .transpose()?
            .and_then(|r| r.tagged());
        let rec = add_image(
            store,
            &m,
            &mdesc.media_type,
            &bytes,
            &config,
            &|d| blob(d),
            opts,
            progress,
            tag.as_deref(),
        )?;
        out.push((rec, tag.into_iter().collect()));
    }
    Ok(out)
}

fn read_verified(path: &Path, desc: &Descriptor) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    crate::registry::check_size(
        &format!("blob {}", desc.digest),
        desc.size,
        bytes.len() as u64,
    )?;
    crate::digest::verify(
        &format!("blob {}", desc.digest),
        &desc.digest,
        &Digest::of(&bytes),
    )?;
    Ok(bytes)
}

/// Stores an image whose blobs are files: layers verified and unpacked, then config,
/// manifest and record.
#[allow(clippy::too_many_arguments)]
fn add_image(
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

fn load_docker(
    store: &Store,
    dir: &Path,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Vec<(ImageRecord, Vec<String>)>> {
    let list = read_json(&dir.join("manifest.json"))?;
    let entries = list.as_array().ok_or_else(|| Error::Invalid {
        op: "load",
        reason: "manifest.json is not a list".to_owned(),
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let field = |k: &str| {
            entry.get(k).ok_or_else(|| Error::Invalid {
                op: "load",
                reason: format!("manifest.json: entry without {k}"),
            })
        };
        let config_path = dir.join(field("Config")?.as_str().unwrap_or(""));
        let config_bytes = std::fs::read(&config_path).map_err(Error::io("read", &config_path))?;
        let mut by_digest: HashMap<Digest, PathBuf> = HashMap::new();
        let mut descs = Vec::new();
        for l in field("Layers")?.as_array().into_iter().flatten() {
            let p = dir.join(l.as_str().unwrap_or(""));
            let (digest, size, compression) = describe_file(&p)?;
            descs.push(
                json!({"mediaType": media_type(compression), "digest": digest, "size": size}),
            );
            by_digest.insert(digest, p);
        }
        let config_digest = Digest::of(&config_bytes);
        let manifest_bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_MANIFEST,
            "config": {"mediaType": manifest::OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
            "layers": descs,
        }))
        .map_err(|source| Error::Json { what: "manifest".to_owned(), source })?;
        let Parsed::Image(m) = manifest::parse(
            "manifest.json",
            Some(manifest::OCI_MANIFEST),
            &manifest_bytes,
        )?
        else {
            return Err(Error::Invalid {
                op: "load",
                reason: "bad manifest".to_owned(),
            });
        };
        let tags: Vec<String> = entry
            .get("RepoTags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| {
                t.as_str()
                    .and_then(|s| Reference::parse(s).ok())
                    .and_then(|r| r.tagged())
            })
            .collect();
        let lookup = |d: &Digest| by_digest.get(d).cloned().unwrap_or_default();
        let mut rec = add_image(
            store,
            &m,
            manifest::OCI_MANIFEST,
            &manifest_bytes,
            &config_bytes,
            &lookup,
            opts,
            progress,
            tags.first().map(String::as_str),
        )?;
        for t in tags.iter().skip(1) {
            store.set_tag(t, &rec.id)?;
        }
        rec = store.image(&rec.id)?;
        out.push((rec, tags));
    }
    Ok(out)
}

/// Digest, size and compression (by magic bytes) of a layer file.
fn describe_file(p: &Path) -> Result<(Digest, u64, Compression)> {
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

fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => manifest::OCI_LAYER,
        Compression::Gzip => manifest::OCI_LAYER_GZIP,
        Compression::Zstd => manifest::OCI_LAYER_ZSTD,
    }
}

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
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
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
    fn plain_paths() {
        assert_eq!(super::plain_path("./a/../b.tar").as_deref(), Some("b.tar"));
        assert_eq!(super::plain_path("x/../../etc/passwd"), None);
        assert_eq!(super::plain_path("/abs/ok").as_deref(), Some("abs/ok"));
        assert_eq!(super::plain_path("a b"), None);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
