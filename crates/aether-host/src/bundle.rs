//! A plugin's files, read once into memory: the bytes verified are the bytes run.
//!
//! Modules are served to the engine from this bundle only, never re-read from disk, so a file
//! swapped after loading is not executed. Resolution (SPEC §5, in `resolve.rs`) only ever names
//! files of the bundle whose real path is inside the plugin directory: a symlink on the way out
//! of it, to a file or a directory, refuses the specifier whether or not the file exists.
//!
//! The whole plugin directory is read, `node_modules` included, so that `aether.lock` and the
//! signature cover every byte that may run; the limits below are sized for real packages
//! (a plugin with `date-fns` holds some 5,000 files).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::resolve::{Json, ResolveMode};

/// The plugin's detached signature (SPEC §9), at the top of its directory: never a module.
///
/// It is the one file of a plugin that neither `aether.lock` nor the signature pins (a
/// signature cannot sign itself), so serving it to the engine would run bytes nobody verified:
/// a reviewed plugin importing it would run whatever is put there later, with the lock still
/// matching. Only the top-level file is meant: `sub/aether-plugin.minisig` is an ordinary,
/// pinned file. The same name as `aether_integrity::SIGNATURE_FILE` (aether-cli checks).
pub const SIGNATURE_FILE: &str = "aether-plugin.minisig";

/// Most bytes a bundle may hold (all files together): 256 MiB. A plugin is source code and
/// its installed packages (`node_modules` of eight popular packages together is 25 MB), not
/// data; the bundle is held in memory for the whole run.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Most entries (files, directories and symlinks together) a plugin directory may hold:
/// 100,000.
///
/// The byte cap ([`MAX_BUNDLE_BYTES`]) says nothing of a million empty files, each an entry in
/// memory, a line of the digest list and of `aether.lock`. `node_modules` is part of the plugin
/// (every file of it is verified and locked, SPEC §9), and real packages are many small files
/// (`date-fns` alone is over 5,000), so the cap is ten times what a large dependency tree
/// holds, and still keeps loading and the lock bounded.
pub const MAX_BUNDLE_ENTRIES: usize = 100_000;

/// Directory symlinks inside the plugin followed at most while resolving one module (Linux
/// follows 40 in a path; a plugin needs a few).
const MAX_SYMLINK_HOPS: usize = 8;

/// Why a bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or directory of the plugin could not be read.
    #[error("cannot read `{}`: {cause}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The cause.
        cause: String,
    },
    /// A file name is not UTF-8. Plugin files are named by text (in imports, the lock and the
    /// digest list); decoded lossily, two such names could become one, one file silently
    /// standing in for the other.
    #[error("the name of `{}` is not UTF-8: rename it", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The plugin directory holds more than [`MAX_BUNDLE_ENTRIES`] entries.
    #[error("plugin `{}` holds more than {max} files and directories", dir.display())]
    TooMany {
        /// The plugin directory.
        dir: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The plugin's files exceed [`MAX_BUNDLE_BYTES`].
    #[error("plugin `{}` holds more than {MAX_BUNDLE_BYTES} bytes of files", dir.display())]
    TooLarge {
        /// The plugin directory.
        dir: PathBuf,
    },
}

/// One entry of a bundle.
#[derive(Debug, Clone)]
enum Entry {
    /// A regular file (or a symlink to one inside the plugin), with its bytes.
    File(Arc<[u8]>),
    /// A symlink whose target is outside the plugin directory (or not a regular file).
    Outside(PathBuf),
}

/// A plugin directory's files, keyed by their `/`-separated path relative to the directory.
#[derive(Debug, Clone)]
pub struct PluginBundle {
    dir: PathBuf,
    entries: BTreeMap<String, Entry>,
    /// Parsed `package.json` files, by path: resolution reads them again and again.
    packages: Arc<Mutex<HashMap<String, Arc<Json>>>>,
}

