//! Loading `config.json` into the `oci-spec` types, with errors that name the
//! offending field (`linux.namespaces[2].type: unknown variant ...`).

use crate::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::Path;

/// Reads and parses `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    load_file(&bundle.join("config.json")).map(|(spec, _)| spec)
}

/// Reads and parses a config file; also returns its text, which `create`
/// keeps in the container's state directory for `exec`.
pub fn load_file(path: &Path) -> Result<(Spec, Vec<u8>)> {
    let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let spec = parse(&text).map_err(|(field, reason)| Error::Config {
        field: format!("{}: {field}", path.display()),
        reason,
    })?;
    Ok((spec, text))
}

/// Parses config bytes; on failure returns (field path, reason).
pub fn parse(text: &[u8]) -> std::result::Result<Spec, (String, String)> {
    serde_json::from_slice(text).map_err(|inner: serde_json::Error| {
        let field = crate::json_path::at(text, inner.line(), inner.column());
        let reason = if inner.is_eof() {
            format!(
                "the JSON document is cut short (line {}, column {})",
                inner.line(),
                inner.column()
            )
        } else {
            inner.to_string()
        };
        (field, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_field() {
        let bad = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let (field, reason) = parse(bad).unwrap_err();
        assert_eq!(field, "linux.namespaces[1].type");
        assert!(reason.contains("bogus"), "{reason}");
    }

    #[test]
    fn invalid_json_is_reported() {
        let (_, reason) = parse(b"{not json").unwrap_err();
        assert!(reason.contains("key must be a string"), "{reason}");
    }

    #[test]
    fn newer_fields_load() {
        let cfg = br#"{"ociVersion":"1.3.0","root":{"path":"rootfs"},
            "process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
              "ioPriority":{"class":"IOPRIO_CLASS_IDLE","priority":0},
              "scheduler":{"policy":"SCHED_OTHER"},
              "execCPUAffinity":{"initial":"0","final":"0-1"}},
            "linux":{"netDevices":{"eth1":{"name":"ctr1"}},
              "memoryPolicy":{"mode":"MPOL_INTERLEAVE","nodes":"0"},
              "intelRdt":{"closID":"x"},
              "seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock"},
              "someFutureField":{"x":1}},
            "someFutureTopLevel":true}"#;
        parse(cfg).unwrap_or_else(|e| panic!("{e:?}"));
    }

    #[test]
    fn loads_every_spec_version() {
        for v in ["1.0.0", "1.0.2", "1.1.0", "1.2.0", "1.3.0"] {
            let cfg = format!(
                r#"{{"ociVersion":"{v}","root":{{"path":"rootfs"}},"process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","args":["sh"]}},
                "linux":{{"namespaces":[{{"type":"time"}}],"timeOffsets":{{"monotonic":{{"secs":10,"nanosecs":0}}}}}}}}"#
            );
            parse(cfg.as_bytes()).unwrap_or_else(|e| panic!("{v}: {e:?}"));
        }
    }
}
