//! The one error type of husk-image: every variant names the operation and the object.

use std::path::PathBuf;

/// What can go wrong while resolving, pulling, storing, unpacking or mounting images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },

    #[error("invalid platform {platform:?}: expected os/arch[/variant]")]
    InvalidPlatform { platform: String },

    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{op} {url}: {detail}")]
    Http {
        op: &'static str,
        url: String,
        detail: String,
    },

    #[error("{op} {url}: registry answered {status}: {detail}")]
    Status {
        op: &'static str,
        url: String,
        status: u16,
        detail: String,
    },

    #[error("unauthorized: authentication required for {registry} ({detail}); run `husk login {registry}`")]
    Unauthorized { registry: String, detail: String },

    #[error("{what} not found: {reference}")]
    NotFound {
        what: &'static str,
        reference: String,
    },

    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    #[error("{reference}: Docker image manifest schema 1 is not supported (deprecated since 2017); push the image again with a current client")]
    Schema1 { reference: String },

    #[error("{what}: {reason}")]
    Manifest { what: String, reason: String },

    #[error("{reference}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },

    #[error("parse {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("unpack {path} in layer {layer}: {reason}")]
    Unpack {
        layer: String,
        path: String,
        reason: String,
    },

    #[error("unpack layer {layer}: {reason}")]
    LayerTooLarge { layer: String, reason: String },

    #[error("no such image: {0}")]
    ImageNotFound(String),

    #[error("image {image} is used by container(s) {containers}; remove them first or use -f")]
    ImageInUse { image: String, containers: String },

    #[error("{reference} matches several images: {candidates}")]
    Ambiguous {
        reference: String,
        candidates: String,
    },

    #[error("{op}: {reason}")]
    Invalid { op: &'static str, reason: String },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A closure for `map_err` that turns an I/O error into [`Error::Io`] naming `op` and `path`.
    pub fn io<E: Into<std::io::Error>>(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(E) -> Error {
        let path = path.into();
        move |source| Error::Io {
            op,
            path,
            source: source.into(),
        }
    }

    /// Is this a failure of the network or of the registry that a retry might cure?
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
