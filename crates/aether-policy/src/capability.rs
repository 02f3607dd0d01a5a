//! The vocabulary every layer shares: what a plugin may use ([`Capability`]) and what aether
//! decided about one use of it ([`Decision`]). Names are the SPEC's (§5, §8), verbatim.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of authority a plugin can be granted, named as in SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Capability {
    /// `filesystem.read`: reading files, listing directories, `stat`, `exists`.
    #[serde(rename = "filesystem.read")]
    FilesystemRead,
    /// `filesystem.write`: creating, writing, appending, removing.
    #[serde(rename = "filesystem.write")]
    FilesystemWrite,
    /// `network`: outbound fetches and inbound listeners.
    #[serde(rename = "network")]
    Network,
    /// `env`: reading environment variables.
    #[serde(rename = "env")]
    Env,
    /// `process`: starting child processes.
    #[serde(rename = "process")]
    Process,
    /// `module`: importing a module (only relative specifiers inside the plugin).
    #[serde(rename = "module")]
    Module,
    /// `secrets`: using a secret (`aether.secret`) and sending it to a host.
    #[serde(rename = "secrets")]
    Secrets,
    /// `limit.memory`: the memory ceiling was reached (never granted, only recorded).
    #[serde(rename = "limit.memory")]
    LimitMemory,
    /// `limit.timeout`: the timeout was reached (never granted, only recorded).
    #[serde(rename = "limit.timeout")]
    LimitTimeout,
    /// `window`: a step reached its start outside every execution window that applies to its
    /// plugin (SPEC §3; never granted, only recorded).
    #[serde(rename = "window")]
    Window,
}

impl Capability {
    /// The name used in reports, events and `PermissionDenied.capability`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::FilesystemRead => "filesystem.read",
            Capability::FilesystemWrite => "filesystem.write",
            Capability::Network => "network",
            Capability::Env => "env",
            Capability::Process => "process",
            Capability::Module => "module",
            Capability::Secrets => "secrets",
            Capability::LimitMemory => "limit.memory",
            Capability::LimitTimeout => "limit.timeout",
            Capability::Window => "window",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What aether decided about one use of a capability (SPEC §8 `decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Inside the grant: performed.
    Allowed,
    /// Outside the grant: refused with `PermissionDenied`.
    Denied,
    /// An ungranted write sent to a private layer that is never committed.
    Virtualized,
    /// A resource limit was hit and the plugin was stopped.
    Killed,
    /// Outside the grant but performed, because the run is `--unsafe`.
    AllowedUnsafe,
}

impl Decision {
    /// The name used in reports and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::Virtualized => "virtualized",
            Decision::Killed => "killed",
            Decision::AllowedUnsafe => "allowed-unsafe",
        }
    }

    /// Whether this decision is a violation (everything but `allowed`).
    pub fn is_violation(self) -> bool {
        self != Decision::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
