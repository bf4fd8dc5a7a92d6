//! Where a rule lands on an architecture: its syscall's number, and on x86
//! also the multiplexer (`socketcall`, `ipc`) with argument 0 set to the
//! call's number, exactly as libseccomp rewrites such rules.

use crate::arch::Arch;
use crate::profile::{Cond, Op, Rule};

/// `SYS_*` numbers of socketcall(2) (linux/net.h).
const SOCKET_CALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];

/// ipc(2) call numbers (linux/ipc.h).
const IPC_CALLS: [(&str, u64); 12] = [
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// Whether x86 reaches `name` through socketcall or ipc.
pub(crate) fn is_multiplexed(name: &str) -> bool {
    SOCKET_CALLS.contains(&name) || IPC_CALLS.iter().any(|(n, _)| *n == name)
}

/// (number, rule) pairs for `name` on `arch`, in libseccomp's order.
pub(crate) fn resolve(arch: Arch, name: &str, rule: &Rule) -> Vec<(u32, Rule)> {
    let mut out = Vec::new();
    if arch == Arch::X86 {
        let muxed = SOCKET_CALLS
            .iter()
            .zip(1u64..)
            .find(|(n, _)| **n == name)
            .map(|(_, call)| ("socketcall", call))
            .or_else(|| {
                IPC_CALLS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|&(_, call)| ("ipc", call))
            });
        if let Some((mux, call)) = muxed {
            if let Some(nr) = arch.syscall(mux) {
                let mut conds: Vec<Cond> =
                    rule.conds.iter().filter(|c| c.arg != 0).cloned().collect();
                conds.insert(
                    0,
                    Cond {
                        arg: 0,
                        op: Op::Eq,
                        datum: call,
                        mask: u64::MAX,
                    },
                );
                out.push((
                    nr,
                    Rule {
                        action: rule.action,
                        conds,
                    },
                ));
            }
        }
    }
    if let Some(nr) = arch.syscall(name) {
        out.push((nr, rule.clone()));
    }
    out
}
