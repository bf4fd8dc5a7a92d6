//! Applying translated resources to a container's cgroup directories: v1
//! files, v2 files (after enabling their controllers from the top down),
//! the v2 device program, and `linux.resources.unified`.

use crate::resources::{self, unsupported, Write, Writes};
use crate::{devices_bpf, Cgroup, Error, Result};
use husk_sys::bpf;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

impl Cgroup {
    /// Applies `writes` (translated from `r`) in runc's order: v1 files,
    /// v2 files, the device program, then the unified keys.
    /// `enabled` receives the controllers turned on in ancestors.
    pub(crate) fn apply(
        &self,
        writes: &Writes,
        r: &LinuxResources,
        extra_devices: &[LinuxDeviceCgroup],
        enabled: &mut Vec<(PathBuf, String)>,
    ) -> Result<()> {
        for wr in self.v1_in_order(&writes.v1) {
            self.write_v1(wr)?;
        }
        if writes.v1.iter().any(|w| w.controller == "devices") {
            for wr in resources::device_writes(extra_devices) {
                self.write_v1(&wr)?;
            }
        }
        *enabled = self.enable_v2_controllers(&writes.v2_controllers());
        self.check_memory_usage(writes, r)?;
        for wr in &writes.v2 {
            self.write_unified(wr)?;
        }
        if writes.bpf_devices {
            let mut rules = r.devices().clone().unwrap_or_default();
            rules.extend_from_slice(extra_devices);
            self.attach_device_program(&rules)?;
        }
        for (key, value) in &writes.unified {
            let dir = self.v2_dir("linux.resources.unified")?;
            let path = dir.join(key);
            if !path.is_file() {
                return Err(unsupported(
                    &format!("linux.resources.unified[{key:?}]"),
                    format!("{} does not exist", path.display()),
                ));
            }
            write_value(&path, value)?;
        }
        Ok(())
    }

    /// The container's directory in the v1 hierarchy of `controller`.
    fn v1_dir(&self, controller: &str) -> Option<&PathBuf> {
        self.dirs
            .iter()
            .find(|(c, _)| {
                c.as_ref()
                    .is_some_and(|c| c.iter().any(|c| c == controller))
            })
            .map(|(_, d)| d)
    }

