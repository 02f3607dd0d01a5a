//! What a manifest asks for ([`Permissions`]), already parsed.
//!
//! Asking grants nothing by itself: a [`crate::Grant`] is made only when every request fits the
//! operator's [`crate::Policy`].

use std::path::PathBuf;

use crate::domain::{DomainPattern, ListenAddr};
use crate::env::EnvPattern;
use crate::path::PathPattern;
use crate::secret::SecretRequest;

/// What a manifest asks for, already parsed. Empty vectors and `false` ask for nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// `filesystem.read`.
    pub fs_read: Vec<PathPattern>,
    /// `filesystem.write` (does not imply read).
    pub fs_write: Vec<PathPattern>,
    /// `network.domains`.
    pub domains: Vec<DomainPattern>,
    /// `network.listen`.
    pub listen: Vec<ListenAddr>,
    /// `env`.
    pub env: Vec<EnvPattern>,
    /// `process.commands`: absolute paths, already resolved through `PATH` by the caller.
    pub commands: Vec<PathBuf>,
    /// Whether the `process` section is present (it makes the plugin high-risk).
    pub process: bool,
    /// `process.network`: children may open network connections at all.
    pub process_network: bool,
    /// `secrets`: each secret and the hosts it may be sent to.
    pub secrets: Vec<SecretRequest>,
}
