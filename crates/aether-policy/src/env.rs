//! Environment variable patterns for `env` (SPEC §2 "Environment"): an exact name, or a prefix
//! ending in `*` (`LOG_*`), or `*` alone for every variable (the empty prefix, so it is covered
//! only by another `*`, and covers every name and prefix). Names are case-sensitive, as on Linux.

use std::fmt;

use thiserror::Error;

/// An entry of `env`. Invariant: an exact name is a valid variable name
/// (`[A-Za-z_][A-Za-z0-9_]*`); a prefix is one too, or empty (`*`: every variable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnvPattern {
    /// Exactly this name.
    Exact(String),
    /// Every name starting with this prefix (the prefix itself included). The empty prefix is
    /// written `*` and matches every name.
    Prefix(String),
}

/// An env pattern that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "expected an environment variable name such as `API_TOKEN`, a prefix such as `LOG_*`, or `*` for every variable, found `{found}`"
)]
pub struct EnvPatternError {
    /// The text as written.
    pub found: String,
}

/// Whether `name` is a valid variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl EnvPattern {
    /// Parses `NAME`, `PREFIX*`, or `*` (every variable: the empty prefix).
    pub fn parse(text: &str) -> Result<EnvPattern, EnvPatternError> {
        if text == "*" {
            return Ok(EnvPattern::Prefix(String::new()));
        }
        let (name, prefix) = match text.strip_suffix('*') {
            Some(p) => (p, true),
            None => (text, false),
        };
        if !is_valid_name(name) {
            return Err(EnvPatternError {
                found: text.to_owned(),
            });
        }
        Ok(if prefix {
            EnvPattern::Prefix(name.to_owned())
        } else {
            EnvPattern::Exact(name.to_owned())
        })
    }

    /// Whether the variable `name` is granted.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            EnvPattern::Exact(n) => n == name,
            EnvPattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// Sound and complete inclusion: every name `other` matches, `self` matches. `*` covers
    /// everything and is covered only by `*`.
    pub fn covers(&self, other: &EnvPattern) -> bool {
        match (self, other) {
            (EnvPattern::Exact(a), EnvPattern::Exact(b)) => a == b,
            (EnvPattern::Exact(_), EnvPattern::Prefix(_)) => false,
            (EnvPattern::Prefix(p), EnvPattern::Exact(b) | EnvPattern::Prefix(b)) => {
                b.starts_with(p.as_str())
            }
        }
    }
}

/// `NAME`, `PREFIX*`, or `*`.
impl fmt::Display for EnvPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvPattern::Exact(n) => f.write_str(n),
            EnvPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> EnvPattern {
        EnvPattern::parse(s).unwrap()
    }

    #[test]
    fn parsing() {
        assert_eq!(pat("API_TOKEN"), EnvPattern::Exact("API_TOKEN".into()));
        assert_eq!(pat("LOG_*"), EnvPattern::Prefix("LOG_".into()));
        assert_eq!(pat("_x1"), EnvPattern::Exact("_x1".into()));
        assert_eq!(pat("L*"), EnvPattern::Prefix("L".into()));
        for bad in [
            "", "**", " *", "* ", "1ABC", "A-B", "A B", "A*B", "A**", "*A", "É", "A=B", "A\0",
        ] {
            assert!(EnvPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            EnvPattern::parse("A-B").unwrap_err(),
            EnvPatternError {
                found: "A-B".into()
            }
        );
    }

    // See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
    // (`--allow-env` with no list, and `--allow-env=AWS_*` prefixes).
    #[test]
    fn issue_15_star_is_every_variable() {
        assert_eq!(pat("*"), EnvPattern::Prefix(String::new()));
        assert_eq!(pat("*").to_string(), "*");
        // (pattern, name, matches)
        let m: &[(&str, &str, bool)] = &[
            ("*", "API_TOKEN", true),
            ("*", "_", true),
            ("*", "", true),
            ("*", "lower", true),
            ("*", "A=B", true),
        ];
        for &(p, name, want) in m {
            assert_eq!(pat(p).matches(name), want, "{p} {name}");
        }
        // (policy, manifest, covered): a manifest `*` is covered only by a policy `*`; a
        // policy `*` covers every name and prefix.
        let c: &[(&str, &str, bool)] = &[
            ("*", "*", true),
            ("*", "API_TOKEN", true),
            ("*", "LOG_*", true),
            ("*", "L*", true),
            ("*", "_", true),
            ("LOG_*", "*", false),
            ("L*", "*", false),
            ("A*", "*", false),
            ("_*", "*", false),
            ("API_TOKEN", "*", false),
        ];
        for &(p, q, want) in c {
            assert_eq!(pat(p).covers(&pat(q)), want, "{p} covers {q}");
        }
    }

    #[test]
    fn matching_and_coverage() {
        let m: &[(&str, &str, bool)] = &[
            ("API_TOKEN", "API_TOKEN", true),
            ("API_TOKEN", "api_token", false),
            ("API_TOKEN", "API_TOKEN2", false),
            ("LOG_*", "LOG_LEVEL", true),
            ("LOG_*", "LOG_", true),
            ("LOG_*", "LOG", false),
            ("LOG_*", "XLOG_A", false),
        ];
        for &(p, name, want) in m {
            assert_eq!(pat(p).matches(name), want, "{p} {name}");
        }
        let c: &[(&str, &str, bool)] = &[
            ("LOG_*", "LOG_LEVEL", true),
            ("LOG_*", "LOG_A*", true),
            ("LOG_*", "LOG_*", true),
            ("LOG_*", "LOG*", false),
            ("LOG_A*", "LOG_*", false),
            ("LOG_LEVEL", "LOG_*", false),
            ("LOG_LEVEL", "LOG_LEVEL", true),
        ];
        for &(p, q, want) in c {
            assert_eq!(pat(p).covers(&pat(q)), want, "{p} covers {q}");
        }
    }

    fn pattern() -> impl Strategy<Value = String> {
        "\\*|[AB_]{1,3}\\*?"
    }

    proptest! {
        #[test]
        fn covers_is_sound(p in pattern(), q in pattern(), suffix in "[AB_]{0,3}") {
            let (p, q) = (pat(&p), pat(&q));
            let name = match &q {
                EnvPattern::Exact(n) => n.clone(),
                EnvPattern::Prefix(pre) => format!("{pre}{suffix}"),
            };
            prop_assert!(q.matches(&name));
            if p.covers(&q) {
                prop_assert!(p.matches(&name));
            }
        }

        #[test]
        fn covers_is_reflexive_and_transitive(p in pattern(), q in pattern(), r in pattern()) {
            let (p, q, r) = (pat(&p), pat(&q), pat(&r));
            prop_assert!(p.covers(&p));
            if p.covers(&q) && q.covers(&r) {
                prop_assert!(p.covers(&r));
            }
        }
    }
}
