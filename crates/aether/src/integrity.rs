//! Integrity checks of a workspace before anything runs (SPEC §9): every plugin against
//! `aether.lock`, and its signature against the policy's trusted keys.
//!
//! Both work on the bundles already in memory (the bytes the engine will be fed), never on a
//! second read of the disk. Every difference is reported at once, as `integrity` findings
//! (error level: `run` refuses, `check` exits 1); an unreadable or malformed lock is malformed
//! input (exit 2).

pub use aether_integrity::*;

use std::path::{Component, Path, PathBuf};

use aether_host::bundle::PluginBundle;
use aether_integrity::lock::LOCK_FILE;
// `DigestList`, `LockedPlugin`, `Lockfile`, `SIGNATURE_FILE`, `SignatureCheck`,
// `SignaturePolicy` and `Verdict` come with the glob re-export above.
use aether_manifest::{FileError, Manifest, SourceFile};

use crate::workspace::{Finding, Level};

/// The rule id of lock findings.
pub const LOCK_RULE: &str = "integrity";
/// The rule id of signature findings.
pub const SIGNATURE_RULE: &str = "signature";

/// The lock of the pipeline whose workspace is `workspace`.
pub fn lock_path(workspace: &Path) -> PathBuf {
    workspace.join(LOCK_FILE)
}

/// `target` relative to `base` (both real paths), `/`-separated, with `..` where `target` is
/// not below `base`: how the lock names a plugin directory. `None` when a name on the way is
/// not UTF-8: decoded lossily, two directories could get one name, and one lock entry.
pub fn relative(base: &Path, target: &Path) -> Option<String> {
    let base: Vec<Component> = base.components().collect();
    let target: Vec<Component> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n(Some("..".to_owned()), base.len() - common);
    let downs = target[common..]
        .iter()
        .map(|c| c.as_os_str().to_str().map(str::to_owned));
    let parts: Vec<String> = ups.chain(downs).collect::<Option<_>>()?;
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

/// The lock's name of the plugin directory `dir` (a real path) in the workspace `root`.
pub fn lock_dir(root: &Path, dir: &Path) -> Result<String, FileError> {
    relative(root, dir).ok_or_else(|| {
        FileError::new(
            dir,
            None,
            "cannot pin the plugin: the name of its directory is not UTF-8, so the lock cannot name it".to_owned(),
        )
        .with_hint("rename the directory (or the one above it that is not UTF-8)")
    })
}

/// The digest list of a bundle's files (the signature file left out).
pub fn digest_list(bundle: &PluginBundle) -> Result<DigestList, FileError> {
    DigestList::of(bundle.files()).map_err(|e| {
        FileError::new(bundle.dir(), None, format!("cannot pin the plugin: {e}"))
            .with_hint("rename the file: aether refuses control characters in plugin file names")
    })
}

/// A plugin as the lock pins it, computed from its bundle; `root` is the workspace (real path).
pub fn locked_plugin(
    root: &Path,
    bundle: &PluginBundle,
    manifest: &Manifest,
) -> Result<LockedPlugin, FileError> {
    Ok(LockedPlugin {
        dir: lock_dir(root, bundle.dir())?,
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        files: digest_list(bundle)?,
    })
}

/// Pins a plugin for the lock (`None` if it cannot be pinned: a malformed input) and checks
/// its signature under the policy (`policy`: its path and value, if there is one).
pub fn check_plugin(
    root: &Path,
    bundle: &PluginBundle,
    manifest: &Manifest,
    policy: Option<(&Path, &SignaturePolicy)>,
    findings: &mut Vec<Finding>,
    malformed: &mut Vec<FileError>,
) -> Option<LockedPlugin> {
    match locked_plugin(root, bundle, manifest) {
        Ok(pinned) => {
            if let Some((path, policy)) = policy {
                findings.extend(signature_finding(
                    policy,
                    path,
                    manifest,
                    bundle,
                    &pinned.files,
                ));
            }
            Some(pinned)
        }
        Err(e) => {
            malformed.push(e);
            None
        }
    }
}

/// Pins every plugin `pipeline` uses, for `aether lock`: each plugin directory read once and
/// its files digested. Returns the lock's path (beside the pipeline) and the pinned plugins in
/// step order (a plugin used by several steps once), or every problem found at once.
pub fn pin_plugins(
    pipeline: &aether_manifest::PipelineFile,
) -> Result<(PathBuf, Vec<LockedPlugin>), Vec<FileError>> {
    let ws = pipeline.workspace.clone();
    let root = std::fs::canonicalize(&ws).unwrap_or_else(|_| ws.clone());
    let mut found: Vec<LockedPlugin> = Vec::new();
    let mut errors = Vec::new();
    for step in &pipeline.steps {
        let dir = match std::fs::canonicalize(&step.plugin) {
            Ok(dir) if dir.is_dir() => dir,
            _ => {
                errors.push(FileError::new(
                    &pipeline.file.path,
                    Some(step.plugin_loc),
                    format!(
                        "plugin directory `{}` of step `{}` does not exist",
                        step.plugin.display(),
                        step.id
                    ),
                ));
                continue;
            }
        };
        let dir_name = match lock_dir(&root, &dir) {
            Ok(name) => name,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if found.iter().any(|p| p.dir == dir_name) {
            continue;
        }
        match crate::workspace::read_plugin(&dir, &ws) {
            Ok((bundle, manifest)) => match locked_plugin(&root, &bundle, &manifest) {
                Ok(pinned) => found.push(pinned),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.extend(e),
        }
    }
    let path = lock_path(&ws);
    errors.extend(lock_inside_plugin(&path, &found));
    if errors.is_empty() {
        Ok((path, found))
    } else {
        Err(errors)
    }
}

/// The error when the lock at `path` would lie inside one of the plugins `found` (the pipeline
/// in a plugin directory): it would pin itself, and never match.
pub fn lock_inside_plugin(path: &Path, found: &[LockedPlugin]) -> Option<FileError> {
    let p = found
        .iter()
        .find(|p| p.dir.split('/').all(|part| part == ".." || part == "."))?;
    Some(
        FileError::new(
            path,
            None,
            format!(
                "the lock would be one of the files of plugin `{}` (`{}`), which it pins",
                p.name, p.dir
            ),
        )
        .with_hint("move the pipeline file out of the plugin directory"),
    )
}

/// Reads and parses the lock at `path`; `Ok(None)` when there is none. A lock that is there
/// but cannot be read (a dangling symlink, a directory) is an error, never "no lock":
/// `Path::exists` says `false` for those, and verification would quietly switch off.
pub fn read_lock(path: &Path) -> Result<Option<Lockfile>, Vec<FileError>> {
    if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok(None);
    }
    let file = SourceFile::read(path).map_err(|e| {
        vec![e.with_hint(
            "restore the lock (a symlink's target, the file's permissions), or regenerate it with `aether lock --update PIPELINE` after reviewing the plugins",
        )]
    })?;
    Lockfile::parse(&file.text).map(Some).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                file.error_at(e.offset, e.message).with_hint(
                    "regenerate it with `aether lock --update PIPELINE` after reviewing the plugins",
                )
            })
            .collect()
    })
}

