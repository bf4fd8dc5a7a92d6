//! The process: args, env, cwd, user, umask, rlimits, oomScoreAdj,
//! noNewPrivileges, capabilities, terminal (console socket), inherited fds.
#![allow(clippy::unwrap_used)]

mod common;
use common::{ConsoleSocket, Test};
use serde_json::json;
use std::time::Duration;

#[test]
fn args_env_and_cwd() {
    let t = Test::new("argsenv");
    let mut b = t.bundle();
    b.process()["env"] = json!(["PATH=/bin", "HUSK_A=1", "HUSK_B=two words", "HUSK_EMPTY="]);
    b.process()["cwd"] = json!("/tmp");
    let out = t.probe(&mut b, &["run", "env", "--", "cwd"]);
    let kv = out.kv();
    assert_eq!(kv["PATH"], "/bin");
    assert_eq!(kv["HUSK_A"], "1");
    assert_eq!(kv["HUSK_B"], "two words");
    assert_eq!(kv["HUSK_EMPTY"], "");
    assert_eq!(kv["cwd"], "/tmp");
    assert!(!kv.contains_key("CARGO"), "host env leaked: {out}");
}

#[test]
fn args_are_looked_up_in_path_and_passed_verbatim() {
    let t = Test::new("argspath");
    let mut b = t.bundle();
    b.args(&[
        "sh",
        "-c",
        "echo \"arg1=$1\"; echo \"arg2=$2\"",
        "sh",
        "a b",
        "*",
    ]);
    let out = t.run(&b);
    out.ok();
    assert_eq!(out.get("arg1"), "a b");
    assert_eq!(out.get("arg2"), "*");
}

#[test]
fn cwd_is_created_when_missing() {
    let t = Test::new("cwdmissing");
    let mut b = t.bundle();
    b.writable();
    b.process()["cwd"] = json!("/work/dir");
    let out = t.probe(&mut b, &["cwd"]);
    assert_eq!(out.get("cwd"), "/work/dir");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let t = Test::new("user");
    let mut b = t.bundle();
    b.process()["user"] = json!({ "uid": 1000, "gid": 1001, "additionalGids": [10, 20] });
    let out = t.probe(&mut b, &["ids"]);
    assert_eq!(out.get("uid"), "1000");
    assert_eq!(out.get("euid"), "1000");
    assert_eq!(out.get("suid"), "1000");
    assert_eq!(out.get("gid"), "1001");
    assert_eq!(out.get("egid"), "1001");
    let groups = out.get("groups");
    let groups: Vec<&str> = groups.split(',').collect();
    assert!(groups.contains(&"10") && groups.contains(&"20"), "{out}");
    assert!(!groups.contains(&"0"), "root group kept: {out}");
}

#[test]
fn root_user_has_no_supplementary_groups_by_default() {
    let t = Test::new("nogroups");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["ids"]);
    assert_eq!(out.get("uid"), "0");
    assert_eq!(out.get("groups"), "");
}

#[test]
fn umask() {
    let t = Test::new("umask");
    let mut b = t.bundle();
    b.process()["user"]["umask"] = json!(0o027);
    let out = t.probe(&mut b, &["umask"]);
    assert_eq!(out.get("Umask"), "0027");
}

#[test]
fn rlimits() {
    let t = Test::new("rlimits");
    let mut b = t.bundle();
    b.process()["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048 },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 0 },
        { "type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192 }
    ]);
    let out = t.probe(&mut b, &["rlimits", "nofile", "core", "msgqueue"]);
    assert_eq!(out.get("nofile"), "512:2048");
    assert_eq!(out.get("core"), "0:0");
    assert_eq!(out.get("msgqueue"), "4096:8192");
}

#[test]
fn oom_score_adj() {
    let t = Test::new("oom");
    let mut b = t.bundle();
    b.process()["oomScoreAdj"] = json!(500);
    let out = t.probe(&mut b, &["oom"]);
    assert_eq!(out.get("oom_score_adj"), "500");
}

#[test]
fn no_new_privileges() {
    let t = Test::new("nnp");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["nnp"]);
    assert_eq!(out.get("NoNewPrivs"), "1");
    b.process()["noNewPrivileges"] = json!(false);
    let out = t.probe(&mut b, &["nnp"]);
    assert_eq!(out.get("NoNewPrivs"), "0");
}

/// Bit mask of capabilities by number, as /proc/self/status prints it.
fn mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | (1u64 << b)))
}

