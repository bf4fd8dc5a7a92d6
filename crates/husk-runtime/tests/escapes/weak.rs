//! The escape tests against a deliberately weakened husk-runtime: built once
//! with the test-only feature `weaken` into its own target directory, each
//! test below is run again (its test binary, `--exact`) with one
//! protection switched off by `HUSK_WEAKEN`, and must then FAIL: the attack
//! gets through. Against the normal build they pass (the plain run).

use crate::common::{self, run_cmd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// (test, protection it catches being switched off), in this binary.
const CASES: [(&str, &str); 8] = [
    (
        "cve_2019_16884_fake_proc_receives_no_writes",
        "procfs-verify",
    ),
    (
        "cve_2025_52881_bind_over_proc_sys_does_not_redirect_sysctl",
        "procfs-verify",
    ),
    (
        "cve_2019_19921_symlinks_out_of_the_root_stay_inside",
        "in-root-resolve",
    ),
    (
        "cve_2021_30465_racing_symlink_swap_stays_inside",
        "in-root-resolve",
    ),
    (
        "cve_2022_29162_inheritable_caps_empty_unless_asked",
        "inheritable-caps",
    ),
    (
        "cve_2025_31133_masking_never_uses_a_swapped_dev_null",
        "devnull-verify",
    ),
    ("image_dev_console_symlink_is_not_followed", "console-fd"),
    (
        "image_dev_symlink_to_the_host_stays_inside",
        "in-root-resolve",
    ),
];

/// The same, in `security.rs` (CVE-2019-5736: with CAP_SYS_PTRACE, the
/// non-dumpable init no longer hides /proc/<pid>/exe; the re-exec must).
const SECURITY_CASES: [(&str, &str); 1] = [(
    "neighbour_with_ptrace_cannot_overwrite_the_runtime_binary",
    "exe-reexec",
)];

/// Another test binary of this package: cargo puts `<name>-<hash>` next to
/// this one (the newest, if several builds are around).
fn sibling_test(name: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let prefix = format!("{name}-");
    std::fs::read_dir(me.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && !n.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("test binary {name} not found next to {}", me.display()))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the weakened runtime into `target/weak` (cargo's lock on that
/// directory serialises concurrent builds) and returns its path.
fn weak_runtime() -> PathBuf {
    let ws = workspace();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "-p",
        "husk-runtime",
        "--features",
        "weaken",
        "--target-dir",
    ])
    .arg(ws.join("target/weak"))
    .current_dir(&ws);
    run_cmd(cmd, &ws, Duration::from_secs(1200)).ok();
    [
        "target/weak/x86_64-unknown-linux-gnu/debug",
        "target/weak/debug",
    ]
    .iter()
    .map(|d| ws.join(d).join("husk-runtime"))
    .find(|p| p.is_file())
    .expect("weakened husk-runtime not found after the build")
}

#[test]
fn weakened_build_lets_the_attacks_through() {
    if common::is_runc() || std::env::var_os("HUSK_WEAKEN").is_some() {
        eprintln!("skipped: only meaningful against husk's own build");
        return;
    }
    let weak = weak_runtime();
    let me = std::env::current_exe().unwrap();
    let security = sibling_test("security");
    let cases = CASES.iter().map(|c| (&me, c));
    let mut passed = Vec::new();
    for (bin, &(test, protection)) in cases.chain(SECURITY_CASES.iter().map(|c| (&security, c))) {
        let mut cmd = Command::new(bin);
        cmd.args([test, "--exact", "--test-threads=1"])
            .env("HUSK_TEST_RUNTIME", &weak)
            .env("HUSK_TEST_PROBE", common::probe_bin())
            .env("HUSK_WEAKEN", protection);
        let out = run_cmd(cmd, &std::env::temp_dir(), Duration::from_secs(180));
        assert!(out.stdout.contains("running 1 test"), "{test}: {out}");
        if out.success() {
            passed.push(format!("{test} (without {protection})"));
        }
    }
    assert!(
        passed.is_empty(),
        "escape tests that did not catch the weakened build: {passed:?}"
    );
}
