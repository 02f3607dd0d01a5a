//! The optional disk cache of compiled modules (issue 19 item 3): bytecode aether's engine
//! wrote, kept across runs, authenticated with a per-user secret key.
//!
//! Bytecode is as powerful as native code: an entry anyone else could write must never be
//! loaded. So every entry carries an HMAC-SHA256, under a 32-byte key only this user can read
//! (`key`, created 0600 in a 0700 directory), over everything else in it: a format tag, the
//! engine build it was compiled by, the module's key (SHA-256 of the build, the module's name
//! and its source, computed by the sandbox) and the bytecode's length. [`DiskCache::get`]
//! returns bytes only for an entry whose tag, build, key, length and MAC all check out: a
//! forged entry (no key), an entry made under another user's key, a truncated entry, one of
//! another engine build, or another module's entry copied under this module's name is
//! ignored, and the module is compiled again (and its entry rewritten).
//!
//! What it does not protect against: someone who can read the key file (this user, root).
//! That person can already run code as this user. aether refuses to use a cache directory a
//! plugin of the run could write or read (see the CLI's `compile_cache.rs`).
//!
//! Entry layout: `AETHERBC1` · u32 LE build length · build · 32-byte module key · u64 LE
//! bytecode length · bytecode · 32-byte HMAC-SHA256 of everything before it.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use aether_protocol::BytecodeStore;

const TAG: &[u8] = b"AETHERBC1";
const MAC_LEN: usize = 32;
/// The largest entry read (512 MiB): larger files are ignored, never read into memory.
const MAX_ENTRY: u64 = 512 << 20;