/// Checks the plugins `found` (with their directories) against the pipeline's lock: every
/// difference becomes a finding; none is `Ok` too when there is no lock, unless `frozen`.
pub fn lock_findings(
    pipeline: &Path,
    workspace: &Path,
    frozen: bool,
    found: &[LockedPlugin],
    findings: &mut Vec<Finding>,
    malformed: &mut Vec<FileError>,
) {
    let path = lock_path(workspace);
    // `aether exec` has no pipeline file: the lock it found belongs to some pipeline of the
    // workspace, named by the placeholder.
    let update = if pipeline.is_file() {
        format!("aether lock --update {}", pipeline.display())
    } else {
        "aether lock --update PIPELINE".to_owned()
    };
    let lock = match read_lock(&path) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            if frozen {
                findings.push(finding(
                    LOCK_RULE,
                    Level::Error,
                    &path,
                    None,
                    format!(
                        "`--frozen` refuses to run without a lock, and there is none beside the pipeline\n\nhint: review the plugins, then run `aether lock {}`",
                        pipeline.display()
                    ),
                ));
            }
            return;
        }
        Err(errors) => {
            malformed.extend(errors);
            return;
        }
    };
    if let Some(e) = lock_inside_plugin(&path, found) {
        malformed.push(e);
        return;
    }
    for difference in lock.differences(found) {
        let file = match difference.path() {
            Some(p) => workspace.join(difference.dir()).join(p),
            None => path.clone(),
        };
        let plugin = found
            .iter()
            .find(|p| p.dir == difference.dir())
            .map(|p| p.name.clone());
        let (level, hint) = if difference.refuses_run() {
            (
                Level::Error,
                format!("review the change, then run `{update}`"),
            )
        } else {
            (Level::Warning, format!("run `{update}` to drop it"))
        };
        findings.push(finding(
            LOCK_RULE,
            level,
            &file,
            plugin,
            format!("{difference}\n\nhint: {hint}"),
        ));
    }
}

