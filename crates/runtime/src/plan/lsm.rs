//! AppArmor and SELinux: `process.apparmorProfile`, `process.selinuxLabel`
//! and `linux.mountLabel`. Init applies the process labels by writing to
//! its own `attr` files through the trusted procfs (`child::procfs`); the
//! mount label becomes a `context=` option of the filesystems that take one.
//!
//! On a host where the LSM is not enabled there is nothing that could apply
//! a label. husk then runs the container without it and says so in one
//! warning line naming the field (issue 4's rule). runc 1.1.5 refuses such a
//! config instead ("selinux label is specified in config, but selinux is
//! disabled or not supported"; its AppArmor write and `context=` mount option
//! fail with EINVAL); engines never send labels to a host without the LSM.
//! An AppArmor profile of `unconfined` is what such a host gives anyway and
//! is dropped without a warning, as podman does.

use super::{MountKind, MountPlan, ProcessPlan};
use std::path::{Path, PathBuf};

/// Which LSMs the host has enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostLsm {
    pub apparmor: bool,
    pub selinux: bool,
}

/// Whether a label is asked for at all: the host is only looked at then.
pub fn wanted(p: &ProcessPlan, mount_label: Option<&str>) -> bool {
    p.apparmor_profile.is_some() || p.selinux_label.is_some() || mount_label.is_some()
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

    /// Drops the process labels this host cannot apply (`exec --apparmor`
    /// and `--process-label` land in the same fields) and returns a warning
    /// for each.
    pub fn drop_unavailable(self, p: &mut ProcessPlan) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.apparmor {
            if let Some(profile) = p.apparmor_profile.take() {
                if profile != "unconfined" {
                    warnings.push(format!(
                        "process.apparmorProfile {profile:?} not applied: AppArmor is not enabled on this host"
                    ));
                }
            }
        }
        if !self.selinux {
            if let Some(label) = p.selinux_label.take() {
                warnings.push(format!(
                    "process.selinuxLabel {label:?} not applied: SELinux is not enabled on this host"
                ));
            }
        }
        warnings
    }

    /// Takes `linux.mountLabel` back out of the mounts when SELinux is off.
    pub fn drop_mount_label(
        self,
        label: &mut Option<String>,
        mounts: &mut [MountPlan],
    ) -> Option<String> {
        if self.selinux {
            return None;
        }
        let label = label.take()?;
        let option = format!("context={label}");
        for m in mounts {
            m.data.retain(|d| *d != option);
        }
        Some(format!(
            "linux.mountLabel {label:?} not applied: SELinux is not enabled on this host"
        ))
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
    fn labels_are_dropped_with_a_warning_where_the_lsm_is_off() {
        let none = HostLsm::default();
        let both = HostLsm {
            apparmor: true,
            selinux: true,
        };
        let mut aa = process(Some("p1"), Some("u:r:t:s0"));
        let w = none.drop_unavailable(&mut aa);
        assert!(w[0].contains("process.apparmorProfile \"p1\""), "{w:?}");
        assert!(w[1].contains("process.selinuxLabel"), "{w:?}");
        assert!(aa.apparmor_profile.is_none() && aa.selinux_label.is_none());
        let mut unconfined = process(Some("unconfined"), None);
        assert!(none.drop_unavailable(&mut unconfined).is_empty());
        let mut kept = process(Some("p1"), Some("u:r:t:s0"));
        assert!(both.drop_unavailable(&mut kept).is_empty());
        assert_eq!(kept.apparmor_profile.as_deref(), Some("p1"));

        let mut ms = vec![mount("tmpfs", &["mode=755"])];
        let mut label = Some("l".to_string());
        label_mounts(&mut ms, label.as_deref());
        assert!(both.drop_mount_label(&mut label, &mut ms).is_none());
        let w = none.drop_mount_label(&mut label, &mut ms).unwrap();
        assert!(w.contains("linux.mountLabel"), "{w}");
        assert_eq!(ms[0].data, vec!["mode=755".to_string()]);
    }

    #[test]
    fn attr_file_selection() {
        assert_eq!(exec_attr(true, true), Path::new("attr/apparmor/exec"));
        assert_eq!(exec_attr(true, false), Path::new("attr/exec"));
        assert_eq!(exec_attr(false, true), Path::new("attr/exec"));
    }
}
