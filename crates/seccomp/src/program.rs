//! From resolved rules to a program: per architecture section, a binary
//! search over syscall-number intervals, then each syscall's rules.
//!
//! ```text
//!   ld arch
//!   jeq AUDIT_ARCH_A ? ─► ld nr; jge/jge/... (binary search) ─► ret | rules
//!   jeq AUDIT_ARCH_B ? ─► ...
//!   ret bad-arch
//! ```
//!
//! x86_64 and x32 share one section (same AUDIT_ARCH, x32 numbers carry bit
//! 30). Like libseccomp, a filter for x86_64 without x32 sends numbers with
//! that bit (other than -1) to the bad-arch action, one with x32 lets them
//! reach its rules (and the default action).

use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::bpf::{arg_hi, arg_lo, Builder, Label, ARCH, JEQ, JGE, JGT, NR};
use crate::profile::{Cond, Op, Rule};
use crate::{Error, Insn, MAX_INSNS};
use std::collections::BTreeMap;

/// The rules of one AUDIT_ARCH value.
pub(crate) struct Section {
    pub audit: u32,
    /// Syscall number → (compare 64-bit arguments, rules in profile order).
    pub syscalls: BTreeMap<u32, (bool, Vec<Rule>)>,
    /// x86_64 without x32: numbers with the x32 bit are a bad architecture.
    pub reject_x32: bool,
}

/// What a syscall-number interval leads to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf<'a> {
    Ret(u32),
    Rules(bool, &'a [Rule]),
}

/// The program: runc's ENOSYS stub (when `highest` is given), then the filter.
pub(crate) fn generate(
    sections: &[Section],
    default: u32,
    bad_arch: u32,
    highest: Option<&[(Arch, u32)]>,
) -> Result<Vec<Insn>, Error> {
    let mut b = Builder::default();
    let mut next = b.ret(bad_arch);
    for s in sections.iter().rev() {
        let mut iv = intervals(s, default, bad_arch);
        merge(&mut iv);
        let body = tree(&mut b, &iv, default);
        let nr = b.load(NR, body);
        next = b.jump(JEQ, s.audit, nr, next);
    }
    let filter = b.load(ARCH, next);
    if let Some(h) = highest {
        crate::enosys::stub(&mut b, h, filter);
    }
    if b.len() > MAX_INSNS {
        return Err(Error::new(
            "linux.seccomp",
            format!(
                "the filter needs {} BPF instructions, more than the kernel's limit of {MAX_INSNS}",
                b.len()
            ),
        ));
    }
    Ok(b.finish())
}

/// The number space split at every syscall: (first number, leaf), sorted.
fn intervals(s: &Section, default: u32, bad_arch: u32) -> Vec<(u32, Leaf<'_>)> {
    let mut iv = vec![(0, Leaf::Ret(default))];
    for (&nr, (wide, rules)) in &s.syscalls {
        iv.push((nr, leaf(*wide, rules)));
        if let Some(after) = nr.checked_add(1) {
            iv.push((after, Leaf::Ret(default)));
        }
    }
    if s.reject_x32 {
        iv.push((X32_SYSCALL_BIT, Leaf::Ret(bad_arch)));
        iv.push((u32::MAX, Leaf::Ret(default)));
    }
    iv
}

/// libseccomp keeps the first unconditional rule of a syscall (it absorbs
/// every conditional one); otherwise the rules are tried in order.
fn leaf(wide: bool, rules: &[Rule]) -> Leaf<'_> {
    match rules.iter().find(|r| r.conds.is_empty()) {
        Some(r) => Leaf::Ret(r.action),
        None => Leaf::Rules(wide, rules),
    }
}

