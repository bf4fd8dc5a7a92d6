//! Proof by testing that husk-seccomp's programs mean what libseccomp's do:
//! both compile the same profiles (Docker's default among them), and both
//! programs run in the BPF interpreter on every syscall number of every
//! architecture (plus unknown numbers and architectures) with argument
//! values around every comparison's boundaries, high halves included, and
//! fixed-seed random ones. Any differing return value fails the test.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

#[path = "support/libseccomp.rs"]
mod libseccomp;

use husk_seccomp::interp::{run, SeccompData};
use husk_seccomp::{Arch, Insn};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

/// xorshift64*: a fixed-seed PRNG, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Values worth trying for arguments: every datum and mask of the profile
/// and its neighbours, in both halves.
fn boundaries(profile: &Value) -> Vec<u64> {
    let mut v = vec![0, 1, u64::MAX, 0xffff_ffff, 1 << 32];
    for call in profile["syscalls"].as_array().into_iter().flatten() {
        for a in call["args"].as_array().into_iter().flatten() {
            for key in ["value", "valueTwo"] {
                if let Some(d) = a[key].as_u64() {
                    v.extend([
                        d,
                        d.wrapping_sub(1),
                        d.wrapping_add(1),
                        d ^ (1 << 32),
                        d & 0xffff_ffff,
                        d | 0xffff_ffff_0000_0000,
                        d.wrapping_add(1 << 32),
                        d.wrapping_sub(1 << 32),
                        !d,
                    ]);
                }
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The first input on which the two programs answer differently.
fn first_difference(
    ours: &[Insn],
    theirs: &libseccomp::Reference,
    profile: &Value,
) -> Option<String> {
    let values = boundaries(profile);
    let mut rng = Rng(0x5eed_c0ff_ee15_600d);
    let mut arg_sets: Vec<[u64; 6]> = values.iter().map(|&v| [v; 6]).collect();
    for _ in 0..64 {
        let mut a = [0u64; 6];
        for x in &mut a {
            *x = match rng.next() % 3 {
                0 => rng.next(),
                1 => rng.next() & 0xffff_ffff,
                _ => values[(rng.next() % values.len() as u64) as usize],
            };
        }
        arg_sets.push(a);
    }
    let mut inputs: Vec<(u32, u32)> = Vec::new();
    for arch in Arch::ALL {
        let mut nrs = arch.numbers();
        nrs.extend([
            999,
            4095,
            0x3fff_ffff,
            0x4000_0000 | 999,
            0x7fff_ffff,
            u32::MAX,
        ]);
        if arch == Arch::X86_64 {
            nrs.extend(Arch::X32.numbers());
        }
        inputs.extend(nrs.into_iter().map(|nr| (arch.audit(), nr)));
    }
    inputs.extend([(0x1234_5678, 0), (0xc000_0015, 1), (0, 59)]);
    for (arch, nr) in inputs {
        for args in &arg_sets {
            let d = SeccompData {
                nr,
                arch,
                ip: 0,
                args: *args,
            };
            let b = theirs.answer(&d);
            let a = run(ours, &d).unwrap_or_else(|e| panic!("our program: {e}"));
            if a != b {
                return Some(format!("{d:x?}: husk {a:x?}, libseccomp {b:x?}"));
            }
        }
    }
    None
}

#[track_caller]
fn check(profile: Value) {
    let spec: LinuxSeccomp = serde_json::from_value(profile.clone()).unwrap();
    let ours = husk_seccomp::compile(&spec, Arch::X86_64).unwrap().program;
    let theirs = libseccomp::Reference::new(&spec);
    eprintln!(
        "husk: {} instructions, libseccomp: {}",
        ours.len(),
        theirs.program.len()
    );
    if let Some(d) = first_difference(&ours, &theirs, &profile) {
        panic!(
            "programs differ on {d}\n(husk: {} insns, libseccomp: {})",
            ours.len(),
            theirs.program.len()
        );
    }
}

/// Docker's default profile (containers-common's copy) as an engine turns it
/// into linux.seccomp on amd64 for a process holding `caps`.
pub fn docker_default(caps: &[&str]) -> Value {
    let text = std::fs::read_to_string("/usr/share/containers/seccomp.json")
        .expect("Docker's default profile (install containers-common, e.g. with podman)");
    let p: Value = serde_json::from_str(&text).unwrap();
    let applies = |filter: &Value, any: bool| {
        let arches = filter["arches"].as_array().cloned().unwrap_or_default();
        let wanted = filter["caps"].as_array().cloned().unwrap_or_default();
        let arch_ok = arches.iter().any(|a| a == "amd64");
        let caps_ok = |c: &Value| caps.iter().any(|x| c == x);
        if any {
            arch_ok || wanted.iter().any(caps_ok)
        } else {
            (arches.is_empty() || arch_ok) && wanted.iter().all(caps_ok)
        }
    };
    let syscalls: Vec<Value> = p["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| applies(&s["includes"], false) && !applies(&s["excludes"], true))
        .map(|s| {
            let mut s = s.clone();
            let o = s.as_object_mut().unwrap();
            o.remove("includes");
            o.remove("excludes");
            o.remove("comment");
            s
        })
        .collect();
    json!({
        "defaultAction": p["defaultAction"],
        "defaultErrnoRet": p["defaultErrnoRet"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[test]
fn docker_default_profile() {
    check(docker_default(DOCKER_CAPS));
}

#[test]
fn docker_default_profile_without_capabilities() {
    // No CAP_AUDIT_WRITE: socket() gets its argument rules.
    check(docker_default(&[]));
}

#[test]
fn docker_default_fits_comfortably() {
    let spec: LinuxSeccomp = serde_json::from_value(docker_default(DOCKER_CAPS)).unwrap();
    let n = husk_seccomp::compile(&spec, Arch::X86_64)
        .unwrap()
        .program
        .len();
    assert!(n < 1200, "{n} instructions");
}

fn arg(index: u32, op: &str, value: u64) -> Value {
    json!({"index": index, "op": op, "value": value})
}

#[test]
fn every_operator_on_every_architecture() {
    let big = 0x1_0000_0005u64;
    let mut syscalls = vec![];
    for (i, op) in [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
    ]
    .iter()
    .enumerate()
    {
        let names = [
            ["personality"],
            ["setuid"],
            ["setgid"],
            ["umask"],
            ["alarm"],
            ["getpriority"],
        ];
        syscalls.push(
            json!({"names": names[i], "action": "SCMP_ACT_ERRNO", "errnoRet": 10 + i,
            "args": [arg(0, op, big), arg(1, op, 7)]}),
        );
    }
    syscalls.push(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 20,
        "args": [{"index": 1, "op": "SCMP_CMP_MASKED_EQ", "value": 0xffff_0000_00ff_u64, "valueTwo": 0x1234_0000_0009_u64}]}));
    syscalls.push(json!({"names": ["tkill"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 5, "op": "SCMP_CMP_MASKED_EQ", "value": 0xf0, "valueTwo": 0x30}]}));
    check(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_RISCV64"],
        "syscalls": syscalls,
    }));
}

#[test]
fn every_action_and_rule_shape() {
    check(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_ARM"],
        "listenerPath": "/run/l.sock",
        "syscalls": [
            {"names": ["read", "write", "open", "no_such_syscall", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_KILL"},
            {"names": ["getppid"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["getuid"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getgid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["geteuid"], "action": "SCMP_ACT_TRACE", "errnoRet": 1234},
            {"names": ["getegid"], "action": "SCMP_ACT_TRACE"},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"},
            {"names": ["uname"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["dup"], "action": "SCMP_ACT_ERRNO"},
            // two rules for one syscall, and an unconditional one that wins
            {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3, "args": [arg(1, "SCMP_CMP_EQ", 1)]},
            {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3, "args": [arg(2, "SCMP_CMP_GT", 9)]},
            {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4, "args": [arg(1, "SCMP_CMP_EQ", 5)]},
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"},
            // one argument compared twice: separate rules (OR), as runc does
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [arg(2, "SCMP_CMP_EQ", 0), arg(2, "SCMP_CMP_EQ", 2)]},
            // x86 multiplexes these through socketcall and ipc
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_NE", 3)]},
            {"names": ["connect", "shmget", "semop"], "action": "SCMP_ACT_ALLOW"},
            // arm only, and x86_64 only
            {"names": ["breakpoint", "arch_prctl"], "action": "SCMP_ACT_ALLOW"},
        ],
    }));
}

#[test]
fn native_only_rejects_x32_numbers() {
    check(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
    }));
}

#[test]
fn wide_values_on_64_bit_arguments() {
    let mut syscalls = vec![];
    for (i, v) in [
        0u64,
        1,
        0xffff_ffff,
        1 << 32,
        0x8000_0000_0000_0000,
        u64::MAX,
        0x1234_5678_9abc_def0,
    ]
    .iter()
    .enumerate()
    {
        syscalls.push(
            json!({"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40 + i,
            "args": [arg(3, "SCMP_CMP_EQ", *v), arg(i as u32 % 3, "SCMP_CMP_GE", *v)]}),
        );
        syscalls.push(
            json!({"names": ["mprotect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [arg(2, "SCMP_CMP_LE", *v)]}),
        );
    }
    check(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls,
                 "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]}),
    );
}

#[test]
fn a_wrong_program_is_caught() {
    let profile = docker_default(DOCKER_CAPS);
    let spec: LinuxSeccomp = serde_json::from_value(profile.clone()).unwrap();
    let theirs = libseccomp::Reference::new(&spec);
    let mut ours = husk_seccomp::compile(&spec, Arch::X86_64).unwrap().program;
    // Deny one allowed syscall: the comparison must notice.
    let i = ours
        .iter()
        .position(|i| i.code == 0x06 && i.k == husk_seccomp::ret::ALLOW)
        .unwrap();
    ours[i].k = husk_seccomp::ret::ERRNO | 1;
    assert!(first_difference(&ours, &theirs, &profile).is_some());
}

#[test]
fn runc_enosys_stub_for_newer_syscalls() {
    let rules = json!([
        {"names": ["read", "write", "exit_group", "socket", "shmget"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["openat", "breakpoint"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["mkdir"], "action": "SCMP_ACT_LOG", "args": [arg(1, "SCMP_CMP_GT", 0o700)]},
    ]);
    for (default, arches) in [
        (
            "SCMP_ACT_ERRNO",
            json!([
                "SCMP_ARCH_X86_64",
                "SCMP_ARCH_X86",
                "SCMP_ARCH_X32",
                "SCMP_ARCH_ARM"
            ]),
        ),
        ("SCMP_ACT_KILL_PROCESS", json!(["SCMP_ARCH_X86_64"])),
        (
            "SCMP_ACT_TRAP",
            json!(["SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"]),
        ),
        (
            "SCMP_ACT_KILL",
            json!(["SCMP_ARCH_NATIVE", "SCMP_ARCH_RISCV64"]),
        ),
    ] {
        let profile = json!({"defaultAction": default, "architectures": arches, "syscalls": rules});
        check(profile.clone());
        // The stub is there: a number above every named one gets ENOSYS.
        let spec: LinuxSeccomp = serde_json::from_value(profile).unwrap();
        let ours = husk_seccomp::compile(&spec, Arch::X86_64).unwrap().program;
        let d = SeccompData {
            nr: 999,
            arch: Arch::X86_64.audit(),
            ..SeccompData::default()
        };
        if default != "SCMP_ACT_TRAP" {
            assert_eq!(
                run(&ours, &d),
                Ok(husk_seccomp::ret::ERRNO | 38),
                "{default}"
            );
        }
    }
}
