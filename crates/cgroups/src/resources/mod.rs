//! `linux.resources` translated into cgroup file writes, as data. Each part
//! of the resources (memory, cpu, blockIO, ...) is carried by one controller;
//! [`translate`] sends each part to the hierarchy that offers its controller
//! on this host: a v1 hierarchy when one is mounted, else the unified (v2)
//! hierarchy. On a hybrid host (v1 hierarchies plus cgroup2) this lets a
//! controller that only lives in cgroup2 (hugetlb on our CI hosts) be used.
//! A part whose controller is nowhere is an error naming the field, decided
//! before any directory is created. Pure functions, unit-tested without a
//! kernel.

mod v1;
mod v2;

use crate::{Error, Result};
use oci_spec::runtime::LinuxResources;

pub use v1::device_writes;
pub use v2::{blkio_weight_to_io_weight, shares_to_weight, swap_max};

/// One value to write into one file of one controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The field of `linux.resources` it comes from, for error messages.
    pub field: &'static str,
    /// The controller whose hierarchy (v1) or whose files (v2) this is.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// The file and value to use instead when `file` does not exist: the
    /// block I/O weight files depend on the I/O scheduler the kernel has
    /// (BFQ's `blkio.bfq.weight` / `io.bfq.weight` or the generic ones).
    pub fallback: Option<(String, String)>,
    /// Skipped when the file does not exist: runc's rule for turning swap
    /// off (or unlimited) on a kernel without swap accounting.
    pub optional: bool,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        field: "",
        controller,
        file: file.into(),
        value: value.to_string(),
        fallback: None,
        optional: false,
    }
}

impl Write {
    /// Sets the file and value used when `self.file` does not exist.
    fn or_else(mut self, file: impl Into<String>, value: impl ToString) -> Write {
        self.fallback = Some((file.into(), value.to_string()));
        self
    }
}

/// The parts of `linux.resources` that each need one controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Memory,
    Cpu,
    Cpuset,
    Pids,
    Devices,
    BlockIo,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
}

impl Part {
    const ALL: [Part; 10] = [
        Part::Memory,
        Part::Cpu,
        Part::Cpuset,
        Part::Pids,
        Part::Devices,
        Part::BlockIo,
        Part::Hugetlb,
        Part::NetCls,
        Part::NetPrio,
        Part::Rdma,
    ];

    fn field(self) -> &'static str {
        match self {
            Part::Memory => "linux.resources.memory",
            Part::Cpu => "linux.resources.cpu",
            Part::Cpuset => "linux.resources.cpu.cpus",
            Part::Pids => "linux.resources.pids",
            Part::Devices => "linux.resources.devices",
            Part::BlockIo => "linux.resources.blockIO",
            Part::Hugetlb => "linux.resources.hugepageLimits",
            Part::NetCls => "linux.resources.network.classID",
            Part::NetPrio => "linux.resources.network.priorities",
            Part::Rdma => "linux.resources.rdma",
        }
    }

    fn v1_controller(self) -> &'static str {
        match self {
            Part::Memory => "memory",
            Part::Cpu => "cpu",
            Part::Cpuset => "cpuset",
            Part::Pids => "pids",
            Part::Devices => "devices",
            Part::BlockIo => "blkio",
            Part::Hugetlb => "hugetlb",
            Part::NetCls => "net_cls",
            Part::NetPrio => "net_prio",
            Part::Rdma => "rdma",
        }
    }

    /// The v2 controller; devices have none (an eBPF program does their
    /// job) and cgroup v2 has no network controllers.
    fn v2_controller(self) -> Option<&'static str> {
        match self {
            Part::BlockIo => Some("io"),
            Part::Devices | Part::NetCls | Part::NetPrio => None,
            p => Some(p.v1_controller()),
        }
    }

    fn is_set(self, r: &LinuxResources) -> bool {
        let cpu = r.cpu().as_ref();
        let net = r.network().as_ref();
        match self {
            Part::Memory => r.memory().is_some(),
            Part::Cpu => cpu.is_some_and(|c| {
                c.shares().is_some()
                    || c.quota().is_some()
                    || c.period().is_some()
                    || c.burst().is_some()
                    || c.realtime_period().is_some()
                    || c.realtime_runtime().is_some()
                    || c.idle().is_some()
            }),
            Part::Cpuset => cpu.is_some_and(|c| {
                c.cpus().as_ref().is_some_and(|s| !s.is_empty())
                    || c.mems().as_ref().is_some_and(|s| !s.is_empty())
            }),
            Part::Pids => r.pids().is_some(),
            Part::Devices => r.devices().as_ref().is_some_and(|d| !d.is_empty()),
            Part::BlockIo => r.block_io().is_some(),
            Part::Hugetlb => r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
            Part::NetCls => net.is_some_and(|n| n.class_id().is_some()),
            Part::NetPrio => {
                net.is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
            }
            Part::Rdma => r.rdma().as_ref().is_some_and(|h| !h.is_empty()),
        }
    }
}

