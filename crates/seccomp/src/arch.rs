//! The architectures a filter can check for, with their AUDIT_ARCH values
//! and syscall tables.

use crate::syscalls::{NAMES, NONE, NUMBERS};
use oci_spec::runtime::Arch as OciArch;
use std::sync::OnceLock;

/// An architecture husk has a syscall table for. The order is the column
/// order of the generated table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    X86,
    /// x86_64's ILP32 ABI: same AUDIT_ARCH as x86_64, syscall numbers with
    /// bit 30 (X32_SYSCALL_BIT) set.
    X32,
    Aarch64,
    Arm,
    Riscv64,
}

/// Bit 30 of an x32 syscall number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Arch {
    pub const ALL: [Arch; 6] = [
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Riscv64,
    ];

    /// The architecture this program was built for, if husk knows it.
    pub fn native() -> Option<Arch> {
        if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86_64") {
            Some(Arch::X32)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else if cfg!(target_arch = "riscv64") {
            Some(Arch::Riscv64)
        } else {
            None
        }
    }

    /// The AUDIT_ARCH_* value the kernel puts in `seccomp_data.arch`.
    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xc000_003e,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xc000_00b7,
            Arch::Arm => 0x4000_0028,
            Arch::Riscv64 => 0xc000_00f3,
        }
    }

    /// Whether libseccomp compares all 64 bits of an argument (else only the
    /// low 32, with the profile's value truncated; x32 counts as 32-bit).
    pub fn args_64(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::Aarch64 | Arch::Riscv64)
    }

    /// Maps a profile's architecture; `Ok(None)` for one libseccomp knows
    /// but husk has no table for (no process of it can run on the hosts husk
    /// is built for, so its part of the filter would never be reached).
    pub(crate) fn from_oci(a: OciArch, native: Arch) -> Option<Arch> {
        match a {
            OciArch::ScmpArchNative => Some(native),
            OciArch::ScmpArchX86_64 => Some(Arch::X86_64),
            OciArch::ScmpArchX86 => Some(Arch::X86),
            OciArch::ScmpArchX32 => Some(Arch::X32),
            OciArch::ScmpArchAarch64 => Some(Arch::Aarch64),
            OciArch::ScmpArchArm => Some(Arch::Arm),
            OciArch::ScmpArchRiscv64 => Some(Arch::Riscv64),
            _ => None,
        }
    }

    fn column(self) -> usize {
        self as usize
    }

    /// The syscall's number on this architecture (x32's with its bit set).
    pub fn syscall(self, name: &str) -> Option<u32> {
        self.decode(NUMBERS[row(name)?][self.column()])
    }

    /// Every syscall number this architecture has.
    pub fn numbers(self) -> Vec<u32> {
        NUMBERS
            .iter()
            .filter_map(|row| self.decode(row[self.column()]))
            .collect()
    }

    fn decode(self, v: u16) -> Option<u32> {
        match (v, self) {
            (NONE, _) => None,
            (v, Arch::X32) => Some(X32_SYSCALL_BIT | u32::from(v)),
            // ARM's private syscalls (0xf0000 + k) are stored as 0xf000 + k.
            (v @ 0xf000.., Arch::Arm) => Some(0xf_0000 + u32::from(v - 0xf000)),
            (v, _) => Some(u32::from(v)),
        }
    }
}

/// Whether libseccomp knows the name on any architecture husk has a table for.
pub(crate) fn known(name: &str) -> bool {
    row(name).is_some()
}

/// The name's row in the tables: a binary search, as the generator sorts
/// the names bytewise (Docker's profile names some 400 syscalls).
fn row(name: &str) -> Option<usize> {
    static ROWS: OnceLock<Vec<&'static str>> = OnceLock::new();
    ROWS.get_or_init(|| NAMES.lines().collect())
        .binary_search(&name)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_decode() {
        assert_eq!(Arch::X86_64.syscall("read"), Some(0));
        assert_eq!(Arch::X86.syscall("read"), Some(3));
        assert_eq!(Arch::X32.syscall("read"), Some(0x4000_0000));
        assert_eq!(Arch::X32.syscall("rt_sigaction"), Some(0x4000_0200));
        assert_eq!(Arch::Aarch64.syscall("openat"), Some(56));
        assert_eq!(Arch::Arm.syscall("breakpoint"), Some(0xf_0001));
        assert_eq!(Arch::Aarch64.syscall("open"), None);
        assert!(!known("no_such_syscall"));
        assert_eq!(Arch::native(), Some(Arch::X86_64));
    }

    #[test]
    fn names_are_sorted_for_binary_search() {
        let names: Vec<&str> = NAMES.lines().collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(names.len(), NUMBERS.len());
        assert!(names.iter().all(|n| known(n)));
    }
}
