//! The container's cgroup while `create` runs (runs in: parent): created
//! and filled before the init is cloned (cgroupfs), or, with the systemd
//! driver, made by systemd around the cloned init before it runs anything
//! of the container's; removed again (the unit stopped) if create fails.

use crate::plan::Plan;
use crate::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::OwnedFd;

/// The container's cgroup: removed on drop unless kept.
pub struct CgroupGuard {
    cgroup: Option<husk_cgroups::Cgroup>,
    /// The systemd driver's unit, and whether systemd has started it.
    systemd: Option<(husk_cgroups::systemd::UnitPath, bool)>,
    /// What [`CgroupGuard::add`] still has to create and fill (systemd).
    resources: Option<oci_spec::runtime::LinuxResources>,
    device_rules: Vec<LinuxDeviceCgroup>,
}

impl CgroupGuard {
    /// The cgroup of a container, where it is or will be; with the systemd
    /// driver nothing is made yet: the unit needs the init's pid
    /// ([`CgroupGuard::add`]). A resource the host cannot honour fails here.
    pub fn prepare(plan: &Plan, warn: &dyn Fn(&str)) -> Result<Self> {
        let Some(unit) = &plan.systemd_unit else {
            return CgroupGuard::create(plan, warn);
        };
        let host = husk_cgroups::Host::detect();
        let cg = husk_cgroups::Cgroup::locate(&host, &plan.cgroups_path);
        cg.check(plan.resources.as_ref())?;
        Ok(CgroupGuard {
            cgroup: Some(cg),
            systemd: Some((unit.clone(), false)),
            resources: plan.resources.clone(),
            device_rules: default_device_rules(plan),
        })
    }

    /// Creates the cgroup and applies `linux.resources`. An unprivileged
    /// caller without a delegated hierarchy goes on without one, warned,
    /// as long as the config sets no limits: like runc, which ignores
    /// device rules it cannot apply when rootless but fails ("cannot set
    /// ... limit: container could not join or create cgroup") for the rest.
    fn create(plan: &Plan, warn: &dyn Fn(&str)) -> Result<Self> {
        let host = husk_cgroups::Host::detect();
        let cg = husk_cgroups::Cgroup::locate(&host, &plan.cgroups_path);
        let guard = |cgroup| CgroupGuard {
            cgroup,
            systemd: None,
            resources: None,
            device_rules: Vec::new(),
        };
        match cg.create(plan.resources.as_ref(), &default_device_rules(plan)) {
            Ok(()) => Ok(guard(Some(cg))),
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
                Ok(guard(None))
            }
            Err(e) => {
                let _ = cg.remove();
                Err(Error::Cgroup(e))
            }
        }
    }

    /// The cgroup to clone the init straight into (pure v2 hosts), if any.
    pub fn clone_into(&self) -> Result<Option<OwnedFd>> {
        if self.systemd.is_some() {
            return Ok(None);
        }
        match &self.cgroup {
            Some(cg) => cg.clone_into().map_err(Error::Cgroup),
            None => Ok(None),
        }
    }

    /// Moves the init `pid` in. With the systemd driver, first asks
    /// systemd for the unit around it (runc's `Apply`), then creates the
    /// directories systemd did not and writes every resource file, as
    /// runc's systemd driver does after the unit (its "fs" Set).
    pub fn add(&mut self, pid: i32) -> Result<()> {
        let Some(cg) = &self.cgroup else {
            return Ok(());
        };
        if let Some((unit, started)) = &mut self.systemd {
            let pid = u32::try_from(pid).unwrap_or_default();
            husk_cgroups::systemd::start(unit, pid, self.resources.as_ref(), cg.unified_host())?;
            *started = true;
            cg.create(self.resources.as_ref(), &self.device_rules)?;
        }
        cg.add(pid).map_err(Error::Cgroup)
    }

    /// Keeps the cgroup and returns its directories and the systemd unit
    /// for the state file.
    pub fn keep(&mut self) -> (Vec<std::path::PathBuf>, Option<String>) {
        let dirs = self.cgroup.take().map(|c| c.dirs()).unwrap_or_default();
        (dirs, self.systemd.take().map(|(u, _)| u.unit))
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some((unit, true)) = &self.systemd {
            let _ = husk_cgroups::systemd::stop(&unit.unit);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
    }
}

/// Removes a container's cgroup: its systemd unit stopped first (runc's
/// `Destroy`), then whatever directories remain, deepest first. A unit
/// systemd cannot stop (systemd gone) is a warning: the directories decide.
pub fn remove(dirs: &[std::path::PathBuf], unit: Option<&str>) -> Result<()> {
    if let Some(u) = unit {
        if let Err(e) = husk_cgroups::systemd::stop(u) {
            eprintln!("warning: {e}");
        }
    }
    husk_cgroups::Cgroup::from_dirs(dirs.to_vec())
        .remove()
        .map_err(Error::Cgroup)
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