/// Which controllers the host offers, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// Controllers of the mounted v1 hierarchies.
    pub v1: Vec<String>,
    /// The controllers of the unified hierarchy's root (`cgroup.controllers`);
    /// `None` without a cgroup2 mount.
    pub v2: Option<Vec<String>>,
}

impl Offered {
    fn in_v1(&self, c: &str) -> bool {
        self.v1.iter().any(|x| x == c)
    }

    fn in_v2(&self, c: &str) -> bool {
        self.v2.iter().flatten().any(|x| x == c)
    }
}

/// Everything to do to a cgroup for one `linux.resources`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// Writes into v1 hierarchies, in order.
    pub v1: Vec<Write>,
    /// Writes into the unified hierarchy, in order.
    pub v2: Vec<Write>,
    /// The device rules go into an eBPF program attached to the unified
    /// cgroup (no v1 devices hierarchy).
    pub bpf_devices: bool,
    /// `linux.resources.unified`, written last (runc's order), sorted.
    pub unified: Vec<(String, String)>,
}

impl Writes {
    /// A new cgroup's device access starts from deny-all, whatever the
    /// config's rules (runc's device emulator starts as a whitelist): on v1
    /// a reset (`a *:* rwm` to devices.deny) goes before the config's rules,
    /// since a new v1 cgroup inherits its parent's (usually allow-all); on
    /// v2 the program, which starts from deny-all, is attached even when
    /// the config has no rules.
    pub fn deny_devices_first(&mut self, offered: &Offered) {
        if offered.in_v1("devices") {
            let at = self
                .v1
                .iter()
                .position(|w| w.controller == "devices")
                .unwrap_or(self.v1.len());
            let reset = Write {
                field: Part::Devices.field(),
                ..w("devices", "devices.deny", "a *:* rwm")
            };
            self.v1.insert(at, reset);
        } else if offered.v2.is_some() {
            self.bpf_devices = true;
        }
    }

    /// The v2 controllers the writes need enabled in every ancestor's
    /// `cgroup.subtree_control`.
    pub fn v2_controllers(&self) -> Vec<&str> {
        let mut c: Vec<&str> = self.v2.iter().map(|w| w.controller).collect();
        c.extend(
            self.unified
                .iter()
                .filter_map(|(k, _)| k.split_once('.').map(|(c, _)| c))
                .filter(|c| *c != "cgroup"),
        );
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// The fields of `r` that ask for something (for the rootless rule: a
/// container without a cgroup of its own cannot honour any of them).
pub fn fields_set(r: &LinuxResources) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Part::ALL
        .into_iter()
        .filter(|p| p.is_set(r))
        .map(Part::field)
        .collect();
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        out.push("linux.resources.unified");
    }
    out
}

/// Translates `r` for a host offering `offered`.
pub fn translate(r: &LinuxResources, offered: &Offered) -> Result<Writes> {
    let mut out = Writes::default();
    for part in Part::ALL.into_iter().filter(|p| p.is_set(r)) {
        let v1c = part.v1_controller();
        let (list, writes) = if offered.in_v1(v1c) {
            (&mut out.v1, v1::writes(part, r)?)
        } else if part == Part::Devices && offered.v2.is_some() {
            out.bpf_devices = true;
            continue;
        } else if part.v2_controller().is_some_and(|c| offered.in_v2(c)) {
            (&mut out.v2, v2::writes(part, r)?)
        } else {
            let c = part.v2_controller().filter(|_| offered.v1.is_empty());
            return Err(unsupported(
                part.field(),
                format!(
                    "the {} controller is not available on this host",
                    c.unwrap_or(v1c)
                ),
            ));
        };
        list.extend(writes.into_iter().map(|w| Write {
            field: part.field(),
            ..w
        }));
    }
    out.unified = unified(r, offered)?;
    Ok(out)
}

