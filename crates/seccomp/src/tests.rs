//! Unit tests: errors name their field, runc's rule handling, limits. The
//! meaning of programs is checked against libseccomp in tests/equivalence.rs.

use crate::interp::{run, SeccompData};
use crate::{compile, flags, ret, Arch, Error, Filter};
use oci_spec::runtime::LinuxSeccomp;

fn filter(json: &str) -> Result<Filter, Error> {
    let s: LinuxSeccomp = serde_json::from_str(json).unwrap();
    compile(&s, Arch::X86_64)
}

fn call(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    let d = SeccompData {
        nr: Arch::X86_64.syscall(name).unwrap(),
        arch: Arch::X86_64.audit(),
        ip: 0,
        args,
    };
    run(&f.program, &d).unwrap()
}

#[test]
fn errors_name_the_field() {
    let e = filter(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap_err();
    assert_eq!(e.field, "linux.seccomp.defaultAction");
    let e = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"},{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#).unwrap_err();
    assert_eq!(e.field, "linux.seccomp.syscalls[1].args[0].index");
    let e = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap_err();
    assert_eq!(e.field, "linux.seccomp.listenerPath");
    assert!(e.to_string().contains("syscalls[0]"), "{e}");
    let e = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/l","syscalls":[{"names":["sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap_err();
    assert_eq!(e.field, "linux.seccomp.syscalls[0].action");
}

#[test]
fn notify_asks_for_a_listener() {
    let f = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l","listenerMetadata":"m","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"],"syscalls":[{"names":["uname"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap();
    assert_eq!(f.flags, flags::NEW_LISTENER | flags::LOG);
    assert_eq!(f.listener.as_ref().unwrap().metadata, "m");
    assert_eq!(call(&f, "uname", [0; 6]), ret::USER_NOTIF);
    // No notifying rule: no listener, even with a path.
    let f = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l"}"#).unwrap();
    assert_eq!((f.flags, f.listener), (0, None));
}

#[test]
fn runc_rule_handling() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
        {"names":["read","not_a_syscall"],"action":"SCMP_ACT_ALLOW"},
        {"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
        {"names":["close"],"action":"SCMP_ACT_ERRNO"},
        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap();
    assert_eq!(call(&f, "read", [0; 6]), ret::ALLOW);
    assert_eq!(call(&f, "write", [0; 6]), ret::ERRNO | 38);
    assert_eq!(call(&f, "close", [0; 6]), ret::ERRNO | 1);
    assert_eq!(call(&f, "personality", [8, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(call(&f, "personality", [0; 6]), ret::ALLOW);
    assert_eq!(call(&f, "personality", [9, 0, 0, 0, 0, 0]), ret::ERRNO | 38);
    // Another architecture is the bad-arch action (libseccomp's KILL).
    let d = SeccompData {
        arch: Arch::Aarch64.audit(),
        ..SeccompData::default()
    };
    assert_eq!(run(&f.program, &d).unwrap(), ret::KILL_THREAD);
}

#[test]
fn too_long_a_program_names_the_limit() {
    let rules: Vec<String> = (0..1100)
        .map(|i| format!(r#"{{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","args":[{{"index":1,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#))
        .collect();
    let e = filter(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
        rules.join(",")
    ))
    .unwrap_err();
    assert!(e.reason.contains("4096"), "{e}");
}

#[test]
fn far_jumps_get_trampolines() {
    // Enough rules that jumps exceed 255 instructions, still correct.
    let rules: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","errnoRet":{},"args":[{{"index":1,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#, i + 1))
        .collect();
    let f = filter(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{},{{"names":["read"],"action":"SCMP_ACT_KILL_PROCESS"}}]}}"#,
        rules.join(",")
    ))
    .unwrap();
    assert!(f.program.len() > 1000);
    for i in [0u32, 1, 100, 199] {
        assert_eq!(
            call(&f, "ioctl", [0, u64::from(i), 0, 0, 0, 0]),
            ret::ERRNO | (i + 1)
        );
    }
    assert_eq!(call(&f, "ioctl", [0, 200, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(call(&f, "read", [0; 6]), ret::KILL_PROCESS);
}
