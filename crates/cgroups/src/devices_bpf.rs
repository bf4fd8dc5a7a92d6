//! Device rules for cgroup v2, which has no devices controller: the rules
//! become an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` that the
//! kernel runs on every open and mknod of a device node. Pure data: the
//! program is built here and loaded by the caller (husk-sys).
//!
//! Same semantics as runc's devicefilter: the rules are first run through
//! the v1 devices controller's semantics (an `a` rule resets everything to
//! allow-all or deny-all, later rules add exceptions to that default or
//! take access away from them), so that a config behaves the same on v1
//! and v2; the exceptions left are then checked from the last one to the
//! first, and the default decides when none matches. Unlike runc's
//! program, a denied exception (in an allow-all cgroup) refuses a request
//! that shares any access bit with it, as v1 does: runc lets O_RDWR through
//! a rule denying only `w`.

use crate::resources::unsupported;
use crate::Result;
use husk_sys::bpf::Insn;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`, the low half of the
/// context's `access_type`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// `BPF_DEVCG_ACC_*`, the high half of `access_type`.
const ACC_MKNOD: u8 = 1;
const ACC_READ: u8 = 2;
const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// The opcodes the program uses (class | operation | source).
pub(crate) const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
pub(crate) const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const JNE32_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
pub(crate) const JNE32_X: u8 = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X
pub(crate) const JEQ32_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
pub(crate) const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One device rule: `None` for a wildcard major or minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    /// `None` for `a` (every type).
    kind: Option<i32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: u8,
}

impl Rule {
    /// The rule of one `linux.resources.devices` entry; `None` for FIFOs,
    /// which the device cgroup does not check.
    fn from_oci(i: usize, d: &LinuxDeviceCgroup) -> Result<Option<(Rule, bool)>> {
        let field = || format!("linux.resources.devices[{i}]");
        let kind = match d.typ() {
            Some(LinuxDeviceType::A) | None => None,
            Some(LinuxDeviceType::C | LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::P) => return Ok(None),
        };
        let number = |v: Option<i64>, what: &str| match v.filter(|v| *v >= 0) {
            None => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| unsupported(&field(), format!("{what} {v} is out of range"))),
        };
        let mut access = 0;
        for c in d.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(unsupported(
                        &field(),
                        format!("access {c:?} is not r, w or m"),
                    ))
                }
            };
        }
        let rule = Rule {
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            access,
        };
        Ok(Some((rule, d.allow())))
    }

    fn same_device(&self, o: &Rule) -> bool {
        (self.kind, self.major, self.minor) == (o.kind, o.major, o.minor)
    }
}

/// The v1 devices controller's state: a default and its exceptions.
#[derive(Debug, Default)]
struct Emulator {
    default_allow: bool,
    exceptions: Vec<Rule>,
}

impl Emulator {
    fn apply(&mut self, rule: Rule, allow: bool) {
        if rule.kind.is_none() {
            // `a`: everything allowed (or denied), exceptions forgotten.
            *self = Emulator {
                default_allow: allow,
                exceptions: Vec::new(),
            };
        } else if allow == self.default_allow {
            // Agrees with the default: takes access away from the exception.
            for e in self.exceptions.iter_mut().filter(|e| e.same_device(&rule)) {
                e.access &= !rule.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| e.same_device(&rule)) {
            e.access |= rule.access;
        } else {
            self.exceptions.push(rule);
        }
    }
}

/// The program for `rules` (the config's, then the defaults every container
/// gets). Starts from deny-all, as runc does.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    let mut emu = Emulator::default();
    for (i, d) in rules.iter().enumerate() {
        if let Some((rule, allow)) = Rule::from_oci(i, d)? {
            emu.apply(rule, allow);
        }
    }
    // The context is struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
    // u32 minor; } in r1: r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut p = vec![
        Insn::new(LDX_W, 2, 1, 0, 0),
        Insn::new(AND32_K, 2, 0, 0, 0xffff),
        Insn::new(LDX_W, 3, 1, 0, 0),
        Insn::new(RSH32_K, 3, 0, 0, 16),
        Insn::new(LDX_W, 4, 1, 4, 0),
        Insn::new(LDX_W, 5, 1, 8, 0),
    ];
    for rule in emu.exceptions.iter().rev() {
        p.extend(block(rule, !emu.default_allow));
    }
    p.push(Insn::new(MOV32_K, 0, 0, 0, i32::from(emu.default_allow)));
    p.push(Insn::new(EXIT, 0, 0, 0, 0));
    Ok(p)
}

/// Returns `allow` (1 or 0) when the access matches `rule`; else falls
/// through to the next block.
fn block(rule: &Rule, allow: bool) -> Vec<Insn> {
    let as_imm = |v: u32| i32::from_ne_bytes(v.to_ne_bytes());
    // Conditional jumps, their offsets patched once the block's length is known.
    let mut checks: Vec<Insn> = Vec::new();
    if let Some(k) = rule.kind {
        checks.push(Insn::new(JNE32_K, 2, 0, 0, k));
    }
    if rule.access != ACC_ALL {
        checks.push(Insn::new(MOV32_X, 1, 3, 0, 0));
        checks.push(Insn::new(AND32_K, 1, 0, 0, i32::from(rule.access)));
        if allow {
            // An allowed exception must hold every requested bit:
            // (r3 & access) == r3 (v1's `match_exception`).
            checks.push(Insn::new(JNE32_X, 1, 3, 0, 0));
        } else {
            // A denied one refuses any request sharing a bit with it:
            // (r3 & access) != 0 (v1's `match_exception_partial`), so
            // O_RDWR of a write-denied device is refused.
            checks.push(Insn::new(JEQ32_K, 1, 0, 0, 0));
        }
    }
    if let Some(m) = rule.major {
        checks.push(Insn::new(JNE32_K, 4, 0, 0, as_imm(m)));
    }
    if let Some(m) = rule.minor {
        checks.push(Insn::new(JNE32_K, 5, 0, 0, as_imm(m)));
    }
    checks.push(Insn::new(MOV32_K, 0, 0, 0, i32::from(allow)));
    checks.push(Insn::new(EXIT, 0, 0, 0, 0));
    let len = checks.len();
    for (i, insn) in checks.iter_mut().enumerate() {
        if matches!(insn.code, JNE32_K | JNE32_X | JEQ32_K) {
            // Past this block's exit: from i + 1 to len.
            insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
        }
    }
    checks
}

#[cfg(test)]
#[path = "devices_bpf_tests.rs"]
mod tests;
