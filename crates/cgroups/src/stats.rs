//! Usage statistics of a container's cgroup, in runc's `events --stats`
//! JSON shape, read from v1 or v2 files.

use crate::Cgroup;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Nanoseconds per USER_HZ tick (cpuacct.stat counts in ticks of 1/100 s).
const NS_PER_TICK: u64 = 10_000_000;

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn num(p: &Path) -> u64 {
    read(p).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// `key value` lines as a map.
fn keyed(p: &Path) -> Map<String, Value> {
    read(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), Value::from(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

impl Cgroup {
    fn dir_with(&self, file: &str) -> Option<PathBuf> {
        self.dirs().into_iter().find(|d| d.join(file).exists())
    }

    /// The stats document's `data` object.
    pub fn stats(&self) -> Value {
        if let Some(d) = self.dir_with("cpuacct.usage") {
            let percpu: Vec<u64> = read(&d.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let stat = keyed(&d.join("cpuacct.stat"));
            let tick = |k: &str| stat.get(k).and_then(Value::as_u64).unwrap_or(0) * NS_PER_TICK;
            let thr = self
                .dir_with("cpu.stat")
                .map(|c| keyed(&c.join("cpu.stat")))
                .unwrap_or_default();
            let t = |k: &str| thr.get(k).and_then(Value::as_u64).unwrap_or(0);
            let mem = self.dir_with("memory.usage_in_bytes").unwrap_or_default();
            let limit = |f: &str| num(&mem.join(f));
            let pids = self.dir_with("pids.current").unwrap_or_default();
            json!({
                "cpu": {
                    "usage": {"total": num(&d.join("cpuacct.usage")), "percpu": percpu, "kernel": tick("system"), "user": tick("user")},
                    "throttling": {"periods": t("nr_periods"), "throttledPeriods": t("nr_throttled"), "throttledTime": t("throttled_time")}
                },
                "memory": {
                    "usage": {"usage": limit("memory.usage_in_bytes"), "max": limit("memory.max_usage_in_bytes"),
                              "limit": limit("memory.limit_in_bytes"), "failcnt": limit("memory.failcnt")},
                    "swap": {"usage": limit("memory.memsw.usage_in_bytes"), "max": limit("memory.memsw.max_usage_in_bytes"),
                             "limit": limit("memory.memsw.limit_in_bytes"), "failcnt": limit("memory.memsw.failcnt")},
                    "raw": keyed(&mem.join("memory.stat"))
                },
                "pids": {"current": num(&pids.join("pids.current")), "limit": num(&pids.join("pids.max"))},
                "blkio": {},
                "hugetlb": {}
            })
        } else if let Some(d) = self.dir_with("cgroup.procs") {
            let cpu = keyed(&d.join("cpu.stat"));
            let c = |k: &str| cpu.get(k).and_then(Value::as_u64).unwrap_or(0);
            json!({
                "cpu": {
                    "usage": {"total": c("usage_usec") * 1000, "kernel": c("system_usec") * 1000, "user": c("user_usec") * 1000},
                    "throttling": {"periods": c("nr_periods"), "throttledPeriods": c("nr_throttled"), "throttledTime": c("throttled_usec") * 1000}
                },
                "memory": {
                    "usage": {"usage": num(&d.join("memory.current")), "max": num(&d.join("memory.peak")), "limit": num(&d.join("memory.max"))},
                    "swap": {"usage": num(&d.join("memory.swap.current")), "limit": num(&d.join("memory.swap.max"))},
                    "raw": keyed(&d.join("memory.stat"))
                },
                "pids": {"current": num(&d.join("pids.current")), "limit": num(&d.join("pids.max"))},
                "blkio": {},
                "hugetlb": {}
            })
        } else {
            json!({})
        }
    }

    /// How many times the kernel's OOM killer has acted in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        if let Some(d) = self.dir_with("memory.oom_control") {
            return keyed(&d.join("memory.oom_control"))
                .get("oom_kill")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
        self.dir_with("memory.events")
            .map(|d| {
                keyed(&d.join("memory.events"))
                    .get("oom_kill")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }
}
