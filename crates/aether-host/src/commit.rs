//! All-or-nothing commits of a step's overlay (SPEC §6: "a failed step writes nothing", "each
//! file atomically"; issue 16).
//!
//! A commit runs in phases, each on directory handles opened with the same no-symlink
//! resolution as every other file primitive ([`fsops`]), so that a directory swapped for a
//! symlink during the commit is refused rather than followed:
//!
//! 1. **Check and stage** (nothing visible changes): every target is checked (a directory where
//!    a file goes, a file where a directory goes, are errors now), and every new file is written
//!    under a short unique temporary name ([`TEMP_PREFIX`]`<pid>-<n>`) in its target directory —
//!    or, for a directory the step creates, in the nearest directory that exists, on the same
//!    file system — and fsynced. An error here removes the staged files: nothing changed.
//! 2. **Apply**: directories are created (shallowest first), staged files renamed into place
//!    (`RENAME_EXCHANGE` over an existing file, so a reader sees the old or the new file, never
//!    neither, and the original survives under the temporary name), removed entries moved aside
//!    to temporary names (deepest first), and every directory touched is fsynced.
//! 3. On an error in phase 2, everything applied is undone in reverse order (originals renamed
//!    back, new files and created directories removed), then the staged files are removed. On
//!    success the displaced originals and moved-aside entries are deleted.
//!
//! What stays non-atomic: a crash of aether or of the machine in phase 2 leaves the commit
//! partly applied, with the displaced originals and staged files under temporary names. A later
//! commit into the same directory deletes such leftovers once they are stale: their name names
//! a process that no longer runs and they have not changed for [`STALE_AFTER`] (see
//! `SECURITY.md`). Two commits (of two steps, or of two aether processes) never share a
//! temporary name: it holds the process id and a per-process counter, and is created with
//! `O_EXCL` / renamed with `RENAME_NOREPLACE`.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aether_policy::CheckedWrite;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::fsops;
use crate::witness::CommitPath;

/// The prefix of every temporary name a commit creates (staged files, displaced originals,
/// removed entries moved aside): `.aether-tmp-<pid>-<n>`, at most 40 bytes whatever the target's
/// name (a 255-byte name commits).
pub const TEMP_PREFIX: &str = ".aether-tmp-";

/// How long a leftover temporary must have been unchanged (its inode's ctime) before a later
/// commit deletes it: 10 minutes. The process id in its name must also be gone; the age guards
/// against a process id that belongs to another PID namespace sharing the directory.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name no other commit, in this process or another, uses.
fn temp_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n:x}", std::process::id())
}

/// The changes of one commit: each names its path by the [`CheckedWrite`] that allowed it, so
/// a commit writes nothing a check did not return (the directories above and the temporary
/// names beside those paths are the commit's own).
pub(crate) struct Changes<'a> {
    /// Directories to create, shallowest first.
    pub dirs: Vec<&'a CheckedWrite>,
    /// Files to write.
    pub files: Vec<(&'a CheckedWrite, &'a [u8])>,
    /// Entries to remove, deepest first.
    pub removals: Vec<&'a CheckedWrite>,
}

type Fd = Arc<OwnedFd>;

/// One applied change, and how to undo it.
enum Applied {
    /// A directory this commit created.
    Created { path: PathBuf, parent: Fd },
    /// A new file where nothing was.
    Placed { path: PathBuf, dir: Fd },
    /// A file exchanged with the original, which is now `aside` in `aside_dir`.
    Replaced {
        path: PathBuf,
        dir: Fd,
        aside_dir: Fd,
        aside: String,
    },
    /// A removed entry, moved to `aside` in `aside_dir`.
    MovedAside {
        path: PathBuf,
        dir: Fd,
        aside_dir: Fd,
        aside: String,
        is_dir: bool,
    },
}

struct Staged<'a> {
    target: CommitPath<'a>,
    dir: Fd,
    tmp: String,
    /// Renamed into place (with an exchange, `tmp` now holds the original: undo restores it).
    placed: bool,
}

#[derive(Default)]
struct Commit<'a> {
    dirs: HashMap<PathBuf, Fd>,
    staged: Vec<Staged<'a>>,
    applied: Vec<Applied>,
}

type Failure = (PathBuf, io::Error);

fn at(path: &Path) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| (path.to_path_buf(), e)
}

fn errno(path: &Path) -> impl Fn(Errno) -> Failure + '_ {
    move |e| (path.to_path_buf(), e.into())
}

