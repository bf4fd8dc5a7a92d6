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
                "blkio": self.blkio(),
                "hugetlb": self.hugetlb()
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
                "blkio": self.blkio(),
                "hugetlb": self.hugetlb()
            })
        } else {
            json!({})
        }
    }

    /// runc's `blkio` object: v1's throttle counters (which count every
    /// I/O whatever the scheduler; BFQ's when there are none) or v2's io.stat.
    fn blkio(&self) -> Value {
        let v1 = ["blkio.throttle.", "blkio.bfq."].into_iter().find_map(|p| {
            let f = format!("{p}io_service_bytes_recursive");
            self.dir_with(&f).map(|d| (d, p))
        });
        if let Some((d, prefix)) = v1 {
            let entries = |f: &str| {
                v1_blkio_entries(&read(&d.join(format!("{prefix}{f}"))).unwrap_or_default())
            };
            return json!({
                "ioServiceBytesRecursive": entries("io_service_bytes_recursive"),
                "ioServicedRecursive": entries("io_serviced_recursive"),
            });
        }
        let Some(d) = self.dir_with("io.stat") else {
            return json!({});
        };
        let (bytes, ios) = v2_io_entries(&read(&d.join("io.stat")).unwrap_or_default());
        json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
    }

    /// runc's `hugetlb` object: usage per page size, from v1's
    /// `hugetlb.<size>.usage_in_bytes` or v2's `hugetlb.<size>.current`.
    fn hugetlb(&self) -> Value {
        let mut out = Map::new();
        for d in self.dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix("hugetlb.") else {
                    continue;
                };
                let f = |file: &str| d.join(format!("hugetlb.{file}"));
                if let Some(size) = rest.strip_suffix(".usage_in_bytes") {
                    out.insert(
                        size.into(),
                        json!({
                            "usage": num(&f(rest)),
                            "max": num(&f(&format!("{size}.max_usage_in_bytes"))),
                            "failcnt": num(&f(&format!("{size}.failcnt"))),
                        }),
                    );
                } else if let Some(size) =
                    rest.strip_suffix(".current").filter(|s| !s.contains('.'))
                {
                    let events = keyed(&f(&format!("{size}.events")));
                    out.insert(
                        size.into(),
                        json!({
                            "usage": num(&f(rest)),
                            "failcnt": events.get("max").and_then(Value::as_u64).unwrap_or(0),
                        }),
                    );
                }
            }
        }
        Value::Object(out)
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

/// v1 blkio lines `8:0 Read 4096` as runc's entries (the `Total` line and
/// zero counters left out).
fn v1_blkio_entries(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, v) = (it.next()?, it.next()?, it.next()?);
            let (major, minor) = dev.split_once(':')?;
            let value: u64 = v.parse().ok()?;
            Some(json!({"major": major.parse::<u64>().ok()?, "minor": minor.parse::<u64>().ok()?, "op": op, "value": value}))
        })
        .collect()
}

/// v2 `io.stat` lines (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6`)
/// as runc's byte and operation entries.
fn v2_io_entries(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "dbytes" => (&mut bytes, "Discard"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                "dios" => (&mut ios, "Discard"),
                _ => continue,
            };
            list.push(json!({"major": major, "minor": minor, "op": op, "value": value}));
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines_become_runcs_entries() {
        let v1 = v1_blkio_entries("254:0 Read 4096\n254:0 Write 0\nTotal 4096\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(
            v1[0],
            json!({"major": 254, "minor": 0, "op": "Read", "value": 4096})
        );
        let (bytes, ios) =
            v2_io_entries("1:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            bytes[1],
            json!({"major": 1, "minor": 0, "op": "Write", "value": 1024})
        );
        assert_eq!(ios[0]["value"], 1);
        assert_eq!(bytes.len(), 3);
    }
}
