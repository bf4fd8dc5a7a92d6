//! The husk OCI runtime as a library.
//!
//! Data flows one way: `config.json` is parsed ([`spec`]), validated and turned
//! into a [`plan::Plan`] with every decision made, then executed: the parent
//! side lives in [`create`], the code that runs inside the new container
//! process (init) lives in [`child`], and the two talk over one typed
//! [`channel`]. [`state`] keeps what survives between commands.
#![forbid(unsafe_code)]

pub mod caller;
pub mod cgroup;
pub mod channel;
pub mod child;
pub mod create;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod json_path;
pub mod ops;
pub mod plan;
pub mod relay;
pub mod rootpath;
pub mod seccomp_listener;
pub mod spec;
pub mod state;
pub mod subid;
pub mod time;
pub mod weaken;

pub use error::{Error, Result};
