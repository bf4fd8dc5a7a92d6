//! linux.seccomp in real containers: errno (default and per syscall),
//! argument conditions, kill, trap, log, notify through listenerPath,
//! Docker's default profile, exec under the container's filter, and bad
//! profiles refused with a clear error and nothing left behind.
#![allow(clippy::unwrap_used)]

mod common;
use common::{is_runc, Bundle, Test};
use serde_json::{json, Value};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;

/// A profile allowing everything but `rules`.
fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn with_profile(t: &Test, profile: Value, script: &str) -> Bundle {
    let mut b = t.bundle();
    b.writable();
    b.linux()["seccomp"] = profile;
    b.args(&["/bin/sh", "-c", script]);
    b
}

/// Docker's default profile (containers-common's copy) as engines turn it
/// into linux.seccomp on amd64 for the baseline's capabilities.
fn docker_default() -> Value {
    let text = std::fs::read_to_string("/usr/share/containers/seccomp.json")
        .expect("Docker's default profile (containers-common, installed with podman)");
    let p: Value = serde_json::from_str(&text).unwrap();
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let has = |f: &Value, key: &str, want: &[&str]| {
        f[key]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| want.iter().any(|w| v == w))
    };
    let empty = |f: &Value, key: &str| f[key].as_array().is_none_or(Vec::is_empty);
    let syscalls: Vec<Value> = p["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let (inc, exc) = (&s["includes"], &s["excludes"]);
            let inc_caps = inc["caps"].as_array().into_iter().flatten();
            (empty(inc, "arches") || has(inc, "arches", &["amd64"]))
                && inc_caps.clone().all(|c| caps.iter().any(|w| c == w))
                && !has(exc, "arches", &["amd64"])
                && !has(exc, "caps", &caps)
        })
        .map(|s| json!({"names": s["names"], "action": s["action"], "errnoRet": s["errnoRet"], "args": s["args"]}))
        .collect();
    json!({
        "defaultAction": p["defaultAction"],
        "defaultErrnoRet": p["defaultErrnoRet"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

#[test]
fn errno_per_syscall_and_default_errno_ret() {
    let t = Test::new("sc-errno");
    let deny = allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]));
    let b = with_profile(
        &t,
        deny,
        "mkdir /tmp/d; echo rc=$?; ls / >/dev/null && echo ls=ok",
    );
    let out = t.run(&b);
    out.ok();
    assert!(
        out.stdout.contains("rc=1") && out.stdout.contains("ls=ok"),
        "{out}"
    );
    out.stderr_mentions(&["operation not permitted"]);
    // Docker's profile without mkdir: its defaultErrnoRet (ENOSYS) answers.
    let mut docker = docker_default();
    for s in docker["syscalls"].as_array_mut().unwrap() {
        let names = s["names"].as_array_mut().unwrap();
        names.retain(|n| n != "mkdir" && n != "mkdirat");
    }
    let b = with_profile(&t, docker, "mkdir /tmp/d; echo rc=$?");
    let out = t.run(&b);
    out.ok().stderr_mentions(&["function not implemented"]);
}

#[test]
fn argument_conditions() {
    let t = Test::new("sc-args");
    // personality(PER_LINUX32) denied, personality(PER_LINUX) allowed.
    let deny = allow_but(
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]),
    );
    let b = with_profile(&t, deny, "linux32 true; echo a=$?; linux64 true; echo b=$?");
    let out = t.run(&b);
    assert!(
        out.stdout.contains("a=1") && out.stdout.contains("b=0"),
        "{out}"
    );
    out.stderr_mentions(&["permission denied"]);
}

#[test]
fn kill_trap_and_log() {
    let t = Test::new("sc-kill");
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let p = allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": action}]));
        let mut b = with_profile(&t, p, "");
        b.args(&["/bin/mkdir", "/tmp/d"]);
        let out = t.run(&b);
        // 128 + SIGSYS
        assert_eq!(out.code, Some(159), "{action}: {out}");
    }
    let mut p = allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}]));
    p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
    let b = with_profile(&t, p, "mkdir /tmp/d && test -d /tmp/d && echo made");
    let out = t.run(&b);
    assert!(out.ok().stdout.contains("made"), "{out}");
}

/// A seccomp agent on `sock`: takes `skip` connections (kept open), then
/// one whose first notification it answers with EXDEV (which mkdir never
/// says); returns that connection's state document and the syscall number.
fn agent(sock: &std::path::Path, skip: usize) -> std::thread::JoinHandle<(Value, i32)> {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let mut kept = vec![];
        loop {
            let (conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let (n, mut fds) = husk_sys::socket::recv(conn.as_fd(), &mut buf).unwrap();
            let state: Value = serde_json::from_slice(&buf[..n]).unwrap();
            let fd = fds.pop().expect("the seccomp fd");
            if kept.len() < skip {
                kept.push(fd);
                continue;
            }
            let req = husk_sys::seccomp::notif_recv(fd.as_fd()).unwrap();
            husk_sys::seccomp::notif_send(fd.as_fd(), req.id, 0, libc::EXDEV).unwrap();
            return (state, req.nr);
        }
    })
}

#[test]
fn notify_goes_to_the_listener() {
    let t = Test::new("sc-notify");
    let sock = t.dir.join("agent.sock");
    let agent = agent(&sock, 0);
    let mut p = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    if !is_runc() {
        // runc 1.1.5 does not know this flag yet.
        p["flags"] = json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]);
    }
    let b = with_profile(&t, p, "mkdir /tmp/d; echo rc=$?");
    let out = t.run(&b);
    out.ok().stderr_mentions(&["cross-device"]);
    let (state, nr) = agent.join().unwrap();
    let nr = i64::from(nr);
    assert!(nr == libc::SYS_mkdir || nr == libc::SYS_mkdirat, "{nr}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "meta", "{state}");
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
    assert_eq!(state["state"]["status"], "creating", "{state}");
    assert_eq!(state["state"]["bundle"], b.path_str(), "{state}");
}

