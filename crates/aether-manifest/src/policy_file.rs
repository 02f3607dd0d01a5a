//! `aether-policy.toml`: the operator's ceiling (SPEC §3), parsed into a [`PolicyFile`]: the
//! [`Policy`] plugins are granted under, and the [`SignaturePolicy`] they are loaded under.
//!
//! A section the policy leaves out allows nothing of its kind; left-out settings take the SPEC's
//! defaults. Unknown keys are errors, patterns are compiled once here, and every error names the
//! file, line and column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use aether_integrity::SignaturePolicy;
use aether_policy::{
    AppliesTo, DomainPattern, EnvPattern, IpNet, ListenAddr, PathPattern, Policy, SecretDef,
    SecretSource, Tier, Window,
};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::command::resolve_command;
use crate::source::{FileError, SourceFile, compile_each};

type S<T> = Spanned<T>;

/// A policy file, validated: what plugins may be granted ([`Policy`], pure, in `aether-policy`)
/// and which signatures they must carry ([`SignaturePolicy`], the `[integrity]` section, in
/// `aether-integrity`). Two values because two crates check them: grants never look at
/// signatures, and signature checks never look at grants. [`PolicyFile::default`] is a file with
/// every section left out; a [`Policy`] built in code becomes one with [`From`] (no trusted keys,
/// signatures not required).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyFile {
    /// Every section but `[integrity]`.
    pub policy: Policy,
    /// `[integrity]`: trusted signing keys, and whether every plugin must be signed by one.
    pub integrity: SignaturePolicy,
}

impl From<Policy> for PolicyFile {
    fn from(policy: Policy) -> Self {
        PolicyFile {
            policy,
            integrity: SignaturePolicy::default(),
        }
    }
}

/// `aether-policy.toml` as written. The JSON Schema of `aether schema policy` is derived from
/// these definitions (doc comments become descriptions), so parser and schema agree.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "aether-policy.toml",
    description = "The operator's ceiling: the most any plugin may be granted. A section left out allows nothing of its kind."
)]
struct RawPolicy {
    /// The most any plugin may read and write.
    filesystem: Option<RawFilesystem>,
    /// The most any plugin may reach over the network, and how.
    network: Option<RawNetwork>,
    /// The environment variables plugins may read.
    env: Option<RawEnv>,
    /// The programs plugins may run.
    process: Option<RawProcess>,
    /// The highest limits a plugin may ask for.
    limits: Option<RawLimits>,
    /// Whether `--unsafe` may be used under this policy.
    #[serde(rename = "unsafe")]
    unsafe_: Option<RawUnsafe>,
    /// Which isolation tier plugins run in.
    isolation: Option<RawIsolation>,
    /// Execution windows: when the plugins they apply to may start.
    #[serde(default)]
    #[schemars(with = "Vec<RawWindow>")]
    windows: Vec<S<RawWindow>>,
    /// Signature requirements for plugins.
    integrity: Option<RawIntegrity>,
    /// The secrets plugins may use without seeing them, by name: each one's source and the
    /// most hosts it may be sent to. None defined: no secret exists.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSecret>")]
    secrets: BTreeMap<String, S<RawSecret>>,
}

/// `[secrets.NAME]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Secret")]
struct RawSecret {
    /// The environment variable of aether's own process holding the value (never readable by
    /// plugins). Exactly one of `from_env` and `from_file`.
    from_env: Option<String>,
    /// A regular file holding the value (absolute, or relative to the workspace; one trailing
    /// newline is dropped).
    from_file: Option<String>,
    /// The most hosts (domain patterns) any plugin may send the secret to.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    hosts: Vec<S<String>>,
    /// `true`: also substituted in the URL query and the request body (default `false`:
    /// request headers only).
    in_body: Option<bool>,
}

/// `[integrity]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Integrity")]
struct RawIntegrity {
    /// minisign public keys (`RW…`) whose signatures are trusted.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    trusted_keys: Vec<S<String>>,
    /// Refuse any plugin without a valid signature by a trusted key.
    #[schemars(with = "Option<bool>")]
    require_signatures: Option<S<bool>>,
}

/// `[filesystem]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Filesystem")]
struct RawFilesystem {
    /// Path patterns plugins may be granted to read.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    read: Vec<S<String>>,
    /// Path patterns plugins may be granted to write.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    write: Vec<S<String>>,
    /// `true`: ungranted writes go to a private in-memory layer (default `false`).
    virtualize_denied_writes: Option<bool>,
}

