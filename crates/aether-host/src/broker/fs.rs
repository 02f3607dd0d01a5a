//! `filesystem.read` and `filesystem.write` (SPEC §5): the checks, in the order the grant
//! comes first, and the calls, through `fsops` and the step's overlay with the witnesses the
//! checks return. Reads see the overlay; writes go to it and reach the disk only at commit.
//!
//! What it must never do: touch a path the check did not return (the witness types see to it),
//! or tell the plugin anything about an ungranted path before the grant is checked.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aether_policy::{Capability, CheckedPath, CheckedWrite, Decision, UnsafeMode, WriteTarget};

use super::{
    Problem, Record, StepHost, failed, failed_msg, overridable, reject_problem, type_error,
};
use crate::fsops::{self, Meta};
use crate::overlay::Lookup;
use crate::protocol::{HostError, HostValue};
use crate::witness::Witnessed;

impl StepHost {
    /// The path as given, made absolute against the workspace with `.`/`..` removed as POSIX
    /// does (`/..` is `/`), and its real path. When the real path cannot be resolved (a symlink
    /// loop, a permission error, a NUL byte), the lexical path stands in for it: the grant is
    /// still checked before anything is reported (no existence oracle), and the open that
    /// follows refuses every symlink.
    pub(super) fn paths(&self, given: &str, nofollow: bool) -> (PathBuf, PathBuf) {
        let workspace = self.workspace.path();
        let abs = aether_policy::resolve_lexically(Path::new(given), workspace)
            .unwrap_or_else(|| workspace.join(given));
        if malformed_path(given).is_some() {
            return (abs.clone(), abs);
        }
        let real = if nofollow {
            real_path_nofollow(&abs)
        } else {
            real_path(&abs)
        };
        (abs.clone(), real.unwrap_or(abs))
    }

    /// Checks a `filesystem.read` of `given`, in the order SPEC §5 sets ("the grant is checked
    /// first"), the one place that decides it for every read:
    ///
    /// 1. the path resolves as POSIX does, against the workspace (`/..` is `/`), whatever it
    ///    holds; its real path is looked up when it can name a file;
    /// 2. the grant is checked on both ([`StepHost::decide`]): outside it, the call is a
    ///    `PermissionDenied` with its violation, whatever else is wrong with the path (climbing
    ///    above `/`, a NUL byte, a file that does not exist);
    /// 3. only a path the grant covers (or an `--unsafe` run lets through) may then fail
    ///    otherwise: a NUL byte is a `TypeError`, then what the binding found wrong with the
    ///    call (`problem`, see [`crate::HostRequest::Malformed`]) is a `TypeError`, a missing
    ///    file an error of the call.
    pub(super) fn check_read(
        &self,
        given: &str,
        problem: Problem<'_>,
    ) -> Result<CheckedPath, HostError> {
        let (abs, real) = self.paths(given, false);
        self.decide(
            (Capability::FilesystemRead, given),
            self.grant.check_read(&abs, &real),
            overridable(|mode| Some(Ok(CheckedPath::unchecked(&abs, &real, mode)))),
            Record::Allowed,
            || reject_malformed(given, problem),
        )
    }

    /// Checks a write; returns where it goes: a [`WriteTarget::Granted`] path, committed when
    /// the step succeeds, or (an ungranted write under `virtualize_denied_writes`) a
    /// [`WriteTarget::Virtualized`] one, kept in a private overlay node that is never committed.
    /// The order is [`StepHost::check_read`]'s, with the write grant: the grant first, then a
    /// malformed path, then `problem`. `nofollow`: the last component is not resolved (a
    /// removal acts on a symlink itself).
    pub(super) fn check_write(
        &self,
        given: &str,
        nofollow: bool,
        problem: Problem<'_>,
    ) -> Result<WriteTarget, HostError> {
        let (abs, real) = self.paths(given, nofollow);
        self.decide(
            (Capability::FilesystemWrite, given),
            self.grant
                .check_write(&abs, &real)
                .map(WriteTarget::Granted),
            super::Fallback {
                unchecked: |mode: &UnsafeMode| {
                    Some(Ok(WriteTarget::Granted(CheckedWrite::unchecked(
                        &abs, &real, mode,
                    ))))
                },
                virtualize: |denial| {
                    self.grant
                        .virtualize_write(&abs, &real, denial)
                        .map(WriteTarget::Virtualized)
                },
            },
            Record::Allowed,
            || reject_malformed(given, problem),
        )
    }

    fn read(&self, checked: &CheckedPath, given: &str) -> Result<Vec<u8>, HostError> {
        match self.overlay().lookup(checked) {
            Lookup::File(data) => return Ok(data.to_vec()),
            Lookup::Dir => return Err(failed_msg(given, "it is a directory")),
            Lookup::Removed => return Err(failed_msg(given, "no such file or directory")),
            Lookup::Disk => {}
        }
        fsops::read_file(checked, self.grant.limits().memory.0).map_err(|e| failed(given, &e))
    }

