//! A refused use of a capability ([`Denial`]) and the one text that explains it.
//!
//! The text states what was attempted, the field that would grant it and what is granted now;
//! every target in it went through [`escape_untrusted`] (a plugin chooses it).

use std::fmt;

use thiserror::Error;

use crate::capability::Capability;
use crate::escape::escape_untrusted;

/// Why a check refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialReason {
    /// No granted pattern matches (for paths: the path as given or its real path).
    NotCovered,
    /// A path into aether's own processes (`/proc/self`, `/proc/<n>`, `/dev/fd`, ...): refused
    /// whatever the grant.
    Reserved,
    /// The path given is not absolute (the caller must resolve it against the workspace).
    NotAbsolute,
    /// A non-public address outside the policy's `allow_private`.
    PrivateAddress,
    /// Plain `http:` under `https_only`.
    InsecureScheme,
    /// A scheme other than `http` and `https`.
    UnsupportedScheme,
    /// The variable or file is the source of a secret of the policy: never readable, whatever
    /// the grant or `--unsafe` (a secret's value never reaches a plugin).
    SecretSource,
}

/// A refused use of a capability: what was attempted, the field that would grant it, and what is
/// granted now.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct Denial {
    /// The capability attempted.
    pub capability: Capability,
    /// The path, host, address, variable or command (plugin-controlled: escape before display;
    /// [`Denial`]'s `Display` does).
    pub target: String,
    /// The manifest or policy field that would grant it, e.g. `permissions.filesystem.read`.
    pub field: &'static str,
    /// What that field grants now.
    pub granted: Vec<String>,
    /// Why.
    pub reason: DenialReason,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} denied for `{}`: ",
            self.capability,
            escape_untrusted(&self.target)
        )?;
        match self.reason {
            DenialReason::Reserved => {
                return f
                    .write_str("paths into aether's own processes are refused whatever the grant");
            }
            DenialReason::NotAbsolute => return f.write_str("the path is not absolute"),
            DenialReason::PrivateAddress => {
                write!(f, "a non-public address not covered by `{}`", self.field)?
            }
            DenialReason::InsecureScheme => {
                return write!(f, "only https is allowed (`{}`)", self.field);
            }
            DenialReason::UnsupportedScheme => {
                return f.write_str("only http and https are supported");
            }
            DenialReason::SecretSource => {
                return f.write_str(
                    "it is the source of a secret: use `aether.secret` and `permissions.secrets`",
                );
            }
            DenialReason::NotCovered => write!(f, "not covered by `{}`", self.field)?,
        }
        if self.granted.is_empty() {
            f.write_str(" (granted: nothing)")
        } else {
            let list: Vec<String> = self
                .granted
                .iter()
                .map(|g| format!("`{}`", escape_untrusted(g)))
                .collect();
            write!(f, " (granted: {})", list.join(", "))
        }
    }
}