/// Checks `linux.resources.unified`: it needs a cgroup2 hierarchy, keys are
/// plain file names (`controller.parameter`), and a key whose controller
/// the host keeps in a v1 hierarchy is refused: the v2 file would not be
/// the one that limits the container. (runc errors the same way on a
/// v1-only host and writes into the cgroup2 directory on a hybrid one.)
fn unified(r: &LinuxResources, offered: &Offered) -> Result<Vec<(String, String)>> {
    let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.sort();
    if offered.v2.is_none() {
        return Err(unsupported(
            "linux.resources.unified",
            "needs cgroup v2, and this host has only v1 hierarchies",
        ));
    }
    for (k, _) in &out {
        let field = || format!("linux.resources.unified[{k:?}]");
        let Some((ctrl, param)) = k.split_once('.') else {
            return Err(unsupported(
                &field(),
                "keys are CONTROLLER.PARAMETER file names",
            ));
        };
        if k.contains('/') || k.contains("..") || ctrl.is_empty() || param.is_empty() {
            return Err(unsupported(
                &field(),
                "keys are CONTROLLER.PARAMETER file names",
            ));
        }
        if ctrl != "cgroup" && !offered.in_v2(ctrl) {
            let why = if offered.in_v1(ctrl) {
                format!("the {ctrl} controller is in a v1 hierarchy on this host, not in cgroup2")
            } else {
                format!("the {ctrl} controller is not available in cgroup2 on this host")
            };
            return Err(unsupported(&field(), why));
        }
    }
    Ok(out)
}

pub(crate) fn unsupported(field: &str, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// runc's `-1` (or any negative) for "no limit".
fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// `pids.max` for `linux.resources.pids` (same file on v1 and v2): runc
/// leaves 0 unset and writes `max` for a negative limit.
fn pids_write(r: &LinuxResources) -> Option<Write> {
    let value = match r.pids().as_ref()?.limit() {
        0 => return None,
        v if v < 0 => "max".to_string(),
        v => v.to_string(),
    };
    Some(w("pids", "pids.max", value))
}

/// `cpuset.cpus` and `cpuset.mems` (same files on v1 and v2); empty is unset.
fn cpuset_writes(r: &LinuxResources) -> Vec<Write> {
    let c = r.cpu().as_ref();
    let cpus = c.and_then(|c| c.cpus().clone()).filter(|s| !s.is_empty());
    let mems = c.and_then(|c| c.mems().clone()).filter(|s| !s.is_empty());
    let mut out = Vec::new();
    if let Some(cpus) = cpus {
        out.push(w("cpuset", "cpuset.cpus", cpus));
    }
    if let Some(mems) = mems {
        out.push(w("cpuset", "cpuset.mems", mems));
    }
    out
}

/// A hugepage size as the kernel names it in file names (`2MB`, `1GB`,
/// `64KB`): the files are checked again by the kernel, this only keeps a
/// `/` or `..` out of the path.
fn page_size(s: &str) -> Result<&str> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !["KB", "MB", "GB"].contains(&unit)
    {
        return Err(unsupported(
            "linux.resources.hugepageLimits",
            format!("page size {s:?} is not like 2MB or 1GB"),
        ));
    }
    Ok(s)
}

/// `rdma.max` lines (v1 and v2 alike), sorted by device.
fn rdma_lines(r: &LinuxResources) -> Vec<String> {
    let mut lines: Vec<String> = r
        .rdma()
        .iter()
        .flatten()
        .map(|(dev, l)| {
            let mut s = dev.clone();
            if let Some(h) = l.hca_handles() {
                s.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                s.push_str(&format!(" hca_object={o}"));
            }
            s
        })
        .collect();
    lines.sort();
    lines
}

#[cfg(test)]
mod tests;
