//! Capability names and numbers (capability.h), and the five sets of a process.

use crate::{Error, Result};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// Every capability the kernel knows, by number.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability name, with or without the `CAP_` prefix.
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .and_then(|i| u32::try_from(i).ok())
}

/// The `CAP_` name of a capability number.
pub fn name(number: u32) -> Option<String> {
    NAMES
        .get(usize::try_from(number).ok()?)
        .map(|n| format!("CAP_{n}"))
}

/// The five capability sets of a process as bit masks (bit N = capability N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapSets {
    /// Translates the spec's sets. Capabilities above the running kernel's
    /// last one (`last_cap`) are dropped, as runc does. An absent
    /// `capabilities` object means no capabilities at all.
    pub fn from_spec(caps: Option<&LinuxCapabilities>, last_cap: u32) -> Result<Self> {
        let Some(caps) = caps else {
            return Ok(CapSets::default());
        };
        let mask = |field: &str, set: &Option<Capabilities>| -> Result<u64> {
            let mut m = 0u64;
            for cap in set.iter().flatten() {
                let n = number(&cap.to_string()).ok_or_else(|| {
                    Error::config(
                        format!("process.capabilities.{field}"),
                        format!("unknown capability {cap}"),
                    )
                })?;
                if n <= last_cap {
                    m |= 1 << n;
                }
            }
            Ok(m)
        };
        Ok(CapSets {
            bounding: mask("bounding", caps.bounding())?,
            effective: mask("effective", caps.effective())?,
            permitted: mask("permitted", caps.permitted())?,
            inheritable: mask("inheritable", caps.inheritable())?,
            ambient: mask("ambient", caps.ambient())?,
        })
    }
}

impl CapSets {
    /// Removes from every set the capabilities outside `held` (our own
    /// bounding set): no process of ours can ever gain those, and asking the
    /// kernel would fail the whole container (runc fails `docker run
    /// --privileged` that way wherever the runtime runs with a reduced
    /// bounding set, as in Docker-in-Docker). Returns the names that were
    /// asked for in a set other than bounding, for a warning.
    pub fn limit_to(&mut self, held: u64) -> Vec<String> {
        let granted = self.effective | self.permitted | self.inheritable | self.ambient;
        let missing = granted & !held;
        for set in [
            &mut self.bounding,
            &mut self.effective,
            &mut self.permitted,
            &mut self.inheritable,
            &mut self.ambient,
        ] {
            *set &= held;
        }
        (0..64u32)
            .filter(|n| missing & (1 << n) != 0)
            .filter_map(name)
            .collect()
    }
}

/// The bounding set of the calling process (`CapBnd` in /proc/self/status).
pub fn own_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// The highest capability number of the running kernel.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("net_raw"), Some(13));
        assert_eq!(name(40).as_deref(), Some("CAP_CHECKPOINT_RESTORE"));
        assert_eq!(number("CAP_FLY"), None);
    }

    #[test]
    fn sets_become_masks() {
        let json = r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"]}"#;
        let caps: LinuxCapabilities = serde_json::from_str(json).unwrap();
        let sets = CapSets::from_spec(Some(&caps), 40).unwrap();
        assert_eq!(sets.bounding, (1 << 5) | 1);
        assert_eq!(sets.effective, 1 << 5);
        assert_eq!(sets.inheritable, 0);
    }

    #[test]
    fn capabilities_we_do_not_hold_are_dropped_and_named() {
        let mut sets = CapSets {
            bounding: 0b111,
            effective: 0b011,
            permitted: 0b011,
            inheritable: 0,
            ambient: 0,
        };
        // We hold CHOWN only; DAC_READ_SEARCH was only in bounding.
        let dropped = sets.limit_to(0b001);
        assert_eq!(dropped, ["CAP_DAC_OVERRIDE"]);
        assert_eq!(sets.bounding, 0b001);
        assert_eq!(sets.permitted, 0b001);
    }
}
