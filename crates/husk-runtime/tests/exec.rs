//! `exec`: a second process in a running container sees the container's
//! namespaces and root, takes the identity it is given, returns its exit
//! status, and fails clearly on bad input.
#![allow(clippy::unwrap_used)]

mod common;
use common::{ConsoleSocket, Test};
use serde_json::json;
use std::fs;
use std::time::Duration;

/// A running container whose init sleeps; returns its ID.
fn running(t: &Test) -> (String, common::Bundle) {
    let mut b = t.bundle();
    b.writable();
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    t.rt(&["start", &id]).ok();
    (id, b)
}

#[test]
fn exec_joins_the_containers_namespaces_and_returns_the_status() {
    let t = Test::new("exec");
    let (id, _b) = running(&t);
    let out = t.rt(&[
        "exec",
        &id,
        "/bin/sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; /probe hostname; exit 7",
    ]);
    assert_eq!(out.code, Some(7), "{out}");
    // The init of the container is PID 1 of the exec'd process's pid namespace.
    assert!(out.stdout.contains("/probe sleep 60"), "{out}");
    let pid = t.state(&id)["pid"].as_u64().unwrap();
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let init = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let out = t.rt(&[
            "exec",
            &id,
            "/probe",
            "readlink",
            &format!("/proc/self/ns/{ns}"),
        ]);
        out.ok();
        assert!(out.stdout.contains(init.to_str().unwrap()), "{ns}: {out}");
    }
    t.rt(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_takes_user_env_cwd_and_capabilities() {
    let t = Test::new("execuser");
    let (id, _b) = running(&t);
    let out = t.rt(&[
        "exec",
        "--user",
        "1000:1001",
        "--additional-gids",
        "7",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--cap",
        "CAP_NET_RAW",
        "--no-new-privs",
        &id,
        "/probe",
        "run",
        "ids",
        "--",
        "env",
        "--",
        "cwd",
        "--",
        "caps",
        "--",
        "nnp",
    ]);
    out.ok();
    let kv = out.kv();
    assert_eq!(kv.get("uid").map(String::as_str), Some("1000"), "{out}");
    assert_eq!(kv.get("gid").map(String::as_str), Some("1001"), "{out}");
    assert!(out.stdout.contains("FOO=bar"), "{out}");
    assert!(out.stdout.contains("cwd=/tmp"), "{out}");
    assert_eq!(kv.get("NoNewPrivs").map(String::as_str), Some("1"), "{out}");
    // CAP_NET_RAW (13) joined the bounding set; inheritable stays empty.
    let bnd = u64::from_str_radix(kv.get("CapBnd").map_or("0", String::as_str), 16).unwrap_or(0);
    assert_ne!(bnd & (1 << 13), 0, "{out}");
    assert_eq!(
        kv.get("CapInh").map(String::as_str),
        Some("0000000000000000"),
        "{out}"
    );
    t.rt(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_with_a_process_file_and_detached_with_a_pid_file() {
    let t = Test::new("execdetach");
    let (id, b) = running(&t);
    let process = t.dir.join("process.json");
    fs::write(
        &process,
        json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["/bin/sh", "-c", "echo from-file > /exec.out; sleep 30"],
               "env": ["PATH=/bin"]})
        .to_string(),
    )
    .unwrap();
    let pid_file = t.dir.join("exec.pid");
    t.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--process",
        process.to_str().unwrap(),
        &id,
    ])
    .ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init = t.state(&id)["pid"].as_u64().unwrap();
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        fs::read_link(format!("/proc/{init}/ns/pid")).unwrap()
    );
    assert!(common::wait_until(Duration::from_secs(10), || b
        .rootfs()
        .join("exec.out")
        .exists()));
    assert_eq!(
        fs::read_to_string(b.rootfs().join("exec.out")).unwrap(),
        "from-file\n"
    );
    t.rt(&["kill", "--all", &id, "KILL"]).ok();
    t.wait_status(&id, "stopped");
    t.rt(&["delete", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn exec_with_a_terminal() {
    let t = Test::new("exectty");
    let (id, _b) = running(&t);
    let console = ConsoleSocket::new(&t.dir);
    let mut child = t
        .rt_cmd(&[
            "exec",
            "--tty",
            "--console-socket",
            console.path_str(),
            &id,
            "/bin/sh",
            "-c",
            "test -t 0 && echo isatty=yes; tty",
        ])
        .spawn()
        .unwrap();
    let master = console.receive_master(Duration::from_secs(10));
    let text = common::read_pty(master, Duration::from_secs(10)).replace('\r', "");
    let status = common::wait_timeout(&mut child, Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(text.contains("isatty=yes"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    t.rt(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_errors_are_clear() {
    let t = Test::new("execbad");
    let (id, b) = running(&t);
    t.rt(&["exec", &id, "/no/such/program"])
        .failed()
        .stderr_mentions(&["/no/such/program"]);
    t.rt(&["exec", "--user", "abc", &id, "true"])
        .failed()
        .stderr_mentions(&["--user"]);
    t.rt(&["exec", &id]).failed().stderr_mentions(&["command"]);
    t.rt(&["exec", "no-such-container", "true"])
        .failed()
        .stderr_mentions(&["does not exist"]);
    t.rt(&["kill", &id, "KILL"]).ok();
    t.wait_status(&id, "stopped");
    t.rt(&["exec", &id, "true"])
        .failed()
        .stderr_mentions(&["stopped"]);
    t.rt(&["delete", &id]).ok();
    t.assert_no_leftovers(&id, &b.path);
}

/// An exec'd process gets the container's oomScoreAdj, as in runc, not the
/// caller's (an engine's shim).
#[test]
fn exec_takes_the_containers_oom_score_adj() {
    let t = Test::new("execoom");
    let mut b = t.bundle();
    b.process()["oomScoreAdj"] = json!(345);
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    t.rt(&["start", &id]).ok();
    let out = t.rt(&["exec", &id, "/probe", "oom"]);
    t.rt(&["delete", "--force", &id]).ok();
    out.ok();
    assert_eq!(out.get("oom_score_adj"), "345", "{out}");
}

/// exec follows the config the container was created from (saved in its
/// state directory, as runc keeps its own), not later edits of the bundle.
#[test]
fn exec_ignores_later_edits_of_the_bundle() {
    let t = Test::new("exec-saved");
    let (id, mut b) = running(&t);
    let all = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    b.process()["capabilities"] = json!({ "bounding": all, "effective": all, "permitted": all });
    b.save();
    let out = t.rt(&["exec", &id, "/probe", "caps"]);
    out.ok();
    let eff = u64::from_str_radix(&out.get("CapEff"), 16).unwrap();
    assert_eq!(
        eff & (1 << 21),
        0,
        "CAP_SYS_ADMIN from the edited bundle: {out}"
    );
}
