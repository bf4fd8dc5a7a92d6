//! Device nodes: the defaults every container gets plus `linux.devices`.

use crate::{Error, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::PathBuf;

/// A device node to create in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    /// Absolute path inside the container (under /dev).
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub file_type: u32,
    pub major: u32,
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices of runtime-spec's "default devices" list.
pub const DEFAULTS: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default devices followed by the spec's, a spec entry replacing a
/// default of the same path.
pub fn plan_devices(spec: &[LinuxDevice]) -> Result<Vec<DevicePlan>> {
    let mut out: Vec<DevicePlan> = DEFAULTS
        .iter()
        .map(|(p, major, minor)| DevicePlan {
            path: PathBuf::from(p),
            file_type: libc::S_IFCHR,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for (i, d) in spec.iter().enumerate() {
        let field = |f: &str| format!("linux.devices[{i}].{f}");
        let path = super::mounts::clean_absolute(d.path())
            .filter(|p| p.starts_with("/dev") && p.as_os_str().len() > 5)
            .ok_or_else(|| {
                Error::config(
                    field("path"),
                    format!("{} must be an absolute path under /dev", d.path().display()),
                )
            })?;
        let file_type = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::config(field("type"), "must be c, b, u or p"));
            }
        };
        let major =
            u32::try_from(d.major()).map_err(|_| Error::config(field("major"), "out of range"))?;
        let minor =
            u32::try_from(d.minor()).map_err(|_| Error::config(field("minor"), "out of range"))?;
        let plan = DevicePlan {
            path,
            file_type,
            major,
            minor,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|o| o.path != plan.path);
        out.push(plan);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn spec_devices_follow_defaults() {
        let devs: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":438},
                {"path":"/dev/null","type":"c","major":1,"minor":3,"uid":5}]"#,
        )
        .unwrap();
        let p = plan_devices(&devs).unwrap();
        assert_eq!(p.len(), 7);
        assert_eq!(p.last().unwrap().uid, 5);
        assert!(p
            .iter()
            .any(|d| d.path == Path::new("/dev/fuse") && d.minor == 229));
    }

    #[test]
    fn paths_outside_dev_are_refused() {
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/etc/evil","type":"c","major":1,"minor":3}]"#)
                .unwrap();
        let e = plan_devices(&devs).unwrap_err().to_string();
        assert!(e.contains("linux.devices[0].path"), "{e}");
    }
}
