//! Parse, validate, plan: a [`Plan`] holds every decision about a container
//! made before the fork, so the child only executes. Built and unit-tested
//! without privileges.

pub mod caps;
pub mod devices;
pub mod exec;
pub mod idmap;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod process;
mod seccomp;

use crate::{Error, Result};
use oci_spec::runtime::{Hook, Spec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use caps::CapSets;
pub use devices::DevicePlan;
pub use idmap::IdMapPlan;
pub use mounts::{MountKind, MountPlan};
pub use namespaces::{NamespacePlan, Strategy};
pub use process::ProcessPlan;
pub use seccomp::plan_seccomp;

/// Options from the command line that shape the plan.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Extra fds (3, 4, ...) passed to the container.
    pub preserve_fds: u32,
    /// Socket-activation fds (`LISTEN_FDS` in our environment), passed after
    /// the preserved ones and announced to the container's program.
    pub listen_fds: u32,
    /// Keep the caller's session keyring instead of a new one.
    pub no_new_keyring: bool,
    /// `--systemd-cgroup`: the cgroup is a transient systemd unit and
    /// `linux.cgroupsPath` is `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// The hooks of a container, by stage.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

/// Everything needed to build one container, decided and validated.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub oci_version: String,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute root filesystem directory.
    pub rootfs: PathBuf,
    pub rootfs_readonly: bool,
    /// Propagation of `/` before building the root (`MS_PRIVATE|MS_REC` by default).
    pub propagation_before: u64,
    /// Propagation re-applied on the new root after pivot_root, if any.
    pub propagation_after: u64,
    pub namespaces: NamespacePlan,
    pub mounts: Vec<MountPlan>,
    pub devices: Vec<DevicePlan>,
    /// `linux.mountLabel` (already added to the mounts' data).
    pub mount_label: Option<String>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// (`/proc/sys` relative path, value).
    pub sysctl: Vec<(PathBuf, String)>,
    pub process: ProcessPlan,
    pub hooks: Hooks,
    pub no_pivot: bool,
    pub annotations: BTreeMap<String, String>,
    /// `linux.cgroupsPath`, or `husk-<id>` right below the runtime's own cgroup
    /// (no parent directory of ours that delete would have to clean up).
    /// With `--systemd-cgroup`, the unit's place from each hierarchy's root
    /// (`/system.slice/husk-<id>.scope`).
    pub cgroups_path: PathBuf,
    /// With `--systemd-cgroup`: the unit systemd creates for the container.
    pub systemd_unit: Option<husk_cgroups::systemd::UnitPath>,
    /// `linux.resources`, translated by husk-cgroups when the cgroup is made.
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// `linux.seccomp`, compiled for this host.
    pub seccomp: Option<husk_seccomp::Filter>,
    /// Join a new session keyring named after the container (runc's
    /// default; off with --no-new-keyring).
    pub new_keyring: bool,
    /// Fields of the config this build does not apply yet, to be reported
    /// in a warning (never silently dropped).
    pub unapplied: Vec<&'static str>,
}

/// Checks a container ID the way runc does: non-empty, at most 1024 bytes,
/// letters, digits and `_ + - .`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid container ID {id:?}: use letters, digits and _ + - ."
        )))
    }
}

impl Plan {
    /// Reads `<bundle>/config.json` and plans the container; also returns
    /// the config's text as it was read.
    pub fn load(id: &str, bundle: &Path, opts: &CreateOptions) -> Result<(Plan, Vec<u8>)> {
        validate_id(id)?;
        let bundle =
            std::path::absolute(bundle).map_err(|e| Error::io("resolve bundle", bundle, e))?;
        if !bundle.is_dir() {
            return Err(Error::Usage(format!(
                "bundle {} is not a directory",
                bundle.display()
            )));
        }
        let (spec, text) = crate::spec::load_file(&bundle.join("config.json"))?;
        Ok((Plan::from_spec(id, &bundle, &spec, opts)?, text))
    }

