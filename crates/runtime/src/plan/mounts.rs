//! Mount entries of the spec turned into mount plans: options parsed into
//! flags, attributes and filesystem data, sources resolved, kinds decided.

use super::idmap::{plan_idmap, IdMapPlan};
use super::namespaces::NamespacePlan;
use crate::{Error, Result};
use husk_sys::mount::{attr, MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
use oci_spec::runtime::Mount;
use std::path::{Component, Path, PathBuf};

/// What gets mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of a host path (a file or a directory).
    Bind { source: PathBuf, recursive: bool },
    /// A fresh filesystem instance (proc, tmpfs, sysfs, devpts, mqueue, ...).
    Fs { fstype: String, source: String },
    /// The cgroup filesystem, laid out to match the host (v1, v2 or hybrid).
    Cgroup,
}

/// One entry of `mounts`, ready to execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountPlan {
    /// Absolute path inside the container root.
    pub destination: PathBuf,
    pub kind: MountKind,
    /// `MOUNT_ATTR_*` bits to set on the mount itself.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` bits to clear on the mount itself.
    pub attr_clear: u64,
    /// `MOUNT_ATTR_*` bits to set on the whole tree (`rro`, `rnosuid`, ...).
    pub rec_set: u64,
    /// `MOUNT_ATTR_*` bits to clear on the whole tree.
    pub rec_clear: u64,
    /// Propagation (`MS_SHARED` ... with `MS_REC`), applied after attaching.
    pub propagation: u64,
    /// Filesystem-specific options (`size=64m`, `mode=755`, `newinstance`).
    pub data: Vec<String>,
    /// Set for an idmapped bind mount.
    pub idmap: Option<IdMapPlan>,
}

/// Parses one spec mount. `bundle` anchors relative bind sources; `ns`
/// holds the container's id maps, which `idmap` alone applies.
pub fn plan_mount(index: usize, m: &Mount, bundle: &Path, ns: &NamespacePlan) -> Result<MountPlan> {
    let field = |f: &str| format!("mounts[{index}].{f}");
    let destination = clean_absolute(m.destination()).ok_or_else(|| {
        Error::config(
            field("destination"),
            format!("{} must be an absolute path", m.destination().display()),
        )
    })?;
    let mut plan = MountPlan {
        destination,
        kind: MountKind::Cgroup,
        attr_set: 0,
        attr_clear: 0,
        rec_set: 0,
        rec_clear: 0,
        propagation: 0,
        data: Vec::new(),
        idmap: None,
    };
    let mut bind = None;
    let mut idmap = None;
    for opt in m.options().iter().flatten() {
        match opt.as_str() {
            "idmap" => idmap = Some(false),
            "ridmap" => idmap = Some(true),
            _ => apply_option(&mut plan, &mut bind, opt),
        }
    }
    let fstype = m.typ().clone().unwrap_or_default();
    if bind.is_none() && fstype == "bind" {
        bind = Some(false);
    }
    plan.kind = match bind {
        Some(recursive) => {
            let src = m
                .source()
                .as_ref()
                .ok_or_else(|| Error::config(field("source"), "a bind mount needs a source"))?;
            let source = if src.is_absolute() {
                src.clone()
            } else {
                bundle.join(src)
            };
            if std::fs::symlink_metadata(&source).is_err() {
                return Err(Error::config(
                    field("source"),
                    format!("{} does not exist", source.display()),
                ));
            }
            MountKind::Bind { source, recursive }
        }
        None if fstype == "cgroup" || fstype == "cgroup2" => MountKind::Cgroup,
        None if fstype.is_empty() => {
            return Err(Error::config(field("type"), "missing filesystem type"));
        }
        None => MountKind::Fs {
            source: m
                .source()
                .as_ref()
                .map_or_else(|| fstype.clone(), |s| s.display().to_string()),
            fstype,
        },
    };
    let is_bind = matches!(plan.kind, MountKind::Bind { .. });
    plan.idmap = plan_idmap(index, m, idmap, is_bind, ns)?;
    Ok(plan)
}

fn apply_option(p: &mut MountPlan, bind: &mut Option<bool>, opt: &str) {
    if let Some(a) = attr_option(opt) {
        a.apply(&mut p.attr_set, &mut p.attr_clear);
        return;
    }
    if let Some(a) = opt.strip_prefix('r').and_then(attr_option) {
        a.apply(&mut p.rec_set, &mut p.rec_clear);
        return;
    }
    match opt {
        "bind" => *bind = Some(bind.unwrap_or(false)),
        "rbind" => *bind = Some(true),
        "private" => p.propagation = MS_PRIVATE,
        "rprivate" => p.propagation = MS_PRIVATE | MS_REC,
        "shared" => p.propagation = MS_SHARED,
        "rshared" => p.propagation = MS_SHARED | MS_REC,
        "slave" => p.propagation = MS_SLAVE,
        "rslave" => p.propagation = MS_SLAVE | MS_REC,
        "unbindable" => p.propagation = MS_UNBINDABLE,
        "runbindable" => p.propagation = MS_UNBINDABLE | MS_REC,
        // Accepted for compatibility; they change nothing for a fresh mount.
        "defaults" | "async" | "nomand" | "remount" | "tmpcopyup" | "atime" | "norelatime"
        | "nostrictatime" => {}
        other => p.data.push(other.to_string()),
    }
}

