//! `save` and `load`: image archives in the OCI image layout (with Docker's
//! manifest.json beside it) and in `docker save`'s format.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{add_image, describe_file, media_type};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::{self, RemoveOnDrop};
use crate::manifest::{self, Descriptor, Parsed};
use crate::pull::{Progress, PullOptions};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};

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
}
