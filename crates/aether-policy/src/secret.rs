//! Secrets a plugin can use but never see (SPEC §2 `secrets`, §3 `[secrets.NAME]`, §5
//! `aether.secret`): what a manifest asks for ([`SecretRequest`]), what the policy defines
//! ([`SecretDef`]), and the per-hop decision the gateway takes before it substitutes a value.
//!
//! Pure: the value of a secret is never held here (aether-host reads it); only names, sources
//! and host patterns are.

use std::path::PathBuf;

use crate::domain::DomainPattern;

/// Where the policy says a secret's value comes from. Read by aether only, once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `from_env = "VAR"`: aether's own environment variable `VAR`.
    Env(String),
    /// `from_file = "path"`: a regular file (absolute, or relative to the workspace), whose
    /// contents without one trailing newline are the value.
    File(PathBuf),
}

/// A `[secrets.NAME]` table of the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretDef {
    /// `NAME`.
    pub name: String,
    /// `from_env` or `from_file`.
    pub source: SecretSource,
    /// `hosts`: the most hosts any plugin may send the secret to.
    pub hosts: Vec<DomainPattern>,
    /// `in_body`: also substituted in the URL's query and the request body (default `false`:
    /// request headers only).
    pub in_body: bool,
}

/// A manifest's `permissions.secrets` entry: a secret and the hosts it may be sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRequest {
    /// The secret's name, as the policy defines it.
    pub name: String,
    /// The hosts (domain patterns) it may be sent to, each covered by the policy's `hosts`.
    pub hosts: Vec<DomainPattern>,
}

/// A secret one step may use: the manifest's hosts (inside the policy's) and the policy's
/// source and `in_body`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantedSecret {
    /// The secret's name.
    pub name: String,
    /// The hosts it may be sent to (the manifest's, already inside the policy's).
    pub hosts: Vec<DomainPattern>,
    /// Where its value comes from.
    pub source: SecretSource,
    /// Whether it may also be substituted in the URL query and the body.
    pub in_body: bool,
}

/// `[A-Za-z0-9_.-]+`, at most 128 bytes: the names a secret may have (they appear in events,
/// messages and placeholders, so they are kept plain).
pub fn is_valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_plain() {
        assert!(is_valid_secret_name("API_TOKEN"));
        assert!(is_valid_secret_name("a.b-c_1"));
        assert!(!is_valid_secret_name(""));
        assert!(!is_valid_secret_name("a b"));
        assert!(!is_valid_secret_name("a\u{202e}"));
        assert!(!is_valid_secret_name(&"a".repeat(129)));
    }
}