    /// What the step sees at `at`: the overlay's node, else the disk's.
    fn meta(&self, at: &impl Witnessed) -> std::io::Result<Meta> {
        match self.overlay().lookup(at) {
            Lookup::File(data) => Ok(Meta {
                size: data.len() as u64,
                is_file: true,
                is_dir: false,
                mtime_ms: now_ms(),
            }),
            Lookup::Dir => Ok(Meta {
                size: 0,
                is_file: false,
                is_dir: true,
                mtime_ms: now_ms(),
            }),
            Lookup::Removed => Err(std::io::ErrorKind::NotFound.into()),
            Lookup::Disk => fsops::stat(at),
        }
    }

    fn limit_overlay(&self) -> Result<(), HostError> {
        let limit = self.grant.limits().memory;
        if self.overlay().bytes() > limit.0 {
            let message = format!("memory limit of {limit} exceeded");
            self.event(
                Capability::LimitMemory,
                "overlay",
                Decision::Killed,
                message.clone(),
            );
            return Err(HostError::LimitExceeded {
                capability: Capability::LimitMemory,
                message,
            });
        }
        Ok(())
    }

    /// `aether.fs.readText`.
    pub(super) fn read_text(&self, path: &str) -> Result<HostValue, HostError> {
        let c = self.check_read(path, None)?;
        let bytes = self.read(&c, path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| type_error(format!("`{path}` is not UTF-8 text: use readBytes")))?;
        Ok(HostValue::Text { value: Some(text) })
    }

    /// `aether.fs.readBytes`.
    pub(super) fn read_bytes(&self, path: &str) -> Result<HostValue, HostError> {
        let c = self.check_read(path, None)?;
        Ok(HostValue::Bytes {
            value: self.read(&c, path)?,
        })
    }

    /// `aether.fs.list`: the disk's names with the overlay's added and removed ones.
    pub(super) fn list(&self, path: &str) -> Result<HostValue, HostError> {
        let c = self.check_read(path, None)?;
        let (added, removed) = self.overlay().children(&c);
        let mut names = match fsops::list_dir(&c) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !added.is_empty() => Vec::new(),
            Err(e) => return Err(failed(path, &e)),
        };
        names.retain(|n| !removed.contains(n));
        names.extend(added);
        names.sort();
        names.dedup();
        Ok(HostValue::Names { value: names })
    }

    /// `aether.fs.stat`.
    pub(super) fn stat(&self, path: &str) -> Result<HostValue, HostError> {
        let c = self.check_read(path, None)?;
        let m = self.meta(&c).map_err(|e| failed(path, &e))?;
        Ok(HostValue::Stat {
            size: m.size,
            is_file: m.is_file,
            is_dir: m.is_dir,
            mtime_ms: m.mtime_ms,
        })
    }

    /// `aether.fs.exists`.
    pub(super) fn exists(&self, path: &str) -> Result<HostValue, HostError> {
        let c = self.check_read(path, None)?;
        Ok(HostValue::Bool {
            value: self.meta(&c).is_ok(),
        })
    }

    /// `aether.fs.writeText` / `writeBytes`.
    pub(super) fn write(&self, path: &str, data: Vec<u8>) -> Result<HostValue, HostError> {
        let target = self.check_write(path, false, None)?;
        self.require_parent(&target, path)?;
        self.overlay().write(&target, data);
        self.limit_overlay()?;
        Ok(HostValue::Unit)
    }

    /// `aether.fs.appendText`.
    pub(super) fn append(&self, path: &str, data: &[u8]) -> Result<HostValue, HostError> {
        let target = self.check_write(path, false, None)?;
        self.require_parent(&target, path)?;
        let base = match self.overlay().lookup(&target) {
            Lookup::Disk => match fsops::read_for_append(&target, self.grant.limits().memory.0) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(failed(path, &e)),
            },
            _ => Vec::new(),
        };
        self.overlay().append(&target, data, base);
        self.limit_overlay()?;
        Ok(HostValue::Unit)
    }

    /// `aether.fs.mkdir` (recursive). The target is checked first; the directories above it
    /// are then looked at only through the witness's [`aether_policy::ParentDir`]s (whether
    /// they exist is what any write of the target tells), and every one that must be created
    /// is itself checked for writing through [`StepHost::decide`] (a virtualized mkdir creates
    /// only private directories).
    pub(super) fn mkdir(&self, path: &str) -> Result<HostValue, HostError> {
        let target = self.check_write(path, false, None)?;
        if self.dir_exists(&target, path)? {
            return Ok(HostValue::Unit);
        }
        let mut missing = Vec::new();
        let mut dir = target.parent();
        while let Some(d) = dir {
            if self.dir_exists(&d, path)? {
                break;
            }
            dir = d.parent();
            missing.push(d);
        }
        for d in missing.iter().rev() {
            let created = match &target {
                WriteTarget::Granted(_) => WriteTarget::Granted(self.decide(
                    (Capability::FilesystemWrite, path),
                    self.grant.check_write(d.real(), d.real()),
                    overridable(|mode| Some(Ok(CheckedWrite::unchecked(d.real(), d.real(), mode)))),
                    Record::ByCaller,
                    || Ok(()),
                )?),
                WriteTarget::Virtualized(v) => match v.ancestor(d) {
                    Some(a) => WriteTarget::Virtualized(a),
                    None => continue,
                },
            };
            self.overlay().mkdir(&created);
        }
        self.overlay().mkdir(&target);
        Ok(HostValue::Unit)
    }

    /// Whether the step sees a directory at `at` (a file there is in the way of `mkdir`).
    fn dir_exists(&self, at: &impl Witnessed, given: &str) -> Result<bool, HostError> {
        Ok(match self.overlay().lookup(at) {
            Lookup::Dir => true,
            Lookup::File(_) => return Err(failed_msg(given, "a file is in the way")),
            Lookup::Removed => false,
            Lookup::Disk => fsops::stat(at).map(|m| m.is_dir).unwrap_or(false),
        })
    }

    /// `aether.fs.remove`: a file, a symlink itself, or an empty directory.
    pub(super) fn remove(&self, path: &str) -> Result<HostValue, HostError> {
        let target = self.check_write(path, true, None)?;
        // A virtualized removal asks nothing of the disk: whether an ungranted path exists,
        // or holds files, is none of the plugin's business.
        if let WriteTarget::Granted(checked) = &target {
            // Not `meta` on disk: that follows the last component, and a symlink is removed
            // itself (SPEC §5), whatever it points to.
            let on_disk = self.overlay().lookup(checked) == Lookup::Disk;
            let m = if on_disk {
                fsops::lstat(checked)
            } else {
                self.meta(checked)
            };
            let m = m.map_err(|e| failed(path, &e))?;
            if m.is_dir {
                let on_disk = fsops::names_to_remove(checked).unwrap_or_default();
                let (added, removed) = self.overlay().children(checked);
                if !added.is_empty() || on_disk.iter().any(|n| !removed.contains(n)) {
                    return Err(failed_msg(path, "the directory is not empty"));
                }
            }
        }
        // A virtualized removal must stay in the private layer like any other virtualized
        // write: committing it would delete an ungranted file.
        self.overlay().remove(&target);
        Ok(HostValue::Unit)
    }

    /// A granted write's directory must exist (in the overlay or on disk); a virtualized one
    /// asks nothing of the disk.
    fn require_parent(&self, target: &WriteTarget, given: &str) -> Result<(), HostError> {
        if target.is_virtualized() {
            return Ok(());
        }
        let Some(parent) = target.parent() else {
            return Ok(());
        };
        let ok = match self.overlay().lookup(&parent) {
            Lookup::Dir => true,
            Lookup::File(_) | Lookup::Removed => false,
            Lookup::Disk => fsops::stat(&parent).map(|m| m.is_dir).unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err(failed_msg(
                given,
                "its directory does not exist (create it with aether.fs.mkdir)",
            ))
        }
    }
}

