//! Which binary the zygote is started from (issue 23): the small `aether-zygote` image next to
//! aether's own binary when there is one that aether can trust, else aether's own binary
//! (`/proc/self/exe`) as before.
//!
//! The small image holds only what the zygote and its workers run (the engine, the bindings,
//! WebAssembly, the worker and the jail), so it starts faster than aether's whole binary. It is
//! used only if:
//! - it is a regular file (not a symlink) in the directory of aether's own binary, opened once
//!   per process and executed through that descriptor (what was checked is what runs);
//! - it and that directory are owned by the owner of aether's binary (or root) and writable by
//!   no one else (no group or other write bit): whoever could replace it could already replace
//!   aether;
//! - the zygote it starts proves it was built from the same sources as this aether: its first
//!   message carries [`BUILD_ID`], which aether compares with its own. Any other answer (another
//!   build, a program that is not a zygote, a failure to start) and aether starts its own binary
//!   instead, for this and every later zygote of the process.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The file name of the small zygote image, looked for next to aether's own binary.
pub const IMAGE_NAME: &str = "aether-zygote";

/// What a zygote's first message starts with: aether-worker's version and a hash of the sources
/// of every crate the zygote and its workers run (and of the lock file and the engine's
/// patches), computed when it was built. Two binaries built from the same tree agree on it.
pub const BUILD_ID: &str = concat!(
    "aether-zygote ",
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("AETHER_ZYGOTE_SOURCES")
);

/// The ELF section of the small image that holds [`BUILD_ID`] (`aether-zygote` defines it with
/// [`image_build_id`]): aether reads it before it starts the image, so that an image left from
/// another build (`cargo build --bin aether` rebuilds `aether` alone) costs a few reads, not a
/// zygote started for nothing. The zygote's first message still proves its build.
pub const BUILD_ID_SECTION: &str = ".aether-zygote-build";

/// [`BUILD_ID`] as the array `aether-zygote` places in [`BUILD_ID_SECTION`].
pub const fn image_build_id<const N: usize>() -> [u8; N] {
    let bytes = BUILD_ID.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N && i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The binary a zygote is started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZygoteImage {
    /// The small image, at this path (next to aether's binary).
    Small(PathBuf),
    /// aether's own binary, started again (`/proc/self/exe`).
    OwnBinary,
}

impl std::fmt::Display for ZygoteImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZygoteImage::Small(path) => write!(f, "{}", path.display()),
            ZygoteImage::OwnBinary => f.write_str("aether's own binary"),
        }
    }
}

/// The small image, opened and checked once per process.
struct Opened {
    file: File,
    path: PathBuf,
}

/// Set once a small image's zygote did not prove its build: every later zygote of this process
/// is started from aether's own binary.
static REJECTED: AtomicBool = AtomicBool::new(false);

fn opened() -> Option<&'static Opened> {
    static OPENED: OnceLock<Option<Opened>> = OnceLock::new();
    OPENED.get_or_init(open_small).as_ref()
}

/// The image the next zygote of this process will be started from (`aether check` and `run
/// --verbose` say it). Opens and checks the small image the first time.
pub fn zygote_image() -> ZygoteImage {
    match usable() {
        Some(opened) => ZygoteImage::Small(opened.path.clone()),
        None => ZygoteImage::OwnBinary,
    }
}

fn usable() -> Option<&'static Opened> {
    if REJECTED.load(Ordering::Relaxed) {
        return None;
    }
    opened()
}

/// The program to execute for the next zygote and the name it runs under (`argv[0]`), and
/// whether it is the small image.
pub(crate) fn program() -> (String, bool) {
    match usable() {
        // The descriptor (close-on-exec) is resolved by `execve` before it is closed: the file
        // checked is the file executed, whatever happens to its path meanwhile.
        Some(opened) => (format!("/proc/self/fd/{}", opened.file.as_raw_fd()), true),
        None => ("/proc/self/exe".to_owned(), false),
    }
}

/// Records that the small image did not start a zygote of this build.
pub(crate) fn reject() {
    REJECTED.store(true, Ordering::Relaxed);
}

/// Opens `aether-zygote` next to aether's binary and checks it (see the module's doc).
fn open_small() -> Option<Opened> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let owner = std::fs::metadata(&exe).ok()?.uid();
    let path = dir.join(IMAGE_NAME);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let dir_meta = std::fs::metadata(dir).ok()?;
    let ours = meta.is_file() && trusted(&meta, owner) && trusted(&dir_meta, owner);
    (ours && section(&file, BUILD_ID_SECTION).as_deref() == Some(BUILD_ID.as_bytes()))
        .then_some(Opened { file, path })
}