/// What one attribute option does to the `MOUNT_ATTR_*` bits.
#[derive(Clone, Copy)]
enum Attr {
    Set(u64),
    Clear(u64),
    /// One of the atime modes, which replace each other.
    Atime(u64),
}

impl Attr {
    fn apply(self, set: &mut u64, clear: &mut u64) {
        match self {
            Attr::Set(b) => {
                *set |= b;
                *clear &= !b;
            }
            Attr::Clear(b) => {
                *clear |= b;
                *set &= !b;
            }
            Attr::Atime(mode) => {
                *clear |= attr::ATIME_MASK;
                *set = (*set & !attr::ATIME_MASK) | mode;
            }
        }
    }
}

fn attr_option(opt: &str) -> Option<Attr> {
    Some(match opt {
        "ro" => Attr::Set(attr::RDONLY),
        "rw" => Attr::Clear(attr::RDONLY),
        "nosuid" => Attr::Set(attr::NOSUID),
        "suid" => Attr::Clear(attr::NOSUID),
        "nodev" => Attr::Set(attr::NODEV),
        "dev" => Attr::Clear(attr::NODEV),
        "noexec" => Attr::Set(attr::NOEXEC),
        "exec" => Attr::Clear(attr::NOEXEC),
        "noatime" => Attr::Atime(attr::NOATIME),
        "strictatime" => Attr::Atime(attr::STRICTATIME),
        "relatime" => Attr::Atime(attr::RELATIME),
        "nodiratime" => Attr::Set(attr::NODIRATIME),
        "diratime" => Attr::Clear(attr::NODIRATIME),
        "nosymfollow" => Attr::Set(attr::NOSYMFOLLOW),
        "symfollow" => Attr::Clear(attr::NOSYMFOLLOW),
        _ => return None,
    })
}

/// An absolute path with `.` removed and `..` refused; `None` if relative.
pub fn clean_absolute(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    fn plan_mount(index: usize, m: &Mount, bundle: &Path) -> Result<MountPlan> {
        let ns = NamespacePlan::from_spec(&oci_spec::runtime::Linux::default()).unwrap();
        super::plan_mount(index, m, bundle, &ns)
    }

    #[test]
    fn tmpfs_options_split_into_attrs_and_data() {
        let m = mount(
            r#"{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]}"#,
        );
        let p = plan_mount(0, &m, Path::new("/b")).unwrap();
        assert_eq!(
            p.kind,
            MountKind::Fs {
                fstype: "tmpfs".into(),
                source: "tmpfs".into()
            }
        );
        assert_eq!(p.attr_set, attr::NOSUID | attr::STRICTATIME);
        assert_eq!(p.attr_clear, attr::ATIME_MASK);
        assert_eq!(p.data, vec!["mode=755", "size=65536k"]);
    }

    #[test]
    fn rbind_ro_and_recursive_attrs() {
        let m = mount(
            r#"{"destination":"/data/../mnt","type":"none","source":"/tmp","options":["rbind","ro","rnosuid","rprivate"]}"#,
        );
        let p = plan_mount(0, &m, Path::new("/b")).unwrap();
        assert_eq!(p.destination, PathBuf::from("/mnt"));
        assert_eq!(
            p.kind,
            MountKind::Bind {
                source: "/tmp".into(),
                recursive: true
            }
        );
        assert_eq!(p.attr_set, attr::RDONLY);
        assert_eq!(p.rec_set, attr::NOSUID);
        assert_eq!(p.propagation, MS_PRIVATE | MS_REC);
    }

    #[test]
    fn relative_destination_is_refused() {
        let m = mount(r#"{"destination":"proc","type":"proc","source":"proc"}"#);
        let e = plan_mount(3, &m, Path::new("/b")).unwrap_err().to_string();
        assert!(e.contains("mounts[3].destination"), "{e}");
    }

    #[test]
    fn missing_bind_source_is_refused() {
        let m = mount(r#"{"destination":"/x","source":"/nonexistent/husk","options":["bind"]}"#);
        let e = plan_mount(0, &m, Path::new("/b")).unwrap_err().to_string();
        assert!(
            e.contains("mounts[0].source") && e.contains("/nonexistent/husk"),
            "{e}"
        );
    }
}
