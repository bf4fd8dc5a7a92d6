//! Manifests and indexes, OCI and Docker v2 schema 2, and platform selection.
//!
//! Only the fields husk reads are modelled; the original bytes are what gets stored and
//! hashed, so unknown fields survive untouched.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The Accept header for manifest requests: every type husk understands (a registry
/// answers 404 to a request whose Accept does not name the manifest's type).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An image manifest (OCI or Docker v2s2: the same shape).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An image index or Docker manifest list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// os/arch/variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform husk runs on.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Self {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parses `os/arch[/variant]` as given to `--platform`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::InvalidPlatform {
            platform: s.to_owned(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(bad()),
        }
    }

    /// Does a candidate from an index satisfy this wanted platform? A wanted variant must
    /// match (arm64's implied v8 equals none); without one any variant does.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) => None,
            (_, v) => v.map(str::to_owned),
        };
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && (self.variant.is_none() || norm(self) == norm(candidate))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A manifest as the registry sent it, classified.
pub enum Parsed {
    Image(Manifest),
    Index(Index),
}

/// Classifies manifest bytes by the Content-Type header, else by the `mediaType` field.
pub fn parse(what: &str, content_type: Option<&str>, bytes: &[u8]) -> Result<Parsed> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_owned(),
        source,
    })?;
    if value
        .get("schemaVersion")
        .and_then(serde_json::Value::as_u64)
        == Some(1)
    {
        return Err(Error::Schema1 {
            reference: what.to_owned(),
        });
    }
    let field = value.get("mediaType").and_then(serde_json::Value::as_str);
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| c.starts_with("application/vnd."));
    let media_type = header.or(field).map(str::to_owned).unwrap_or_else(|| {
        if value.get("manifests").is_some() {
            OCI_INDEX.to_owned()
        } else {
            OCI_MANIFEST.to_owned()
        }
    });
    let json_err = |source| Error::Json {
        what: what.to_owned(),
        source,
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok(Parsed::Index(
            serde_json::from_value(value).map_err(json_err)?,
        )),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let m: Manifest = serde_json::from_value(value).map_err(json_err)?;
            if m.schema_version != 2 {
                return Err(Error::Manifest {
                    what: what.to_owned(),
                    reason: format!("unsupported schemaVersion {}", m.schema_version),
                });
            }
            Ok(Parsed::Image(m))
        }
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(Error::Schema1 {
            reference: what.to_owned(),
        }),
        other => Err(Error::Manifest {
            what: what.to_owned(),
            reason: format!("unsupported manifest media type {other}"),
        }),
    }
}

/// Picks the manifest for `want` from an index.
pub fn select<'a>(what: &str, index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| Error::NoMatchingPlatform {
            reference: what.to_owned(),
            platform: want.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type; foreign (non-distributable) layers are refused.
    pub fn from_media_type(media_type: &str) -> Result<Self> {
        match media_type {
            OCI_LAYER | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Self::None),
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Ok(Self::Gzip),
            OCI_LAYER_ZSTD => Ok(Self::Zstd),
            other => Err(Error::Manifest {
                what: "layer".to_owned(),
                reason: format!("unsupported layer media type {other}"),
            }),
        }
    }
}

/// The parts of an image configuration husk reads (the whole JSON is kept as bytes).
#[derive(Clone, Debug, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let c: Self = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: "image config".to_owned(),
            source,
        })?;
        if c.rootfs.kind != "layers" {
            return Err(Error::Manifest {
                what: "image config".to_owned(),
                reason: format!("rootfs.type is {:?}, expected \"layers\"", c.rootfs.kind),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(p.matches(&Platform::parse("linux/arm64").unwrap()));
        assert!(Platform::parse("linux/amd64")
            .unwrap()
            .matches(&Platform::parse("linux/amd64/v3").unwrap()));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//x").is_err());
    }

    #[test]
    fn schema1_is_refused_by_name() {
        let err = parse("x", None, br#"{"schemaVersion":1,"name":"x"}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("schema 1"), "{err}");
        let err = parse("x", Some(DOCKER_SCHEMA1_SIGNED), br#"{"schemaVersion":2}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("schema 1"), "{err}");
    }

    #[test]
    fn index_selection() {
        let d = Digest::of(b"x");
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let Parsed::Index(i) = parse("x", Some(OCI_INDEX), idx.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        assert_eq!(
            select("x", &i, &Platform::parse("linux/amd64").unwrap())
                .unwrap()
                .size,
            2
        );
        let err = select("x", &i, &Platform::parse("linux/s390x").unwrap())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("linux/arm64, linux/amd64"),
            "{err}"
        );
    }
}
