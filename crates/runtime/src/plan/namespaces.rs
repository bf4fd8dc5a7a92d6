//! Namespaces: which are new, which are joined, and how the child gets there.

use crate::{Error, Result};
use husk_sys::ns;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};
use std::path::PathBuf;

/// The kinds of namespace a container can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NsKind {
    User,
    Mount,
    Pid,
    Uts,
    Ipc,
    Net,
    Cgroup,
    Time,
}

impl NsKind {
    /// The `CLONE_NEW*` flag.
    pub fn flag(self) -> i32 {
        match self {
            NsKind::User => ns::CLONE_NEWUSER,
            NsKind::Mount => ns::CLONE_NEWNS,
            NsKind::Pid => ns::CLONE_NEWPID,
            NsKind::Uts => ns::CLONE_NEWUTS,
            NsKind::Ipc => ns::CLONE_NEWIPC,
            NsKind::Net => ns::CLONE_NEWNET,
            NsKind::Cgroup => ns::CLONE_NEWCGROUP,
            NsKind::Time => ns::CLONE_NEWTIME,
        }
    }

    /// The spec's name for it.
    pub fn name(self) -> &'static str {
        match self {
            NsKind::User => "user",
            NsKind::Mount => "mount",
            NsKind::Pid => "pid",
            NsKind::Uts => "uts",
            NsKind::Ipc => "ipc",
            NsKind::Net => "network",
            NsKind::Cgroup => "cgroup",
            NsKind::Time => "time",
        }
    }

    fn from_spec(t: LinuxNamespaceType) -> Self {
        match t {
            LinuxNamespaceType::User => NsKind::User,
            LinuxNamespaceType::Mount => NsKind::Mount,
            LinuxNamespaceType::Pid => NsKind::Pid,
            LinuxNamespaceType::Uts => NsKind::Uts,
            LinuxNamespaceType::Ipc => NsKind::Ipc,
            LinuxNamespaceType::Network => NsKind::Net,
            LinuxNamespaceType::Cgroup => NsKind::Cgroup,
            LinuxNamespaceType::Time => NsKind::Time,
        }
    }
}

/// How the child reaches its namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Nothing is joined: clone3 creates every new namespace at once with
    /// these flags (but time, whose offsets come first, and cgroup, which
    /// must be rooted at the container's cgroup, joined after the fork).
    /// One process, no extra fork: the fast path.
    Clone { flags: u64 },
    /// Some namespace is joined by path. The child joins first (user
    /// namespace first), then unshares the new ones; if its pid namespace
    /// changes it forks once more, because a pid namespace applies only to
    /// children.
    JoinThenUnshare { fork_for_pid: bool },
}

/// Every namespace decision.
#[derive(Clone, Debug)]
pub struct NamespacePlan {
    /// Namespaces created for the container.
    pub new: Vec<NsKind>,
    /// Namespaces joined by path, user first.
    pub join: Vec<(NsKind, PathBuf)>,
    pub strategy: Strategy,
    /// Contents for `/proc/<pid>/uid_map` and `gid_map` of a new user namespace.
    pub uid_map: String,
    pub gid_map: String,
    /// Contents for `/proc/self/timens_offsets` of a new time namespace.
    pub time_offsets: String,
}

impl NamespacePlan {
    /// True if the container gets a new namespace of this kind.
    pub fn has_own(&self, kind: NsKind) -> bool {
        self.new.contains(&kind)
    }

    /// Plans `linux.namespaces`, the id mappings and the time offsets.
    pub fn from_spec(linux: &Linux) -> Result<Self> {
        let mut new = Vec::new();
        let mut join = Vec::new();
        let mut seen = Vec::new();
        for (i, n) in linux.namespaces().iter().flatten().enumerate() {
            let kind = NsKind::from_spec(n.typ());
            if seen.contains(&kind) {
                return Err(Error::config(
                    format!("linux.namespaces[{i}].type"),
                    format!("{} namespace listed twice", kind.name()),
                ));
            }
            seen.push(kind);
            match n.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    if !p.is_absolute() {
                        return Err(Error::config(
                            format!("linux.namespaces[{i}].path"),
                            format!("{} must be an absolute path", p.display()),
                        ));
                    }
                    if !p.exists() {
                        return Err(Error::config(
                            format!("linux.namespaces[{i}].path"),
                            format!("{} does not exist", p.display()),
                        ));
                    }
                    join.push((kind, p.clone()));
                }
                _ => new.push(kind),
            }
        }
        join.sort_by_key(|(k, _)| *k);
        let user_new = new.contains(&NsKind::User);
        let (uid_map, gid_map) = id_maps(
            linux,
            user_new,
            join.iter().any(|(k, _)| *k == NsKind::User),
        )?;
        let time_offsets = time_offsets(linux, new.contains(&NsKind::Time))?;
        let strategy = if join.is_empty() {
            let flags = new
                .iter()
                .filter(|k| !matches!(k, NsKind::Time | NsKind::Cgroup))
                .fold(0u64, |f, k| f | u64::from(k.flag().cast_unsigned()));
            Strategy::Clone { flags }
        } else {
            let pid_changes =
                new.contains(&NsKind::Pid) || join.iter().any(|(k, _)| *k == NsKind::Pid);
            Strategy::JoinThenUnshare {
                fork_for_pid: pid_changes,
            }
        };
        Ok(NamespacePlan {
            new,
            join,
            strategy,
            uid_map,
            gid_map,
            time_offsets,
        })
    }
}

