//! `spec`: writes a default config.json, like runc's.

use husk_runtime::Error;
use oci_spec::runtime::Spec;
use std::path::Path;

/// Writes `<bundle>/config.json`; refuses to overwrite one.
pub fn write_default(bundle: &Path, rootless: bool) -> Result<(), Error> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} exists; remove it first",
            path.display()
        )));
    }
    let mut spec = if rootless {
        let meta =
            std::fs::metadata("/proc/self").map_err(|e| Error::io("stat", "/proc/self", e))?;
        use std::os::unix::fs::MetadataExt;
        Spec::rootless(meta.uid(), meta.gid())
    } else {
        Spec::default()
    };
    spec.set_version("1.2.0".to_string());
    // Like runc's: an interactive shell with a terminal and a hostname of its own.
    spec.set_hostname(Some("husk".to_string()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
        // No inheritable capabilities unless asked for (CVE-2022-29162).
        if let Some(mut caps) = p.capabilities().clone() {
            caps.set_inheritable(None);
            p.set_capabilities(Some(caps));
        }
    }
    let text = serde_json::to_string_pretty(&spec).map_err(|e| Error::Usage(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}
