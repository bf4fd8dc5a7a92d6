//! Security from issue 2: no fd of the runtime reaches the container
//! (CVE-2024-21626) except those asked for, and nothing in the container
//! leads to a writable handle on the host's runtime binary (CVE-2019-5736).
#![allow(clippy::unwrap_used)]

mod common;
use common::{run_cmd, runtime_bin, Bundle, Out, Test, COMMAND_TIMEOUT};
use serde_json::json;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs the runtime through `sh`, which first runs `setup` (e.g. opens extra
/// inheritable fds with `exec 7<file`), then execs the runtime with `args`.
fn rt_via_shell(t: &Test, setup: &str, args: &[&str]) -> Out {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("{setup}\nexec \"$@\""))
        .arg("sh")
        .arg(runtime_bin())
        .arg("--root")
        .arg(&t.root)
        .args(args);
    run_cmd(cmd, &t.dir, COMMAND_TIMEOUT)
}

fn run_via_shell(t: &Test, b: &Bundle, setup: &str, extra: &[&str]) -> Out {
    b.save();
    let id = t.id();
    let mut args = vec!["run", "--bundle", b.path_str()];
    args.extend_from_slice(extra);
    args.push(&id);
    rt_via_shell(t, setup, &args)
}

fn host_files(t: &Test) -> (String, String, String) {
    let dir = t.dir.join("hostfiles");
    fs::create_dir_all(&dir).unwrap();
    let names = ["one", "two", "three"].map(|n| {
        let p = dir.join(n);
        fs::write(&p, n).unwrap();
        p.to_str().unwrap().to_string()
    });
    let [a, b, c] = names;
    (a, b, c)
}

#[test]
fn inherited_fds_do_not_reach_the_container() {
    let t = Test::new("fdleak");
    let (one, two, _) = host_files(&t);
    let mut b = t.bundle();
    b.probe_args(&["fds"]);
    let out = run_via_shell(&t, &b, &format!("exec 3<{one} 7<{two} 9<{one}"), &[]);
    out.ok();
    assert_eq!(out.get("fds"), "0,1,2", "{out}");
}

#[test]
fn inherited_fds_do_not_reach_the_container_through_create_and_start() {
    let t = Test::new("fdleak2");
    let (one, _, _) = host_files(&t);
    let mut b = t.bundle();
    b.writable();
    // The report goes to a file: `create`'s stdout is gone by the time it runs.
    b.args(&["/bin/sh", "-c", "exec /probe fds > /fds.out"]);
    b.save();
    let id = t.id();
    let out = rt_via_shell(
        &t,
        &format!("exec 4<{one} 8<{one}"),
        &["create", "--bundle", b.path_str(), &id],
    );
    out.ok();
    rt_via_shell(&t, &format!("exec 5<{one}"), &["start", &id]).ok();
    t.wait_status(&id, "stopped");
    let report = fs::read_to_string(b.rootfs().join("fds.out")).unwrap();
    assert!(report.contains("fds=0,1,2\n"), "{report}");
}

#[test]
fn preserve_fds_passes_exactly_that_many() {
    let t = Test::new("preservefds");
    let (one, two, three) = host_files(&t);
    let mut b = t.bundle();
    b.probe_args(&["fds"]);
    let out = run_via_shell(
        &t,
        &b,
        &format!("exec 3<{one} 4<{two} 5<{three}"),
        &["--preserve-fds", "2"],
    );
    out.ok();
    assert_eq!(out.get("fds"), "0,1,2,3,4", "{out}");
    assert!(out.get("fd.3").ends_with("one"), "{out}");
    assert!(out.get("fd.4").ends_with("two"), "{out}");
}

#[test]
fn listen_fds_are_passed_for_socket_activation() {
    let t = Test::new("listenfds");
    let (one, two, _) = host_files(&t);
    let mut b = t.bundle();
    b.probe_args(&["run", "fds", "--", "env"]);
    let out = run_via_shell(
        &t,
        &b,
        &format!("exec 3<{one} 4<{two}\nexport LISTEN_FDS=1 LISTEN_PID=$$"),
        &[],
    );
    out.ok();
    assert_eq!(out.get("fds"), "0,1,2,3", "{out}");
    assert_eq!(out.get("LISTEN_FDS"), "1", "{out}");
}

/// CVE-2024-21626: a cwd of /proc/self/fd/N must never land the container
/// process in a host directory reached through an fd of the runtime.
#[test]
fn cwd_through_a_leaked_fd_does_not_reach_the_host() {
    let t = Test::new("cwdleak");
    let host_dir = t.dir.join("host-secret");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("HOST-MARKER"), "secret").unwrap();
    let mut b = t.bundle();
    b.probe_args(&["run", "cwd", "--", "ls", ".", "--", "ls", "../../.."]);
    for fd in 3..=12 {
        b.process()["cwd"] = json!(format!("/proc/self/fd/{fd}"));
        let out = run_via_shell(&t, &b, &format!("exec 7<{}", host_dir.display()), &[]);
        for leak in ["HOST-MARKER", "cgroup.procs", "husk-tests", "runtime-root"] {
            assert!(
                !out.stdout.contains(leak),
                "cwd /proc/self/fd/{fd} reached the host ({leak}): {out}"
            );
        }
    }
}