    /// Plans a container from an already parsed spec.
    pub fn from_spec(id: &str, bundle: &Path, spec: &Spec, opts: &CreateOptions) -> Result<Plan> {
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::config("root", "missing"))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            bundle.join(root.path())
        };
        if !rootfs.is_dir() {
            return Err(Error::config(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        // An absent `linux` object means nothing Linux-specific, not oci-spec's
        // runc-like defaults.
        let linux = match spec.linux() {
            Some(l) => l.clone(),
            None => {
                // oci-spec's default is runc's (namespaces, masks, a device
                // rule): clear those for an empty object.
                let mut l = oci_spec::runtime::Linux::default();
                l.set_resources(None);
                l.set_namespaces(None);
                l.set_masked_paths(None);
                l.set_readonly_paths(None);
                l
            }
        };
        let namespaces = NamespacePlan::from_spec(&linux)?;
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| mounts::plan_mount(i, m, bundle, &namespaces))
            .collect::<Result<Vec<_>>>()?;
        let mount_label = linux.mount_label().clone().filter(|l| !l.is_empty());
        let mut mounts = mounts;
        lsm::label_mounts(&mut mounts, mount_label.as_deref());
        let devices = devices::plan_devices(linux.devices().as_deref().unwrap_or_default())?;
        let (propagation_before, propagation_after) =
            propagation(linux.rootfs_propagation().as_deref())?;
        let hostname = non_empty(spec.hostname());
        let domainname = non_empty(spec.domainname());
        if (hostname.is_some() || domainname.is_some()) && !namespaces.has_own(NsKind::Uts) {
            return Err(Error::config(
                "hostname",
                "setting a hostname or domainname needs a new uts namespace",
            ));
        }
        let sysctl = plan_sysctl(linux.sysctl().as_ref(), &namespaces)?;
        let mut process = ProcessPlan::from_spec(spec.process().as_ref(), opts.preserve_fds)?;
        if opts.listen_fds > 0 {
            process.preserve_fds += opts.listen_fds;
            for var in [
                format!("LISTEN_FDS={}", opts.listen_fds),
                "LISTEN_PID=1".to_string(),
            ] {
                process
                    .env
                    .push(std::ffi::CString::new(var).unwrap_or_default());
            }
        }
        let hooks = plan_hooks(spec)?;
        let seccomp = plan_seccomp(&linux)?;
        let systemd_unit = opts
            .systemd_cgroup
            .then(|| {
                let path = linux.cgroups_path().clone().unwrap_or_default();
                husk_cgroups::systemd::UnitPath::parse(&path.to_string_lossy(), id)
                    .map_err(|e| Error::config("linux.cgroupsPath", e))
            })
            .transpose()?;
        Ok(Plan {
            id: id.to_string(),
            oci_version: spec.version().clone(),
            bundle: bundle.to_path_buf(),
            rootfs,
            rootfs_readonly: root.readonly().unwrap_or(false),
            propagation_before,
            propagation_after,
            namespaces,
            mounts,
            devices,
            mount_label,
            masked_paths: absolute_list("linux.maskedPaths", linux.masked_paths())?,
            readonly_paths: absolute_list("linux.readonlyPaths", linux.readonly_paths())?,
            hostname,
            domainname,
            sysctl,
            process,
            hooks,
            no_pivot: opts.no_pivot,
            new_keyring: !opts.no_new_keyring,
            cgroups_path: systemd_unit.as_ref().map_or_else(
                || {
                    linux
                        .cgroups_path()
                        .clone()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or_else(|| PathBuf::from(format!("husk-{id}")))
                },
                |u| u.dir().unwrap_or_default(),
            ),
            systemd_unit,
            resources: linux.resources().clone(),
            seccomp,
            unapplied: unapplied(spec, &linux),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
    }
}

pub use namespaces::NsKind;

/// What the config asks for that this build does not do yet.
fn unapplied(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Vec<&'static str> {
    let mut w = Vec::new();
    let mut note = |set: bool, what: &'static str| {
        if set {
            w.push(what);
        }
    };
    note(linux.intel_rdt().is_some(), "linux.intelRdt");
    note(linux.personality().is_some(), "linux.personality");
    note(
        linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
        "linux.netDevices",
    );
    note(linux.memory_policy().is_some(), "linux.memoryPolicy");
    if let Some(p) = spec.process() {
        note(p.scheduler().is_some(), "process.scheduler");
        note(p.io_priority().is_some(), "process.ioPriority");
        note(p.exec_cpu_affinity().is_some(), "process.execCPUAffinity");
    }
    w
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

fn absolute_list(field: &str, list: &Option<Vec<String>>) -> Result<Vec<PathBuf>> {
    list.iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            mounts::clean_absolute(Path::new(p)).ok_or_else(|| {
                Error::config(
                    format!("{field}[{i}]"),
                    format!("{p} must be an absolute path"),
                )
            })
        })
        .collect()
}

/// (propagation of `/` before building the root, propagation after pivot).
fn propagation(p: Option<&str>) -> Result<(u64, u64)> {
    use husk_sys::mount::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    Ok(match p.unwrap_or("") {
        "" | "rprivate" => (MS_PRIVATE | MS_REC, 0),
        "private" => (MS_PRIVATE | MS_REC, MS_PRIVATE),
        "slave" => (MS_SLAVE | MS_REC, MS_SLAVE),
        "rslave" => (MS_SLAVE | MS_REC, 0),
        "shared" => (MS_PRIVATE | MS_REC, MS_SHARED),
        "rshared" => (MS_PRIVATE | MS_REC, MS_SHARED | MS_REC),
        "unbindable" => (MS_PRIVATE | MS_REC, MS_UNBINDABLE),
        "runbindable" => (MS_PRIVATE | MS_REC, MS_UNBINDABLE | MS_REC),
        other => {
            return Err(Error::config(
                "linux.rootfsPropagation",
                format!("unknown propagation {other:?}"),
            ))
        }
    })
}