/// The signature finding for one plugin, if its signature (or its absence) matters under
/// `policy` (see [`aether_integrity::signature`] for the table).
pub fn signature_finding(
    policy: &SignaturePolicy,
    policy_path: &Path,
    manifest: &Manifest,
    bundle: &PluginBundle,
    list: &DigestList,
) -> Option<Finding> {
    if !policy.is_active() {
        return None;
    }
    let signature = bundle
        .files()
        .find(|(name, _)| *name == SIGNATURE_FILE)
        .map(|(_, bytes)| bytes);
    let check = policy.check(signature, &list.text());
    let level = match policy.judge(&check) {
        Verdict::Accept => return None,
        Verdict::Warn => Level::Warning,
        Verdict::Refuse => Level::Error,
    };
    let name = &manifest.name;
    let dir = bundle.dir().display();
    let sign_hint = format!(
        "hint: after reviewing it, sign it with `aether sign {dir} --key KEYFILE`, using a key listed in `[integrity] trusted_keys` of `{}`",
        policy_path.display()
    );
    let message = match &check {
        SignatureCheck::Unsigned => format!(
            "plugin `{name}` is not signed, and the policy requires a signature by a trusted key\n\n{sign_hint}"
        ),
        SignatureCheck::Untrusted { key_id } => format!(
            "plugin `{name}` is signed by key {}, which the policy does not trust{}\n\n{sign_hint}",
            key_id.as_deref().unwrap_or("(unknown)"),
            if level == Level::Error {
                ""
            } else {
                ": the signature counts for nothing"
            }
        ),
        SignatureCheck::Invalid { key_id } => format!(
            "the signature of plugin `{name}` by trusted key {key_id} does not match its files: a file changed after it was signed, or the signature is forged\n\n{sign_hint}"
        ),
        SignatureCheck::Malformed => format!(
            "`{SIGNATURE_FILE}` of plugin `{name}` is not a minisign signature\n\n{sign_hint}"
        ),
        SignatureCheck::Valid { .. } => return None,
    };
    Some(finding(
        SIGNATURE_RULE,
        level,
        &bundle.dir().join(SIGNATURE_FILE),
        Some(name.clone()),
        message,
    ))
}

fn finding(
    rule: &'static str,
    level: Level,
    file: &Path,
    plugin: Option<String>,
    message: String,
) -> Finding {
    Finding {
        rule,
        level,
        message,
        plugin,
        capability: None,
        target: None,
        file: Some(file.to_path_buf()),
        loc: None,
    }
}

/// Writes `bytes` to `path` atomically: into a new temporary file beside it, flushed to disk,
/// then renamed over `path` (a symlink there is replaced, not followed), so that a reader
/// sees the old file or the new one, never a half, and a failure leaves the old file as it
/// was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // Created anew (O_EXCL), never opened through whatever is at that predictable name: in a
    // plugin directory that came from elsewhere, a planted symlink there would redirect the
    // write (CWE-59). A leftover is removed first (a symlink itself, not its target).
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_refuses_to_run_the_file_the_digest_list_leaves_out() {
        assert_eq!(aether_host::bundle::SIGNATURE_FILE, SIGNATURE_FILE);
    }

    /// `aether sign` writes beside the files of a plugin that came from elsewhere: a symlink
    /// planted at the temporary file's (predictable) name must not redirect the write, e.g.
    /// into the signer's `~/.bashrc` (CWE-59).
    #[test]
    fn an_atomic_write_never_follows_a_planted_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = tmp.path().join("aether-plugin.minisig");
        let planted = tmp
            .path()
            .join(format!(".aether-plugin.minisig.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&target, b"signature").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "signature");
    }

    #[test]
    fn relative_paths_between_real_paths() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b)).unwrap();
        assert_eq!(r("/ws", "/ws/plugins/a"), "plugins/a");
        assert_eq!(r("/ws/sub", "/ws/plugins/a"), "../plugins/a");
        assert_eq!(r("/ws", "/ws"), ".");
        assert_eq!(r("/ws/a/b", "/other"), "../../../other");
        // Names that are not UTF-8 get no name (lossily, `\xff` and `\xfe` would be one).
        use std::os::unix::ffi::OsStrExt;
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/ws/plugins/\xff"));
        assert_eq!(relative(Path::new("/ws"), odd), None);
        // Above the workspace, only `..` is written: the name does not matter.
        assert_eq!(
            relative(odd, Path::new("/ws/plugins/a")).as_deref(),
            Some("../a")
        );
    }
}
