//! AppArmor and SELinux labels on a host where neither LSM is enabled (this
//! one): the container runs without them and one warning line names each
//! field (runc 1.1.5 refuses instead; see `plan::lsm`). Applying them on
//! hosts that have the LSMs is unit-tested (`plan::lsm`) and done in init
//! through the trusted procfs.
#![allow(clippy::unwrap_used)]

mod common;
use common::Test;
use serde_json::json;
use std::path::Path;

fn lsm_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
        || std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

#[test]
fn labels_the_host_cannot_apply_are_named_in_a_warning() {
    if lsm_enabled() {
        eprintln!("skipped: this host has AppArmor or SELinux enabled");
        return;
    }
    let t = Test::new("lsm");
    let cases = [
        (
            "process",
            "apparmorProfile",
            json!("husk-test-profile"),
            "process.apparmorProfile",
        ),
        (
            "process",
            "selinuxLabel",
            json!("system_u:system_r:container_t:s0"),
            "process.selinuxLabel",
        ),
        (
            "linux",
            "mountLabel",
            json!("system_u:object_r:container_file_t:s0"),
            "linux.mountLabel",
        ),
    ];
    for (obj, key, value, field) in cases {
        let mut b = t.bundle();
        b.config[obj][key] = value;
        let id = t.id();
        b.probe_args(&["mounts"]);
        b.save();
        let out = t.rt(&["run", "--bundle", b.path_str(), &id]);
        out.ok().stderr_mentions(&[field, "not applied"]);
        assert!(!out.stdout.contains("context="), "{out}");
    }
}

#[test]
fn exec_labels_the_host_cannot_apply_are_named_in_a_warning() {
    if lsm_enabled() {
        eprintln!("skipped: this host has AppArmor or SELinux enabled");
        return;
    }
    let t = Test::new("lsm-exec");
    let mut b = t.bundle();
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    t.rt(&["start", &id]).ok();
    for (flag, field) in [
        ("--apparmor=husk-test-profile", "process.apparmorProfile"),
        (
            "--process-label=system_u:system_r:container_t:s0",
            "process.selinuxLabel",
        ),
    ] {
        let out = t.rt(&["exec", flag, &id, "/probe", "ids"]);
        out.ok().stderr_mentions(&[field, "not applied"]);
        assert!(out.stdout.contains("uid=0"), "{out}");
    }
    // `unconfined` is what a host without AppArmor gives: no warning.
    let out = t.rt(&["exec", "--apparmor=unconfined", &id, "/probe", "ids"]);
    out.ok();
    assert!(!out.stderr.contains("apparmor"), "{out}");
}
