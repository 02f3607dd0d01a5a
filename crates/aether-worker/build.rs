//! The build id of the zygote image ([`BUILD_ID`] in `src/image.rs`): a hash of the sources of
//! every crate that runs in the zygote and its workers (and of the lock file and the engine's
//! patch series), so that a zygote binary left from another build is recognised as such
//! instead of spoken to in a protocol it may not share.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The inputs, relative to this crate's directory.
const INPUTS: &[&str] = &[
    "Cargo.toml",
    "src",
    "../aether-protocol/Cargo.toml",
    "../aether-protocol/src",
    "../aether-sandbox/Cargo.toml",
    "../aether-sandbox/src",
    "../aether-jail/Cargo.toml",
    "../aether-jail/src",
    "../aether-policy/Cargo.toml",
    "../aether-policy/src",
    "../../Cargo.lock",
    "../../vendor/rquickjs-sys/patches",
];

fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            files(&entry.path(), out);
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
}

fn main() {
    let mut all = Vec::new();
    for input in INPUTS {
        println!("cargo::rerun-if-changed={input}");
        files(Path::new(input), &mut all);
    }
    all.sort();
    // SipHash with fixed keys: the same inputs give the same id in every build of one
    // toolchain, which is all the check needs (both binaries are built by one build).
    let mut hasher = std::hash::DefaultHasher::new();
    for file in &all {
        file.hash(&mut hasher);
        std::fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    println!(
        "cargo::rustc-env=AETHER_ZYGOTE_SOURCES={:016x}",
        hasher.finish()
    );
}