/// `[network]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
struct RawNetwork {
    /// Domain patterns plugins may be granted.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    domains: Vec<S<String>>,
    /// Non-public addresses and CIDRs that may be reached at all (default none).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    allow_private: Vec<S<String>>,
    /// The largest response body a plugin may receive (default `16MiB`).
    #[schemars(with = "Option<String>", pattern(crate::schema::SIZE))]
    max_response_bytes: Option<S<String>>,
    /// Refuse plain `http:` (default `false`).
    https_only: Option<bool>,
    /// `address:port` pairs plugins may be granted to listen on.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    listen: Vec<S<String>>,
}

/// `[env]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Env")]
struct RawEnv {
    /// Variable names, or prefixes ending in `*`; `*` alone allows every variable.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    allow: Vec<S<String>>,
}

/// `[process]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Process")]
struct RawProcess {
    /// Programs plugins may be granted, by absolute path or bare name.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    commands: Vec<S<String>>,
    /// Whether a plugin may let its children use the network (default `false`).
    allow_network: Option<bool>,
    /// Run child processes where the kernel cannot confine them fully (default `false`).
    accept_weaker_confinement: Option<bool>,
}

/// `[limits]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Limits")]
struct RawLimits {
    /// The highest memory ceiling a plugin may ask for (default `4GiB`).
    #[schemars(with = "Option<String>", pattern(crate::schema::SIZE))]
    max_memory: Option<S<String>>,
    /// The longest timeout a plugin may ask for (default `1h`).
    #[schemars(with = "Option<String>", pattern(crate::schema::DURATION))]
    max_timeout: Option<S<String>>,
}

/// `[unsafe]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Unsafe")]
struct RawUnsafe {
    /// May `--unsafe` be used under this policy (default `false`).
    allowed: Option<bool>,
}

/// `[isolation]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Isolation")]
struct RawIsolation {
    /// The tier of every plugin (default `thread`).
    #[schemars(with = "Option<RawTier>")]
    default: Option<S<RawTier>>,
    /// The tier of high-risk plugins (default `process`); the stronger tier wins.
    #[schemars(with = "Option<RawTier>")]
    high_risk: Option<S<RawTier>>,
}

/// An isolation tier: `thread` (an engine instance on its own thread) or `process` (a jailed
/// worker process).
#[derive(Deserialize, Clone, Copy, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Tier")]
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

/// `[[windows]]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Window")]
struct RawWindow {
    /// `"high-risk"`, `"medium-risk"` (high-risk plugins too), or a list of plugin names.
    #[schemars(with = "RawAppliesTo")]
    applies_to: S<RawAppliesTo>,
    /// Days of the week: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    #[schemars(with = "Vec<String>")]
    days: Vec<S<String>>,
    /// Start time `HH:MM`, inclusive.
    #[schemars(with = "String")]
    start: S<String>,
    /// End time `HH:MM`, exclusive; at or before `start`, the window runs past midnight.
    #[schemars(with = "String")]
    end: S<String>,
    /// IANA time zone name, such as `UTC` or `Europe/Paris`.
    #[schemars(with = "String")]
    timezone: S<String>,
}

/// `applies_to`: a risk class or plugin names.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "AppliesTo")]
enum RawAppliesTo {
    /// `"high-risk"` or `"medium-risk"`.
    Class(String),
    /// Plugin names.
    Plugins(Vec<String>),
}

/// The JSON Schema of `aether-policy.toml`, derived from the definitions the parser uses.
pub(crate) fn schema() -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<RawPolicy>()
}

/// Reads and validates a policy file; relative patterns resolve against `workspace`. Returns
/// every error found, not just the first.
pub fn load_policy(path: &Path, workspace: &Path) -> Result<PolicyFile, Vec<FileError>> {
    let file = SourceFile::read(path).map_err(|e| vec![e])?;
    parse_policy(&file, workspace)
}