const CHOWN: u32 = 0;
const KILL: u32 = 5;
const NET_BIND_SERVICE: u32 = 10;
const AUDIT_WRITE: u32 = 29;

#[test]
fn capabilities_each_set_as_configured() {
    let t = Test::new("caps");
    let mut b = t.bundle();
    b.process()["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_KILL"],
        "ambient": []
    });
    let out = t.probe(&mut b, &["caps"]);
    assert_eq!(out.get("CapBnd"), mask(&[CHOWN, KILL, NET_BIND_SERVICE]));
    // For root, execve makes effective = permitted; noNewPrivileges (on in
    // the baseline) keeps permitted from growing to the bounding set.
    assert_eq!(out.get("CapPrm"), mask(&[CHOWN, KILL]));
    assert_eq!(out.get("CapEff"), mask(&[CHOWN, KILL]));
    assert_eq!(out.get("CapInh"), mask(&[]));
    assert_eq!(out.get("CapAmb"), mask(&[]));
}

/// `docker run --privileged` asks for every capability; where the runtime
/// itself runs with a smaller bounding set (Docker-in-Docker, this CI host
/// without CAP_SYS_RESOURCE) husk grants what it holds and names the rest in
/// a warning. runc fails the whole container there.
#[test]
fn capabilities_the_runtime_does_not_hold_are_dropped_with_a_warning() {
    if common::is_runc() {
        return;
    }
    let t = Test::new("capsheld");
    let mut b = t.bundle();
    let all = ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_SYS_TIME"];
    b.process()["capabilities"] = json!({ "bounding": all, "permitted": all, "effective": all });
    b.probe_args(&["caps"]);
    b.save();
    let id = t.id();
    // The runtime runs without CAP_SYS_TIME in its bounding set.
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--bounding-set", "-sys_time", "--"])
        .arg(common::runtime_bin())
        .arg("--root")
        .arg(&t.root)
        .args(["run", "--bundle", b.path_str(), &id]);
    let out = common::run_cmd(cmd, &t.dir, common::COMMAND_TIMEOUT);
    out.ok();
    out.stderr_mentions(&["CAP_SYS_TIME", "not granted"]);
    assert_eq!(out.get("CapEff"), mask(&[CHOWN, KILL, 21]), "{out}");
}

#[test]
fn capabilities_inheritable_and_ambient() {
    let t = Test::new("capsamb");
    let mut b = t.bundle();
    b.process()["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.process()["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let out = t.probe(&mut b, &["run", "caps", "--", "ids"]);
    assert_eq!(out.get("uid"), "1000");
    assert_eq!(out.get("CapInh"), mask(&[NET_BIND_SERVICE]));
    assert_eq!(out.get("CapAmb"), mask(&[NET_BIND_SERVICE]));
    // A non-root user keeps across exec only what is ambient.
    assert_eq!(out.get("CapPrm"), mask(&[NET_BIND_SERVICE]));
    assert_eq!(out.get("CapEff"), mask(&[NET_BIND_SERVICE]));
    assert_eq!(out.get("CapBnd"), mask(&[KILL, NET_BIND_SERVICE]));
}

#[test]
fn inheritable_set_is_empty_unless_asked_for() {
    let t = Test::new("capsinh");
    let mut b = t.bundle();
    // The baseline (runc spec's default) lists ambient caps but no inheritable.
    let out = t.probe(&mut b, &["caps"]);
    assert_eq!(out.get("CapInh"), mask(&[]));
    assert_eq!(
        out.get("CapBnd"),
        mask(&[KILL, NET_BIND_SERVICE, AUDIT_WRITE])
    );
    assert_eq!(
        out.get("CapEff"),
        mask(&[KILL, NET_BIND_SERVICE, AUDIT_WRITE])
    );
}

#[test]
fn capabilities_restrict_what_root_can_do() {
    let t = Test::new("capsdeny");
    let mut b = t.bundle();
    b.writable();
    std::fs::write(b.rootfs().join("owned"), "x").unwrap();
    // Without CAP_CHOWN, root cannot chown.
    b.args(&["sh", "-c", "chown 1000 /owned; echo status=$?"]);
    let out = t.run(&b);
    out.ok();
    assert_ne!(out.get("status"), "0", "{out}");
}

#[test]
fn only_stdio_reaches_the_container() {
    let t = Test::new("fds");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["fds"]);
    assert_eq!(out.get("fds"), "0,1,2", "{out}");
}