/// Writes `changes` to disk, all or nothing (see the module documentation). Returns how many
/// entries changed, or the first error with the path at fault, after undoing what was applied.
pub(crate) fn commit(changes: &Changes<'_>) -> Result<usize, Failure> {
    commit_with(changes, || {})
}

/// [`commit`], calling `between` after staging and before the first visible change (tests use
/// it to change the disk at that moment).
pub(crate) fn commit_with(changes: &Changes<'_>, between: impl FnOnce()) -> Result<usize, Failure> {
    let mut c = Commit::default();
    let staged = c.check_and_stage(changes);
    if let Err(e) = staged {
        c.unstage();
        return Err(e);
    }
    between();
    match c.apply(changes) {
        Ok(count) => {
            c.finish();
            Ok(count)
        }
        Err((path, e)) => match c.undo() {
            Ok(()) => Err((path, e)),
            Err((upath, ue)) => Err((
                path,
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; undoing the commit also failed at `{}` ({ue}), whose temporary `{TEMP_PREFIX}*` entries remain",
                        upath.display()
                    ),
                ),
            )),
        },
    }
}

/// The directory holding `at`, and `at`'s name in it.
fn split_at(at: CommitPath<'_>) -> Result<(CommitPath<'_>, &OsStr), Failure> {
    match (at.parent(), at.real().components().next_back()) {
        (Some(parent), Some(Component::Normal(name))) => Ok((parent, name)),
        _ => Err((
            at.real().to_path_buf(),
            io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
        )),
    }
}

/// The name of `real` in its directory (undoing acts on directory handles already open).
fn split(real: &Path) -> io::Result<(&Path, &OsStr)> {
    match (real.parent(), real.components().next_back()) {
        (Some(parent), Some(Component::Normal(name))) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        )),
    }
}

/// The type of `name` in `dir`, not following a symlink; `None` when it does not exist.
fn kind_at<P: rustix::path::Arg>(dir: &OwnedFd, name: P) -> Result<Option<FileType>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Renames without replacing anything (falls back to a plain rename on a file system without
/// `RENAME_NOREPLACE`, after checking that nothing is there).
fn rename_noreplace<P, Q>(from: &OwnedFd, old: P, to: &OwnedFd, new: Q) -> Result<(), Errno>
where
    P: rustix::path::Arg + Copy,
    Q: rustix::path::Arg + Copy,
{
    match rustix::fs::renameat_with(from, old, to, new, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) => match kind_at(to, new)? {
            Some(_) => Err(Errno::EXIST),
            None => rustix::fs::renameat(from, old, to, new),
        },
        other => other,
    }
}

impl<'a> Commit<'a> {
    /// The directory `at`, opened once per commit without following any symlink (and swept
    /// of stale leftovers then).
    fn dir(&mut self, at: CommitPath<'_>) -> Result<Fd, Failure> {
        let real = at.real();
        if let Some(fd) = self.dirs.get(real) {
            return Ok(fd.clone());
        }
        let fd = Arc::new(fsops::open_dir_at_commit(at).map_err(self::at(real))?);
        sweep(&fd, STALE_AFTER);
        self.dirs.insert(real.to_path_buf(), fd.clone());
        Ok(fd)
    }

