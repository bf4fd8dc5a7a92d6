//! The OCI features document (`husk-runtime features`): what this build
//! of husk actually supports.

use serde_json::{json, Value};

/// Builds the features document.
pub fn features() -> Value {
    let host = husk_cgroups::Host::detect();
    let (v1, v2) = (!host.v1.is_empty(), host.unified.is_some());
    let caps: Vec<String> = (0..=crate::plan::caps::last_cap())
        .filter_map(crate::plan::caps::name)
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "exec", "idmap", "noatime", "nodev",
            "nodiratime", "noexec", "norelatime", "nostrictatime", "nosuid", "nosymfollow",
            "private", "rbind", "relatime", "ridmap", "remount", "ro", "rprivate", "rshared", "rslave",
            "runbindable", "rw", "shared", "slave", "strictatime", "suid", "symfollow", "unbindable",
            "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnoatime",
            "ratime", "rrelatime", "rstrictatime", "rnodiratime", "rdiratime", "rnosymfollow", "rsymfollow"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": v1, "v2": v2, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": {
            "io.github.husk.version": env!("CARGO_PKG_VERSION")
        }
    })
}
