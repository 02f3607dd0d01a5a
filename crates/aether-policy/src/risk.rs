//! The risk class of a plugin (SPEC §2 "Risk class"), shown by `aether check` and used by time
//! windows and the isolation tier.

use std::fmt;

use crate::permissions::Permissions;

/// How much a plugin's permissions put at stake. Ordered `Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskClass {
    /// None of `network`, `filesystem.write`, `env`, `secrets`, `process`.
    Low,
    /// At least one of `network`, `filesystem.write`, `env`, `secrets`, and not high.
    Medium,
    /// `process`, or `network` (domains or listen) together with `filesystem.write`, `env` or
    /// `secrets`.
    High,
}

impl RiskClass {
    /// The risk class of a set of permissions, per SPEC §2.
    pub fn of(perms: &Permissions) -> RiskClass {
        let network = !perms.domains.is_empty() || !perms.listen.is_empty();
        let write = !perms.fs_write.is_empty();
        let env = !perms.env.is_empty() || !perms.secrets.is_empty();
        let process = perms.process || !perms.commands.is_empty() || perms.process_network;
        if process || (network && (write || env)) {
            RiskClass::High
        } else if network || write || env {
            RiskClass::Medium
        } else {
            RiskClass::Low
        }
    }

    /// The manifest fields that raise `perms` above low risk, in SPEC §2's order
    /// (`process`, `network.domains`, `network.listen`, `filesystem.write`, `env`, `secrets`):
    /// what `aether check` names as the reason for a high-risk plugin's tier. Empty for a
    /// low-risk plugin.
    pub fn raised_by(perms: &Permissions) -> Vec<&'static str> {
        let process = perms.process || !perms.commands.is_empty() || perms.process_network;
        [
            ("process", process),
            ("network.domains", !perms.domains.is_empty()),
            ("network.listen", !perms.listen.is_empty()),
            ("filesystem.write", !perms.fs_write.is_empty()),
            ("env", !perms.env.is_empty()),
            ("secrets", !perms.secrets.is_empty()),
        ]
        .into_iter()
        .filter_map(|(field, present)| present.then_some(field))
        .collect()
    }

    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Low => "low",
            RiskClass::Medium => "medium",
            RiskClass::High => "high",
        }
    }
}

/// `low`, `medium` or `high`.
impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::domain::{DomainPattern, ListenAddr};
    use crate::env::EnvPattern;
    use crate::path::PathPattern;

    #[test]
    fn classes() {
        let read = || vec![PathPattern::parse("/r/**", Path::new("/")).unwrap()];
        let write = || vec![PathPattern::parse("/w/**", Path::new("/")).unwrap()];
        let dom = || vec![DomainPattern::parse("a.example").unwrap()];
        let listen = || vec![ListenAddr::parse("127.0.0.1:9000").unwrap()];
        let env = || vec![EnvPattern::parse("A").unwrap()];
        let base = Permissions::default;
        let cases: Vec<(Permissions, RiskClass)> = vec![
            (base(), RiskClass::Low),
            (
                Permissions {
                    fs_read: read(),
                    ..base()
                },
                RiskClass::Low,
            ),
            (
                Permissions {
                    fs_write: write(),
                    ..base()
                },
                RiskClass::Medium,
            ),
            (
                Permissions {
                    env: env(),
                    ..base()
                },
                RiskClass::Medium,
            ),
            (
                Permissions {
                    domains: dom(),
                    fs_read: read(),
                    ..base()
                },
                RiskClass::Medium,
            ),
            (
                Permissions {
                    listen: listen(),
                    ..base()
                },
                RiskClass::Medium,
            ),
            (
                Permissions {
                    fs_write: write(),
                    env: env(),
                    ..base()
                },
                RiskClass::Medium,
            ),
            (
                Permissions {
                    domains: dom(),
                    fs_write: write(),
                    ..base()
                },
                RiskClass::High,
            ),
            (
                Permissions {
                    listen: listen(),
                    env: env(),
                    ..base()
                },
                RiskClass::High,
            ),
            (
                Permissions {
                    process: true,
                    ..base()
                },
                RiskClass::High,
            ),
            (
                Permissions {
                    process: true,
                    commands: vec![PathBuf::from("/usr/bin/gzip")],
                    ..base()
                },
                RiskClass::High,
            ),
        ];
        for (i, (perms, want)) in cases.iter().enumerate() {
            assert_eq!(RiskClass::of(perms), *want, "case {i}");
        }
        assert!(RiskClass::Low < RiskClass::Medium && RiskClass::Medium < RiskClass::High);
        assert_eq!(RiskClass::High.to_string(), "high");
    }

    #[test]
    fn issue_23_raised_by_names_the_fields_behind_the_class() {
        let dom = || vec![DomainPattern::parse("a.example").unwrap()];
        let env = || vec![EnvPattern::parse("A").unwrap()];
        let base = Permissions::default;
        assert!(RiskClass::raised_by(&base()).is_empty());
        let net_env = Permissions {
            domains: dom(),
            env: env(),
            ..base()
        };
        assert_eq!(RiskClass::raised_by(&net_env), ["network.domains", "env"]);
        let process = Permissions {
            process: true,
            ..base()
        };
        assert_eq!(RiskClass::raised_by(&process), ["process"]);
    }
}
