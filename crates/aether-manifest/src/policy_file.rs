//! `aether-policy.toml`: the operator's ceiling (SPEC §3).
//!
//! A section the policy leaves out allows nothing of its kind; left-out settings take the SPEC's
//! defaults. Unknown keys are errors, patterns are compiled once here, and every error names the
//! file, line and column.

use std::ops::Range;
use std::path::Path;

use aether_policy::{
    AppliesTo, DomainPattern, EnvPattern, IpNet, ListenAddr, PathPattern, Policy, Tier, Window,
};
use serde::Deserialize;
use toml::Spanned;

use crate::command::resolve_command;
use crate::source::{FileError, SourceFile, compile_each};

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    filesystem: Option<RawFilesystem>,
    network: Option<RawNetwork>,
    env: Option<RawEnv>,
    process: Option<RawProcess>,
    limits: Option<RawLimits>,
    #[serde(rename = "unsafe")]
    unsafe_: Option<RawUnsafe>,
    isolation: Option<RawIsolation>,
    #[serde(default)]
    windows: Vec<S<RawWindow>>,
    integrity: Option<RawIntegrity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegrity {
    #[serde(default)]
    trusted_keys: Vec<S<String>>,
    require_signatures: Option<S<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilesystem {
    #[serde(default)]
    read: Vec<S<String>>,
    #[serde(default)]
    write: Vec<S<String>>,
    virtualize_denied_writes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    domains: Vec<S<String>>,
    #[serde(default)]
    allow_private: Vec<S<String>>,
    max_response_bytes: Option<S<String>>,
    https_only: Option<bool>,
    #[serde(default)]
    listen: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    #[serde(default)]
    allow: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    #[serde(default)]
    commands: Vec<S<String>>,
    allow_network: Option<bool>,
    accept_weaker_confinement: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_memory: Option<S<String>>,
    max_timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnsafe {
    allowed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIsolation {
    default: Option<S<RawTier>>,
    high_risk: Option<S<RawTier>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawTier {
    Thread,
    Process,
}

impl From<RawTier> for Tier {
    fn from(t: RawTier) -> Tier {
        match t {
            RawTier::Thread => Tier::Thread,
            RawTier::Process => Tier::Process,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    applies_to: S<RawAppliesTo>,
    days: Vec<S<String>>,
    start: S<String>,
    end: S<String>,
    timezone: S<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAppliesTo {
    Class(String),
    Plugins(Vec<String>),
}

/// Reads and validates a policy file; relative patterns resolve against `workspace`. Returns
/// every error found, not just the first.
pub fn load_policy(path: &Path, workspace: &Path) -> Result<Policy, Vec<FileError>> {
    let file = SourceFile::read(path).map_err(|e| vec![e])?;
    parse_policy(&file, workspace)
}

/// Validates an already-read policy file.
pub fn parse_policy(file: &SourceFile, workspace: &Path) -> Result<Policy, Vec<FileError>> {
    let raw: RawPolicy = toml::from_str(&file.text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        vec![file.error_at(at, format!("invalid policy: {}", e.message().trim_end()))]
    })?;
    let mut errors = Vec::new();
    let mut policy = Policy::default();
    let err = |errors: &mut Vec<FileError>, span: Range<usize>, msg: String| {
        errors.push(file.error_at(span.start, msg));
    };

    let e = &mut errors;
    if let Some(fs) = raw.filesystem {
        let pattern = |t: &str| PathPattern::parse(t, workspace);
        policy.fs_read = values(compile_each(
            file,
            entries(&fs.read),
            "filesystem.read",
            pattern,
            e,
        ));
        policy.fs_write = values(compile_each(
            file,
            entries(&fs.write),
            "filesystem.write",
            pattern,
            e,
        ));
        if let Some(v) = fs.virtualize_denied_writes {
            policy.virtualize_denied_writes = v;
        }
    }
    if let Some(net) = raw.network {
        policy.domains = values(compile_each(
            file,
            entries(&net.domains),
            "network.domains",
            DomainPattern::parse,
            e,
        ));
        policy.allow_private = values(compile_each(
            file,
            entries(&net.allow_private),
            "network.allow_private",
            IpNet::parse,
            e,
        ));
        policy.listen = values(compile_each(
            file,
            entries(&net.listen),
            "network.listen",
            ListenAddr::parse,
            e,
        ));
        if let Some(s) = &net.max_response_bytes {
            match aether_policy::parse_size(s.get_ref()) {
                Ok(v) => policy.max_response_bytes = v,
                Err(err) => e.push(file.error_at(
                    s.span().start,
                    format!("invalid `network.max_response_bytes`: {err}"),
                )),
            }
        }
        if let Some(v) = net.https_only {
            policy.https_only = v;
        }
    }
    if let Some(env) = raw.env {
        policy.env = values(compile_each(
            file,
            entries(&env.allow),
            "env.allow",
            EnvPattern::parse,
            e,
        ));
    }
    if let Some(process) = raw.process {
        policy.commands = values(compile_each(
            file,
            entries(&process.commands),
            "process.commands",
            resolve_command,
            e,
        ));
        if let Some(v) = process.allow_network {
            policy.allow_network = v;
        }
        if let Some(v) = process.accept_weaker_confinement {
            policy.accept_weaker_confinement = v;
        }
    }
    if let Some(limits) = raw.limits {
        if let Some(s) = &limits.max_memory {
            match aether_policy::parse_size(s.get_ref()) {
                Ok(v) => policy.max_memory = v,
                Err(e) => err(
                    &mut errors,
                    s.span(),
                    format!("invalid `limits.max_memory`: {e}"),
                ),
            }
        }
        if let Some(s) = &limits.max_timeout {
            match aether_policy::parse_duration(s.get_ref()) {
                Ok(v) => policy.max_timeout = v,
                Err(e) => err(
                    &mut errors,
                    s.span(),
                    format!("invalid `limits.max_timeout`: {e}"),
                ),
            }
        }
    }
    if let Some(u) = raw.unsafe_ {
        policy.unsafe_allowed = u.allowed.unwrap_or(false);
    }
    if let Some(iso) = raw.isolation {
        if let Some(t) = iso.default {
            policy.isolation_default = (*t.get_ref()).into();
        }
        if let Some(t) = iso.high_risk {
            policy.isolation_high_risk = (*t.get_ref()).into();
        }
    }
    if let Some(integrity) = &raw.integrity {
        policy.integrity.trusted_keys = values(compile_each(
            file,
            entries(&integrity.trusted_keys),
            "integrity.trusted_keys",
            aether_integrity::PublicKey::parse,
            &mut errors,
        ));
        if let Some(require) = &integrity.require_signatures {
            policy.integrity.require_signatures = *require.get_ref();
            if *require.get_ref() && integrity.trusted_keys.is_empty() {
                err(
                    &mut errors,
                    require.span(),
                    "`integrity.require_signatures = true` with no `integrity.trusted_keys`: no plugin could ever run; list the public keys (`RW…`) whose signatures you trust".to_owned(),
                );
            }
        }
    }
    for w in &raw.windows {
        let w = w.get_ref();
        let applies_to = match w.applies_to.get_ref() {
            RawAppliesTo::Class(c) if c == "high-risk" => Some(AppliesTo::HighRisk),
            RawAppliesTo::Class(c) if c == "medium-risk" => Some(AppliesTo::MediumRisk),
            RawAppliesTo::Class(c) => {
                err(
                    &mut errors,
                    w.applies_to.span(),
                    format!(
                        "invalid `windows.applies_to` value `{c}`: expected `\"high-risk\"`, `\"medium-risk\"` or a list of plugin names"
                    ),
                );
                None
            }
            RawAppliesTo::Plugins(names) => Some(AppliesTo::Plugins(names.clone())),
        };
        let days: Vec<&str> = w.days.iter().map(|d| d.get_ref().as_str()).collect();
        let built = Window::parse_for(
            applies_to.clone().unwrap_or(AppliesTo::HighRisk),
            &days,
            w.start.get_ref(),
            w.end.get_ref(),
            w.timezone.get_ref(),
        );
        match (applies_to, built) {
            (Some(_), Ok(window)) => policy.windows.push(window),
            (_, Err(e)) => {
                let span = window_field_span(w, &e);
                err(&mut errors, span, format!("invalid window: {e}"));
            }
            (None, Ok(_)) => {}
        }
    }

    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// The values of [`compile_each`]'s result (a policy needs no locations after parsing).
fn values<T>(compiled: Vec<(T, crate::source::Loc)>) -> Vec<T> {
    compiled.into_iter().map(|(v, _)| v).collect()
}

/// The entries of a list field with their byte offsets, for [`compile_each`].
fn entries(list: &[S<String>]) -> impl Iterator<Item = (&str, usize)> {
    list.iter().map(|s| (s.get_ref().as_str(), s.span().start))
}

/// Points a window error at the field it is about.
fn window_field_span(w: &RawWindow, e: &aether_policy::WindowError) -> Range<usize> {
    use aether_policy::WindowError as E;
    match e {
        E::Day { found } => w
            .days
            .iter()
            .find(|d| d.get_ref() == found)
            .map_or(w.start.span(), |d| d.span()),
        E::Time { found } if w.end.get_ref() == found => w.end.span(),
        E::Time { .. } => w.start.span(),
        E::TimeZone { .. } => w.timezone.span(),
        E::NoDays | E::AppliesTo { .. } => w.applies_to.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn parse(text: &str) -> Result<Policy, Vec<FileError>> {
        let file = SourceFile {
            path: "aether-policy.toml".into(),
            text: text.to_owned(),
        };
        parse_policy(&file, Path::new("/ws"))
    }

    // See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
    #[test]
    fn issue_15_env_allow_star_parses() {
        let p = parse("[env]\nallow = [\"*\", \"LOG_*\"]\n").unwrap();
        assert_eq!(
            p.env,
            vec![
                EnvPattern::Prefix(String::new()),
                EnvPattern::Prefix("LOG_".into())
            ]
        );
        let errors = parse("[env]\nallow = [\"**\"]\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn integrity_section() {
        let p = parse(&format!(
            "[integrity]\ntrusted_keys = [\"{KEY}\"]\nrequire_signatures = true\n"
        ))
        .unwrap();
        assert!(p.integrity.require_signatures);
        assert_eq!(p.integrity.trusted_keys[0].id(), "E7620F1842B4E81F");
        // Left out: nothing trusted, nothing required.
        assert!(!parse("").unwrap().integrity.is_active());
    }

    #[test]
    fn integrity_errors_point_at_the_value() {
        let errors =
            parse("[integrity]\ntrusted_keys = [\"RWnope\"]\nrequire_signatures = false\n")
                .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].loc, Some(crate::Loc { line: 2, col: 17 }));
        assert!(
            errors[0].message.contains("integrity.trusted_keys"),
            "{errors:?}"
        );
        // Requiring signatures with no key to check them against would refuse everything.
        let errors = parse("[integrity]\nrequire_signatures = true\n").unwrap_err();
        assert_eq!(errors[0].loc, Some(crate::Loc { line: 2, col: 22 }));
        let errors = parse("[integrity]\nrequire_signature = true\n").unwrap_err();
        assert!(errors[0].message.contains("unknown field"), "{errors:?}");
    }
}
