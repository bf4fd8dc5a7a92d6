//! A test-only switch: with the cargo feature `weaken` compiled in (never in
//! a normal build), `HUSK_WEAKEN=name[,name...]` turns the named protection
//! off, so that `tests/escapes.rs` can show each escape test catching the
//! attack it guards against. Without the feature, [`on`] is a constant
//! `false` and every weakened branch is compiled out.
//!
//! Names: `procfs-verify` (writes under /proc go through the container's
//! /proc), `devnull-verify` (masks use whatever /dev/null leads to),
//! `console-fd` (the pty is bound through a symlink at /dev/console),
//! `inheritable-caps` (the inheritable set is the permitted set),
//! `in-root-resolve` (paths in the root resolve like ordinary paths),
//! `exe-reexec` (husk-runtime runs container setup from its own file).

/// True if protection `name` is switched off in this (test) build.
#[cfg(feature = "weaken")]
pub fn on(name: &str) -> bool {
    std::env::var("HUSK_WEAKEN").is_ok_and(|v| v.split(',').any(|n| n == name))
}

/// Always false: this build has no weakening compiled in.
#[cfg(not(feature = "weaken"))]
#[inline]
pub const fn on(_name: &str) -> bool {
    false
}
