//! Classic BPF code generation. The program is built backwards, from its
//! last instruction to its first: BPF only jumps forward, so every jump
//! target already exists when the jump is emitted and its distance is
//! known. A target farther than a conditional jump's 8-bit offset gets a
//! `ja` trampoline (32-bit offset) right after the jump.

/// One `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const AND_K: u16 = 0x54;
pub(crate) const JA: u16 = 0x05;
pub(crate) const JEQ: u16 = 0x15;
pub(crate) const JGT: u16 = 0x25;
pub(crate) const JGE: u16 = 0x35;
pub(crate) const JSET: u16 = 0x45;
pub(crate) const RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data` (little-endian arguments).
pub(crate) const NR: u32 = 0;
pub(crate) const ARCH: u32 = 4;

pub(crate) fn arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

pub(crate) fn arg_hi(i: u8) -> u32 {
    arg_lo(i) + 4
}

/// A place in the program: the index of an instruction counted from the end.
pub(crate) type Label = usize;

/// Shared `ret` instructions are reused only this close, so that jumps to
/// them rarely need a trampoline.
const RET_REUSE: usize = 200;

#[derive(Default)]
pub(crate) struct Builder {
    rev: Vec<Insn>,
    rets: Vec<(u32, Label)>,
}

impl Builder {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(Insn { code, jt, jf, k });
        self.rev.len() - 1
    }

    /// Distance from the next instruction to be pushed to `to`.
    fn dist(&self, to: Label) -> usize {
        self.rev.len() - to - 1
    }

    /// `ret k`, shared with an earlier identical one when close enough.
    pub fn ret(&mut self, k: u32) -> Label {
        if let Some(&(_, l)) = self.rets.iter().rev().find(|(v, _)| *v == k) {
            if self.dist(l) <= RET_REUSE {
                return l;
            }
        }
        let l = self.push(RET_K, 0, 0, k);
        self.rets.push((k, l));
        l
    }

    /// An instruction that falls through into `next`: makes sure `next` is
    /// the instruction right after it.
    fn then(&mut self, next: Label, code: u16, k: u32) -> Label {
        if next + 1 != self.rev.len() {
            let d = u32::try_from(self.dist(next)).unwrap_or(u32::MAX);
            self.push(JA, 0, 0, d);
        }
        self.push(code, 0, 0, k)
    }

    /// `ld [off]`, then `next`.
    pub fn load(&mut self, off: u32, next: Label) -> Label {
        self.then(next, LD_W_ABS, off)
    }

    /// `and #k`, then `next`.
    pub fn and(&mut self, k: u32, next: Label) -> Label {
        self.then(next, AND_K, k)
    }

    /// `jXX #k, t, f` with trampolines for far targets.
    pub fn jump(&mut self, code: u16, k: u32, mut t: Label, mut f: Label) -> Label {
        loop {
            if self.dist(t) > 255 {
                t = self.trampoline(t);
                continue;
            }
            if self.dist(f) > 255 {
                f = self.trampoline(f);
                continue;
            }
            break;
        }
        let jt = u8::try_from(self.dist(t)).unwrap_or(u8::MAX);
        let jf = u8::try_from(self.dist(f)).unwrap_or(u8::MAX);
        self.push(code, jt, jf, k)
    }

    fn trampoline(&mut self, to: Label) -> Label {
        let d = u32::try_from(self.dist(to)).unwrap_or(u32::MAX);
        self.push(JA, 0, 0, d)
    }

    pub fn len(&self) -> usize {
        self.rev.len()
    }

    /// The program, first instruction first.
    pub fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}
