//! husk-image: image references, the registry client, the content store, safe layer
//! unpacking and overlay root filesystems. Everything here runs in the `husk` process.

#![forbid(unsafe_code)]

pub mod auth;
pub mod digest;
pub mod error;
pub mod fsutil;
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
