//! `linux.resources` as cgroup v1 file writes, one part at a time.

use super::{
    cpuset_writes, limit_value, page_size, pids_write, rdma_lines, unsupported, w, Part, Write,
};
use crate::Result;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// The writes of one part, in the order they must happen.
pub(super) fn writes(part: Part, r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    match part {
        Part::Memory => memory(r, &mut out)?,
        Part::Cpu => cpu(r, &mut out)?,
        Part::Cpuset => out.extend(cpuset_writes(r)),
        Part::Pids => out.extend(pids_write(r)),
        Part::Devices => {
            for d in r.devices().iter().flatten() {
                out.push(device_write(d));
            }
        }
        Part::BlockIo => blkio(r, &mut out),
        Part::Hugetlb => {
            for h in r.hugepage_limits().iter().flatten() {
                let file = format!("hugetlb.{}.limit_in_bytes", page_size(h.page_size())?);
                out.push(w("hugetlb", file, limit_value(h.limit())));
            }
        }
        Part::NetCls => {
            if let Some(id) = r.network().as_ref().and_then(|n| n.class_id()) {
                out.push(w("net_cls", "net_cls.classid", id));
            }
        }
        Part::NetPrio => {
            let prios = r.network().as_ref().and_then(|n| n.priorities().clone());
            for p in prios.iter().flatten() {
                let line = format!("{} {}", p.name(), p.priority());
                out.push(w("net_prio", "net_prio.ifpriomap", line));
            }
        }
        Part::Rdma => {
            for line in rdma_lines(r) {
                out.push(w("rdma", "rdma.max", line));
            }
        }
    }
    Ok(out)
}

/// runc's v1 memory: 0 means unset and -1 unlimited. The limit comes
/// before memory+swap here (right for a new cgroup, where memsw may never
/// drop below the limit); [`crate::Cgroup`] swaps the two on an update that
/// raises memory+swap above the limit in force, as runc does.
fn memory(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // An unlimited memory with no swap given: memory+swap unlimited too.
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    if limit != 0 {
        out.push(w("memory", "memory.limit_in_bytes", limit));
    }
    if swap != 0 {
        out.push(Write {
            optional: swap == -1,
            ..w("memory", "memory.memsw.limit_in_bytes", swap)
        });
    }
    if let Some(res) = m.reservation().filter(|v| *v != 0) {
        out.push(w("memory", "memory.soft_limit_in_bytes", res));
    }
    // runc: unset or -1 leaves swappiness alone.
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
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
    Ok(())
}

fn cpu(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    // runc: 0 means unset for every one of these (engines' `update` sends
    // the fields it does not change as 0).
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.shares", s));
    }
    if let Some(p) = c.period().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.cfs_period_us", p));
    }
    if let Some(q) = c.quota().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.cfs_quota_us", q));
    }
    if let Some(b) = c.burst() {
        out.push(w("cpu", "cpu.cfs_burst_us", b));
    }
    if let Some(p) = c.realtime_period().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.rt_period_us", p));
    }
    if let Some(rt) = c.realtime_runtime().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.rt_runtime_us", rt));
    }
    if c.idle().is_some_and(|i| i != 0) {
        return Err(unsupported("linux.resources.cpu.idle", "needs cgroup v2"));
    }
    Ok(())
}

/// runc's blkio writes: the weight files are CFQ's (`blkio.weight`) or,
/// on kernels without CFQ, BFQ's (`blkio.bfq.weight`), whichever exists.
fn blkio(r: &LinuxResources, out: &mut Vec<Write>) {
    let Some(b) = r.block_io() else { return };
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        out.push(w("blkio", "blkio.weight", v).or_else("blkio.bfq.weight", v));
    }
    if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
        out.push(w("blkio", "blkio.leaf_weight", v));
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(v) = d.weight().filter(|v| *v != 0) {
            let line = format!("{dev} {v}");
            out.push(
                w("blkio", "blkio.weight_device", &line).or_else("blkio.bfq.weight_device", line),
            );
        }
        if let Some(v) = d.leaf_weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.leaf_weight_device", format!("{dev} {v}")));
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            out.push(w(
                "blkio",
                file,
                format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            ));
        }
    }
}

fn device_write(d: &LinuxDeviceCgroup) -> Write {
    let file = if d.allow() {
        "devices.allow"
    } else {
        "devices.deny"
    };
    w("devices", file, device_rule(d))
}

/// A v1 device rule: `type major:minor access`, `*` for any.
pub(crate) fn device_rule(d: &LinuxDeviceCgroup) -> String {
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

/// The v1 writes that allow (or deny) `rules`, for the default devices
/// appended after the config's rules.
pub fn device_writes(rules: &[LinuxDeviceCgroup]) -> Vec<Write> {
    rules
        .iter()
        .map(|d| Write {
            field: Part::Devices.field(),
            ..device_write(d)
        })
        .collect()
}
