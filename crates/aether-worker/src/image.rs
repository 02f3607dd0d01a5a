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
    (meta.is_file() && trusted(&meta, owner) && trusted(&dir_meta, owner))
        .then_some(Opened { file, path })
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
    Failed(&'a str),
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
        failed => std::str::from_utf8(failed).map_or(Answer::Foreign, Answer::Failed),
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
            Answer::Failed("Landlock is missing")
        );
        // A zygote of `main` before this change, and one of another build.
        assert_eq!(answer(b"ready"), Answer::Foreign);
        assert_eq!(
            answer(b"aether-zygote 0.1.0+0123456789abcdef\nready"),
            Answer::Foreign
        );
        assert_eq!(answer(b""), Answer::Foreign);
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