fn id_maps(linux: &Linux, user_new: bool, user_joined: bool) -> Result<(String, String)> {
    let render = |field: &str, maps: &Option<Vec<LinuxIdMapping>>| -> Result<String> {
        let maps = maps.as_deref().unwrap_or_default();
        if user_new && maps.is_empty() {
            return Err(Error::config(
                format!("linux.{field}"),
                "a new user namespace needs at least one mapping",
            ));
        }
        render_maps(&format!("linux.{field}"), maps)
    };
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if !user_new {
        if has_maps && !user_joined {
            return Err(Error::config(
                "linux.uidMappings",
                "id mappings need a user namespace in linux.namespaces",
            ));
        }
        return Ok((String::new(), String::new()));
    }
    Ok((
        render("uidMappings", linux.uid_mappings())?,
        render("gidMappings", linux.gid_mappings())?,
    ))
}

/// Id mappings in `/proc/<pid>/uid_map` form; `field` names the list in errors.
pub fn render_maps(field: &str, maps: &[LinuxIdMapping]) -> Result<String> {
    let mut out = String::new();
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(Error::config(
                format!("{field}[{i}].size"),
                "must not be zero",
            ));
        }
        out.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    Ok(out)
}

fn time_offsets(linux: &Linux, time_new: bool) -> Result<String> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(String::new());
    };
    if offsets.is_empty() {
        return Ok(String::new());
    }
    if !time_new {
        return Err(Error::config(
            "linux.timeOffsets",
            "time offsets need a new time namespace in linux.namespaces",
        ));
    }
    let mut out = String::new();
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by(|a, b| a.0.cmp(b.0));
    for (clock, off) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::config(
                format!("linux.timeOffsets.{clock}"),
                "only monotonic and boottime clocks can be offset",
            ));
        }
        let nanos = off.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(Error::config(
                format!("linux.timeOffsets.{clock}.nanosecs"),
                "must be below 1000000000",
            ));
        }
        out.push_str(&format!("{clock} {} {nanos}\n", off.secs().unwrap_or(0)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Linux {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn all_new_goes_through_clone_flags() {
        let l = linux(r#"{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"time"}]}"#);
        let p = NamespacePlan::from_spec(&l).unwrap();
        let want = u64::from((ns::CLONE_NEWPID | ns::CLONE_NEWNS).cast_unsigned());
        assert_eq!(p.strategy, Strategy::Clone { flags: want });
        assert!(p.has_own(NsKind::Time));
    }

    #[test]
    fn a_join_switches_strategy_and_user_sorts_first() {
        let l = linux(
            r#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/self/ns/net"},{"type":"user","path":"/proc/self/ns/user"}]}"#,
        );
        let p = NamespacePlan::from_spec(&l).unwrap();
        assert_eq!(p.strategy, Strategy::JoinThenUnshare { fork_for_pid: true });
        assert_eq!(p.join[0].0, NsKind::User);
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let l = linux(r#"{"namespaces":[{"type":"user"}]}"#);
        let e = NamespacePlan::from_spec(&l).unwrap_err().to_string();
        assert!(e.contains("linux.uidMappings"), "{e}");
        let l = linux(
            r#"{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":10}],"gidMappings":[{"containerID":0,"hostID":1000,"size":10}]}"#,
        );
        assert_eq!(NamespacePlan::from_spec(&l).unwrap().uid_map, "0 1000 10\n");
    }

    #[test]
    fn duplicates_and_missing_paths_are_refused() {
        let l = linux(r#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#);
        assert!(NamespacePlan::from_spec(&l)
            .unwrap_err()
            .to_string()
            .contains("namespaces[1]"));
        let l = linux(r#"{"namespaces":[{"type":"network","path":"/nonexistent/netns"}]}"#);
        assert!(NamespacePlan::from_spec(&l)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/netns"));
    }

    #[test]
    fn time_offsets_render() {
        let l = linux(
            r#"{"namespaces":[{"type":"time"}],"timeOffsets":{"monotonic":{"secs":86400,"nanosecs":5}}}"#,
        );
        assert_eq!(
            NamespacePlan::from_spec(&l).unwrap().time_offsets,
            "monotonic 86400 5\n"
        );
        let l = linux(r#"{"timeOffsets":{"monotonic":{"secs":1}}}"#);
        assert!(NamespacePlan::from_spec(&l).is_err());
    }
}
