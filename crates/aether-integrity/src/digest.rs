//! Digest lists: what a lock pins and what a signature signs.
//!
//! A plugin's digest list is the text made of one line `<sha256 hex>  <path>\n` per file,
//! sorted by path byte by byte (the paths' UTF-8 bytes, as `LC_ALL=C sort` orders them; no
//! locale, no case folding, no Unicode normalization), paths `/`-separated and relative to the
//! plugin directory, with
//! [`SIGNATURE_FILE`] left out (a signature cannot sign itself). Its SHA-256 is the plugin's
//! whole-digest. It is the format of `sha256sum`, so `sha256sum -c` checks a plugin directory
//! against it, and `minisign -V` verifies a signature against it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The detached signature of a plugin, beside its manifest; never part of its digest list.
pub const SIGNATURE_FILE: &str = "aether-plugin.minisig";

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Why a digest list cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// A file name holds a control character: a newline would let one file's line pose as
    /// another's in the digest list, so such names are refused rather than escaped.
    #[error("file name `{}` holds a control character", .path.escape_debug())]
    ControlCharacter {
        /// The offending path.
        path: String,
    },
}

/// A plugin's files and their SHA-256, sorted by path, without [`SIGNATURE_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestList {
    /// Path → lowercase hex SHA-256. Invariant: no path holds a control character, none is
    /// [`SIGNATURE_FILE`].
    files: BTreeMap<String, String>,
}

impl DigestList {
    /// Hashes `files` (path relative to the plugin, bytes).
    pub fn of<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<DigestList, DigestError> {
        Self::from_digests(
            files
                .into_iter()
                .map(|(path, bytes)| (path.to_owned(), sha256_hex(bytes))),
        )
    }

    /// A list from digests already computed (a lock's file table).
    pub fn from_digests(
        digests: impl IntoIterator<Item = (String, String)>,
    ) -> Result<DigestList, DigestError> {
        let mut files = BTreeMap::new();
        for (path, digest) in digests {
            if path == SIGNATURE_FILE {
                continue;
            }
            if path.chars().any(char::is_control) {
                return Err(DigestError::ControlCharacter { path });
            }
            files.insert(path, digest);
        }
        Ok(DigestList { files })
    }

    /// Path → SHA-256 hex, sorted by path.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// The digest list text: one `<sha256 hex>  <path>\n` per file, sorted by path.
    pub fn text(&self) -> String {
        self.files
            .iter()
            .map(|(path, digest)| format!("{digest}  {path}\n"))
            .collect()
    }

    /// The whole-digest: the SHA-256 hex of [`DigestList::text`].
    pub fn whole_digest(&self) -> String {
        sha256_hex(self.text().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_vectors() {
        // FIPS 180-2 examples.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_list_is_sorted_sha256sum_text_without_the_signature() {
        let list = DigestList::of([
            ("lib/b.js", &b"b"[..]),
            ("aether-plugin.json", b"{}"),
            (SIGNATURE_FILE, b"sig"),
            ("index.js", b"abc"),
        ])
        .unwrap();
        assert_eq!(
            list.text(),
            format!(
                "{}  aether-plugin.json\n{}  index.js\n{}  lib/b.js\n",
                sha256_hex(b"{}"),
                sha256_hex(b"abc"),
                sha256_hex(b"b")
            )
        );
        assert_eq!(list.whole_digest(), sha256_hex(list.text().as_bytes()));
        assert_eq!(
            DigestList::from_digests(list.files().clone()).unwrap(),
            list
        );
    }

    #[test]
    fn only_the_top_level_signature_file_is_left_out() {
        // A directory named like the signature, or the name deeper down, is pinned like any
        // other file: excluding them would leave runnable code unpinned.
        let list = DigestList::of([
            (SIGNATURE_FILE, &b"sig"[..]),
            ("sub/aether-plugin.minisig", b"a"),
            ("aether-plugin.minisig/index.js", b"b"),
            ("./aether-plugin.minisig", b"c"),
        ])
        .unwrap();
        let paths: Vec<&str> = list.files().keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "./aether-plugin.minisig",
                "aether-plugin.minisig/index.js",
                "sub/aether-plugin.minisig"
            ]
        );
    }

    #[test]
    fn paths_sort_byte_by_byte() {
        // `LC_ALL=C sort` order: `.` (0x2e) before `/` (0x2f), uppercase before lowercase,
        // a precomposed `é` (0xc3 0xa9) after every ASCII name, a decomposed one where its
        // `e` is.
        let names = [
            "B.js",
            "a.js",
            "a/b.js",
            "a-b.js",
            "e\u{301}.js",
            "\u{e9}.js",
            "f.js",
        ];
        let list = DigestList::of(names.iter().map(|n| (*n, &b""[..]))).unwrap();
        let sorted: Vec<&str> = list.files().keys().map(String::as_str).collect();
        assert_eq!(
            sorted,
            [
                "B.js",
                "a-b.js",
                "a.js",
                "a/b.js",
                "e\u{301}.js",
                "f.js",
                "\u{e9}.js"
            ]
        );
    }

    #[test]
    fn a_newline_in_a_file_name_cannot_forge_a_line() {
        let forged = format!("a.js\n{}  b.js", sha256_hex(b"x"));
        assert_eq!(
            DigestList::of([(forged.as_str(), &b"x"[..])]),
            Err(DigestError::ControlCharacter { path: forged })
        );
    }
}