    /// runc's `setMemoryAndSwap`: when both v1 memory limits are written,
    /// memory+swap goes first if it is unlimited or above the limit now in
    /// force (raising both in the other order would briefly put the limit
    /// above memory+swap, which the kernel refuses); otherwise the limit
    /// goes first, as for a new cgroup or when lowering both.
    fn v1_in_order<'a>(&self, v1: &'a [Write]) -> Vec<&'a Write> {
        let mut order: Vec<&Write> = v1.iter().collect();
        let pos = |f: &str| v1.iter().position(|w| w.file == f);
        if let (Some(l), Some(s)) = (
            pos("memory.limit_in_bytes"),
            pos("memory.memsw.limit_in_bytes"),
        ) {
            let swap: i128 = v1[s].value.parse().unwrap_or(0);
            let current: Option<i128> = self
                .v1_dir("memory")
                .and_then(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
                .and_then(|v| v.trim().parse().ok());
            if swap == -1 || current.is_some_and(|c| c < swap) {
                order.swap(l, s);
            }
        }
        order
    }

    fn write_v1(&self, wr: &Write) -> Result<()> {
        let dir = self.v1_dir(wr.controller).ok_or_else(|| {
            unsupported(
                wr.field,
                format!(
                    "the {} controller is not mounted on this host",
                    wr.controller
                ),
            )
        })?;
        write_file(dir, wr, "this kernel does not offer it")
    }

    fn v2_dir(&self, field: &str) -> Result<&PathBuf> {
        self.unified_dir()
            .ok_or_else(|| unsupported(field, "this host has no cgroup2 hierarchy"))
    }

    fn write_unified(&self, wr: &Write) -> Result<()> {
        let dir = self.v2_dir(wr.field)?;
        let parent = dir.parent().unwrap_or(dir);
        let why = format!(
            "the {} controller is not enabled in {}",
            wr.controller,
            parent.join("cgroup.subtree_control").display()
        );
        write_file(dir, wr, &why)
    }

    /// Enables `ctrls` in every ancestor's `cgroup.subtree_control`, from
    /// the top down. A level that refuses (a controller not delegated to
    /// us) is reported by [`Cgroup::write_unified`], which then finds the
    /// controller's files missing and names the field. Returns what was
    /// newly enabled, deepest first, so that a failed create can turn it
    /// off again ([`Cgroup::disable_controllers`]).
    fn enable_v2_controllers(&self, ctrls: &[&str]) -> Vec<(PathBuf, String)> {
        let mut enabled = Vec::new();
        let Some(dir) = self.unified_dir() else {
            return enabled;
        };
        if ctrls.is_empty() {
            return enabled;
        }
        let mut ancestors: Vec<&Path> = dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.join("cgroup.subtree_control").exists())
            .collect();
        ancestors.reverse();
        for a in ancestors {
            let file = a.join("cgroup.subtree_control");
            let before = std::fs::read_to_string(&file).unwrap_or_default();
            let missing: Vec<&str> = ctrls
                .iter()
                .copied()
                .filter(|c| !before.split_whitespace().any(|b| b == *c))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let line: String = missing.iter().map(|c| format!("+{c} ")).collect();
            if std::fs::write(&file, line.trim_end()).is_ok() {
                enabled.extend(missing.iter().map(|c| (file.clone(), (*c).to_string())));
            }
        }
        enabled.reverse();
        enabled
    }

    /// Turns off controllers [`Cgroup::enable_v2_controllers`] enabled
    /// (best effort: a controller another cgroup now uses stays on).
    pub(crate) fn disable_controllers(enabled: &[(PathBuf, String)]) {
        for (file, c) in enabled {
            let _ = std::fs::write(file, format!("-{c}"));
        }
    }

    /// runc's `checkBeforeUpdate` (v2 only): a memory limit at or below what
    /// the cgroup already uses is refused rather than making the kernel
    /// reclaim or OOM-kill the container.
    fn check_memory_usage(&self, writes: &Writes, r: &LinuxResources) -> Result<()> {
        let m = r.memory().as_ref();
        let limit = m.and_then(|m| m.limit()).unwrap_or(0);
        let wanted = m.and_then(|m| m.check_before_update()) == Some(true);
        let on_v2 = writes.v2.iter().any(|w| w.file == "memory.max");
        let Some(dir) = self.unified_dir().filter(|_| wanted && on_v2 && limit > 0) else {
            return Ok(());
        };
        let current = dir.join("memory.current");
        let usage: i64 = std::fs::read_to_string(&current)
            .map_err(|e| Error::Io {
                op: "read",
                path: current.clone(),
                source: e,
            })?
            .trim()
            .parse()
            .unwrap_or(0);
        if limit <= usage {
            return Err(unsupported(
                "linux.resources.memory.limit",
                format!("{limit} is not above the current usage {usage} (checkBeforeUpdate)"),
            ));
        }
        Ok(())
    }

    /// Loads the device program for `rules` and attaches it to the unified
    /// directory with BPF_F_ALLOW_MULTI (as runc), then detaches the
    /// programs attached there before (an `update`), so that the new rules
    /// replace the old ones with no moment without a filter.
    fn attach_device_program(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        let dir = self.v2_dir("linux.resources.devices")?;
        let insns = devices_bpf::program(rules)?;
        let sys = |op: &'static str| {
            let dir = dir.clone();
            move |e: husk_sys::Errno| Error::Io {
                op,
                path: dir,
                source: std::io::Error::from_raw_os_error(e.0),
            }
        };
        let cg: OwnedFd = std::fs::File::open(dir)
            .map_err(|e| Error::Io {
                op: "open cgroup",
                path: dir.clone(),
                source: e,
            })?
            .into();
        let prog = bpf::load_cgroup_device(&insns, c"Apache")
            .map_err(sys("load the device program (bpf) for"))?;
        let old = bpf::query_cgroup_device(cg.as_fd()).map_err(sys("list device programs of"))?;
        bpf::attach_cgroup_device(cg.as_fd(), prog.as_fd(), bpf::BPF_F_ALLOW_MULTI)
            .map_err(sys("attach the device program to"))?;
        for id in old {
            let fd = bpf::prog_fd_by_id(id).map_err(sys("open an old device program of"))?;
            bpf::detach_cgroup_device(cg.as_fd(), fd.as_fd())
                .map_err(sys("detach an old device program from"))?;
        }
        Ok(())
    }
}

/// Writes `wr` into `dir`: its own file, else its fallback (if that
/// exists), else nothing for an optional write; a missing file is an error
/// naming the field, `why` saying what is missing.
fn write_file(dir: &Path, wr: &Write, why: &str) -> Result<()> {
    let path = dir.join(&wr.file);
    if path.is_file() {
        return write_value(&path, &wr.value);
    }
    if let Some((file, value)) = &wr.fallback {
        let alt = dir.join(file);
        if alt.is_file() {
            return write_value(&alt, value);
        }
    }
    if wr.optional {
        return Ok(());
    }
    Err(unsupported(
        wr.field,
        format!("{} does not exist: {why}", path.display()),
    ))
}

pub(crate) fn write_value(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Io {
            op: "write",
            path: path.to_path_buf(),
            source: e,
        },
        _ => Error::Rejected {
            path: path.to_path_buf(),
            value: value.to_string(),
            source: e,
        },
    })
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and no
/// process can join it: copy them from the nearest ancestor that has them.
pub(crate) fn inherit_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let current = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if !current.trim().is_empty() {
            continue;
        }
        let mut chain: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| a.join(file).exists())
            .collect();
        chain.reverse();
        let mut value = String::new();
        for d in chain {
            let v = std::fs::read_to_string(d.join(file)).unwrap_or_default();
            if v.trim().is_empty() {
                write_value(&d.join(file), value.trim())?;
            } else {
                value = v;
            }
        }
    }
    Ok(())
}