/// Drops empty intervals (a later start equal to an earlier one wins) and
/// joins neighbours that end the same way.
fn merge(iv: &mut Vec<(u32, Leaf<'_>)>) {
    let mut out: Vec<(u32, Leaf<'_>)> = Vec::with_capacity(iv.len());
    for &(start, leaf) in iv.iter() {
        if out.last().is_some_and(|&(s, _)| s == start) {
            out.pop();
        }
        if out.last().is_some_and(|&(_, l)| l == leaf) {
            continue;
        }
        out.push((start, leaf));
    }
    *iv = out;
}

/// Binary search over the intervals; the accumulator holds the number.
fn tree(b: &mut Builder, iv: &[(u32, Leaf<'_>)], default: u32) -> Label {
    if let [(_, leaf)] = iv {
        return match *leaf {
            Leaf::Ret(k) => b.ret(k),
            Leaf::Rules(wide, rules) => rules_code(b, wide, rules, default),
        };
    }
    let mid = iv.len() / 2;
    let right = tree(b, &iv[mid..], default);
    let left = tree(b, &iv[..mid], default);
    b.jump(JGE, iv[mid].0, right, left)
}

/// Each rule is an AND of its conditions; the first rule that holds decides.
/// That is libseccomp's answer whenever a syscall's conditional rules are
/// disjoint or share their action (Docker's and podman's profiles; checked
/// in tests/equivalence.rs). Where they overlap with different actions,
/// libseccomp's rule tree orders tests its own way (an EQ before a GT on
/// the same argument) or refuses the profile; husk keeps profile order.
fn rules_code(b: &mut Builder, wide: bool, rules: &[Rule], default: u32) -> Label {
    let mut next = b.ret(default);
    for rule in rules.iter().rev() {
        let mut t = b.ret(rule.action);
        for c in rule.conds.iter().rev() {
            t = if wide {
                cond64(b, c, t, next)
            } else {
                cond32(b, c, t, next)
            };
        }
        next = t;
    }
    next
}

/// One comparison of the low 32 bits (32-bit architectures, as libseccomp).
fn cond32(b: &mut Builder, c: &Cond, t: Label, f: Label) -> Label {
    let (d, m) = (lo(c.datum), lo(c.mask));
    let j = match c.op {
        Op::Eq => b.jump(JEQ, d, t, f),
        Op::Ne => b.jump(JEQ, d, f, t),
        Op::Gt => b.jump(JGT, d, t, f),
        Op::Ge => b.jump(JGE, d, t, f),
        Op::Lt => b.jump(JGE, d, f, t),
        Op::Le => b.jump(JGT, d, f, t),
        Op::MaskedEq => {
            let j = b.jump(JEQ, d, t, f);
            b.and(m, j)
        }
    };
    b.load(arg_lo(c.arg), j)
}

/// One comparison of all 64 bits, high half first, like libseccomp.
fn cond64(b: &mut Builder, c: &Cond, t: Label, f: Label) -> Label {
    let (dh, dl) = (hi(c.datum), lo(c.datum));
    let (mh, ml) = (hi(c.mask), lo(c.mask));
    let (lo_off, hi_off) = (arg_lo(c.arg), arg_hi(c.arg));
    // `t`/`f` swapped turn EQ into NE, GE into LT, GT into LE.
    let (t, f) = match c.op {
        Op::Ne | Op::Lt | Op::Le => (f, t),
        _ => (t, f),
    };
    let entry = match c.op {
        Op::Eq | Op::Ne | Op::MaskedEq => {
            let masked = c.op == Op::MaskedEq;
            let lo_j = b.jump(JEQ, dl, t, f);
            let lo_j = if masked { b.and(ml, lo_j) } else { lo_j };
            let lo_ld = b.load(lo_off, lo_j);
            let hi_j = b.jump(JEQ, dh, lo_ld, f);
            if masked {
                b.and(mh, hi_j)
            } else {
                hi_j
            }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            let strict = matches!(c.op, Op::Gt | Op::Le);
            let lo_j = b.jump(if strict { JGT } else { JGE }, dl, t, f);
            let lo_ld = b.load(lo_off, lo_j);
            let eq = b.jump(JEQ, dh, lo_ld, f);
            b.jump(JGT, dh, t, eq)
        }
    };
    b.load(hi_off, entry)
}

fn hi(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(u32::MAX)
}

fn lo(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(u32::MAX)
}