    /// Phase 1: checks every target and stages every file; changes nothing visible.
    fn check_and_stage(&mut self, changes: &Changes<'a>) -> Result<(), Failure> {
        let created: BTreeSet<&Path> = changes.dirs.iter().map(|w| w.real()).collect();
        for &write in &changes.dirs {
            let dir = write.real();
            match fsops::lstat_at_commit(CommitPath::of(write)) {
                Ok(m) if m.is_dir => {}
                Ok(_) => {
                    return Err((
                        dir.to_path_buf(),
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "exists and is not a directory",
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err((dir.to_path_buf(), e)),
            }
        }
        for &(write, data) in &changes.files {
            let checked = CommitPath::of(write);
            let target = checked.real();
            let (parent, _) = split_at(checked)?;
            match fsops::lstat_at_commit(checked) {
                Ok(m) if m.is_dir => {
                    return Err((
                        target.to_path_buf(),
                        io::Error::new(io::ErrorKind::IsADirectory, "a directory is in the way"),
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err((target.to_path_buf(), e)),
            }
            // The target directory, or for one this commit creates, the nearest that exists
            // (on the same file system: the new directories are made inside it).
            let mut stage_in = parent;
            while created.contains(stage_in.real()) {
                match fsops::lstat_at_commit(stage_in) {
                    Ok(m) if m.is_dir => break,
                    _ => match stage_in.parent() {
                        Some(up) => stage_in = up,
                        None => break,
                    },
                }
            }
            let dir = self.dir(stage_in)?;
            let tmp = stage(&dir, data).map_err(at(target))?;
            self.staged.push(Staged {
                target: checked,
                dir,
                tmp,
                placed: false,
            });
        }
        Ok(())
    }

    /// Phase 2: creates directories, renames staged files into place, moves removed entries
    /// aside, and fsyncs every directory touched.
    fn apply(&mut self, changes: &Changes<'a>) -> Result<usize, Failure> {
        let mut count = 0;
        for &write in &changes.dirs {
            let dir = write.real();
            let (parent, name) = split_at(CommitPath::of(write))?;
            let parent_fd = self.dir(parent)?;
            match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
                Ok(()) => {
                    count += 1;
                    self.applied.push(Applied::Created {
                        path: dir.to_path_buf(),
                        parent: parent_fd,
                    });
                }
                Err(Errno::EXIST) if kind_at(&parent_fd, name) == Ok(Some(FileType::Directory)) => {
                }
                Err(Errno::EXIST) => {
                    return Err((
                        dir.to_path_buf(),
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "exists and is not a directory",
                        ),
                    ));
                }
                Err(e) => return Err((dir.to_path_buf(), e.into())),
            }
        }
        for i in 0..self.staged.len() {
            let target = self.staged[i].target;
            let (parent, name) = split_at(target)?;
            let dir = self.dir(parent)?;
            let applied = self.place(i, &dir, name)?;
            self.staged[i].placed = true;
            self.applied.push(applied);
            count += 1;
        }
        let removed: BTreeSet<&Path> = changes.removals.iter().map(|w| w.real()).collect();
        for &write in &changes.removals {
            let checked = CommitPath::of(write);
            let path = checked.real();
            let (parent, name) = split_at(checked)?;
            let dir = self.dir(parent)?;
            let is_dir = match kind_at(&dir, name).map_err(errno(path))? {
                None => continue,
                Some(kind) => kind == FileType::Directory,
            };
            if is_dir {
                let fd = rustix::fs::openat(
                    &dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno(path))?;
                if !fsops::list_dir_fd(&fd).map_err(at(path))?.is_empty() {
                    return Err((
                        path.to_path_buf(),
                        io::Error::new(
                            io::ErrorKind::DirectoryNotEmpty,
                            "the directory is not empty",
                        ),
                    ));
                }
            }
            // Aside in the parent of the topmost directory removed with it: that directory
            // stays, so undoing can rename everything back.
            let mut top = checked;
            while let Some(up) = top.parent().filter(|up| removed.contains(up.real())) {
                top = up;
            }
            let (keep, _) = split_at(top).map_err(|(_, e)| (path.to_path_buf(), e))?;
            let aside_dir = self.dir(keep)?;
            let aside = temp_name();
            rename_noreplace(&dir, name, &aside_dir, aside.as_str()).map_err(errno(path))?;
            count += 1;
            self.applied.push(Applied::MovedAside {
                path: path.to_path_buf(),
                dir,
                aside_dir,
                aside,
                is_dir,
            });
        }
        for (path, fd) in &self.dirs {
            rustix::fs::fsync(fd.as_ref()).map_err(errno(path))?;
        }
        Ok(count)
    }

    /// Renames staged file `i` to `name` in `dir`: exchanged with an existing file (kept for
    /// undoing), or put where nothing was.
    fn place(&self, i: usize, dir: &Fd, name: &OsStr) -> Result<Applied, Failure> {
        let s = &self.staged[i];
        let fail = errno(s.target.real());
        for _ in 0..3 {
            match kind_at(dir, name).map_err(&fail)? {
                Some(FileType::Directory) => return Err(fail(Errno::ISDIR)),
                Some(_) => {
                    match rustix::fs::renameat_with(
                        &s.dir,
                        s.tmp.as_str(),
                        dir,
                        name,
                        RenameFlags::EXCHANGE,
                    ) {
                        Ok(()) => {
                            return Ok(Applied::Replaced {
                                path: s.target.real().to_path_buf(),
                                dir: dir.clone(),
                                aside_dir: s.dir.clone(),
                                aside: s.tmp.clone(),
                            });
                        }
                        // Gone since the check: place it as new.
                        Err(Errno::NOENT) => continue,
                        // A file system without RENAME_EXCHANGE: move the original aside
                        // first (the name is missing between the two renames).
                        Err(Errno::INVAL) => {
                            let aside = temp_name();
                            rename_noreplace(dir, name, dir, aside.as_str()).map_err(&fail)?;
                            let placed = rustix::fs::renameat(&s.dir, s.tmp.as_str(), dir, name);
                            let applied = Applied::Replaced {
                                path: s.target.real().to_path_buf(),
                                dir: dir.clone(),
                                aside_dir: dir.clone(),
                                aside,
                            };
                            return match placed {
                                Ok(()) => Ok(applied),
                                Err(e) => {
                                    let _ = undo_one(&applied);
                                    Err(fail(e))
                                }
                            };
                        }
                        Err(e) => return Err(fail(e)),
                    }
                }
                None => match rename_noreplace(&s.dir, s.tmp.as_str(), dir, name) {
                    Ok(()) => {
                        return Ok(Applied::Placed {
                            path: s.target.real().to_path_buf(),
                            dir: dir.clone(),
                        });
                    }
                    // Created since the check: exchange with it.
                    Err(Errno::EXIST) => continue,
                    Err(e) => return Err(fail(e)),
                },
            }
        }
        Err(fail(Errno::AGAIN))
    }

    /// Removes the staged files not renamed into place.
    fn unstage(&mut self) {
        for s in self.staged.drain(..).filter(|s| !s.placed) {
            let _ = rustix::fs::unlinkat(&s.dir, s.tmp.as_str(), AtFlags::empty());
        }
    }

    /// Undoes everything applied, last first, then removes the staged files. Returns the first
    /// entry that could not be restored (every other is still tried).
    fn undo(&mut self) -> Result<(), Failure> {
        let mut first = Ok(());
        for applied in self.applied.drain(..).rev() {
            if let Err(e) = undo_one(&applied)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        self.unstage();
        for fd in self.dirs.values() {
            let _ = rustix::fs::fsync(fd.as_ref());
        }
        first
    }

    /// After success: deletes the displaced originals and the removed entries set aside. A
    /// failure leaves a leftover that a later commit sweeps.
    fn finish(&mut self) {
        for applied in self.applied.drain(..) {
            let _ = match applied {
                Applied::Replaced {
                    aside_dir, aside, ..
                } => rustix::fs::unlinkat(&aside_dir, aside.as_str(), AtFlags::empty()),
                Applied::MovedAside {
                    aside_dir,
                    aside,
                    is_dir,
                    ..
                } => {
                    let flags = if is_dir {
                        AtFlags::REMOVEDIR
                    } else {
                        AtFlags::empty()
                    };
                    rustix::fs::unlinkat(&aside_dir, aside.as_str(), flags)
                }
                Applied::Created { .. } | Applied::Placed { .. } => Ok(()),
            };
        }
    }
}

fn undo_one(applied: &Applied) -> Result<(), Failure> {
    match applied {
        Applied::Created { path, parent } => {
            let (_, name) = split(path).map_err(at(path))?;
            rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(errno(path))
        }
        Applied::Placed { path, dir } => {
            let (_, name) = split(path).map_err(at(path))?;
            rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(errno(path))
        }
        Applied::Replaced {
            path,
            dir,
            aside_dir,
            aside,
        }
        | Applied::MovedAside {
            path,
            dir,
            aside_dir,
            aside,
            ..
        } => {
            let (_, name) = split(path).map_err(at(path))?;
            rustix::fs::renameat(aside_dir, aside.as_str(), dir, name).map_err(errno(path))
        }
    }
}

/// Writes `data` to a new temporary file in `dir`, fsynced; returns its name.
fn stage(dir: &OwnedFd, data: &[u8]) -> io::Result<String> {
    loop {
        let tmp = temp_name();
        let fd = match rustix::fs::openat(
            dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        ) {
            // A leftover of a crashed process that had the same id: take the next number.
            Err(Errno::EXIST) => continue,
            other => other?,
        };
        let mut file = std::fs::File::from(fd);
        if let Err(e) = file.write_all(data).and_then(|()| file.sync_all()) {
            let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
            return Err(e);
        }
        return Ok(tmp);
    }
}

/// Deletes the stale leftovers of interrupted commits in `dir`: entries named
/// `.aether-tmp-<pid>-<n>` whose process is gone and whose inode has not changed for `age`.
/// Everything else, and every error, is left alone.
pub(crate) fn sweep(dir: &OwnedFd, age: Duration) {
    let Ok(names) = fsops::list_dir_fd(dir) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    for name in names {
        let Some(pid) = name
            .strip_prefix(TEMP_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(std::process::id()) || process_runs(pid) {
            continue;
        }
        let Ok(st) = rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let changed = Duration::from_secs(u64::try_from(st.st_ctime).unwrap_or(u64::MAX));
        if now.saturating_sub(changed) < age {
            continue;
        }
        let flags = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        let _ = rustix::fs::unlinkat(dir, name.as_str(), flags);
    }
}

/// Whether a process with this id runs (or might: any answer but "no such process").
fn process_runs(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => rustix::process::test_kill_process(pid) != Err(Errno::SRCH),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::Overlay;
    use crate::overlay::test_witness::granted;

    fn base() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        (tmp, base)
    }

    /// The names in `dir` and below, sorted, with file contents.
    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    out.push((rel, "<dir>".to_owned()));
                    stack.push(e.path());
                } else {
                    out.push((rel, std::fs::read_to_string(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// `out/keep.txt` and `out/old.txt` on disk, an empty `out/empty/`.
    fn disk(base: &Path) {
        std::fs::create_dir_all(base.join("out/empty")).unwrap();
        std::fs::write(base.join("out/keep.txt"), "keep").unwrap();
        std::fs::write(base.join("out/old.txt"), "old").unwrap();
    }

    /// A step that removes `keep.txt` and `empty/`, replaces `old.txt`, creates `d/new.txt`
    /// and writes `z.txt`.
    fn step(base: &Path) -> Overlay {
        let mut o = Overlay::default();
        o.remove(&granted(&base.join("out/keep.txt")));
        o.remove(&granted(&base.join("out/empty")));
        o.write(&granted(&base.join("out/old.txt")), b"new".to_vec());
        o.mkdir(&granted(&base.join("out/d")));
        o.write(&granted(&base.join("out/d/new.txt")), b"n".to_vec());
        o.write(&granted(&base.join("out/z.txt")), b"z".to_vec());
        o
    }

    #[test]
    fn a_commit_applies_every_change_and_leaves_no_temporary() {
        let (_tmp, base) = base();
        disk(&base);
        let o = step(&base);
        assert_eq!(commit(&o.changes()).unwrap(), 6);
        assert_eq!(
            tree(&base.join("out")),
            [
                ("d", "<dir>"),
                ("d/new.txt", "n"),
                ("old.txt", "new"),
                ("z.txt", "z")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn issue_16_a_failure_before_the_first_visible_change_changes_nothing() {
        // See: issue 16 "What is wrong" 4. A directory where the last file goes: checked
        // before anything is applied.
        let (_tmp, base) = base();
        disk(&base);
        std::fs::create_dir(base.join("out/z.txt")).unwrap();
        let before = tree(&base.join("out"));
        let (path, e) = commit(&step(&base).changes()).unwrap_err();
        assert_eq!(path, base.join("out/z.txt"));
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        assert_eq!(tree(&base.join("out")), before);
    }

    #[test]
    fn issue_16_a_failure_while_placing_files_is_rolled_back() {
        // A file replaced by a directory between staging and its rename: the directory
        // created, the new file and the replaced file are undone, the originals restored.
        let (_tmp, base) = base();
        disk(&base);
        let before = tree(&base.join("out"));
        let o = step(&base);
        let (path, e) = commit_with(&o.changes(), || {
            std::fs::create_dir(base.join("out/z.txt")).unwrap();
        })
        .unwrap_err();
        assert_eq!(path, base.join("out/z.txt"));
        assert_eq!(e.raw_os_error(), Some(Errno::ISDIR.raw_os_error()));
        std::fs::remove_dir(base.join("out/z.txt")).unwrap();
        assert_eq!(tree(&base.join("out")), before);
    }

    #[test]
    fn issue_16_a_failure_while_removing_is_rolled_back() {
        // The removed directory gains an entry after staging: its removal fails after every
        // file was placed and `keep.txt` was set aside; all of it is undone.
        let (_tmp, base) = base();
        disk(&base);
        let o = step(&base);
        let (path, e) = commit_with(&o.changes(), || {
            std::fs::write(base.join("out/empty/late"), "late").unwrap();
        })
        .unwrap_err();
        assert_eq!(path, base.join("out/empty"));
        assert_eq!(e.kind(), io::ErrorKind::DirectoryNotEmpty);
        std::fs::remove_file(base.join("out/empty/late")).unwrap();
        let restored = tree(&base.join("out"));
        assert_eq!(
            restored,
            [("empty", "<dir>"), ("keep.txt", "keep"), ("old.txt", "old")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn issue_16_removed_trees_are_set_aside_and_restored_together() {
        let (_tmp, base) = base();
        std::fs::create_dir_all(base.join("t/a/b")).unwrap();
        std::fs::write(base.join("t/a/b/f"), "f").unwrap();
        std::fs::write(base.join("t/a/g"), "g").unwrap();
        let mut o = Overlay::default();
        for p in ["t/a/b/f", "t/a/b", "t/a/g", "t/a"] {
            o.remove(&granted(&base.join(p)));
        }
        o.write(&granted(&base.join("t/x")), b"x".to_vec());
        let before = tree(&base.join("t"));
        let fail = commit_with(&o.changes(), || {
            std::fs::create_dir(base.join("t/x")).unwrap();
        });
        assert!(fail.is_err());
        std::fs::remove_dir(base.join("t/x")).unwrap();
        assert_eq!(tree(&base.join("t")), before);
        commit(&o.changes()).unwrap();
        assert_eq!(tree(&base.join("t")), [("x".to_owned(), "x".to_owned())]);
    }

    #[test]
    fn issue_16_names_up_to_255_bytes_commit() {
        // See: issue 16 "What is wrong" 4: the temporary name `.{name}.aether-tmp-{pid}` made
        // a legal 240-byte name too long.
        let (_tmp, base) = base();
        let mut o = Overlay::default();
        for len in [240, 255] {
            o.write(&granted(&base.join("x".repeat(len))), vec![b'a'; len]);
        }
        commit(&o.changes()).unwrap();
        for len in [240, 255] {
            assert_eq!(
                std::fs::read(base.join("x".repeat(len))).unwrap().len(),
                len
            );
        }
        assert_eq!(tree(&base).len(), 2);
    }

    #[test]
    fn issue_16_concurrent_commits_of_one_file_never_share_a_temporary() {
        // See: issue 16 "What is wrong" 4: two steps committing the same file at once used
        // the same temporary name (`.{name}.aether-tmp-{pid}`), and one failed or clobbered
        // the other's.
        let (_tmp, base) = base();
        let target = base.join("same.txt");
        let threads = 8;
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (barrier, target) = (&barrier, &target);
                s.spawn(move || {
                    let data = vec![b'a' + t as u8; 64 * 1024];
                    barrier.wait();
                    for _ in 0..20 {
                        let mut o = Overlay::default();
                        o.write(&granted(target), data.clone());
                        o.commit().unwrap();
                    }
                });
            }
        });
        let data = std::fs::read(&target).unwrap();
        assert_eq!(data.len(), 64 * 1024);
        assert!(data.iter().all(|b| *b == data[0]), "one commit's bytes");
        assert_eq!(tree(&base).len(), 1, "{:?}", tree(&base));
    }

    #[test]
    fn stale_leftovers_of_gone_processes_are_swept() {
        let (_tmp, base) = base();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        for name in [
            format!("{TEMP_PREFIX}{gone}-0"),
            format!("{TEMP_PREFIX}{me}-ffff"),
            format!("{TEMP_PREFIX}1-0"),
            "unrelated".to_owned(),
        ] {
            std::fs::write(base.join(name), "x").unwrap();
        }
        std::fs::create_dir(base.join(format!("{TEMP_PREFIX}{gone}-1"))).unwrap();
        let write = aether_policy::CheckedWrite::unchecked(
            &base,
            &base,
            &aether_policy::UnsafeMode::acknowledge(),
        );
        let dir = fsops::open_dir_at_commit(CommitPath::of(&write)).unwrap();
        sweep(&dir, STALE_AFTER);
        assert_eq!(tree(&base).len(), 5, "too recent to be stale");
        sweep(&dir, Duration::ZERO);
        let left: Vec<String> = tree(&base).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            left,
            [
                format!("{TEMP_PREFIX}1-0"),
                format!("{TEMP_PREFIX}{me}-ffff"),
                "unrelated".to_owned()
            ]
        );
    }
}