/// Copies the runtime binary to `dir` so that a successful attack damages
/// only the copy; returns its path.
fn runtime_copy(dir: &Path) -> std::path::PathBuf {
    let copy = dir.join("rt-copy").join(runtime_bin().file_name().unwrap());
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(runtime_bin(), &copy).unwrap();
    copy
}

/// CVE-2019-5736 from a neighbour: container A (the attacker, baseline
/// capabilities, no CAP_SYS_PTRACE) owns a pid namespace; container B is
/// created into it, as a Kubernetes pod's containers share the pause
/// container's. While B's init waits in the created state, A opens
/// /proc/<B's init>/exe for writing, and as an O_PATH handle that it re-opens
/// for writing once the runtime has let go of its binary (after B's start).
/// The host's runtime binary must come out unchanged.
#[test]
fn neighbour_cannot_overwrite_the_runtime_binary() {
    exe_attack_from_a_neighbour("exeattack", None);
}

/// The same with CAP_SYS_PTRACE in the attacker, which lets it past the
/// non-dumpable init: what remains is how the binary is exposed (runc: a
/// read-only bind mount; a sealed memfd copy also resists).
#[test]
fn neighbour_with_ptrace_cannot_overwrite_the_runtime_binary() {
    exe_attack_from_a_neighbour("exeattackptrace", Some(&["CAP_SYS_PTRACE", "CAP_KILL"]));
}

fn exe_attack_from_a_neighbour(name: &str, caps: Option<&[&str]>) {
    let t = Test::new(name);
    let bin = runtime_copy(&t.dir);
    let original = fs::read(&bin).unwrap();
    let rt = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.arg("--root").arg(&t.root).args(args);
        run_cmd(cmd, &t.dir, COMMAND_TIMEOUT)
    };

    let mut attacker = t.bundle();
    attacker.writable();
    if let Some(caps) = caps {
        attacker.process()["capabilities"] =
            json!({ "bounding": caps, "effective": caps, "permitted": caps });
    }
    attacker.args(&["/bin/sh", "-c", "exec /probe exe-scan /go 25 > /report"]);
    attacker.save();
    let a = t.id();
    rt(&["run", "--detach", "--bundle", attacker.path_str(), &a]).ok();
    let report = attacker.rootfs().join("report");
    let read_report = || fs::read_to_string(&report).unwrap_or_default();
    assert!(
        common::wait_until(Duration::from_secs(10), || read_report()
            .contains("scanning=")),
        "attacker did not start"
    );
    let a_pid = t.state(&a)["pid"].as_u64().unwrap();

    let mut victim = t.bundle();
    victim.probe_args(&["sleep", "30"]);
    victim.add_namespace("pid", Some(&format!("/proc/{a_pid}/ns/pid")));
    victim.save();
    let v = t.id();
    rt(&["create", "--bundle", victim.path_str(), &v]).ok();
    // Let the attacker find B's init while it is still the runtime.
    let seen = common::wait_until(Duration::from_secs(10), || read_report().contains("opath."));
    rt(&["start", &v]).ok();
    // Now nothing executes the runtime binary: release the attacker.
    fs::write(attacker.rootfs().join("go"), "").unwrap();
    t.wait_status(&a, "stopped");
    let text = read_report();
    eprintln!("attacker report:\n{text}");
    assert!(seen, "the attacker never saw the victim's init: {text}");
    assert!(text.contains("done="), "attacker did not finish: {text}");

    let after = fs::read(&bin).unwrap();
    assert!(
        after == original,
        "the runtime binary was modified from a container: {text}"
    );
    assert!(!text.contains(".write=ok"), "{text}");
    rt(&["delete", "--force", &v]).ok();
    rt(&["delete", "--force", &a]).ok();
}

/// The same attack from the container's own process: /proc/self/exe and
/// /proc/1/exe of a running container are the container's binary, never the
/// runtime.
#[test]
fn container_process_exe_is_not_the_runtime() {
    let t = Test::new("selfexe");
    let mut b = t.bundle();
    b.args(&[
        "/bin/sh",
        "-c",
        "/probe readlink /proc/1/exe; /probe readlink /proc/self/exe",
    ]);
    let out = t.run(&b);
    out.ok();
    let name = runtime_bin()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(!out.stdout.contains(&name), "{out}");
    assert!(out.stdout.contains("target=/bin/busybox"), "{out}");
}
