//! The container's cgroup while `create` runs (runs in: parent): created
//! and filled before the init is cloned, removed again if create fails.

use crate::plan::Plan;
use crate::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::OwnedFd;

/// The container's cgroup: removed on drop unless kept.
pub struct CgroupGuard {
    cgroup: Option<husk_cgroups::Cgroup>,
}

impl CgroupGuard {
    /// Creates the cgroup and applies `linux.resources`. An unprivileged
    /// caller without a delegated hierarchy goes on without one, warned,
    /// as long as the config sets no limits: like runc, which ignores
    /// device rules it cannot apply when rootless but fails ("cannot set
    /// ... limit: container could not join or create cgroup") for the rest.
    pub fn create(plan: &Plan, warn: &dyn Fn(&str)) -> Result<Self> {
        let host = husk_cgroups::Host::detect();
        let cg = husk_cgroups::Cgroup::locate(&host, &plan.cgroups_path);
        match cg.create(plan.resources.as_ref(), &default_device_rules(plan)) {
            Ok(()) => Ok(CgroupGuard { cgroup: Some(cg) }),
            Err(
                husk_cgroups::Error::Io { source, .. }
                | husk_cgroups::Error::Rejected { source, .. },
            ) if source.kind() == std::io::ErrorKind::PermissionDenied
                && !crate::caller::privileged() =>
            {
                let _ = cg.remove();
                let limits: Vec<&str> = plan
                    .resources
                    .as_ref()
                    .map(husk_cgroups::resources::fields_set)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| *f != "linux.resources.devices")
                    .collect();
                if let Some(field) = limits.first() {
                    return Err(Error::Cgroup(husk_cgroups::Error::Unsupported {
                        field: (*field).to_string(),
                        reason: "cannot be set: cgroups are not delegated to this user, so the container has no cgroup of its own".into(),
                    }));
                }
                warn("cgroups are not delegated to this user: the container runs without one (its device rules are not applied)");
                Ok(CgroupGuard { cgroup: None })
            }
            Err(e) => {
                let _ = cg.remove();
                Err(Error::Cgroup(e))
            }
        }
    }

    /// The cgroup to clone the init straight into (pure v2 hosts), if any.
    pub fn clone_into(&self) -> Result<Option<OwnedFd>> {
        match &self.cgroup {
            Some(cg) => cg.clone_into().map_err(Error::Cgroup),
            None => Ok(None),
        }
    }

    pub fn add(&self, pid: i32) -> Result<()> {
        match &self.cgroup {
            Some(cg) => cg.add(pid).map_err(Error::Cgroup),
            None => Ok(()),
        }
    }

    /// Keeps the cgroup and returns its directories for the state file.
    pub fn keep(&mut self) -> Vec<std::path::PathBuf> {
        self.cgroup.take().map(|c| c.dirs()).unwrap_or_default()
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
    }
}

/// Devices every container may use whatever its device cgroup rules say,
/// as runc allows them: mknod of any node, the default devices, the
/// console and ptys, and the devices of `linux.devices`. Kept in the state
/// so that `update` re-applies them after new device rules.
pub fn default_device_rules(plan: &Plan) -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<u32>, minor: Option<u32>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major.map(i64::from))
            .set_minor(minor.map(i64::from))
            .set_access(Some(access.into()));
        d
    };
    let mut rules = vec![
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
    ];
    for d in &plan.devices {
        let t = match d.file_type {
            libc::S_IFBLK => LinuxDeviceType::B,
            libc::S_IFIFO => LinuxDeviceType::P,
            _ => LinuxDeviceType::C,
        };
        rules.push(rule(t, Some(d.major), Some(d.minor), "rwm"));
    }
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(1), "rwm"));
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"));
    rules.push(rule(LinuxDeviceType::C, Some(136), None, "rwm"));
    rules
}