/// The contents of the section `name` of the 64-bit little-endian ELF file `file` (at most 4
/// KiB), read from its section headers; `None` if it has none or is not such a file.
fn section(file: &File, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let read = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    };
    let header = read(0, 64)?;
    if header.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at =
        |b: &[u8], at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u64_at =
        |b: &[u8], at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    let table_at = u64_at(&header, 0x28)?;
    let entry = usize::from(u16_at(&header, 0x3A)?);
    let count = usize::from(u16_at(&header, 0x3C)?);
    let names_index = usize::from(u16_at(&header, 0x3E)?);
    if entry < 64 || count > 4096 {
        return None;
    }
    let table = read(table_at, entry.checked_mul(count)?)?;
    let header_of = |i: usize| table.get(i * entry..(i + 1) * entry);
    // A section header: name offset (4 bytes) at 0, file offset at 0x18, size at 0x20.
    let bounded = |h: &[u8]| -> Option<(u64, usize)> {
        let size = usize::try_from(u64_at(h, 0x20)?).ok()?;
        (size <= 4096).then_some(())?;
        Some((u64_at(h, 0x18)?, size))
    };
    let names_header = header_of(names_index)?;
    let names_at = u64_at(names_header, 0x18)?;
    let names_len = usize::try_from(u64_at(names_header, 0x20)?).ok()?;
    let names = read(names_at, names_len.min(1 << 16))?;
    (0..count).find_map(|i| {
        let h = header_of(i)?;
        let at = usize::try_from(u32::from_le_bytes(h.get(..4)?.try_into().ok()?)).ok()?;
        let rest = names.get(at..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        if &rest[..end] != name.as_bytes() {
            return None;
        }
        let (offset, size) = bounded(h)?;
        read(offset, size)
    })
}

/// Whether only `owner` (or root) can change the file or directory `meta` describes.
fn trusted(meta: &std::fs::Metadata, owner: u32) -> bool {
    let others_write = libc::S_IWGRP | libc::S_IWOTH;
    (meta.uid() == owner || meta.uid() == 0) && meta.mode() & others_write == 0
}

/// What a zygote's first message says, by [`BUILD_ID`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<'a> {
    /// Confined and ready.
    Ready,
    /// It could not confine itself: why, in one phrase.
    Failed(std::borrow::Cow<'a, str>),
    /// Not a zygote of this build (another build's, or no zygote at all).
    Foreign,
}

/// Reads a zygote's first message: [`BUILD_ID`], a line break, then `ready` or why it failed.
pub(crate) fn answer(message: &[u8]) -> Answer<'_> {
    let Some(rest) = message
        .strip_prefix(BUILD_ID.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"\n"))
    else {
        return Answer::Foreign;
    };
    match rest {
        b"ready" => Answer::Ready,
        failed => Answer::Failed(String::from_utf8_lossy(failed)),
    }
}

/// The first message of a zygote: [`BUILD_ID`], a line break and `body`.
pub(crate) fn message(body: &str) -> Vec<u8> {
    [BUILD_ID, "\n", body].concat().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_23_a_zygote_of_another_build_is_foreign() {
        assert_eq!(answer(&message("ready")), Answer::Ready);
        assert_eq!(
            answer(&message("Landlock is missing")),
            Answer::Failed("Landlock is missing".into())
        );
        // A zygote of `main` before this change, and one of another build.
        assert_eq!(answer(b"ready"), Answer::Foreign);
        assert_eq!(
            answer(b"aether-zygote 0.1.0+0123456789abcdef\nready"),
            Answer::Foreign
        );
        assert_eq!(answer(b""), Answer::Foreign);
    }

    /// The section holding the build id is found in an ELF file (this test binary has none).
    #[test]
    fn the_build_id_section_is_read_from_elf_section_headers() {
        let me = File::open(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(section(&me, BUILD_ID_SECTION), None);
        assert!(
            section(&me, ".text").is_none(),
            "larger than 4 KiB: not read"
        );
        assert!(section(&me, ".comment").is_some_and(|c| !c.is_empty()));
        let not_elf = std::env::temp_dir().join(format!("aether-image-elf-{}", std::process::id()));
        std::fs::write(&not_elf, b"#!/bin/sh\nexit 0\n").unwrap();
        assert_eq!(section(&File::open(&not_elf).unwrap(), ".comment"), None);
        std::fs::remove_file(&not_elf).unwrap();
    }

    #[test]
    fn an_image_writable_by_others_is_not_trusted() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("aether-image-test-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let owner = std::fs::metadata(&path).unwrap().uid();
        use std::os::unix::fs::PermissionsExt;
        for (mode, ok) in [(0o755, true), (0o775, false), (0o757, false), (0o700, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(trusted(&meta, owner), ok, "{mode:o}");
        }
        let meta = std::fs::metadata(&path).unwrap();
        assert!(!trusted(&meta, owner.wrapping_add(1)) || meta.uid() == 0);
        std::fs::remove_file(&path).unwrap();
    }
}