#[test]
fn docker_default_profile_runs_a_shell() {
    let t = Test::new("sc-docker");
    let script = "echo hi; ls /bin >/dev/null && echo ls=ok; cat /proc/self/status >/dev/null && echo cat=ok;\
                  mount -t tmpfs t /mnt; echo mount=$?; nsenter -t 1 -u true; echo setns=$?";
    let out = t.run(&with_profile(&t, docker_default(), script));
    out.ok();
    for want in ["hi", "ls=ok", "cat=ok", "mount=1", "setns=1"] {
        assert!(out.stdout.contains(want), "{want}: {out}");
    }
}

#[test]
fn without_no_new_privileges_and_as_another_user() {
    let t = Test::new("sc-nnp");
    let p = allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]));
    let mut b = with_profile(&t, p, "/probe caps; mkdir /tmp/d; echo rc=$?");
    b.process()["noNewPrivileges"] = json!(false);
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    let out = t.run(&b);
    out.ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    // CAP_SYS_ADMIN was only kept until the filter was loaded.
    let eff = u64::from_str_radix(&out.get("CapEff"), 16).unwrap();
    assert_eq!(eff & (1 << 21), 0, "{out}");
}

#[test]
fn setup_syscalls_are_not_filtered() {
    // What init does after runc would have loaded the filter (switching
    // user, the start gate's accept, closing fds, chdir) is denied: husk
    // loads the filter after all of it (runc 1.1.5 fails this: its init is
    // killed before it execs).
    if is_runc() {
        return;
    }
    let t = Test::new("sc-late");
    let names = [
        "setuid",
        "setgid",
        "setresuid",
        "setresgid",
        "setgroups",
        "chdir",
        "accept",
        "accept4",
        "close_range",
        "prctl",
    ];
    for nnp in [true, false] {
        let p = allow_but(json!([{"names": names, "action": "SCMP_ACT_KILL_PROCESS"}]));
        let mut b = with_profile(&t, p, "");
        b.process()["noNewPrivileges"] = json!(nnp);
        b.process()["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
        b.probe_args(&["write", "/tmp/ran"]);
        let tmp = b.rootfs().join("tmp");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (id, out) = t.create(&b, &[]);
        out.ok();
        t.rt(&["start", &id]).ok();
        t.wait_status(&id, "stopped");
        t.rt(&["delete", &id]).ok();
        let ran = b.rootfs().join("tmp/ran");
        assert!(
            ran.exists(),
            "noNewPrivileges {nnp}: the program did not run"
        );
        std::fs::remove_file(ran).unwrap();
    }
}

#[test]
fn exec_gets_the_containers_filter() {
    let t = Test::new("sc-exec");
    let p = allow_but(
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]),
    );
    let mut b = with_profile(&t, p, "");
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    t.rt(&["start", &id]).ok();
    let out = t.rt(&[
        "exec",
        &id,
        "/bin/sh",
        "-c",
        "mkdir /tmp/e; echo rc=$?; ls / >/dev/null && echo ls=ok",
    ]);
    out.ok().stderr_mentions(&["cross-device"]);
    assert!(out.stdout.contains("ls=ok"), "{out}");
    t.rt(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_hands_its_own_notify_fd_to_the_listener() {
    let t = Test::new("sc-exec-notify");
    let sock = t.dir.join("agent.sock");
    // The first connection is the container's init, the second exec's.
    let agent = agent(&sock, 1);
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    let mut b = with_profile(&t, p, "");
    b.probe_args(&["sleep", "60"]);
    let (id, out) = t.create(&b, &[]);
    out.ok();
    t.rt(&["start", &id]).ok();
    let out = t.rt(&["exec", &id, "/bin/sh", "-c", "mkdir /tmp/e; echo rc=$?"]);
    out.ok().stderr_mentions(&["cross-device"]);
    let (state, _) = agent.join().unwrap();
    assert_eq!(state["state"]["status"], "running", "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    assert_ne!(
        state["pid"], state["state"]["pid"],
        "the exec'd process's own pid: {state}"
    );
    t.rt(&["delete", "--force", &id]).ok();
}

#[track_caller]
fn refused(name: &str, profile: Value, words: &[&str]) {
    let t = Test::new(name);
    let b = with_profile(&t, profile, "true");
    let (id, out) = t.create(&b, &[]);
    out.failed();
    if !is_runc() {
        out.stderr_mentions(words);
    }
    t.assert_no_leftovers(&id, &b.path);
}

#[test]
fn bad_profiles_are_refused_with_nothing_left() {
    refused(
        "sc-bad1",
        json!({"defaultAction": "SCMP_ACT_PERHAPS"}),
        &["linux.seccomp.defaultAction"],
    );
    refused(
        "sc-bad2",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
        &["linux.seccomp.architectures"],
    );
    refused(
        "sc-bad3",
        allow_but(
            json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]),
        ),
        &["linux.seccomp.syscalls[0].args[0].op"],
    );
    refused(
        "sc-bad4",
        allow_but(json!([{"names": ["uname"], "action": "SCMP_ACT_NOTIFY"}])),
        &["linux.seccomp.listenerPath"],
    );
    refused(
        "sc-bad5",
        allow_but(
            json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]),
        ),
        &["linux.seccomp.syscalls[0].args[0].index"],
    );
}
