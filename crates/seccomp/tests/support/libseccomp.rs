//! The reference: a profile handed to libseccomp the way runc does it
//! (libcontainer/seccomp/seccomp_linux.go), exported as BPF, behind runc's
//! -ENOSYS stub (libcontainer/seccomp/patchbpf), which is described here as
//! plain logic over numbers libseccomp resolves.

use husk_seccomp::interp::{run, SeccompData};
use husk_seccomp::Insn;
use libseccomp_sys as sys;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompOperator as Op};
use std::ffi::CString;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;

fn action(a: Act, errno: Option<u32>) -> u32 {
    let data = errno.unwrap_or(1) & 0xffff;
    match a {
        Act::ScmpActKill | Act::ScmpActKillThread => sys::SCMP_ACT_KILL_THREAD,
        Act::ScmpActKillProcess => sys::SCMP_ACT_KILL_PROCESS,
        Act::ScmpActTrap => sys::SCMP_ACT_TRAP,
        Act::ScmpActErrno => 0x0005_0000 | data,
        Act::ScmpActNotify => sys::SCMP_ACT_NOTIFY,
        Act::ScmpActTrace => 0x7ff0_0000 | data,
        Act::ScmpActLog => sys::SCMP_ACT_LOG,
        Act::ScmpActAllow => sys::SCMP_ACT_ALLOW,
    }
}

fn op(o: Op) -> sys::scmp_compare {
    match o {
        Op::ScmpCmpNe => sys::scmp_compare::SCMP_CMP_NE,
        Op::ScmpCmpLt => sys::scmp_compare::SCMP_CMP_LT,
        Op::ScmpCmpLe => sys::scmp_compare::SCMP_CMP_LE,
        Op::ScmpCmpEq => sys::scmp_compare::SCMP_CMP_EQ,
        Op::ScmpCmpGe => sys::scmp_compare::SCMP_CMP_GE,
        Op::ScmpCmpGt => sys::scmp_compare::SCMP_CMP_GT,
        Op::ScmpCmpMaskedEq => sys::scmp_compare::SCMP_CMP_MASKED_EQ,
    }
}

/// What runc loads for a profile: libseccomp's program behind its stub.
pub struct Reference {
    pub program: Vec<Insn>,
    /// (AUDIT_ARCH, x32 mode, highest number named): above it, ENOSYS.
    stub: Vec<(u32, bool, u32)>,
}

const X86_64: u32 = 0xc000_003e;
const X32: u32 = 0x4000_003e;

impl Reference {
    pub fn new(s: &LinuxSeccomp) -> Self {
        Reference {
            program: compile(s),
            stub: stub(s),
        }
    }

    /// The return value runc's filter gives for `d`.
    pub fn answer(&self, d: &SeccompData) -> u32 {
        let x32 = d.arch == X86_64 && d.nr & 0x4000_0000 != 0;
        let newer = self
            .stub
            .iter()
            .any(|&(arch, mode, max)| arch == d.arch && mode == x32 && d.nr > max);
        if newer {
            return 0x0005_0000 | 38;
        }
        run(&self.program, d).unwrap_or_else(|e| panic!("libseccomp's program: {e}"))
    }
}

fn stub(s: &LinuxSeccomp) -> Vec<(u32, bool, u32)> {
    let permissive = matches!(
        s.default_action(),
        Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
    );
    if permissive || (s.default_action() == Act::ScmpActErrno && s.default_errno_ret() == Some(38))
    {
        return vec![];
    }
    let mut out = vec![];
    for a in s.architectures().iter().flatten() {
        let token = match *a as u32 {
            0 => X86_64,
            t => t,
        };
        let mut max = 0i32;
        for name in s.syscalls().iter().flatten().flat_map(|c| c.names()) {
            let cname = CString::new(name.as_str()).unwrap();
            // SAFETY: cname is a valid C string for the duration of the call.
            let nr = unsafe { sys::seccomp_syscall_resolve_name_arch(token, cname.as_ptr()) };
            max = max.max(nr);
        }
        let (audit, x32) = match token {
            X32 => (X86_64, true),
            t => (t, false),
        };
        if max > 0 && !out.iter().any(|&(a, m, _)| a == audit && m == x32) {
            out.push((audit, x32, max as u32));
        }
    }
    out
}

/// libseccomp's program for `s` on this (x86_64) host.
pub fn compile(s: &LinuxSeccomp) -> Vec<Insn> {
    // SAFETY: seccomp_init has no preconditions; the context is released below.
    let ctx = unsafe { sys::seccomp_init(action(s.default_action(), s.default_errno_ret())) };
    assert!(!ctx.is_null());
    let default = action(s.default_action(), s.default_errno_ret());
    for a in s.architectures().iter().flatten() {
        let token = *a as u32;
        // SAFETY: ctx is a live filter context.
        let rc = unsafe { sys::seccomp_arch_add(ctx, token) };
        assert!(rc == 0 || rc == -17, "arch {a:?}: {rc}");
    }
    for call in s.syscalls().iter().flatten() {
        let act = action(call.action(), call.errno_ret());
        if act == default {
            continue;
        }
        let conds: Vec<sys::scmp_arg_cmp> = call
            .args()
            .iter()
            .flatten()
            .map(|a| sys::scmp_arg_cmp {
                arg: a.index() as u32,
                op: op(a.op()),
                datum_a: a.value(),
                datum_b: a.value_two().unwrap_or(0),
            })
            .collect();
        let mut per_arg = [0; 6];
        conds.iter().for_each(|c| per_arg[c.arg as usize] += 1);
        let groups: Vec<Vec<sys::scmp_arg_cmp>> = if per_arg.iter().any(|&n| n > 1) {
            conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![conds]
        };
        for name in call.names() {
            let cname = CString::new(name.as_str()).unwrap();
            // SAFETY: cname is a valid C string for the duration of the call.
            let nr = unsafe { sys::seccomp_syscall_resolve_name(cname.as_ptr()) };
            if nr == sys::__NR_SCMP_ERROR {
                continue; // runc: unknown names are ignored
            }
            for g in &groups {
                // SAFETY: g points to g.len() initialised comparisons.
                let rc = unsafe {
                    sys::seccomp_rule_add_array(ctx, act, nr, g.len() as u32, g.as_ptr())
                };
                assert_eq!(rc, 0, "libseccomp refused {name}");
            }
        }
    }
    let mut f = tempfile();
    // SAFETY: ctx is live and f's fd is open for writing.
    let rc = unsafe { sys::seccomp_export_bpf(ctx, f.as_raw_fd()) };
    // SAFETY: ctx is not used after this.
    unsafe { sys::seccomp_release(ctx) };
    assert_eq!(rc, 0);
    let mut bytes = Vec::new();
    f.rewind().unwrap();
    f.read_to_end(&mut bytes).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

fn tempfile() -> std::fs::File {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("husk-seccomp-{}-{n}.bpf", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    std::fs::remove_file(&p).unwrap();
    f
}
