//! The `regex` API for husk's binaries, backed by `regex-lite`.
//!
//! Only oci-spec uses `regex` here, to check `process.execCPUAffinity`
//! against one small ASCII pattern. The full `regex` crate (with its
//! automata, aho-corasick and Unicode tables) was about 0.4 MB of
//! husk-runtime's 3 MB; `regex-lite` is a complete backtracking engine
//! without Unicode classes and optimisations, a few tens of KB. The
//! workspace's `[patch.crates-io]` puts this crate in `regex`'s place.
#![forbid(unsafe_code)]

pub use regex_lite::*;
