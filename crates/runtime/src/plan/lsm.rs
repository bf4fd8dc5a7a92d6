//! AppArmor and SELinux: `process.apparmorProfile`, `process.selinuxLabel`
//! and `linux.mountLabel`. Init applies the process labels by writing to
//! its own `attr` files through the trusted procfs (`child::procfs`); the
//! mount label becomes a `context=` option of the filesystems that take one.
//!
//! On a host where the LSM is not enabled, runc refuses all three (measured
//! with runc 1.1.5: "selinux label is specified in config, but selinux is
//! disabled or not supported"; the AppArmor write and the `context=` mount
//! option fail with EINVAL). husk refuses them the same way, but before
//! anything is created, with the field named: a confinement that was asked
//! for is never silently dropped.

use super::{MountKind, MountPlan, ProcessPlan};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Which LSMs the host has enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostLsm {
    pub apparmor: bool,
    pub selinux: bool,
}

impl HostLsm {
    /// Reads the host: AppArmor as runc's `apparmor.IsEnabled` does (its
    /// securityfs directory and the module's `enabled` parameter), SELinux by
    /// its filesystem's `enforce` file, which exists whenever it is enabled.
    pub fn detect() -> HostLsm {
        let aa_on = std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'));
        HostLsm {
            apparmor: aa_on && Path::new("/sys/kernel/security/apparmor").is_dir(),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
        }
    }

    /// Refuses labels this host cannot apply (`exec --apparmor` and
    /// `--process-label` land in the same process fields).
    pub fn check(self, p: &ProcessPlan, mount_label: Option<&str>) -> Result<()> {
        if p.apparmor_profile.is_some() && !self.apparmor {
            return Err(Error::config(
                "process.apparmorProfile",
                "AppArmor is not enabled on this host: the profile cannot be applied",
            ));
        }
        if p.selinux_label.is_some() && !self.selinux {
            return Err(Error::config(
                "process.selinuxLabel",
                "SELinux is disabled or not supported on this host: the label cannot be applied",
            ));
        }
        if mount_label.is_some() && !self.selinux {
            return Err(Error::config(
                "linux.mountLabel",
                "SELinux is disabled or not supported on this host: the label cannot be applied",
            ));
        }
        Ok(())
    }
}

/// Filesystems that take no `context=` option: proc and sysfs label their
/// files themselves, mqueue does not parse it (runc labels its files
/// instead), cgroupfs is mounted from the host's layout.
const UNLABELED: [&str; 3] = ["proc", "sysfs", "mqueue"];

/// Adds the mount label to every fresh filesystem that takes one. runc's
/// `label.FormatMountLabel` quotes it (`context="..."`) for mount(2)'s
/// comma-separated data; fsconfig takes the value as one string, so the
/// label goes in bare (an MLS range may itself hold commas).
pub fn label_mounts(mounts: &mut [MountPlan], label: Option<&str>) {
    let Some(label) = label else { return };
    for m in mounts {
        if let MountKind::Fs { fstype, .. } = &m.kind {
            if !UNLABELED.contains(&fstype.as_str())
                && !m.data.iter().any(|d| d.starts_with("context="))
            {
                m.data.push(format!("context={label}"));
            }
        }
    }
}

/// Which `attr` file below `/proc/<pid>/task/<tid>/` takes a profile or
/// label for the next exec: AppArmor has its own directory since Linux 5.8
/// (needed when it is stacked with another LSM); older kernels and SELinux
/// use the shared `attr/exec`.
pub fn exec_attr(apparmor: bool, has_apparmor_dir: bool) -> PathBuf {
    if apparmor && has_apparmor_dir {
        PathBuf::from("attr/apparmor/exec")
    } else {
        PathBuf::from("attr/exec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(fstype: &str, data: &[&str]) -> MountPlan {
        MountPlan {
            destination: PathBuf::from("/x"),
            kind: MountKind::Fs {
                fstype: fstype.into(),
                source: fstype.into(),
            },
            attr_set: 0,
            attr_clear: 0,
            rec_set: 0,
            rec_clear: 0,
            propagation: 0,
            data: data.iter().map(ToString::to_string).collect(),
            idmap: None,
        }
    }

    #[test]
    fn mount_label_goes_to_filesystems_that_take_it() {
        let label = "system_u:object_r:container_file_t:s0:c1,c2";
        let mut ms = vec![
            mount("tmpfs", &["mode=755"]),
            mount("devpts", &[]),
            mount("proc", &[]),
            mount("mqueue", &[]),
            mount("tmpfs", &["context=other"]),
        ];
        label_mounts(&mut ms, Some(label));
        let want = format!("context={label}");
        assert_eq!(ms[0].data, vec!["mode=755".to_string(), want.clone()]);
        assert_eq!(ms[1].data, vec![want]);
        assert!(ms[2].data.is_empty() && ms[3].data.is_empty());
        assert_eq!(ms[4].data, vec!["context=other".to_string()]);
        let mut ms = vec![mount("tmpfs", &[])];
        label_mounts(&mut ms, None);
        assert!(ms[0].data.is_empty());
    }

    fn process(aa: Option<&str>, se: Option<&str>) -> ProcessPlan {
        let spec: oci_spec::runtime::Process =
            serde_json::from_str(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/sh"]}"#)
                .unwrap();
        let mut p = ProcessPlan::from_spec(Some(&spec), 0).unwrap();
        p.apparmor_profile = aa.map(String::from);
        p.selinux_label = se.map(String::from);
        p
    }

    #[test]
    fn labels_are_refused_where_the_lsm_is_off() {
        let none = HostLsm::default();
        let both = HostLsm {
            apparmor: true,
            selinux: true,
        };
        let aa = process(Some("p1"), None);
        let se = process(None, Some("u:r:t:s0"));
        let e = none.check(&aa, None).unwrap_err().to_string();
        assert!(e.contains("process.apparmorProfile"), "{e}");
        let e = none.check(&se, None).unwrap_err().to_string();
        assert!(e.contains("process.selinuxLabel"), "{e}");
        let e = none
            .check(&process(None, None), Some("l"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.mountLabel"), "{e}");
        none.check(&process(None, None), None).unwrap();
        both.check(&aa, Some("l")).unwrap();
        both.check(&se, None).unwrap();
    }

    #[test]
    fn attr_file_selection() {
        assert_eq!(exec_attr(true, true), Path::new("attr/apparmor/exec"));
        assert_eq!(exec_attr(true, false), Path::new("attr/exec"));
        assert_eq!(exec_attr(false, true), Path::new("attr/exec"));
    }
}
