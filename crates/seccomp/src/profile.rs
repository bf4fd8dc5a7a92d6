//! The OCI profile, checked and resolved into rules per architecture the way
//! runc hands it to libseccomp: the native architecture is always filtered,
//! rules with the default action are dropped, names no architecture knows
//! are skipped, several conditions on one argument become separate rules.

use crate::arch::{known, Arch};
use crate::program::{generate, Section};
use crate::{flags, ret, Error, Filter, Listener};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as OciOp, LinuxSyscall,
};
use std::collections::BTreeMap;

/// A comparison of one syscall argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & mask) == datum`.
    MaskedEq,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cond {
    pub arg: u8,
    pub op: Op,
    pub datum: u64,
    pub mask: u64,
}

/// Conditions that must all hold for `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub action: u32,
    pub conds: Vec<Cond>,
}

/// libseccomp's default for a process of an architecture not in the filter.
const BAD_ARCH: u32 = ret::KILL_THREAD;

/// The one syscall init makes after loading a notifying filter and before
/// the listener has its fd (it hands the fd over with it), as runc forbids
/// notifying `write` for its pipe.
const INIT_HANDOFF_SYSCALL: &str = "sendmsg";

/// Compiles `linux.seccomp` for a host of architecture `native`.
pub fn compile(s: &LinuxSeccomp, native: Arch) -> Result<Filter, Error> {
    if s.default_action() == Act::ScmpActNotify {
        return Err(Error::new(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let default = action(s.default_action(), s.default_errno_ret());
    let mut arches = vec![native];
    for a in s.architectures().iter().flatten() {
        if let Some(a) = Arch::from_oci(*a, native) {
            if !arches.contains(&a) {
                arches.push(a);
            }
        }
    }
    let mut filter_flags = 0;
    for f in s.flags().iter().flatten() {
        filter_flags |= match f {
            Flag::SeccompFilterFlagLog => flags::LOG,
            Flag::SeccompFilterFlagSpecAllow => flags::SPEC_ALLOW,
            Flag::SeccompFilterFlagWaitKillableRecv => flags::WAIT_KILLABLE_RECV,
            // Init is single-threaded when it loads the filter.
            Flag::SeccompFilterFlagTsync => 0,
        };
    }
    let mut notify = None;
    let mut rules: Vec<(String, Rule)> = Vec::new();
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(call.action(), call.errno_ret());
        let conds = conditions(&field, call)?;
        if act == default {
            continue;
        }
        for name in call.names() {
            if !known(name) {
                continue;
            }
            if call.action() == Act::ScmpActNotify {
                if name == INIT_HANDOFF_SYSCALL {
                    return Err(Error::new(
                        format!("{field}.action"),
                        format!("SCMP_ACT_NOTIFY cannot be used for {name}: init hands the notification fd over with it"),
                    ));
                }
                notify.get_or_insert(field.clone());
            }
            for c in &conds {
                rules.push((
                    name.clone(),
                    Rule {
                        action: act,
                        conds: c.clone(),
                    },
                ));
            }
        }
    }
    let listener = match (&notify, s.listener_path()) {
        (None, _) => None,
        (Some(f), None) => {
            return Err(Error::new(
                "linux.seccomp.listenerPath",
                format!("needed by SCMP_ACT_NOTIFY in {f}"),
            ))
        }
        (Some(_), Some(p)) => {
            filter_flags |= flags::NEW_LISTENER;
            Some(Listener {
                path: p.clone(),
                metadata: s.listener_metadata().clone().unwrap_or_default(),
            })
        }
    };
    let sections = sections(&arches, &rules);
    let highest = crate::enosys::highest(s, native);
    let program = generate(&sections, default, BAD_ARCH, highest.as_deref())?;
    Ok(Filter {
        program,
        flags: filter_flags,
        listener,
    })
}

/// The kernel's return value for an action, as runc asks libseccomp for it:
/// ERRNO and TRACE default to EPERM; the data is 16 bits.
fn action(a: Act, errno: Option<u32>) -> u32 {
    let data = errno.unwrap_or(1) & 0xffff;
    match a {
        Act::ScmpActKill | Act::ScmpActKillThread => ret::KILL_THREAD,
        Act::ScmpActKillProcess => ret::KILL_PROCESS,
        Act::ScmpActTrap => ret::TRAP,
        Act::ScmpActErrno => ret::ERRNO | data,
        Act::ScmpActNotify => ret::USER_NOTIF,
        Act::ScmpActTrace => ret::TRACE | data,
        Act::ScmpActLog => ret::LOG,
        Act::ScmpActAllow => ret::ALLOW,
    }
}

/// The rule's conditions as alternatives (each an AND): one, or, when an
/// argument is compared more than once, one per comparison (as runc does).
fn conditions(field: &str, call: &LinuxSyscall) -> Result<Vec<Vec<Cond>>, Error> {
    let mut conds = Vec::new();
    for (j, a) in call.args().iter().flatten().enumerate() {
        let arg = u8::try_from(a.index())
            .ok()
            .filter(|&i| i < 6)
            .ok_or_else(|| {
                Error::new(
                    format!("{field}.args[{j}].index"),
                    format!("{} is not a syscall argument (0 to 5)", a.index()),
                )
            })?;
        let (op, datum, mask) = match a.op() {
            OciOp::ScmpCmpNe => (Op::Ne, a.value(), u64::MAX),
            OciOp::ScmpCmpLt => (Op::Lt, a.value(), u64::MAX),
            OciOp::ScmpCmpLe => (Op::Le, a.value(), u64::MAX),
            OciOp::ScmpCmpEq => (Op::Eq, a.value(), u64::MAX),
            OciOp::ScmpCmpGe => (Op::Ge, a.value(), u64::MAX),
            OciOp::ScmpCmpGt => (Op::Gt, a.value(), u64::MAX),
            // value is the mask, valueTwo the value to compare with.
            OciOp::ScmpCmpMaskedEq => (Op::MaskedEq, a.value_two().unwrap_or(0), a.value()),
        };
        conds.push(Cond {
            arg,
            op,
            datum,
            mask,
        });
    }
    let mut seen = [0u8; 6];
    for c in &conds {
        seen[usize::from(c.arg)] += 1;
    }
    if seen.iter().any(|&n| n > 1) {
        Ok(conds.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conds])
    }
}

/// The rules of each AUDIT_ARCH value, by syscall number.
fn sections(arches: &[Arch], rules: &[(String, Rule)]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for &arch in arches {
        let idx = match out.iter().position(|s| s.audit == arch.audit()) {
            Some(i) => i,
            None => {
                out.push(Section {
                    audit: arch.audit(),
                    syscalls: BTreeMap::new(),
                    reject_x32: false,
                });
                out.len() - 1
            }
        };
        let sec = &mut out[idx];
        for (name, rule) in rules {
            for (nr, rule) in crate::multiplex::resolve(arch, name, rule) {
                sec.syscalls
                    .entry(nr)
                    .or_insert_with(|| (arch.args_64(), Vec::new()))
                    .1
                    .push(rule);
            }
        }
    }
    let has_x32 = arches.contains(&Arch::X32);
    for s in &mut out {
        s.reject_x32 =
            s.audit == Arch::X86_64.audit() && arches.contains(&Arch::X86_64) && !has_x32;
    }
    out
}
