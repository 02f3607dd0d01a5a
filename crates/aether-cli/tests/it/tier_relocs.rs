//! The zygote image's start (issue 23, the one-step cold run): `aether-zygote` is linked
//! position-dependent, so the dynamic loader writes none of its constants when a run starts it
//! (a position-independent image has 61 k relative relocations over 1.42 MB of `.data.rel.ro`,
//! each page a copy-on-write fault on the run's critical path); `aether` itself, where the
//! thread tier runs plugins in aether's own address space, stays position-independent (ASLR).
//! SECURITY.md ("zygote image") says what the image gives up and why.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

/// `ET_EXEC` and `ET_DYN` (a position-independent executable), the ELF header's `e_type`.
const ET_EXEC: u16 = 2;
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

/// Before, the image was position-independent like `aether` (61,071 relative relocations in a
/// release build, about 0.8 ms of CPU and 360 page faults at each start, most of its start).
#[test]
fn issue_23_the_zygote_image_starts_without_relocating_its_constants() {
    let (kind, relative) = elf_type_and_relative_relocations(env!("CARGO_BIN_EXE_aether-zygote"));
    assert_eq!(kind, ET_EXEC, "the zygote image is position-independent");
    assert_eq!(relative, 0);
    // aether keeps ASLR: the thread tier's engine runs in its address space.
    let (kind, relative) = elf_type_and_relative_relocations(env!("CARGO_BIN_EXE_aether"));
    assert_eq!(kind, ET_DYN, "aether is not position-independent");
    assert!(relative > 0);
}
