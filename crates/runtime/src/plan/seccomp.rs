//! `linux.seccomp`, compiled to BPF here in the parent: a bad profile fails
//! `create` (or `exec`) before anything exists, and init only loads bytes.

use crate::{Error, Result};
use oci_spec::runtime::Linux;

/// The container's filter for this host, if the config has a profile.
pub fn plan_seccomp(linux: &Linux) -> Result<Option<husk_seccomp::Filter>> {
    let Some(profile) = linux.seccomp() else {
        return Ok(None);
    };
    let native = husk_seccomp::Arch::native()
        .ok_or_else(|| Error::config("linux.seccomp", "not supported on this architecture"))?;
    husk_seccomp::compile(profile, native)
        .map(Some)
        .map_err(|e| Error::config(e.field, e.reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Linux {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn profiles_compile_and_errors_name_the_field() {
        assert_eq!(plan_seccomp(&linux("{}")).unwrap(), None);
        let f = plan_seccomp(&linux(
            r#"{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}}"#,
        ))
        .unwrap()
        .unwrap();
        assert!(!f.program.is_empty() && f.listener.is_none());
        let e = plan_seccomp(&linux(
            r#"{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_NOTIFY"}]}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.seccomp.listenerPath"), "{e}");
    }
}
