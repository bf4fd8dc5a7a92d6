//! runc's -ENOSYS stub, put in front of the filter: a syscall numbered above
//! every syscall the profile names (on a listed architecture) is newer than
//! the profile, so it fails with ENOSYS, which C libraries take as "fall
//! back to the older call" (clone3 → clone), instead of the default action
//! (an EPERM there would be taken as a real refusal). As runc does it
//! (libcontainer/seccomp/patchbpf): only when the default action refuses,
//! only for the profile's own `architectures`, with x32 told from x86_64 by
//! bit 30 of the number.

use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::bpf::{Builder, Label, ARCH, JEQ, JGT, JSET, NR};
use crate::multiplex::is_multiplexed;
use crate::ret;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Act};

const ENOSYS: u32 = 38;

/// The highest number the profile names on each listed architecture, or
/// `None` when no stub is due.
pub(crate) fn highest(s: &LinuxSeccomp, native: Arch) -> Option<Vec<(Arch, u32)>> {
    let permissive = matches!(
        s.default_action(),
        Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
    );
    let already = s.default_action() == Act::ScmpActErrno && s.default_errno_ret() == Some(ENOSYS);
    if permissive || already {
        return None;
    }
    let mut out: Vec<(Arch, u32)> = Vec::new();
    for a in s.architectures().iter().flatten() {
        let Some(arch) = Arch::from_oci(*a, native) else {
            continue;
        };
        if out.iter().any(|(x, _)| *x == arch) {
            continue;
        }
        // Names libseccomp resolves to a multiplexer's pseudo number on x86
        // do not count (runc asks libseccomp for the number).
        let max = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|c| c.names())
            .filter(|n| !(arch == Arch::X86 && is_multiplexed(n)))
            .filter_map(|n| arch.syscall(n))
            .max();
        if let Some(max) = max.filter(|&m| m != 0) {
            out.push((arch, max));
        }
    }
    Some(out)
}

/// Emits the stub in front of `filter` (the filter's first instruction).
pub(crate) fn stub(b: &mut Builder, highest: &[(Arch, u32)], filter: Label) -> Label {
    let enosys = b.ret(ret::ERRNO | ENOSYS);
    let max_of = |a: Arch| highest.iter().find(|(x, _)| *x == a).map(|&(_, m)| m);
    let mut next = filter;
    let mut done: Vec<u32> = Vec::new();
    for &(arch, max) in highest.iter().rev() {
        if done.contains(&arch.audit()) {
            continue;
        }
        done.push(arch.audit());
        let check = if arch.audit() == Arch::X86_64.audit() {
            let x64 = max_of(Arch::X86_64).map_or(filter, |m| b.jump(JGT, m, enosys, filter));
            let x32 = max_of(Arch::X32).map_or(filter, |m| b.jump(JGT, m, enosys, filter));
            b.jump(JSET, X32_SYSCALL_BIT, x32, x64)
        } else {
            b.jump(JGT, max, enosys, filter)
        };
        let section = b.load(NR, check);
        next = b.jump(JEQ, arch.audit(), section, next);
    }
    b.load(ARCH, next)
}