#[test]
fn terminal_via_console_socket() {
    let t = Test::new("terminal");
    let mut b = t.bundle();
    b.process()["terminal"] = json!(true);
    b.args(&[
        "/bin/sh",
        "-c",
        "echo TTY-HELLO; /probe readlink /proc/self/fd/0; /probe stat /dev/console; \
         test -t 1 && echo isatty=yes",
    ]);
    let console = ConsoleSocket::new(&t.dir);
    let (id, out) = t.create(&b, &["--console-socket", console.path_str()]);
    out.ok();
    let master = console.receive_master(Duration::from_secs(10));
    t.rt(&["start", &id]).ok();
    let text = common::read_pty(master, Duration::from_secs(10)).replace('\r', "");
    assert!(text.contains("TTY-HELLO"), "pty output: {text:?}");
    assert!(text.contains("target=/dev/pts/0"), "pty output: {text:?}");
    assert!(text.contains("isatty=yes"), "pty output: {text:?}");
    // /dev/console is the container's pty (devpts major 136).
    assert!(text.contains("type=char"), "pty output: {text:?}");
    assert!(text.contains("rdev=136:0"), "pty output: {text:?}");
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
}

#[test]
fn terminal_without_console_socket_is_an_error_for_create() {
    let t = Test::new("termnosock");
    let mut b = t.bundle();
    b.process()["terminal"] = json!(true);
    let (id, out) = t.create(&b, &[]);
    out.failed()
        .stderr_mentions(&["console", "terminal", "tty"]);
    t.assert_no_leftovers(&id, &b.path);
}

/// A pty pair: (master, slave) with the slave opened as a File.
fn pty_pair() -> (std::os::fd::OwnedFd, std::fs::File) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    (master, slave)
}

#[test]
fn terminal_in_the_foreground_is_relayed() {
    let t = Test::new("fgterminal");
    let mut b = t.bundle();
    b.process()["terminal"] = json!(true);
    b.args(&[
        "/bin/sh",
        "-c",
        "echo TTY-HELLO; test -t 0 && echo stdin-tty=yes; /probe readlink /proc/self/fd/1; exit 5",
    ]);
    b.save();
    let id = t.id();
    let (master, slave) = pty_pair();
    let mut child = t
        .rt_cmd(&["run", "--bundle", b.path_str(), &id])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    // Our copies of the slave are gone: the master reads EIO once run exits.
    let text = common::read_pty(master, Duration::from_secs(20)).replace('\r', "");
    let status = common::wait_timeout(&mut child, Duration::from_secs(10));
    assert!(text.contains("TTY-HELLO"), "pty output: {text:?}");
    assert!(text.contains("stdin-tty=yes"), "pty output: {text:?}");
    assert!(text.contains("target=/dev/pts/0"), "pty output: {text:?}");
    assert_eq!(status.and_then(|s| s.code()), Some(5), "{text:?}");
}

#[test]
fn cwd_with_dot_dot_stays_inside_the_root() {
    let t = Test::new("cwddotdot");
    let mut b = t.bundle();
    b.process()["cwd"] = json!("/../../../tmp");
    let out = t.probe(&mut b, &["run", "cwd", "--", "ls", "."]);
    assert_eq!(out.get("cwd"), "/tmp");
}

#[test]
fn args_lookup_uses_the_container_path() {
    let t = Test::new("argspath2");
    let mut b = t.bundle();
    b.process()["env"] = json!(["PATH=/"]);
    b.args(&["probe", "pid1"]);
    let out = t.run(&b);
    out.ok();
    assert_eq!(out.get("pid"), "1");
}

/// With a user namespace too (Kubernetes sets oomScoreAdj for user
/// namespace pods): init, non-dumpable and root only in its namespace, may
/// not write its own oom_score_adj there, so the parent writes it, as runc
/// does before the namespaces are entered.
#[test]
fn oom_score_adj_with_a_user_namespace() {
    let t = Test::new("oomuserns");
    let mut b = t.bundle();
    b.add_namespace("user", None);
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.linux()["uidMappings"] = map.clone();
    b.linux()["gidMappings"] = map;
    // Positive: lowering needs CAP_SYS_RESOURCE, which this host's root lacks.
    b.process()["oomScoreAdj"] = json!(567);
    let out = t.probe(&mut b, &["oom"]);
    assert_eq!(out.get("oom_score_adj"), "567", "{out}");
}
