//! Where a container goes under systemd, as runc's systemd driver decides
//! (runs in: parent): `slice:prefix:name` cgroups paths, slice expansion,
//! unit names, and the properties of the transient unit (runc's `Apply`
//! and its resource properties). Pure data, unit-tested.

use super::wire::{Property, Variant};
use crate::resources::shares_to_weight;
use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

/// A container's systemd unit and the slice it goes in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. `system.slice`.
    pub slice: String,
    /// The unit: `prefix-name.scope`, or a name ending in `.slice` as is.
    pub unit: String,
}

impl UnitPath {
    /// Parses runc's `slice:prefix:name` (an empty slice is
    /// `system.slice`); an empty path is husk's default, `:husk:<id>`.
    /// Errors say what is wrong, for the caller to name the field.
    pub fn parse(cgroups_path: &str, id: &str) -> Result<UnitPath, String> {
        let path = if cgroups_path.is_empty() {
            format!(":husk:{id}")
        } else {
            cgroups_path.to_string()
        };
        let parts: Vec<&str> = path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(format!(
                "{cgroups_path:?}: with --systemd-cgroup it must be \"slice:prefix:name\" \
                 (e.g. \"system.slice:husk:{id}\")"
            ));
        };
        if name.is_empty() {
            return Err(format!(
                "{cgroups_path:?}: the name after the last ':' is empty"
            ));
        }
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let unit = unit_name(prefix, name);
        if !valid_unit_name(&unit) {
            return Err(format!(
                "{cgroups_path:?}: {unit:?} is not a valid systemd unit name"
            ));
        }
        let p = UnitPath {
            slice: slice.to_string(),
            unit,
        };
        p.dir().map_err(|e| format!("{cgroups_path:?}: {e}"))?;
        Ok(p)
    }

    /// The unit's cgroup below each hierarchy's root: the expanded slice
    /// and the scope (a slice unit: its own name, expanded).
    pub fn dir(&self) -> Result<PathBuf, String> {
        if self.unit.ends_with(".slice") {
            return expand_slice(&self.unit).map(PathBuf::from);
        }
        let slice = expand_slice(&self.slice)?;
        Ok(PathBuf::from(slice).join(&self.unit))
    }

    /// A scope holds processes; a slice unit only groups (the pid is moved
    /// in by hand, as runc does).
    pub fn is_scope(&self) -> bool {
        !self.unit.ends_with(".slice")
    }
}

/// runc's `getUnitName`: `prefix-name.scope`, or a `.slice` name as is.
pub fn unit_name(prefix: &str, name: &str) -> String {
    if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    }
}

/// systemd's characters for unit names, at most 255 bytes.
fn valid_unit_name(u: &str) -> bool {
    u.len() <= 255
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.\\@".contains(&b))
}