/// The disk cache: a directory of authenticated entries and the key file beside them.
pub struct DiskCache {
    dir: PathBuf,
    key: [u8; 32],
    rejected: AtomicU64,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl DiskCache {
    /// Opens (creating it 0700 if missing) the cache in `dir`, with its key file `dir/key`
    /// (created 0600 with 32 random bytes from the OS if missing). Refuses a directory or key
    /// file that others may write or read, or that is not this user's.
    ///
    /// `dir` is the operator's (aether's own state), never a path a plugin gives; no grant
    /// governs it.
    pub fn open(dir: &Path) -> io::Result<DiskCache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        private(dir, true)?;
        let key_path = dir.join("key");
        let key = match fs::read(&key_path) {
            Ok(bytes) => {
                private(&key_path, false)?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("`{}` is not a 32-byte key", key_path.display()),
                    )
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::getrandom(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&key_path)?;
                file.write_all(&key)?;
                file.sync_all()?;
                key
            }
            Err(e) => return Err(e),
        };
        Ok(DiskCache {
            dir: dir.to_owned(),
            key,
            rejected: AtomicU64::new(0),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many entries were found and ignored (failed authentication, truncated, another
    /// build or another module's).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let mut name = String::with_capacity(64);
        for byte in key {
            name.push_str(&format!("{byte:02x}"));
        }
        self.dir.join(name)
    }

    /// HMAC-SHA256 under the cache's key (HMAC takes a key of any length: never `None`).
    fn mac(&self) -> Option<Hmac<Sha256>> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()
    }

    /// The bytecode in `entry` if it is authentic and for `build` and `key`.
    fn open_entry(&self, entry: &[u8], build: &str, key: &[u8; 32]) -> Option<Vec<u8>> {
        let body_len = entry.len().checked_sub(MAC_LEN)?;
        let (body, tag) = entry.split_at(body_len);
        let mut mac = self.mac()?;
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        let rest = body.strip_prefix(TAG)?;
        let (len, rest) = rest.split_at_checked(4)?;
        let len = usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (entry_build, rest) = rest.split_at_checked(len)?;
        if entry_build != build.as_bytes() {
            return None;
        }
        let (entry_key, rest) = rest.split_at_checked(32)?;
        if entry_key != key {
            return None;
        }
        let (len, bytecode) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        (bytecode.len() == len).then(|| bytecode.to_vec())
    }

    fn seal(&self, build: &str, key: &[u8; 32], bytecode: &[u8]) -> Option<Vec<u8>> {
        let build_len = u32::try_from(build.len()).ok()?;
        let mut entry = Vec::with_capacity(TAG.len() + build.len() + bytecode.len() + 80);
        entry.extend_from_slice(TAG);
        entry.extend_from_slice(&build_len.to_le_bytes());
        entry.extend_from_slice(build.as_bytes());
        entry.extend_from_slice(key);
        entry.extend_from_slice(&(bytecode.len() as u64).to_le_bytes());
        entry.extend_from_slice(bytecode);
        let mut mac = self.mac()?;
        mac.update(&entry);
        entry.extend_from_slice(&mac.finalize().into_bytes());
        Some(entry)
    }
}

impl BytecodeStore for DiskCache {
    fn get(&self, build: &str, key: &[u8; 32]) -> Option<Vec<u8>> {
        let path = self.path(key);
        let metadata = fs::symlink_metadata(&path).ok()?;
        if !metadata.is_file() || metadata.len() > MAX_ENTRY {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let entry = fs::read(&path).ok()?;
        let bytecode = self.open_entry(&entry, build, key);
        if bytecode.is_none() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        bytecode
    }

    fn put(&self, build: &str, key: &[u8; 32], bytecode: &[u8]) {
        let Some(entry) = self.seal(build, key, bytecode) else {
            return;
        };
        // A fresh file renamed into place: a reader sees a whole entry or none.
        let path = self.path(key);
        let Ok(mut file) = tempfile::NamedTempFile::new_in(&self.dir) else {
            return;
        };
        if file.write_all(&entry).is_ok() {
            let _ = file.persist(path);
        }
    }
}

/// Fails unless `path` is this user's and neither group nor others may write it (nor read it,
/// for the key file).
fn private(path: &Path, dir: bool) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::symlink_metadata(path)?;
    let mode = metadata.permissions().mode();
    let forbidden = if dir { 0o022 } else { 0o077 };
    let mine = metadata.uid() == rustix::process::geteuid().as_raw();
    let kind_ok = if dir {
        metadata.is_dir()
    } else {
        metadata.is_file()
    };
    if !mine || mode & forbidden != 0 || !kind_ok {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` must be a {} of this user that no one else may {}",
                path.display(),
                if dir { "directory" } else { "file" },
                if dir { "write" } else { "read or write" }
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: &str = "engine-a";

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn cache(dir: &Path) -> DiskCache {
        DiskCache::open(&dir.join("cache")).expect("cache")
    }

    // See: https://datatracker.ietf.org/doc/html/rfc2104 (HMAC); issue 19 item 3 ("a cache
    // entry anyone else could write must never be loaded").
    #[test]
    fn issue_19_only_authentic_entries_for_this_build_and_module_are_returned() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cache = cache(tmp.path());
        assert_eq!(
            fs::metadata(cache.dir().join("key"))
                .expect("key")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        cache.put(BUILD, &key(1), b"bytecode one");
        assert_eq!(
            cache.get(BUILD, &key(1)).as_deref(),
            Some(&b"bytecode one"[..])
        );
        // Another engine build never reads it.
        assert_eq!(cache.get("engine-b", &key(1)), None);

        // Another module's entry copied under this module's name.
        cache.put(BUILD, &key(2), b"bytecode two");
        fs::copy(cache.path(&key(2)), cache.path(&key(3))).expect("copy");
        assert_eq!(cache.get(BUILD, &key(3)), None);

        // A forged entry: the right layout, a MAC under a key the forger chose.
        let forger = DiskCache {
            dir: cache.dir().to_owned(),
            key: [7; 32],
            rejected: AtomicU64::new(0),
        };
        let forged = forger.seal(BUILD, &key(4), b"evil").expect("forged entry");
        fs::write(cache.path(&key(4)), forged).expect("write");
        assert_eq!(cache.get(BUILD, &key(4)), None);

        // An entry made under another user's key (another cache directory, same layout).
        let other = DiskCache::open(&tmp.path().join("other")).expect("other cache");
        other.put(BUILD, &key(5), b"theirs");
        fs::copy(other.path(&key(5)), cache.path(&key(5))).expect("copy");
        assert_eq!(cache.get(BUILD, &key(5)), None);

        // A truncated entry, and one with a flipped byte.
        let whole = fs::read(cache.path(&key(1))).expect("entry");
        for cut in [0, 1, whole.len() / 2, whole.len() - 1] {
            fs::write(cache.path(&key(1)), &whole[..cut]).expect("write");
            assert_eq!(cache.get(BUILD, &key(1)), None, "cut at {cut}");
        }
        let mut flipped = whole.clone();
        flipped[TAG.len() + 10] ^= 1;
        fs::write(cache.path(&key(1)), &flipped).expect("write");
        assert_eq!(cache.get(BUILD, &key(1)), None);
        assert_eq!(cache.rejected(), 9);

        // Rewritten, it is read again.
        cache.put(BUILD, &key(1), b"bytecode one");
        assert!(cache.get(BUILD, &key(1)).is_some());
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("cache");
        drop(DiskCache::open(&dir).expect("cache"));
        fs::set_permissions(dir.join("key"), fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(DiskCache::open(&dir).is_err());
        fs::set_permissions(dir.join("key"), fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(DiskCache::open(&dir).is_err());
    }
}
