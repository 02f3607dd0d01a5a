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
    use crate::capability::Capability;
    use crate::domain::{DomainPattern, parse_host};
    use crate::risk::RiskClass;
    use crate::{Grant, Permissions, Policy, RequestItem, RequestedLimits, excesses};

    fn d(p: &str) -> DomainPattern {
        DomainPattern::parse(p).unwrap()
    }

    fn policy(in_body: bool) -> Policy {
        Policy {
            secrets: vec![SecretDef {
                name: "TOKEN".into(),
                source: SecretSource::Env("TOKEN_VAR".into()),
                hosts: vec![d("*.example.com")],
                in_body,
            }],
            ..Policy::default()
        }
    }

    fn asks(name: &str, hosts: &[&str]) -> Permissions {
        Permissions {
            secrets: vec![SecretRequest {
                name: name.into(),
                hosts: hosts.iter().map(|h| d(h)).collect(),
            }],
            ..Permissions::default()
        }
    }

    #[test]
    fn issue_22_undefined_secrets_and_wider_hosts_are_excesses() {
        let none = RequestedLimits::default();
        assert!(excesses(&asks("TOKEN", &["api.example.com"]), &none, &policy(false)).is_empty());
        let ex = excesses(&asks("OTHER", &["api.example.com"]), &none, &policy(false));
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].item, RequestItem::Secret(0));
        let ex = excesses(
            &asks("TOKEN", &["example.com", "evil.test"]),
            &none,
            &policy(false),
        );
        assert_eq!(ex.len(), 2, "{ex:?}");
        // SPEC §3: with no policy, no secret exists.
        assert!(Grant::new(asks("TOKEN", &["a.example.com"]), None, &none).is_err());
    }

    #[test]
    fn issue_22_secrets_make_a_plugin_medium_risk_and_high_with_network() {
        assert_eq!(
            RiskClass::of(&asks("TOKEN", &["a.example.com"])),
            RiskClass::Medium
        );
        let mut p = asks("TOKEN", &["a.example.com"]);
        p.domains = vec![d("a.example.com")];
        assert_eq!(RiskClass::of(&p), RiskClass::High);
    }

    #[test]
    fn issue_22_a_secret_goes_only_to_its_hosts() {
        let none = RequestedLimits::default();
        let pol = policy(false);
        let g = Grant::new(asks("TOKEN", &["api.example.com"]), Some(&pol), &none).unwrap();
        let host = |h: &str| parse_host(h).unwrap();
        assert!(g.check_secret("TOKEN").is_ok());
        assert_eq!(
            g.check_secret("OTHER").unwrap_err().capability,
            Capability::Secrets
        );
        assert!(
            g.check_secret_host("TOKEN", &host("api.example.com"), 443, 443, false)
                .is_ok()
        );
        // Inside the policy's hosts, outside the manifest's: refused.
        let e = g
            .check_secret_host("TOKEN", &host("b.example.com"), 443, 443, false)
            .unwrap_err();
        assert_eq!(e.capability, Capability::Secrets);
        assert_eq!(e.target, "TOKEN -> b.example.com");
        // Another port is another host.
        assert!(
            g.check_secret_host("TOKEN", &host("api.example.com"), 8443, 443, false)
                .is_err()
        );
        // The query and body need `in_body`.
        assert!(
            g.check_secret_host("TOKEN", &host("api.example.com"), 443, 443, true)
                .is_err()
        );
        let pol = policy(true);
        let g = Grant::new(asks("TOKEN", &["api.example.com"]), Some(&pol), &none).unwrap();
        assert!(
            g.check_secret_host("TOKEN", &host("api.example.com"), 443, 443, true)
                .is_ok()
        );
        // The source variable is never readable, whatever `env` grants.
        assert!(g.is_secret_var("TOKEN_VAR"));
        assert!(g.check_env("TOKEN_VAR").is_err());
    }

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