/// runc's `ExpandSlice`: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let invalid = || Err(format!("invalid slice name {slice:?}"));
    let Some(base) = slice.strip_suffix(".slice") else {
        return invalid();
    };
    if base.is_empty() || slice.contains('/') {
        return invalid();
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return invalid();
        }
        path.push_str(&format!("/{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// The properties of StartTransientUnit, in runc's order: slice,
/// description, the pid (or for a slice unit, Wants=), delegation,
/// accounting, no default dependencies, then the resources.
pub fn start_properties(
    unit: &UnitPath,
    pid: u32,
    r: Option<&LinuxResources>,
    unified: bool,
) -> Vec<Property> {
    let b = |k: &str, v: bool| (k.to_string(), Variant::Bool(v));
    let mut p = vec![
        ("Slice".to_string(), Variant::Str(unit.slice.clone())),
        (
            "Description".to_string(),
            Variant::Str(format!("husk container {}", unit.unit)),
        ),
    ];
    if unit.is_scope() {
        p.push(("PIDs".into(), Variant::U32s(vec![pid])));
    } else {
        p.push(("Wants".into(), Variant::Strs(vec![unit.slice.clone()])));
    }
    p.push(b("Delegate", true));
    p.push(b("MemoryAccounting", true));
    p.push(b("CPUAccounting", true));
    p.push(b(
        if unified {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        },
        true,
    ));
    p.push(b("TasksAccounting", true));
    p.push(b("DefaultDependencies", false));
    if let Some(r) = r {
        p.extend(resource_properties(r, unified));
    }
    p
}

/// runc's `genV1ResourcesProperties` / `genV2ResourcesProperties`, for the
/// limits systemd tracks: memory, cpu weight and quota, tasks. The rest is
/// written to the cgroup files directly, as runc's "fs" Set does.
pub fn resource_properties(r: &LinuxResources, unified: bool) -> Vec<Property> {
    let t = |k: &str, v: u64| (k.to_string(), Variant::U64(v));
    let mut p = Vec::new();
    if let Some(limit) = r.memory().as_ref().and_then(|m| m.limit()) {
        if limit != 0 {
            let key = if unified { "MemoryMax" } else { "MemoryLimit" };
            p.push(t(key, limit.cast_unsigned()));
        }
    }
    let cpu = r.cpu().as_ref();
    if let Some(shares) = cpu.and_then(|c| c.shares()).filter(|s| *s != 0) {
        p.push(if unified {
            t("CPUWeight", shares_to_weight(shares))
        } else {
            t("CPUShares", shares)
        });
    }
    let quota = cpu.and_then(|c| c.quota()).unwrap_or(0);
    let period = cpu.and_then(|c| c.period()).unwrap_or(0);
    p.extend(cpu_quota(quota, period).into_iter().map(|(k, v)| t(k, v)));
    if let Some(limit) = r.pids().as_ref().map(|p| p.limit()) {
        if limit > 0 || limit == -1 {
            p.push(t("TasksMax", limit.cast_unsigned()));
        }
    }
    p
}

/// runc's `addCpuQuota`: the period as is; the quota as microseconds per
/// second, rounded up to whole percent (systemd keeps a percentage), or
/// infinity when not positive.
fn cpu_quota(quota: i64, period: u64) -> Vec<(&'static str, u64)> {
    let mut p = Vec::new();
    if period != 0 {
        p.push(("CPUQuotaPeriodUSec", period));
    }
    if quota != 0 || period != 0 {
        let mut per_sec = u64::MAX;
        if quota > 0 {
            let period = if period == 0 { 100_000 } else { period };
            per_sec = quota.cast_unsigned().saturating_mul(1_000_000) / period;
            if per_sec % 10_000 != 0 {
                per_sec = (per_sec / 10_000 + 1) * 10_000;
            }
        }
        p.push(("CPUQuotaPerSecUSec", per_sec));
    }
    p
}

/// systemd's object path of a unit (`bus_label_escape`): every byte but
/// letters, and digits after the first, as `_xx`.
pub fn object_path(unit: &str) -> String {
    let mut out = String::from("/org/freedesktop/systemd1/unit/");
    for (i, b) in unit.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_as_runc_does() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        for bad in ["system", ".slice", "a--b.slice", "-a.slice", "a/b.slice"] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_name_units_and_dirs() {
        let p = UnitPath::parse("system.slice:husk:inner1", "x").unwrap();
        assert_eq!(p.unit, "husk-inner1.scope");
        assert_eq!(
            p.dir().unwrap(),
            PathBuf::from("/system.slice/husk-inner1.scope")
        );
        let p = UnitPath::parse("", "c1").unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("system.slice", "husk-c1.scope")
        );
        let p = UnitPath::parse("user-a.slice:docker:1234", "c").unwrap();
        assert_eq!(
            p.dir().unwrap(),
            PathBuf::from("/user.slice/user-a.slice/docker-1234.scope")
        );
        let p = UnitPath::parse("system.slice::system-x.slice", "c").unwrap();
        assert!(!p.is_scope());
        assert_eq!(
            p.dir().unwrap(),
            PathBuf::from("/system.slice/system-x.slice")
        );
        assert_eq!(UnitPath::parse(":p:n", "c").unwrap().slice, "system.slice");
        for bad in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "system.slice:p:",
            "bad:p:n",
            "s.slice:p:n/x",
        ] {
            assert!(UnitPath::parse(bad, "c").is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_become_runc_properties() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":33554432},"pids":{"limit":-1},
                "cpu":{"shares":1024,"quota":12345,"period":100000}}"#,
        )
        .unwrap();
        let u = |k: &str, v: u64| (k.to_string(), Variant::U64(v));
        assert_eq!(
            resource_properties(&r, true),
            [
                u("MemoryMax", 33_554_432),
                u("CPUWeight", 39),
                u("CPUQuotaPeriodUSec", 100_000),
                // 123450 µs per second, rounded up to whole percent.
                u("CPUQuotaPerSecUSec", 130_000),
                u("TasksMax", u64::MAX),
            ]
        );
        let v1 = resource_properties(&r, false);
        assert_eq!(v1[0], u("MemoryLimit", 33_554_432));
        assert_eq!(v1[1], u("CPUShares", 1024));
        assert_eq!(cpu_quota(-1, 0), [("CPUQuotaPerSecUSec", u64::MAX)]);
        assert_eq!(cpu_quota(50_000, 0), [("CPUQuotaPerSecUSec", 500_000)]);
        assert!(cpu_quota(0, 0).is_empty());
        let p = UnitPath::parse("system.slice:husk:c", "c").unwrap();
        let all = start_properties(&p, 42, None, false);
        let names: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Slice",
                "Description",
                "PIDs",
                "Delegate",
                "MemoryAccounting",
                "CPUAccounting",
                "BlockIOAccounting",
                "TasksAccounting",
                "DefaultDependencies"
            ]
        );
        assert_eq!(all[2].1, Variant::U32s(vec![42]));
    }

    #[test]
    fn object_paths_escape_like_systemd() {
        assert_eq!(
            object_path("husk-inner1.scope"),
            "/org/freedesktop/systemd1/unit/husk_2dinner1_2escope"
        );
        assert_eq!(object_path("1a"), "/org/freedesktop/systemd1/unit/_31a");
    }
}
