//! The OCI features document (`husk-runtime features`): what this build
//! of husk actually supports.

use serde_json::{json, Value};

/// Builds the features document.
pub fn features() -> Value {
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
            // What this build supports, whatever this host mounts (as
            // runc reports it): v1, v2 and hybrid hosts with rdma.max; no
            // systemd driver.
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true },
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
