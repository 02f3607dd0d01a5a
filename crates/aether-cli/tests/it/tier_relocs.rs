//! Both images stay position-independent (ASLR), the zygote image included (issue 23). Linking
//! `aether-zygote` position-dependent was measured in session 11 (about 1 ms off the process
//! tier's one-step cold run: its loader applies 61 k relative relocations over 1.42 MB of
//! `.data.rel.ro`, each page a copy-on-write fault) and not kept: every worker's engine would sit
//! at the same addresses in every run on every machine running the same build. See
//! `docs/BENCHMARKS.md`, "One-step cold run (session 11, `i23-cold11`)".
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

/// `ET_DYN` (a position-independent executable), the ELF header's `e_type`.
const ET_DYN: u16 = 3;
/// `SHT_RELA` and x86-64's `R_X86_64_RELATIVE`.
const SHT_RELA: u32 = 4;
const R_X86_64_RELATIVE: u32 = 8;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> usize {
    usize::try_from(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())).unwrap()
}

/// The ELF type of a 64-bit little-endian binary, and how many relative relocations its
/// `SHT_RELA` sections hold (what the loader applies at every start).
fn elf_type_and_relative_relocations(path: &str) -> (u16, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{path}");
    assert_eq!(
        (bytes[4], bytes[5]),
        (2, 1),
        "{path}: not 64-bit little-endian"
    );
    let kind = u16_at(&bytes, 16);
    let (shoff, shentsize, shnum) = (
        u64_at(&bytes, 0x28),
        usize::from(u16_at(&bytes, 0x3a)),
        usize::from(u16_at(&bytes, 0x3c)),
    );
    let mut relative = 0;
    for i in 0..shnum {
        let header = shoff + i * shentsize;
        if u32_at(&bytes, header + 4) != SHT_RELA {
            continue;
        }
        let (offset, size, entsize) = (
            u64_at(&bytes, header + 0x18),
            u64_at(&bytes, header + 0x20),
            u64_at(&bytes, header + 0x38),
        );
        relative += bytes[offset..offset + size]
            .chunks_exact(entsize)
            .filter(|rela| u32_at(rela, 8) == R_X86_64_RELATIVE)
            .count();
    }
    (kind, relative)
}

/// A build that links either image position-dependent (`-no-pie`, which the cold run's figures
/// tempt) fails here: `ET_EXEC` and no relative relocation left.
// See: Debian's hardening policy, PIE by default (https://wiki.debian.org/Hardening), and
// OpenSSH 9.8's re-executed `sshd-session`, so that no two connections share a layout.
#[test]
fn issue_23_both_images_stay_position_independent() {
    for path in [
        env!("CARGO_BIN_EXE_aether-zygote"),
        env!("CARGO_BIN_EXE_aether"),
    ] {
        let (kind, relative) = elf_type_and_relative_relocations(path);
        assert_eq!(kind, ET_DYN, "{path} is not position-independent");
        assert!(relative > 0, "{path} has no relative relocation");
    }
}
