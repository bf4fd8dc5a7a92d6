//! `linux.resources` as cgroup v2 (unified) file writes, one part at a
//! time, with runc's conversions of v1-style values.

use super::{
    cpuset_writes, limit_value, page_size, pids_write, rdma_lines, unsupported, w, Part, Write,
};
use crate::Result;
use oci_spec::runtime::LinuxResources;

/// The writes of one part, in the order they must happen.
pub(super) fn writes(part: Part, r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    match part {
        Part::Memory => memory(r, &mut out)?,
        Part::Cpu => cpu(r, &mut out)?,
        Part::Cpuset => out.extend(cpuset_writes(r)),
        Part::Pids => out.extend(pids_write(r)),
        Part::BlockIo => io(r, &mut out)?,
        Part::Hugetlb => {
            for h in r.hugepage_limits().iter().flatten() {
                let file = format!("hugetlb.{}.max", page_size(h.page_size())?);
                out.push(w("hugetlb", file, limit_value(h.limit())));
            }
        }
        Part::Rdma => {
            for line in rdma_lines(r) {
                out.push(w("rdma", "rdma.max", line));
            }
        }
        // Routed elsewhere by `translate`: no v2 files.
        Part::Devices | Part::NetCls | Part::NetPrio => {}
    }
    Ok(out)
}

/// runc's v2 memory: 0 means unset, -1 means `max`, and the swap limit
/// (memory+swap in the OCI spec) becomes swap alone ([`swap_max`]).
fn memory(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let limit = m.limit().unwrap_or(0);
    if let Some(s) = swap_max(m.swap().unwrap_or(0), limit)? {
        // Before memory.max, as runc does: lowering both at once then
        // never has swap briefly above its new bound.
        let optional = s == "max" || s == "0";
        out.push(Write {
            optional,
            ..w("memory", "memory.swap.max", s)
        });
    }
    if let Some(res) = m.reservation().filter(|v| *v != 0) {
        out.push(w("memory", "memory.low", limit_value(res)));
    }
    if limit != 0 {
        out.push(w("memory", "memory.max", limit_value(limit)));
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
    Ok(())
}

/// runc's `ConvertMemorySwapToCgroupV2Value` plus its "swap equal to the
/// limit disables swap" rule: the value for memory.swap.max, or `None` to
/// leave it alone. `swap` is the OCI memory+swap limit, `limit` the memory
/// limit; 0 is unset and -1 unlimited for both.
pub fn swap_max(swap: i64, limit: i64) -> Result<Option<String>> {
    let field = "linux.resources.memory.swap";
    // An unlimited memory with no swap given: both unlimited, as on v1.
    if limit == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some("max".into())),
        s if s < -1 => return Err(unsupported(field, format!("invalid value {s}"))),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        return Err(unsupported(field, "a swap limit needs a memory limit"));
    }
    if limit < 0 {
        return Err(unsupported(
            "linux.resources.memory.limit",
            format!("invalid value {limit}"),
        ));
    }
    if swap < limit {
        return Err(unsupported(
            field,
            "the memory+swap limit must be at least the memory limit",
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

fn cpu(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    // runc: 0 means unset (engines' `update` sends unchanged fields as 0).
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        out.push(w("cpu", "cpu.weight", shares_to_weight(s)));
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        // cpu.max takes "QUOTA [PERIOD]": a period of 0 keeps the current one.
        let mut value = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            value = format!("{value} {period}");
        }
        out.push(w("cpu", "cpu.max", value));
    }
    if let Some(b) = c.burst() {
        out.push(w("cpu", "cpu.max.burst", b));
    }
    if let Some(i) = c.idle() {
        out.push(w("cpu", "cpu.idle", i));
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(unsupported(
            "linux.resources.cpu.realtimeRuntime",
            "cgroup v2 has no realtime budget",
        ));
    }
    Ok(())
}

/// runc's fs2 io: weights go to BFQ's `io.bfq.weight` (same 1..1000 scale
/// as blkio) when BFQ is there, else to `io.weight` converted to its
/// 1..10000 scale; throttles are `io.max` lines.
fn io(r: &LinuxResources, out: &mut Vec<Write>) -> Result<()> {
    let Some(b) = r.block_io() else { return Ok(()) };
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        out.push(w("io", "io.bfq.weight", v).or_else("io.weight", blkio_weight_to_io_weight(v)));
    }
    let no_leaf = || {
        unsupported(
            "linux.resources.blockIO.leafWeight",
            "cgroup v2 has no leaf weights",
        )
    };
    if b.leaf_weight().is_some_and(|v| v != 0) {
        return Err(no_leaf());
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(v) = d.weight().filter(|v| *v != 0) {
            out.push(w("io", "io.bfq.weight", format!("{dev} {v}")).or_else(
                "io.weight",
                format!("{dev} {}", blkio_weight_to_io_weight(v)),
            ));
        }
        if d.leaf_weight().is_some_and(|v| v != 0) {
            return Err(no_leaf());
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let line = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
            out.push(w("io", "io.max", line));
        }
    }
    Ok(())
}

/// runc's `ConvertBlkIOToIOWeightValue`: blkio's 10..1000 onto io.weight's
/// 1..10000.
pub fn blkio_weight_to_io_weight(v: u16) -> u64 {
    if v == 0 {
        return 0;
    }
    1 + (u64::from(v).saturating_sub(10)) * 9999 / 990
}

/// runc's and crun's conversion of cpu.shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}