/// Why a specifier does not resolve to a module of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Neither relative nor a package name (`/abs`, `https://…`, `data:…`).
    NotRelative,
    /// A `node:` specifier or a capability-carrying built-in's name (`fs`, `child_process`,
    /// …; SPEC §5), whatever `node_modules` holds.
    Builtin,
    /// A bare specifier naming a package that no `node_modules` of the plugin holds.
    NotInstalled(String),
    /// A package's `exports`/`imports` target that is not `./…` inside the package (`../`,
    /// `node_modules` or empty segments, an absolute path or URL).
    InvalidTarget(String),
    /// The package's `exports` (or the nearest `imports`) define nothing for this subpath.
    NotExported {
        /// The package name (empty for `#imports`).
        package: String,
        /// The subpath asked for (`.`, `./sub`, `#name`).
        subpath: String,
    },
    /// A `package.json` on the way is not valid JSON (path and cause).
    BadPackageJson(String),
    /// Relative, but it climbs out of the plugin directory.
    OutsidePlugin,
    /// A symlink (the file itself, or a directory above it) whose real path leaves the plugin
    /// directory, with the real path the specifier names, whether or not a file is there.
    SymlinkOutside(PathBuf),
    /// No such file in the plugin.
    NotFound(String),
    /// The plugin's signature file ([`SIGNATURE_FILE`]), which is not pinned and never runs.
    Signature,
}

impl PluginBundle {
    /// Reads every file below `dir` (which must be a real path). Directory symlinks are not
    /// descended; file symlinks are kept only if their real path stays inside `dir`.
    /// At most [`MAX_BUNDLE_BYTES`] bytes in at most [`MAX_BUNDLE_ENTRIES`] entries.
    ///
    /// `dir` is the plugin directory the operator's pipeline names, never a path a plugin
    /// gives: this is aether reading the plugin's own code, which no grant governs.
    pub fn load(dir: &Path) -> Result<PluginBundle, BundleError> {
        Self::load_limited(dir, MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES)
    }

    /// [`PluginBundle::load`] with other limits (tests).
    fn load_limited(
        dir: &Path,
        max_bytes: u64,
        max_entries: usize,
    ) -> Result<PluginBundle, BundleError> {
        let mut bundle = PluginBundle {
            dir: dir.to_path_buf(),
            entries: BTreeMap::new(),
            packages: Arc::default(),
        };
        let mut total = 0u64;
        let mut seen = 0usize;
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        let read_err = |path: &Path, e: std::io::Error| BundleError::Read {
            path: path.to_path_buf(),
            cause: e.to_string(),
        };
        while let Some((path, prefix)) = stack.pop() {
            let listing = std::fs::read_dir(&path).map_err(|e| read_err(&path, e))?;
            for item in listing {
                let item = item.map_err(|e| read_err(&path, e))?;
                seen += 1;
                if seen > max_entries {
                    return Err(BundleError::TooMany {
                        dir: dir.to_path_buf(),
                        max: max_entries,
                    });
                }
                let name = item
                    .file_name()
                    .into_string()
                    .map_err(|_| BundleError::NotUtf8 { path: item.path() })?;
                let rel = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let full = item.path();
                let kind = item.file_type().map_err(|e| read_err(&full, e))?;
                if kind.is_dir() {
                    stack.push((full, rel));
                } else if kind.is_file() || kind.is_symlink() {
                    // A dangling symlink is judged by where it points, found or not (SPEC §5).
                    let real = std::fs::canonicalize(&full).unwrap_or_else(|_| {
                        std::fs::read_link(&full)
                            .ok()
                            .and_then(|t| aether_policy::normalize_lexically(&t, &path))
                            .unwrap_or_else(|| full.clone())
                    });
                    let inside = real.starts_with(dir) && real.is_file();
                    if kind.is_symlink() && !inside {
                        bundle.entries.insert(rel, Entry::Outside(real));
                        continue;
                    }
                    if !real.is_file() {
                        continue;
                    }
                    let budget = max_bytes - total;
                    let Some(bytes) =
                        read_bounded(&real, budget).map_err(|e| read_err(&full, e))?
                    else {
                        return Err(BundleError::TooLarge {
                            dir: dir.to_path_buf(),
                        });
                    };
                    total += bytes.len() as u64;
                    bundle.entries.insert(rel, Entry::File(bytes.into()));
                }
            }
        }
        Ok(bundle)
    }

