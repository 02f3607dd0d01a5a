//! File primitives on checked real paths, race-free against symlink swaps.
//!
//! Every primitive takes a witness (see [`crate::witness`]), never a bare path: a
//! [`CheckedPath`] to read or list, a [`CheckedWrite`] to inspect what a removal removes, any
//! witness to `stat`, and for `crate::commit` a [`CommitPath`] (a [`CheckedWrite`]'s path held by
//! the overlay, or a directory above it). The real path a check compares with the grant is
//! resolved by the check itself (`broker::fs`), not here.
//!
//! Every real path here is absolute with no symlink in any component. Each primitive opens it with `openat2(RESOLVE_NO_SYMLINKS)`, so that if any
//! component became a symlink between the check and the use (the classic TOCTOU swap, e.g.
//! CVE-2022-21658 in Rust's own `remove_dir_all`), the kernel refuses with `ELOOP` instead of
//! following it. `RESOLVE_NO_SYMLINKS` also refuses `/proc` magic links (`/proc/self/root`).

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use aether_policy::{CheckedPath, CheckedWrite, WriteTarget};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, ResolveFlags};

use crate::witness::{CommitPath, Witnessed};

/// The resolution flags of every open: no symlink anywhere, no magic link.
const RESOLVE: ResolveFlags = ResolveFlags::NO_SYMLINKS.union(ResolveFlags::NO_MAGICLINKS);

fn open(real: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        CWD,
        real,
        flags | OFlags::CLOEXEC | OFlags::NOCTTY,
        mode,
        RESOLVE,
    )?)
}

/// What `stat` reports (following symlinks: the path is already real).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta {
    /// Size in bytes.
    pub size: u64,
    /// A regular file.
    pub is_file: bool,
    /// A directory.
    pub is_dir: bool,
    /// Modification time in milliseconds since the Unix epoch.
    pub mtime_ms: f64,
}

impl Meta {
    fn of(st: &rustix::fs::Stat) -> Meta {
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        Meta {
            size: u64::try_from(st.st_size).unwrap_or(0),
            is_file: kind == rustix::fs::FileType::RegularFile,
            is_dir: kind == rustix::fs::FileType::Directory,
            mtime_ms: st.st_mtime as f64 * 1000.0 + (st.st_mtime_nsec as f64 / 1e6).floor(),
        }
    }
}

/// Reads a regular file, refusing more than `max` bytes (devices and FIFOs are refused: a
/// read of `/dev/zero` or a FIFO must not hang or exhaust memory).
pub fn read_file(at: &CheckedPath, max: u64) -> io::Result<Vec<u8>> {
    read_regular(at.real(), max)
}

/// The current contents of a file about to be appended to (an append is a read of the file
/// it extends, on the write grant: what it returns goes back to disk, never to the plugin).
pub fn read_for_append(at: &WriteTarget, max: u64) -> io::Result<Vec<u8>> {
    read_regular(at.real(), max)
}

fn read_regular(real: &Path, max: u64) -> io::Result<Vec<u8>> {
    let fd = open(real, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut file = std::fs::File::from(fd);
    let mut buf = Vec::with_capacity(usize::try_from(st.st_size).unwrap_or(0).min(1 << 20));
    (&mut file)
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            "file larger than the memory ceiling",
        ));
    }
    Ok(buf)
}

/// The names in a directory, unsorted, without `.` and `..`.
pub fn list_dir(at: &CheckedPath) -> io::Result<Vec<String>> {
    list_dir_fd(&open_dir(at.real())?)
}

/// The names in a directory about to be removed, to refuse a non-empty one (as `rmdir`
/// would, with `ENOTEMPTY`); never given to the plugin.
pub fn names_to_remove(at: &CheckedWrite) -> io::Result<Vec<String>> {
    list_dir_fd(&open_dir(at.real())?)
}

/// Opens the directory `at` (no symlink in any component), for the commit's `*at` operations
/// in it.
pub fn open_dir_at_commit(at: CommitPath<'_>) -> io::Result<OwnedFd> {
    open_dir(at.real())
}

