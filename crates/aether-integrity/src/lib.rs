//! Integrity (SPEC §9): the bytes reviewed are the bytes run, and the audit trail shows any
//! record removed, edited or cut off.
//!
//! - [`digest`]: a plugin's digest list (one `<sha256>  <path>` line per file, sorted) and its
//!   whole-digest.
//! - [`lock`]: `aether.lock`, its parser (every error with its byte offset) and the comparison
//!   that lists every difference at once.
//! - [`signature`]: minisign keys and signatures over the digest list, and the policy that says
//!   which keys are trusted.
//! - [`chain`]: the `prev` hash chain of `events.jsonl` and its verification.
//! - [`seal`]: the last record of `events.jsonl`, sealing `summary.json` and
//!   `violations.jsonl` into the chain, and the verification of a whole trail.
//!
//! This crate computes and compares; it never reads or writes a file (the CLI does, and hands
//! it the bytes already in memory — the same bytes the engine is fed). The only ambient
//! resource it touches is the operating system's randomness, for key generation and signing.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod digest;
pub mod lock;
pub mod seal;
pub mod signature;

pub use digest::{DigestError, DigestList, SIGNATURE_FILE, sha256_hex};
pub use lock::{Difference, LockError, LockedPlugin, Lockfile};
pub use signature::{KeyError, KeyPair, PublicKey, SignatureCheck, SignaturePolicy, Verdict};