    /// The plugin directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files of the bundle (symlinks out of the plugin excluded), sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().filter_map(|(k, e)| match e {
            Entry::File(b) => Some((k.as_str(), &b[..])),
            Entry::Outside(_) => None,
        })
    }

    /// The bytes of the file at bundle path `name` exactly (no symlink following, no
    /// resolution), if the bundle holds one.
    pub fn file_bytes(&self, name: &str) -> Option<&[u8]> {
        match self.entries.get(name) {
            Some(Entry::File(b)) => Some(&b[..]),
            _ => None,
        }
    }

    /// Resolves `specifier` imported by `referrer` (a bundle path; `None` for the entry, whose
    /// specifier is the manifest's `main`) as an ES module import does, to a bundle path and
    /// its bytes ([`PluginBundle::resolve_module`] with [`ResolveMode::Import`]). In memory:
    /// the files were read once, by [`PluginBundle::load`]; no I/O here.
    pub fn resolve(
        &self,
        specifier: &str,
        referrer: Option<&str>,
    ) -> Result<(String, Arc<[u8]>), ResolveError> {
        self.resolve_module(specifier, referrer, ResolveMode::Import)
            .map(|r| (r.name, r.bytes))
    }

    /// The file at bundle path `key` (its canonical name and bytes), judged by its real path.
    pub(crate) fn lookup_key(&self, key: String) -> Result<(String, Arc<[u8]>), ResolveError> {
        let real = self.real_key(key, 0)?;
        match self.entries.get(&real) {
            Some(Entry::File(b)) => Ok((real, b.clone())),
            _ => Err(ResolveError::NotFound(real)),
        }
    }

    /// Whether bundle path `key` is a directory holding files (through symlinks inside the
    /// plugin); a symlink on the way out of the plugin is an error.
    pub(crate) fn is_dir(&self, key: &str) -> Result<bool, ResolveError> {
        let real = self.real_key(key.to_owned(), 0)?;
        let prefix = format!("{real}/");
        Ok(self
            .entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix)))
    }

    pub(crate) fn cached_package(&self, name: &str) -> Option<Arc<Json>> {
        self.packages.lock().ok()?.get(name).cloned()
    }

    pub(crate) fn cache_package(&self, name: String, parsed: Arc<Json>) {
        if let Ok(mut cache) = self.packages.lock() {
            cache.insert(name, parsed);
        }
    }

    /// Bundle path `key` with every symlink inside the plugin on the way followed: a symlink
    /// (the path itself or any directory above it) whose real path leaves the plugin makes it
    /// [`ResolveError::SymlinkOutside`], whether or not a file exists there (SPEC §5: "a
    /// symlink leading out ... whether or not the target exists"). Directory symlinks that stay
    /// inside are followed at most [`MAX_SYMLINK_HOPS`] times.
    fn real_key(&self, key: String, hops: usize) -> Result<String, ResolveError> {
        let follow = |real: &Path, key: &str| -> Result<String, ResolveError> {
            if !real.starts_with(&self.dir) {
                return Err(ResolveError::SymlinkOutside(real.to_path_buf()));
            }
            let inner = real
                .strip_prefix(&self.dir)
                .ok()
                .and_then(Path::to_str)
                .map(str::to_owned);
            match inner {
                Some(inner) if hops < MAX_SYMLINK_HOPS && inner != key && !inner.is_empty() => {
                    self.real_key(inner, hops + 1)
                }
                _ => Err(ResolveError::NotFound(key.to_owned())),
            }
        };
        match self.entries.get(&key) {
            Some(Entry::File(_)) => return Ok(key),
            Some(Entry::Outside(real)) => return follow(real, &key),
            None => {}
        }
        for (i, _) in key.match_indices('/') {
            let (dir, rest) = (&key[..i], &key[i + 1..]);
            let Some(Entry::Outside(real)) = self.entries.get(dir) else {
                continue;
            };
            return follow(&real.join(rest), &key);
        }
        Ok(key)
    }
}