// The real path a check compares with the grant (the check's input, not a provider): the two
// functions below stat and read symlinks to resolve it, and neither read, list nor write a file.
// They are private to the check that needs them (`StepHost::paths`): nothing opens the path they
// return but through the witness the check makes of it, with `openat2(RESOLVE_NO_SYMLINKS)`, so
// a symlink swapped in after the resolution is refused (see `crate::fsops`).

/// The real path of `path` (absolute, lexically normalized): the longest prefix that exists is
/// resolved by the kernel (symlinks followed, `..` after a symlink handled as the kernel does);
/// the rest, which does not exist, is appended as is.
fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(mut real) => {
                for part in rest.iter().rev() {
                    real.push(part);
                }
                return Ok(real);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symlink is "not found" too: keep its name; opening it later with
                // RESOLVE_NO_SYMLINKS refuses it.
                match (existing.file_name(), existing.parent()) {
                    (Some(name), Some(parent)) => {
                        rest.push(name.to_os_string());
                        existing = parent.to_path_buf();
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The real path of `path`'s parent joined with its last component unresolved: what
/// `remove` acts on (a symlink itself, not its target).
fn real_path_nofollow(path: &Path) -> std::io::Result<PathBuf> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok(real_path(parent)?.join(name)),
        _ => Ok(path.to_path_buf()),
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// What makes a path the plugin gave unusable once the grant covers it: `None` if nothing.
fn malformed_path(given: &str) -> Option<&'static str> {
    given.contains('\0').then_some("it contains a NUL byte")
}

/// The `TypeError` for a path [`malformed_path`] refuses, else for `problem`; called only after
/// the grant covers the path.
fn reject_malformed(given: &str, problem: Problem<'_>) -> Result<(), HostError> {
    match malformed_path(given) {
        Some(why) => Err(type_error(format!(
            "invalid path `{}`: {why}",
            given.escape_debug()
        ))),
        None => reject_problem(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_path_keeps_missing_tail_and_resolves_existing_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(base.join("real")).unwrap();
        std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
        assert_eq!(
            real_path(&base.join("link/new/file")).unwrap(),
            base.join("real/new/file")
        );
        assert_eq!(
            real_path_nofollow(&base.join("link")).unwrap(),
            base.join("link")
        );
    }
}
