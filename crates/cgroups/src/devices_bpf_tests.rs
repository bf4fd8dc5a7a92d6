//! The device program's semantics, checked with a tiny interpreter of the
//! few eBPF opcodes the generator uses.
#![allow(clippy::unwrap_used)]

use super::*;

/// Runs `prog` on one device access; `true` when it allows it.
fn run(prog: &[Insn], kind: i32, major: u32, minor: u32, access: u8) -> bool {
    let ctx = [
        u32::from(access) << 16 | u32::try_from(kind).unwrap(),
        major,
        minor,
    ];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
        let imm = u64::from(u32::from_ne_bytes(i.imm.to_ne_bytes()));
        let low = |v: u64| v & 0xffff_ffff;
        pc += 1;
        match i.code {
            LDX_W => {
                assert_eq!(s, 1, "loads only from the context");
                let word = usize::try_from(i.off).unwrap() / 4;
                r[d] = u64::from(ctx[word]);
            }
            AND32_K => r[d] = low(r[d]) & imm,
            RSH32_K => r[d] = low(r[d]) >> imm,
            MOV32_K => r[d] = imm,
            MOV32_X => r[d] = low(r[s]),
            JNE32_K | JNE32_X => {
                let other = if i.code == JNE32_K { imm } else { low(r[s]) };
                if low(r[d]) != other {
                    pc += usize::try_from(i.off).unwrap();
                }
            }
            JEQ32_K => {
                if low(r[d]) == imm {
                    pc += usize::try_from(i.off).unwrap();
                }
            }
            EXIT => return r[0] == 1,
            c => panic!("opcode {c:#x} not expected"),
        }
    }
}

fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
    serde_json::from_str(json).unwrap()
}

const R: u8 = ACC_READ;
const W: u8 = ACC_WRITE;
const M: u8 = ACC_MKNOD;

#[test]
fn deny_all_then_allow_some() {
    let p = program(&rules(
        r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
            {"allow":true,"type":"c","major":136,"access":"rwm"},
            {"allow":true,"type":"b","access":"m"}]"#,
    ))
    .unwrap();
    assert!(run(&p, DEV_CHAR, 1, 3, R | W));
    assert!(run(&p, DEV_CHAR, 1, 3, R));
    assert!(!run(&p, DEV_CHAR, 1, 3, M), "mknod was not allowed");
    assert!(!run(&p, DEV_CHAR, 1, 5, R));
    assert!(!run(&p, DEV_BLOCK, 1, 3, R), "the type counts");
    assert!(run(&p, DEV_CHAR, 136, 7, R | W), "a wildcard minor");
    assert!(run(&p, DEV_BLOCK, 8, 0, M));
    assert!(!run(&p, DEV_BLOCK, 8, 0, R));
}

#[test]
fn no_rules_deny_everything_and_allow_all_allows_everything() {
    let p = program(&[]).unwrap();
    assert!(!run(&p, DEV_CHAR, 1, 3, R));
    let p = program(&rules(r#"[{"allow":true,"type":"a"}]"#)).unwrap();
    assert!(run(&p, DEV_BLOCK, 8, 0, R | W | M));
}

/// v1 semantics: an `a` rule resets, and a deny in a deny-all cgroup takes
/// access away from an earlier allow.
#[test]
fn rules_follow_the_v1_controller() {
    let p = program(&rules(
        r#"[{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},
            {"allow":false,"type":"c","major":1,"minor":5,"access":"w"}]"#,
    ))
    .unwrap();
    assert!(run(&p, DEV_CHAR, 1, 5, R));
    assert!(!run(&p, DEV_CHAR, 1, 5, W));
    let p = program(&rules(
        r#"[{"allow":true,"type":"c","major":1,"minor":5},
            {"allow":true,"type":"a"},
            {"allow":false,"type":"c","major":1,"minor":9,"access":"r"}]"#,
    ))
    .unwrap();
    assert!(run(&p, DEV_CHAR, 4, 1, R | W), "allow-all after the reset");
    assert!(!run(&p, DEV_CHAR, 1, 9, R), "the denied exception");
    assert!(run(&p, DEV_CHAR, 1, 9, W), "only read was denied");
}

#[test]
fn bad_rules_name_the_entry() {
    let e = program(&rules(r#"[{"allow":true,"type":"c","access":"rx"}]"#))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.devices[0]") && e.contains("'x'"),
        "{e}"
    );
    let e = program(&rules(r#"[{"allow":true,"type":"c","major":4294967296}]"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
}

/// v1 semantics in a default-allow cgroup: an access is refused when a
/// denied exception covers any of its bits (the kernel's
/// `match_exception_partial`), so opening a write-denied device O_RDWR
/// (read and write at once) is refused too.
#[test]
fn a_deny_exception_refuses_any_access_it_overlaps() {
    let p = program(&rules(
        r#"[{"allow":true,"type":"a"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
    ))
    .unwrap();
    assert!(run(&p, DEV_CHAR, 1, 3, R));
    assert!(!run(&p, DEV_CHAR, 1, 3, W));
    assert!(
        !run(&p, DEV_CHAR, 1, 3, R | W),
        "O_RDWR of a write-denied device"
    );
    assert!(run(&p, DEV_CHAR, 1, 5, R | W));
}