/// Reads the regular file at `path`, or `None` if it holds more than `budget` bytes, with the
/// one bounded reader every file aether reads goes through ([`aether_manifest::read_regular`]).
///
/// Never more than `budget + 1` bytes are read, whatever size the file claims (a sparse file
/// can claim a terabyte), and the file is opened without following a symlink in its last
/// component and without blocking, then checked to be a regular file: a file replaced after
/// the directory was listed, by a symlink out of the plugin or by a FIFO, is an error rather
/// than bytes from elsewhere or a hang. (A directory above it swapped for a symlink in that
/// window is not caught: that needs the descent itself to hold directory handles.)
fn read_bounded(path: &Path, budget: u64) -> std::io::Result<Option<Vec<u8>>> {
    use aether_manifest::{ReadError, Symlinks};
    match aether_manifest::read_regular(path, budget, Symlinks::Refuse) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(ReadError::TooLarge { .. }) => Ok(None),
        Err(ReadError::Io(e)) => Err(e),
        Err(e @ ReadError::NotRegular { .. }) => Err(std::io::Error::other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> (tempfile::TempDir, PluginBundle) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let dir = root.join("p");
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("index.js"), "export default 1").unwrap();
        std::fs::write(dir.join("lib/a.js"), "export const a = 1").unwrap();
        std::fs::write(root.join("secret.js"), "export const s = 1").unwrap();
        std::os::unix::fs::symlink(root.join("secret.js"), dir.join("lib/out.js")).unwrap();
        std::os::unix::fs::symlink(dir.join("lib/a.js"), dir.join("in.js")).unwrap();
        let b = PluginBundle::load(&dir).unwrap();
        (tmp, b)
    }

    #[test]
    fn resolution_stays_inside_the_plugin() {
        let (_tmp, b) = bundle();
        assert_eq!(b.resolve("index.js", None).unwrap().0, "index.js");
        assert_eq!(
            b.resolve("./lib/a.js", Some("index.js")).unwrap().0,
            "lib/a.js"
        );
        assert_eq!(
            b.resolve("../index.js", Some("lib/a.js")).unwrap().0,
            "index.js"
        );
        // An in-tree symlink is fine (SPEC §5: the real path must be inside).
        assert_eq!(b.resolve("./in.js", Some("index.js")).unwrap().0, "in.js");
        // Bare names and URLs never resolve (Node's CVE-2023-32002 `Module._load` bypass of
        // the policy shows why: only relative specifiers reach files).
        for spec in [
            "/etc/passwd",
            "https://x.example/a.js",
            "data:text/javascript,1",
        ] {
            assert_eq!(
                b.resolve(spec, Some("index.js")),
                Err(ResolveError::NotRelative),
                "{spec}"
            );
        }
        for spec in [
            "fs",
            "node:fs",
            "node:events",
            "child_process",
            "fs/promises",
        ] {
            assert_eq!(
                b.resolve(spec, Some("index.js")),
                Err(ResolveError::Builtin),
                "{spec}"
            );
        }
        assert_eq!(
            b.resolve("events", Some("index.js")),
            Err(ResolveError::NotInstalled("events".into()))
        );
        assert_eq!(
            b.resolve("../../secret.js", Some("lib/a.js")),
            Err(ResolveError::OutsidePlugin)
        );
        assert_eq!(
            b.resolve("./lib/../../secret.js", Some("index.js")),
            Err(ResolveError::OutsidePlugin)
        );
        assert!(matches!(
            b.resolve("./lib/out.js", Some("index.js")),
            Err(ResolveError::SymlinkOutside(_))
        ));
        // No extension or index guessing.
        assert_eq!(
            b.resolve("./lib/a", Some("index.js")),
            Err(ResolveError::NotFound("lib/a".into()))
        );
        assert!(matches!(
            b.resolve("./lib", Some("index.js")),
            Err(ResolveError::NotFound(_))
        ));
    }

    // See: Node's test/fixtures/permission (symlink out of the allowed tree) and SPEC §5: a
    // module's real path decides, whether or not the file exists outside.
    #[test]
    fn issue_15_a_directory_symlink_out_of_the_plugin_is_outside_found_or_not() {
        let (tmp, b) = bundle();
        let root = b.dir().parent().unwrap().to_path_buf();
        std::fs::create_dir(root.join("other")).unwrap();
        std::fs::write(root.join("other/secret.js"), "export default 1").unwrap();
        std::os::unix::fs::symlink(root.join("other"), b.dir().join("link-to-other")).unwrap();
        std::os::unix::fs::symlink(b.dir().join("lib"), b.dir().join("link-to-lib")).unwrap();
        std::os::unix::fs::symlink("/nonexistent-dir", b.dir().join("dangling")).unwrap();
        let b = PluginBundle::load(b.dir()).unwrap();
        for spec in [
            "./link-to-other/secret.js",
            "./link-to-other/missing.js",
            "./dangling/x.js",
        ] {
            assert!(
                matches!(
                    b.resolve(spec, Some("index.js")),
                    Err(ResolveError::SymlinkOutside(_))
                ),
                "{spec}"
            );
        }
        // A directory symlink that stays inside leads to the file it names.
        assert_eq!(
            b.resolve("./link-to-lib/a.js", Some("index.js")).unwrap().0,
            "lib/a.js"
        );
        assert_eq!(
            b.resolve("./link-to-lib/none.js", Some("index.js")),
            Err(ResolveError::NotFound("lib/none.js".into()))
        );
        drop(tmp);
    }

    #[test]
    fn the_signature_file_is_never_a_module() {
        let (_tmp, b) = bundle();
        std::fs::write(b.dir().join(SIGNATURE_FILE), "export default 1").unwrap();
        std::fs::write(b.dir().join("lib").join(SIGNATURE_FILE), "export default 2").unwrap();
        let b = PluginBundle::load(b.dir()).unwrap();
        for (spec, referrer) in [
            ("./aether-plugin.minisig", Some("index.js")),
            ("../aether-plugin.minisig", Some("lib/a.js")),
            ("./lib/.././aether-plugin.minisig", Some("index.js")),
            ("aether-plugin.minisig", None),
        ] {
            assert_eq!(
                b.resolve(spec, referrer),
                Err(ResolveError::Signature),
                "{spec}"
            );
        }
        // Only the top-level one: below, it is an ordinary file.
        assert_eq!(
            b.resolve("./aether-plugin.minisig", Some("lib/a.js"))
                .unwrap()
                .0,
            "lib/aether-plugin.minisig"
        );
    }

    #[test]
    fn a_file_name_that_is_not_utf8_is_refused_not_merged() {
        // Lossily decoded, these two names were one key: one file silently stood in for the
        // other, in the bundle, the lock and the signature alike.
        use std::os::unix::ffi::OsStrExt;
        let (_tmp, b) = bundle();
        for name in [&b"a\xff.js"[..], b"a\xfe.js"] {
            let name = std::ffi::OsStr::from_bytes(name);
            std::fs::write(b.dir().join(name), "export default 1").unwrap();
        }
        assert!(matches!(
            PluginBundle::load(b.dir()),
            Err(BundleError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn a_huge_file_is_refused_before_it_is_read() {
        // A sparse file claims a terabyte: `std::fs::read` would try to hold it all before
        // the bundle's cap is checked (memory exhaustion by whoever can write the plugin).
        let (_tmp, b) = bundle();
        let huge = std::fs::File::create(b.dir().join("huge.js")).unwrap();
        huge.set_len(1 << 40).unwrap();
        assert!(matches!(
            PluginBundle::load(b.dir()),
            Err(BundleError::TooLarge { .. })
        ));
    }

    #[test]
    fn too_many_entries_are_refused_however_small() {
        // The byte cap says nothing of a million empty files (or empty directories), each an
        // entry in memory, a line of the digest list and of the lock.
        let (_tmp, b) = bundle();
        let entries = |n: usize| PluginBundle::load_limited(b.dir(), MAX_BUNDLE_BYTES, n);
        // `index.js`, `lib`, `lib/a.js`, `lib/out.js`, `in.js`.
        assert!(entries(5).is_ok());
        assert!(matches!(entries(4), Err(BundleError::TooMany { .. })));
        std::fs::create_dir(b.dir().join("empty")).unwrap();
        assert!(matches!(entries(5), Err(BundleError::TooMany { .. })));
    }

    #[test]
    fn bytes_are_served_from_memory_after_loading() {
        // Integrity (SPEC §9): a file swapped after loading is not what runs.
        let (_tmp, b) = bundle();
        std::fs::write(b.dir().join("index.js"), "globalThis.evil = 1").unwrap();
        assert_eq!(
            &*b.resolve("index.js", None).unwrap().1,
            b"export default 1"
        );
        assert!(b.files().all(|(p, _)| p != "lib/out.js"));
    }
}
