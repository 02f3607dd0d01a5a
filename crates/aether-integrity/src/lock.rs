//! `aether.lock`: every file of every plugin a pipeline uses, pinned by SHA-256 (SPEC §9).
//!
//! The format is TOML, written with sorted keys so that a change to a plugin is a small,
//! reviewable diff of the lock:
//!
//! ```toml
//! version = 1
//!
//! [[plugins]]
//! dir = "plugins/log-reader"      # relative to the lock's directory, `/`-separated
//! name = "log-reader"
//! version = "1.2.0"
//! digest = "<whole-digest>"       # SHA-256 of the digest list of `files`
//!
//! [plugins.files]
//! "aether-plugin.json" = "<sha256>"
//! "index.js" = "<sha256>"
//! ```
//!
//! The manifest is one of the files, so widening a grant changes the lock. The signature file
//! is not (signing a locked plugin leaves the lock valid). Parsing refuses unknown keys, other
//! versions, malformed digests, duplicate plugins and a `digest` that does not match `files`
//! (a hand edit), each error with the byte offset it is about.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::digest::DigestList;

/// The lock's file name, beside the pipeline file.
pub const LOCK_FILE: &str = "aether.lock";

/// The format version this crate reads and writes.
pub const LOCK_VERSION: i64 = 1;

/// One plugin as pinned (or as found on disk, to compare with the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPlugin {
    /// The plugin directory relative to the lock's directory, `/`-separated.
    pub dir: String,
    /// The manifest's `name`.
    pub name: String,
    /// The manifest's `version`.
    pub version: String,
    /// Its files and their SHA-256.
    pub files: DigestList,
}

/// A parsed or computed `aether.lock`. Invariant: one entry per directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lockfile {
    plugins: BTreeMap<String, LockedPlugin>,
}

/// One problem in a lock file: what is wrong, and at which byte offset of its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LockError {
    /// Byte offset into the lock's text.
    pub offset: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// One way the plugins on disk differ from the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A plugin the pipeline uses is not in the lock.
    NotLocked {
        /// Its directory.
        dir: String,
        /// Its name.
        name: String,
    },
    /// The manifest's name or version is not the one locked (with identical files, the lock
    /// was edited by hand).
    IdentityChanged {
        /// The directory.
        dir: String,
        /// `name@version` locked.
        locked: String,
        /// `name@version` found.
        found: String,
    },
    /// A file's bytes changed.
    FileChanged {
        /// The plugin directory.
        dir: String,
        /// The plugin's name.
        name: String,
        /// The file, relative to the plugin.
        path: String,
        /// The SHA-256 locked.
        locked: String,
        /// The SHA-256 found.
        found: String,
    },
    /// A file that the lock does not have.
    FileAdded {
        /// The plugin directory.
        dir: String,
        /// The plugin's name.
        name: String,
        /// The file, relative to the plugin.
        path: String,
        /// Its SHA-256.
        found: String,
    },
    /// A locked file that is gone.
    FileRemoved {
        /// The plugin directory.
        dir: String,
        /// The plugin's name.
        name: String,
        /// The file, relative to the plugin.
        path: String,
        /// The SHA-256 locked.
        locked: String,
    },
    /// A locked plugin that no step uses any more (stale; never refuses a run).
    Unused {
        /// Its directory.
        dir: String,
        /// Its name.
        name: String,
    },
}

impl Difference {
    /// Whether this difference refuses a run: any change to code that would run. A stale
    /// entry does not (nothing unreviewed runs because of it).
    pub fn refuses_run(&self) -> bool {
        !matches!(self, Difference::Unused { .. })
    }

    /// The plugin directory concerned (relative to the lock).
    pub fn dir(&self) -> &str {
        match self {
            Difference::NotLocked { dir, .. }
            | Difference::IdentityChanged { dir, .. }
            | Difference::FileChanged { dir, .. }
            | Difference::FileAdded { dir, .. }
            | Difference::FileRemoved { dir, .. }
            | Difference::Unused { dir, .. } => dir,
        }
    }