/// Validates an already-read policy file.
pub fn parse_policy(file: &SourceFile, workspace: &Path) -> Result<PolicyFile, Vec<FileError>> {
    let raw: RawPolicy = toml::from_str(&file.text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        vec![file.error_at(at, format!("invalid policy: {}", e.message().trim_end()))]
    })?;
    let mut errors = Vec::new();
    let mut policy = Policy::default();
    let mut integrity = SignaturePolicy::default();
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
    if let Some(section) = &raw.integrity {
        integrity.trusted_keys = values(compile_each(
            file,
            entries(&section.trusted_keys),
            "integrity.trusted_keys",
            aether_integrity::PublicKey::parse,
            &mut errors,
        ));
        if let Some(require) = &section.require_signatures {
            integrity.require_signatures = *require.get_ref();
            if *require.get_ref() && section.trusted_keys.is_empty() {
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

    for (name, def) in &raw.secrets {
        let at = def.span();
        let def = def.get_ref();
        if !aether_policy::is_valid_secret_name(name) {
            err(
                &mut errors,
                at.clone(),
                format!(
                    "invalid secret name `{}`: expected letters, digits, `_`, `-` or `.`",
                    aether_policy::escape_untrusted(name)
                ),
            );
            continue;
        }
        let source = match (&def.from_env, &def.from_file) {
            (Some(var), None) if aether_policy::is_valid_name(var) => {
                Some(SecretSource::Env(var.clone()))
            }
            (Some(var), None) => {
                err(
                    &mut errors,
                    at.clone(),
                    format!(
                        "invalid `secrets.{name}.from_env` `{}`: expected a variable name",
                        aether_policy::escape_untrusted(var)
                    ),
                );
                None
            }
            (None, Some(path)) if !path.is_empty() && !path.contains('\0') => {
                Some(SecretSource::File(workspace.join(path)))
            }
            (None, Some(_)) => {
                err(
                    &mut errors,
                    at.clone(),
                    format!("invalid `secrets.{name}.from_file`: expected a path"),
                );
                None
            }
            _ => {
                err(
                    &mut errors,
                    at.clone(),
                    format!("`[secrets.{name}]` needs exactly one of `from_env` and `from_file`"),
                );
                None
            }
        };
        let hosts = values(compile_each(
            file,
            entries(&def.hosts),
            &format!("secrets.{name}.hosts"),
            DomainPattern::parse,
            &mut errors,
        ));
        if let Some(source) = source {
            policy.secrets.push(SecretDef {
                name: name.clone(),
                source,
                hosts,
                in_body: def.in_body.unwrap_or(false),
            });
        }
    }

    if errors.is_empty() {
        Ok(PolicyFile { policy, integrity })
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
        parse_file(text).map(|f| f.policy)
    }

    fn parse_file(text: &str) -> Result<PolicyFile, Vec<FileError>> {
        let file = SourceFile {
            path: "aether-policy.toml".into(),
            text: text.to_owned(),
        };
        parse_policy(&file, Path::new("/ws"))
    }

    #[test]
    fn issue_22_secrets_parse_with_one_source_each() {
        let p = parse(
            "[secrets.API_TOKEN]\nfrom_env = \"API_TOKEN\"\nhosts = [\"api.example.com\"]\n\
             [secrets.KEY]\nfrom_file = \"keys/k\"\nhosts = [\"*.example.org\"]\nin_body = true\n",
        )
        .unwrap();
        assert_eq!(p.secrets.len(), 2);
        assert_eq!(p.secrets[0].name, "API_TOKEN");
        assert_eq!(p.secrets[0].source, SecretSource::Env("API_TOKEN".into()));
        assert!(!p.secrets[0].in_body);
        assert_eq!(p.secrets[1].source, SecretSource::File("/ws/keys/k".into()));
        assert!(p.secrets[1].in_body);
        for bad in [
            "[secrets.A]\nhosts = []\n",
            "[secrets.A]\nfrom_env = \"A\"\nfrom_file = \"a\"\n",
            "[secrets.A]\nfrom_env = \"A=B\"\n",
            "[secrets.\"a b\"]\nfrom_env = \"A\"\n",
            "[secrets.A]\nfrom_env = \"A\"\nhosts = [\"http://x\"]\n",
            "[secrets.A]\nfrom_env = \"A\"\nvalue = \"inline\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
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
        let p = parse_file(&format!(
            "[integrity]\ntrusted_keys = [\"{KEY}\"]\nrequire_signatures = true\n"
        ))
        .unwrap();
        assert!(p.integrity.require_signatures);
        assert_eq!(p.integrity.trusted_keys[0].id(), "E7620F1842B4E81F");
        // Left out: nothing trusted, nothing required.
        assert!(!parse_file("").unwrap().integrity.is_active());
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
