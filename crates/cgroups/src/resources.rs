//! `linux.resources` translated into cgroup file writes, as data: one list
//! for v1 hierarchies, one for the unified (v2) hierarchy. Pure functions,
//! unit-tested without a kernel.

use crate::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// One value to write into one file of one controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The controller whose hierarchy (v1) or whose files (v2) this is.
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn w(controller: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        controller,
        file,
        value: value.to_string(),
    }
}

/// The fields of `linux.resources` this version does not apply yet.
pub fn unapplied(r: &LinuxResources) -> Vec<&'static str> {
    let mut out = Vec::new();
    if r.block_io().is_some() {
        out.push("linux.resources.blockIO");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push("linux.resources.hugepageLimits");
    }
    if r.network().is_some() {
        out.push("linux.resources.network");
    }
    if r.rdma().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push("linux.resources.rdma");
    }
    if r.unified().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push("linux.resources.unified");
    }
    out
}

/// Writes for a v1 hierarchy set, in the order they must happen.
pub fn v1_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        // The limit before the swap limit: memsw may never be below it.
        if let Some(l) = m.limit() {
            out.push(w("memory", "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", s));
        }
        if let Some(res) = m.reservation() {
            out.push(w("memory", "memory.soft_limit_in_bytes", res));
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(unsupported(
                    "linux.resources.memory.swappiness",
                    format!("{s} is above 100"),
                ));
            }
            out.push(w("memory", "memory.swappiness", s));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            out.push(w("cpu", "cpu.shares", s));
        }
        if let Some(p) = c.period() {
            out.push(w("cpu", "cpu.cfs_period_us", p));
        }
        if let Some(q) = c.quota() {
            out.push(w("cpu", "cpu.cfs_quota_us", q));
        }
        if let Some(b) = c.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", b));
        }
        if let Some(p) = c.realtime_period() {
            out.push(w("cpu", "cpu.rt_period_us", p));
        }
        if let Some(rt) = c.realtime_runtime() {
            out.push(w("cpu", "cpu.rt_runtime_us", rt));
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
        if c.idle().is_some_and(|i| i != 0) {
            return Err(unsupported("linux.resources.cpu.idle", "needs cgroup v2"));
        }
    }
    if let Some(p) = r.pids() {
        out.push(w("pids", "pids.max", pids_value(p.limit())));
    }
    for d in r.devices().iter().flatten() {
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(w("devices", file, device_rule(d)));
    }
    Ok(out)
}

/// Writes for the unified (v2) hierarchy, in order.
pub fn v2_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(res) = m.reservation() {
            out.push(w("memory", "memory.low", limit_value(res)));
        }
        if let Some(l) = m.limit() {
            out.push(w("memory", "memory.max", limit_value(l)));
        }
        if let Some(s) = m.swap() {
            // v1's swap is memory+swap; v2's swap.max is swap alone.
            let value = match (s, m.limit()) {
                (-1, _) => "max".to_string(),
                (s, Some(l)) if l >= 0 => {
                    if s < l {
                        return Err(unsupported(
                            "linux.resources.memory.swap",
                            "must be at least the memory limit",
                        ));
                    }
                    (s - l).to_string()
                }
                (s, _) => s.to_string(),
            };
            out.push(w("memory", "memory.swap.max", value));
        }
        if m.swappiness().is_some() {
            return Err(unsupported(
                "linux.resources.memory.swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(unsupported(
                "linux.resources.memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            out.push(w("cpu", "cpu.weight", shares_to_weight(s)));
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = match c.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            out.push(w(
                "cpu",
                "cpu.max",
                format!("{quota} {}", c.period().unwrap_or(100_000)),
            ));
        }
        if let Some(b) = c.burst() {
            out.push(w("cpu", "cpu.max.burst", b));
        }
        if let Some(i) = c.idle() {
            out.push(w("cpu", "cpu.idle", i));
        }
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return Err(unsupported(
                "linux.resources.cpu.realtimeRuntime",
                "cgroup v2 has no realtime budget",
            ));
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(p) = r.pids() {
        out.push(w("pids", "pids.max", pids_value(p.limit())));
    }
    Ok(out)
}

/// Whether v2 device rules need a BPF program this version cannot build yet.
pub fn v2_device_rules(r: &LinuxResources) -> bool {
    r.devices().as_ref().is_some_and(|d| !d.is_empty())
}

fn unsupported(field: &str, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn pids_value(v: i64) -> String {
    if v <= 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// runc's and crun's conversion of cpu.shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// A v1 device rule: `type major:minor access`, `*` for any.
fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let t = match d.typ() {
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let n = |v: Option<i64>| {
        v.filter(|v| *v >= 0)
            .map_or("*".to_string(), |v| v.to_string())
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    format!("{t} {}:{} {access}", n(d.major()), n(d.minor()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn v1_memory_cpu_pids_devices() {
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":2097152,"swappiness":10},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
            "pids":{"limit":10},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
        );
        let w = v1_writes(&r).unwrap();
        let find = |f: &str| w.iter().find(|x| x.file == f).map(|x| x.value.clone());
        assert_eq!(find("memory.limit_in_bytes").as_deref(), Some("1048576"));
        assert_eq!(
            find("memory.memsw.limit_in_bytes").as_deref(),
            Some("2097152")
        );
        assert_eq!(find("cpu.cfs_quota_us").as_deref(), Some("50000"));
        assert_eq!(find("pids.max").as_deref(), Some("10"));
        let devs: Vec<_> = w
            .iter()
            .filter(|x| x.controller == "devices")
            .map(|x| (x.file, x.value.as_str()))
            .collect();
        assert_eq!(
            devs,
            [("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rw")]
        );
        // The memory limit is written before memory+swap.
        let pos = |f: &str| w.iter().position(|x| x.file == f).unwrap();
        assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
    }

    #[test]
    fn v2_conversions() {
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":3145728},"cpu":{"shares":1024,"quota":-1},"pids":{"limit":0}}"#,
        );
        let w = v2_writes(&r).unwrap();
        let find = |f: &str| w.iter().find(|x| x.file == f).map(|x| x.value.clone());
        assert_eq!(find("memory.swap.max").as_deref(), Some("2097152"));
        assert_eq!(find("cpu.weight").as_deref(), Some("39"));
        assert_eq!(find("cpu.max").as_deref(), Some("max 100000"));
        assert_eq!(find("pids.max").as_deref(), Some("max"));
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn what_v2_cannot_do_is_an_error_naming_the_field() {
        let e = v2_writes(&res(r#"{"memory":{"swappiness":10}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("swappiness"), "{e}");
        let e = v2_writes(&res(r#"{"memory":{"disableOOMKiller":true}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("disableOOMKiller"), "{e}");
    }
}