fn open_dir(real: &Path) -> io::Result<OwnedFd> {
    open(real, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
}

/// The names in an open directory, unsorted, without `.` and `..`.
pub fn list_dir_fd(fd: &OwnedFd) -> io::Result<Vec<String>> {
    let mut dir = rustix::fs::Dir::read_from(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// Metadata of a file or directory.
pub fn stat(at: &impl Witnessed) -> io::Result<Meta> {
    let real = at.real();
    // O_NONBLOCK: opening a FIFO must not wait for a writer. (Not O_PATH: openat2 with O_PATH
    // and these resolve flags answered EINVAL on this kernel.)
    let fd = open(real, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    Ok(Meta::of(&st))
}

/// Metadata of the path a removal names itself, not following a symlink in its last
/// component (what `remove` acts on); the directories above it are opened with the same
/// no-symlink resolution as everything else.
pub fn lstat(at: &CheckedWrite) -> io::Result<Meta> {
    lstat_real(at.real())
}

/// [`lstat`] of what a commit acts on: a [`CheckedWrite`]'s path or a directory above it.
pub fn lstat_at_commit(at: CommitPath<'_>) -> io::Result<Meta> {
    lstat_real(at.real())
}

fn lstat_real(real: &Path) -> io::Result<Meta> {
    let (parent, name) = split(real)?;
    let dir = open(parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
    let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(Meta::of(&st))
}

fn split(real: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (real.parent(), real.components().next_back()) {
        (Some(parent), Some(Component::Normal(name))) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aether_policy::UnsafeMode;

    fn r(p: &Path) -> CheckedPath {
        CheckedPath::unchecked(p, p, &UnsafeMode::acknowledge())
    }

    fn w(p: &Path) -> CheckedWrite {
        CheckedWrite::unchecked(p, p, &UnsafeMode::acknowledge())
    }

    #[test]
    fn a_symlink_in_any_component_is_refused_even_after_the_check() {
        // The check-then-use race (CVE-2022-21658, Node CVE-2023-32004-style path swaps): a
        // directory that was real when checked is swapped for a symlink before the open.
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(base.join("d")).unwrap();
        std::fs::write(base.join("d/f"), "ok").unwrap();
        assert_eq!(read_file(&r(&base.join("d/f")), 10).unwrap(), b"ok");
        std::fs::rename(base.join("d"), base.join("moved")).unwrap();
        std::os::unix::fs::symlink(base.join("moved"), base.join("d")).unwrap();
        let err = read_file(&r(&base.join("d/f")), 10).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc_eloop()));
    }

    #[test]
    fn proc_magic_links_are_refused() {
        // `/proc/self/root` is a magic link back to `/`: openat2 refuses to follow it.
        assert!(read_file(&r(Path::new("/proc/self/root/etc/hostname")), 1 << 20).is_err());
    }

    #[test]
    fn devices_and_oversized_files_are_refused() {
        assert!(read_file(&r(Path::new("/dev/zero")), 1 << 20).is_err());
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("big");
        std::fs::write(&f, vec![b'x'; 100]).unwrap();
        assert_eq!(
            read_file(&r(&f), 99).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(read_file(&r(&f), 100).unwrap().len(), 100);
    }

    #[test]
    fn stat_sees_files_and_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(base.join("f"), "abc").unwrap();
        let dir = stat(&r(&base)).unwrap();
        assert!(dir.is_dir && !dir.is_file);
        let file = stat(&r(&base.join("f"))).unwrap();
        assert!(file.is_file && file.size == 3 && file.mtime_ms > 0.0);
    }

    #[test]
    fn lstat_sees_the_symlink_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(base.join("f"), "abc").unwrap();
        std::os::unix::fs::symlink(base.join("f"), base.join("l")).unwrap();
        let link = lstat(&w(&base.join("l"))).unwrap();
        assert!(!link.is_file && !link.is_dir);
        assert!(lstat(&w(&base.join("f"))).unwrap().is_file);
        assert!(
            stat(&r(&base.join("l"))).is_err(),
            "stat never follows a symlink"
        );
    }

    fn libc_eloop() -> i32 {
        rustix::io::Errno::LOOP.raw_os_error()
    }
}