fn plan_sysctl(
    sysctl: Option<&std::collections::HashMap<String, String>>,
    ns: &NamespacePlan,
) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut keys: Vec<_> = sysctl.into_iter().flatten().collect();
    keys.sort();
    for (key, value) in keys {
        let field = format!("linux.sysctl.{key}");
        if key.is_empty() || key.contains("..") || key.starts_with('/') {
            return Err(Error::config(field, "invalid name"));
        }
        // Only namespaced sysctls may be set, and only in a namespace of our own.
        let needs = if key.starts_with("net.") {
            NsKind::Net
        } else if key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key == "kernel.sem"
            || key.starts_with("fs.mqueue.")
        {
            NsKind::Ipc
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            NsKind::Uts
        } else {
            return Err(Error::config(
                field,
                "not a namespaced sysctl; refusing to change the host",
            ));
        };
        if !ns.has_own(needs) {
            return Err(Error::config(
                field,
                format!("needs a {} namespace of the container's own", needs.name()),
            ));
        }
        out.push((PathBuf::from(key.replace('.', "/")), value.clone()));
    }
    Ok(out)
}

fn plan_hooks(spec: &Spec) -> Result<Hooks> {
    let Some(h) = spec.hooks() else {
        return Ok(Hooks::default());
    };
    let check = |stage: &str, list: &Option<Vec<Hook>>| -> Result<Vec<Hook>> {
        let list = list.clone().unwrap_or_default();
        for (i, hook) in list.iter().enumerate() {
            if !hook.path().is_absolute() {
                return Err(Error::config(
                    format!("hooks.{stage}[{i}].path"),
                    format!("{} must be an absolute path", hook.path().display()),
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::config(
                    format!("hooks.{stage}[{i}].timeout"),
                    "must be positive",
                ));
            }
        }
        Ok(list)
    };
    #[allow(deprecated)]
    let prestart = check("prestart", h.prestart())?;
    Ok(Hooks {
        prestart,
        create_runtime: check("createRuntime", h.create_runtime())?,
        create_container: check("createContainer", h.create_container())?,
        start_container: check("startContainer", h.start_container())?,
        poststart: check("poststart", h.poststart())?,
        poststop: check("poststop", h.poststop())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle directory with an empty rootfs, removed when dropped.
    struct TempBundle(PathBuf);

    impl Drop for TempBundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn plan(json: &str) -> Result<Plan> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            TempBundle(std::env::temp_dir().join(format!("husk-plan-{}-{n}", std::process::id())));
        std::fs::create_dir_all(dir.0.join("rootfs")).unwrap();
        let spec = crate::spec::parse(json.as_bytes()).map_err(|(f, r)| Error::config(f, r))?;
        Plan::from_spec("t1", &dir.0, &spec, &CreateOptions::default())
    }

    const BASE: &str = r#""ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/sh"]}"#;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let e = plan(&format!(r#"{{{BASE},"hostname":"h"}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hostname"), "{e}");
        plan(&format!(
            r#"{{{BASE},"hostname":"h","linux":{{"namespaces":[{{"type":"uts"}}]}}}}"#
        ))
        .unwrap();
    }

    #[test]
    fn sysctl_needs_its_namespace() {
        let e = plan(&format!(
            r#"{{{BASE},"linux":{{"sysctl":{{"net.ipv4.ip_forward":"1"}}}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.sysctl.net.ipv4.ip_forward"), "{e}");
        let p = plan(&format!(r#"{{{BASE},"linux":{{"namespaces":[{{"type":"network"}}],"sysctl":{{"net.ipv4.ip_forward":"1"}}}}}}"#)).unwrap();
        assert_eq!(
            p.sysctl,
            vec![(PathBuf::from("net/ipv4/ip_forward"), "1".to_string())]
        );
        let e = plan(&format!(
            r#"{{{BASE},"linux":{{"sysctl":{{"vm.swappiness":"1"}}}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("vm.swappiness"), "{e}");
    }

    #[test]
    fn relative_hook_path_is_refused() {
        let e = plan(&format!(
            r#"{{{BASE},"hooks":{{"poststop":[{{"path":"bin/x"}}]}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("hooks.poststop[0].path"), "{e}");
    }

    #[test]
    fn missing_rootfs_is_named() {
        let e = plan(r#"{"ociVersion":"1.0.0","root":{"path":"nope"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("root.path") && e.contains("nope"), "{e}");
    }
}