    /// The file concerned, relative to the plugin, if the difference is about one file.
    pub fn path(&self) -> Option<&str> {
        match self {
            Difference::FileChanged { path, .. }
            | Difference::FileAdded { path, .. }
            | Difference::FileRemoved { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// The first 16 hex digits of a digest: enough to tell two apart in a message.
fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::NotLocked { dir, name } => {
                write!(f, "plugin `{name}` (`{dir}`) is not in the lock")
            }
            Difference::IdentityChanged { dir, locked, found } => write!(
                f,
                "plugin in `{dir}` is locked as `{locked}` but its manifest says `{found}`"
            ),
            Difference::FileChanged {
                dir,
                name,
                path,
                locked,
                found,
            } => write!(
                f,
                "plugin `{name}` (`{dir}`): `{path}` changed: locked sha256 {}…, found {}…",
                short(locked),
                short(found)
            ),
            Difference::FileAdded {
                dir,
                name,
                path,
                found,
            } => write!(
                f,
                "plugin `{name}` (`{dir}`): `{path}` was added (sha256 {}…); the lock does not have it",
                short(found)
            ),
            Difference::FileRemoved {
                dir,
                name,
                path,
                locked,
            } => write!(
                f,
                "plugin `{name}` (`{dir}`): `{path}` was removed (locked sha256 {}…)",
                short(locked)
            ),
            Difference::Unused { dir, name } => {
                write!(f, "plugin `{name}` (`{dir}`) is locked but no step uses it")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: Spanned<i64>,
    #[serde(default)]
    plugins: Vec<RawPlugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    dir: Spanned<String>,
    name: String,
    version: String,
    digest: Spanned<String>,
    #[serde(default)]
    files: BTreeMap<String, Spanned<String>>,
}

#[derive(Serialize)]
struct OutLock<'a> {
    version: i64,
    plugins: Vec<OutPlugin<'a>>,
}

#[derive(Serialize)]
struct OutPlugin<'a> {
    dir: &'a str,
    name: &'a str,
    version: &'a str,
    digest: String,
    files: &'a BTreeMap<String, String>,
}

/// The comment at the top of every lock written.
const HEADER: &str = "# aether.lock: every file of every plugin this pipeline uses, pinned by SHA-256.\n\
# Written by `aether lock`. After reviewing a change to a plugin, run `aether lock --update`.\n\n";

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Lockfile {
    /// A lock of `plugins` (a later entry for the same directory replaces an earlier one).
    pub fn new(plugins: impl IntoIterator<Item = LockedPlugin>) -> Lockfile {
        Lockfile {
            plugins: plugins.into_iter().map(|p| (p.dir.clone(), p)).collect(),
        }
    }

    /// The plugins, sorted by directory.
    pub fn plugins(&self) -> impl Iterator<Item = &LockedPlugin> {
        self.plugins.values()
    }

    /// Parses a lock's text; every error is reported, each with its byte offset.
    pub fn parse(text: &str) -> Result<Lockfile, Vec<LockError>> {
        let raw: RawLock = toml::from_str(text).map_err(|e| {
            vec![LockError {
                offset: e.span().map_or(0, |s| s.start),
                message: format!("invalid lock: {}", e.message().trim_end()),
            }]
        })?;
        let mut errors = Vec::new();
        if *raw.version.get_ref() != LOCK_VERSION {
            errors.push(LockError {
                offset: raw.version.span().start,
                message: format!(
                    "unsupported lock version {}: this aether reads version {LOCK_VERSION}",
                    raw.version.get_ref()
                ),
            });
        }
        let mut plugins = BTreeMap::new();
        for p in raw.plugins {
            let dir = p.dir.get_ref().clone();
            let at = p.dir.span().start;
            let mut bad_digest = false;
            for (path, digest) in &p.files {
                if !is_sha256_hex(digest.get_ref()) {
                    bad_digest = true;
                    errors.push(LockError {
                        offset: digest.span().start,
                        message: format!(
                            "invalid digest of `{path}`: expected 64 lowercase hex digits (SHA-256)"
                        ),
                    });
                }
            }
            let files = DigestList::from_digests(
                p.files
                    .iter()
                    .map(|(path, d)| (path.clone(), d.get_ref().clone())),
            );
            let files = match files {
                Ok(files) => files,
                Err(e) => {
                    errors.push(LockError {
                        offset: at,
                        message: format!("invalid `files` of plugin `{dir}`: {e}"),
                    });
                    continue;
                }
            };
            if !bad_digest && files.whole_digest() != *p.digest.get_ref() {
                errors.push(LockError {
                    offset: p.digest.span().start,
                    message: format!(
                        "the `digest` of plugin `{dir}` does not match its `files`: the lock was edited by hand"
                    ),
                });
            }
            let plugin = LockedPlugin {
                dir: dir.clone(),
                name: p.name,
                version: p.version,
                files,
            };
            if plugins.insert(dir.clone(), plugin).is_some() {
                errors.push(LockError {
                    offset: at,
                    message: format!("plugin directory `{dir}` is locked twice"),
                });
            }
        }
        if errors.is_empty() {
            Ok(Lockfile { plugins })
        } else {
            Err(errors)
        }
    }

    /// The lock's text: a header comment, then TOML with plugins sorted by directory and files
    /// by path. [`Lockfile::parse`] of it gives `self` back.
    pub fn render(&self) -> Result<String, toml::ser::Error> {
        let out = OutLock {
            version: LOCK_VERSION,
            plugins: self
                .plugins
                .values()
                .map(|p| OutPlugin {
                    dir: &p.dir,
                    name: &p.name,
                    version: &p.version,
                    digest: p.files.whole_digest(),
                    files: p.files.files(),
                })
                .collect(),
        };
        Ok(format!("{HEADER}{}", toml::to_string(&out)?))
    }

    /// Every difference between the lock and the plugins `found` on disk, in the order of
    /// `found` (file differences sorted by path), then the locked plugins no longer used.
    pub fn differences(&self, found: &[LockedPlugin]) -> Vec<Difference> {
        let mut out = Vec::new();
        for plugin in found {
            let (dir, name) = (plugin.dir.clone(), plugin.name.clone());
            let Some(locked) = self.plugins.get(&plugin.dir) else {
                out.push(Difference::NotLocked { dir, name });
                continue;
            };
            let (was, is) = (
                format!("{}@{}", locked.name, locked.version),
                format!("{}@{}", plugin.name, plugin.version),
            );
            if was != is {
                out.push(Difference::IdentityChanged {
                    dir: dir.clone(),
                    locked: was,
                    found: is,
                });
            }
            let (old, new) = (locked.files.files(), plugin.files.files());
            let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
            paths.sort();
            paths.dedup();
            for path in paths {
                let (dir, name, path) = (dir.clone(), name.clone(), path.clone());
                match (old.get(&path), new.get(&path)) {
                    (Some(l), Some(f)) if l != f => out.push(Difference::FileChanged {
                        dir,
                        name,
                        path,
                        locked: l.clone(),
                        found: f.clone(),
                    }),
                    (None, Some(f)) => out.push(Difference::FileAdded {
                        dir,
                        name,
                        path,
                        found: f.clone(),
                    }),
                    (Some(l), None) => out.push(Difference::FileRemoved {
                        dir,
                        name,
                        path,
                        locked: l.clone(),
                    }),
                    _ => {}
                }
            }
        }
        for (dir, locked) in &self.plugins {
            if !found.iter().any(|p| &p.dir == dir) {
                out.push(Difference::Unused {
                    dir: dir.clone(),
                    name: locked.name.clone(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(dir: &str, files: &[(&str, &str)]) -> LockedPlugin {
        LockedPlugin {
            dir: dir.into(),
            name: "echo".into(),
            version: "1.0.0".into(),
            files: DigestList::of(files.iter().map(|(p, b)| (*p, b.as_bytes()))).unwrap(),
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        let lock = Lockfile::new([
            plugin(
                "plugins/echo",
                &[("aether-plugin.json", "{}"), ("index.js", "x")],
            ),
            plugin("../shared/odd \"name\"", &[("a b/c.d.js", "y")]),
        ]);
        let text = lock.render().unwrap();
        assert!(text.starts_with("# aether.lock"), "{text}");
        assert!(text.contains("[[plugins]]"), "{text}");
        assert_eq!(Lockfile::parse(&text).unwrap(), lock);
        assert_eq!(
            Lockfile::parse(&Lockfile::default().render().unwrap()).unwrap(),
            Lockfile::default()
        );
    }

    #[test]
    fn every_difference_is_listed() {
        let lock = Lockfile::new([
            plugin(
                "p/a",
                &[("index.js", "1"), ("old.js", "o"), ("same.js", "s")],
            ),
            plugin("p/gone", &[("index.js", "g")]),
        ]);
        let found = [
            plugin(
                "p/a",
                &[("index.js", "2"), ("new.js", "n"), ("same.js", "s")],
            ),
            plugin("p/b", &[("index.js", "b")]),
        ];
        let d = lock.differences(&found);
        assert!(matches!(&d[0], Difference::FileChanged { path, .. } if path == "index.js"));
        assert!(matches!(&d[1], Difference::FileAdded { path, .. } if path == "new.js"));
        assert!(matches!(&d[2], Difference::FileRemoved { path, .. } if path == "old.js"));
        assert!(matches!(&d[3], Difference::NotLocked { dir, .. } if dir == "p/b"));
        assert!(matches!(&d[4], Difference::Unused { dir, .. } if dir == "p/gone"));
        assert_eq!(d.len(), 5);
        assert!(!d[4].refuses_run() && d[..4].iter().all(Difference::refuses_run));
        assert!(
            lock.differences(&lock.plugins().cloned().collect::<Vec<_>>())
                .is_empty()
        );
    }

    #[test]
    fn a_renamed_plugin_is_a_difference() {
        let lock = Lockfile::new([plugin("p", &[("index.js", "1")])]);
        let mut found = plugin("p", &[("index.js", "1")]);
        found.version = "2.0.0".into();
        assert!(matches!(
            &lock.differences(&[found])[..],
            [Difference::IdentityChanged { locked, found, .. }] if locked == "echo@1.0.0" && found == "echo@2.0.0"
        ));
    }

    #[test]
    fn malformed_locks_are_refused_with_their_offsets() {
        let good = Lockfile::new([plugin("p", &[("index.js", "1")])])
            .render()
            .unwrap();
        // Unknown key, wrong version, not TOML.
        for (text, needle) in [
            ("version = 1\nextra = 2\n", "extra"),
            ("version = 2\n", "2"),
            ("version = [\n", ""),
        ] {
            let errors = Lockfile::parse(text).unwrap_err();
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert!(
                text[errors[0].offset..].starts_with(needle),
                "{text}: {errors:?}"
            );
        }
        // A hand edit of one file's digest no longer matches the whole-digest.
        let one = sha256_of("1");
        let edited = good.replace(&one, &sha256_of("2"));
        let errors = Lockfile::parse(&edited).unwrap_err();
        assert!(errors[0].message.contains("edited by hand"), "{errors:?}");
        // A digest that is not SHA-256 hex.
        let errors = Lockfile::parse(&good.replace(&one, "abc")).unwrap_err();
        assert!(edited[errors[0].offset..].starts_with('"'), "{errors:?}");
        assert!(errors[0].message.contains("64 lowercase hex"), "{errors:?}");
        // The same directory twice.
        let twice = format!("{good}\n{}", &good[good.find("[[plugins]]").unwrap()..]);
        assert!(
            Lockfile::parse(&twice).unwrap_err()[0]
                .message
                .contains("locked twice")
        );
    }

    fn sha256_of(s: &str) -> String {
        crate::sha256_hex(s.as_bytes())
    }

    proptest::proptest! {
        /// A lock is a file anyone may have edited: parsing never panics, whatever the text.
        #[test]
        fn parsing_never_panics(cut in 0usize..2000, noise in "[ -~\n]{0,40}") {
            let good = Lockfile::new([
                plugin("p/a", &[("index.js", "1"), ("lib/x.js", "2")]),
                plugin("p/b", &[("aether-plugin.json", "3")]),
            ])
            .render()
            .unwrap();
            let at = (0..=cut.min(good.len())).rev().find(|&i| good.is_char_boundary(i)).unwrap_or(0);
            let _ = Lockfile::parse(&format!("{}{noise}{}", &good[..at], &good[at..]));
        }
    }
}
