//! husk-image: image references, the registry client, the content store, safe layer
//! unpacking and container root filesystems. Everything here runs in the `husk` process
//! (no fork, no daemon).
//!
//! ```text
//! reference ──► registry (auth, TLS, retries, Range resume) ──► manifest/index ──► platform
//!     ──► config (diff_ids) ──► layers, in parallel, each streamed once:
//!         blob ─► sha256+size ─► gunzip/unzstd ─► sha256 (diff_id) + bomb limit ─► unpack
//!     ──► store: blobs/ by digest, layers/ by chain ID, images/ + tags.json
//!     ──► rootfs: overlay of layers/<chain>/diff + per-container upper/work (or a copy)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`reference`](mod@reference) | `[registry/]name[:tag][@digest]`, Docker's defaults |
//! | [`digest`] | `sha256:` digests, chain IDs, hashing readers with a byte limit |
//! | [`manifest`] | OCI and Docker manifests and indexes, platform selection |
//! | [`auth`] | Docker's config.json credentials, `WWW-Authenticate` challenges |
//! | [`registry`] | the blocking distribution-API client |
//! | [`store`] | the content store under `<root>/image`, its locks and records |
//! | [`unpack`] | applying one layer tar safely (openat2 `RESOLVE_IN_ROOT`) |
//! | [`pull`] | resolve, fetch the config, record |
//! | [`fetch`] | download, verify and unpack layers in one streaming pass |
//! | [`gzip`] | multi-member gzip as raw deflate (the diff_id is the checksum) |
//! | [`transfer`] | push, save, load, import |
//! | [`rootfs`] | container root filesystems (overlayfs, copy fallback) |

#![forbid(unsafe_code)]

pub mod auth;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod gzip;
pub mod manifest;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod transfer;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
