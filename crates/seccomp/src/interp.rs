//! A classic-BPF interpreter for seccomp programs: the subset libseccomp and
//! this crate emit. It lets tests run a filter on chosen `seccomp_data`
//! without loading it, and compare two programs' answers.

use crate::bpf::{AND_K, JA, JEQ, JGE, JGT, JSET, LD_W_ABS, RET_K};
use crate::Insn;

/// `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte `off`, as the kernel's little-endian layout.
    fn word(&self, off: u32) -> Option<u32> {
        let half = |v: u64, hi: bool| {
            let v = if hi { v >> 32 } else { v & 0xffff_ffff };
            u32::try_from(v).unwrap_or(u32::MAX)
        };
        match off {
            0 => Some(self.nr),
            4 => Some(self.arch),
            8 | 12 => Some(half(self.ip, off == 12)),
            16..=60 if off & 3 == 0 => {
                let i = usize::try_from((off - 16) / 8).ok()?;
                Some(half(self.args[i], off & 7 == 4))
            }
            _ => None,
        }
    }
}

/// Runs `prog` on `data`; the filter's return value, or why it is invalid.
pub fn run(prog: &[Insn], data: &SeccompData) -> Result<u32, String> {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let skip = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => {
                a = data
                    .word(i.k)
                    .ok_or(format!("bad load offset {} at {}", i.k, pc - 1))?
            }
            AND_K => a &= i.k,
            JA => pc += usize::try_from(i.k).map_err(|e| e.to_string())?,
            JEQ => pc += skip(a == i.k),
            JGT => pc += skip(a > i.k),
            JGE => pc += skip(a >= i.k),
            JSET => pc += skip(a & i.k != 0),
            RET_K => return Ok(i.k),
            c => return Err(format!("unsupported opcode {c:#x} at {}", pc - 1)),
        }
    }
    Err("ran past the end of the program".into())
}
