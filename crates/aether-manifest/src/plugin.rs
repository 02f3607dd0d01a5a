//! `aether-plugin.json`: who a plugin is, what it asks for, and its limits (SPEC §2).
//!
//! Parsing is strict: unknown fields are errors (a typo must not silently drop a restriction),
//! every pattern is compiled here once, and every error names the file, line and column.

use std::path::{Component, Path, PathBuf};

use std::collections::BTreeMap;

use aether_policy::{
    DomainPattern, EnvPattern, ListenAddr, PathPattern, Permissions, RequestItem, RequestedLimits,
    SecretRequest,
};
use json_spanned_value::spanned::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::command::resolve_command;
use crate::source::{FileError, Loc, SourceFile, compile_each};

/// The manifest's file name inside a plugin directory.
pub const MANIFEST_FILE: &str = "aether-plugin.json";

type S<T> = Spanned<T>;

/// `aether-plugin.json` as written. The JSON Schema of `aether schema manifest` is derived
/// from these definitions (doc comments become descriptions), so parser and schema agree.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "aether-plugin.json",
    description = "An aether plugin's manifest: who the plugin is, what it asks for, its limits."
)]
struct RawManifest {
    /// The URL or path of this JSON Schema, for editors; ignored by validation.
    #[serde(rename = "$schema")]
    #[allow(dead_code, reason = "accepted and ignored (SPEC §7)")]
    schema: Option<String>,
    /// The plugin's name: lowercase letters, digits and `-`, starting with a letter or digit.
    #[schemars(with = "String", pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    name: S<String>,
    /// The plugin's version (semver, such as `1.2.0`).
    #[schemars(with = "String")]
    version: S<String>,
    /// The entry module, relative to the plugin directory (default `index.js`).
    #[schemars(with = "Option<String>")]
    main: Option<S<String>>,
    /// What the plugin does, for people.
    description: Option<String>,
    /// What the plugin asks for. Every section is optional: absent means nothing granted.
    #[serde(default)]
    permissions: RawPermissions,
    /// Resource limits (defaults: memory 256 MiB, timeout 30 s, lowered to the policy's maxima).
    #[serde(default)]
    limits: RawLimits,
}

/// `permissions`.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Permissions")]
struct RawPermissions {
    /// Files the plugin may read and write.
    #[serde(default)]
    filesystem: RawFilesystem,
    /// Hosts the plugin may connect to, and addresses it may listen on.
    #[serde(default)]
    network: RawNetwork,
    /// Environment variables the plugin may read: exact names, or a prefix ending in `*`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    env: Vec<S<String>>,
    /// Programs the plugin may run as child processes.
    #[schemars(with = "Option<RawProcess>")]
    process: Option<S<RawProcess>>,
    /// Secrets the plugin may use without seeing them (`aether.secret(name)`), each with the
    /// hosts (domain patterns, as in `network.domains`) it may be sent to. The policy defines
    /// each secret's source.
    #[schemars(with = "Option<BTreeMap<String, Vec<String>>>")]
    secrets: Option<S<BTreeMap<String, Vec<S<String>>>>>,
}

/// `permissions.filesystem`.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Filesystem")]
struct RawFilesystem {
    /// Path patterns the plugin may read (absolute, or relative to the workspace; `*`, `**`,
    /// `?`, `[abc]`; `dir/` means `dir/**`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    read: Vec<S<String>>,
    /// Path patterns the plugin may write (does not imply read).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    write: Vec<S<String>>,
}

/// `permissions.network`.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
struct RawNetwork {
    /// Domain patterns the plugin may fetch from: `host`, `*.host`, an IP literal, each with an
    /// optional `:port` (default: the scheme's port).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    domains: Vec<S<String>>,
    /// `address:port` pairs the plugin may accept connections on (port 0 is not allowed).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    listen: Vec<S<String>>,
}

/// `permissions.process`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Process")]
struct RawProcess {
    /// Programs by absolute path, or bare names resolved through `PATH` when the plugin loads.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    commands: Vec<S<String>>,
    /// Whether child processes may open network connections at all (makes the plugin
    /// high-risk).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    network: Option<S<bool>>,
}

/// `limits`.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Limits")]
struct RawLimits {
    /// Memory ceiling: an integer with `B`, `KB`, `MB`, `GB`, `KiB`, `MiB`, `GiB`, or plain
    /// bytes (default 256 MiB).
    #[schemars(with = "Option<String>", pattern(crate::schema::SIZE))]
    memory: Option<S<String>>,
    /// Time limit: an integer with `ms`, `s`, `m` or `h` (default 30 s).
    #[schemars(with = "Option<String>", pattern(crate::schema::DURATION))]
    timeout: Option<S<String>>,
}

/// The JSON Schema of `aether-plugin.json`, derived from the definitions the parser uses.
pub(crate) fn schema() -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<RawManifest>()
}

/// A validated plugin manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The plugin's directory (absolute).
    pub dir: PathBuf,
    /// The manifest file, as read (the bytes that were validated).
    pub file: SourceFile,
    /// `name`: `[a-z0-9][a-z0-9-]*`.
    pub name: String,
    /// `version`: semver.
    pub version: semver::Version,
    /// `main`: the entry module, relative to [`Manifest::dir`], lexically inside it.
    pub main: String,
    /// `description`.
    pub description: Option<String>,
    /// What the plugin asks for, compiled (relative patterns resolved against the workspace).
    pub permissions: Permissions,
    /// `limits` as written (absent: the defaults apply).
    pub limits: RequestedLimits,
    locations: Locations,
}

/// Where each request of [`Manifest::permissions`] was written, to point excesses at it.
#[derive(Debug, Clone, Default)]
struct Locations {
    fs_read: Vec<Loc>,
    fs_write: Vec<Loc>,
    domains: Vec<Loc>,
    listen: Vec<Loc>,
    env: Vec<Loc>,
    commands: Vec<Loc>,
    process_network: Option<Loc>,
    secrets: Vec<Loc>,
    memory: Option<Loc>,
    timeout: Option<Loc>,
}

impl Manifest {
    /// Reads and validates `dir/aether-plugin.json`; relative patterns resolve against
    /// `workspace`. Returns every error found, not just the first.
    pub fn load(dir: &Path, workspace: &Path) -> Result<Manifest, Vec<FileError>> {
        let file = SourceFile::read(&dir.join(MANIFEST_FILE)).map_err(|e| vec![e])?;
        Manifest::parse(file, dir, workspace)
    }

    /// Validates an already-read manifest file of the plugin in `dir`.
    pub fn parse(
        file: SourceFile,
        dir: &Path,
        workspace: &Path,
    ) -> Result<Manifest, Vec<FileError>> {
        let raw: RawManifest = json_spanned_value::from_str(&file.text).map_err(|e| {
            let loc = (e.line() > 0).then(|| Loc {
                line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                col: u32::try_from(e.column()).unwrap_or(u32::MAX),
            });
            vec![FileError::new(&file.path, loc, json_message(&e))]
        })?;
        let mut errors = Vec::new();
        let mut locations = Locations::default();
        let at = |s: &S<String>| file.loc(s.start());

        let name = raw.name.get_ref().clone();
        if !valid_name(&name) {
            errors.push(file.error_at(
                raw.name.start(),
                format!("invalid plugin name `{name}`: expected lowercase letters, digits and `-`, starting with a letter or digit"),
            ));
        }
        let version = match semver::Version::parse(raw.version.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(file.error_at(
                    raw.version.start(),
                    format!(
                        "invalid version `{}`: {e}; expected semver such as `1.2.0`",
                        raw.version.get_ref()
                    ),
                ));
                None
            }
        };
        let main = match &raw.main {
            None => Some("index.js".to_owned()),
            Some(m) => match inside_relative(m.get_ref()) {
                Some(p) => Some(p),
                None => {
                    errors.push(file.error_at(
                        m.start(),
                        format!("`main` must be a relative path inside the plugin directory, found `{}`", m.get_ref()),
                    ));
                    None
                }
            },
        };

        let mut permissions = Permissions::default();
        let p = &raw.permissions;
        let (fs, net, e) = (&p.filesystem, &p.network, &mut errors);
        let pattern = |t: &str| PathPattern::parse(t, workspace);
        (permissions.fs_read, locations.fs_read) = compile_each(
            &file,
            entries(&fs.read),
            "permissions.filesystem.read",
            pattern,
            e,
        )
        .into_iter()
        .unzip();
        (permissions.fs_write, locations.fs_write) = compile_each(
            &file,
            entries(&fs.write),
            "permissions.filesystem.write",
            pattern,
            e,
        )
        .into_iter()
        .unzip();
        (permissions.domains, locations.domains) = compile_each(
            &file,
            entries(&net.domains),
            "permissions.network.domains",
            DomainPattern::parse,
            e,
        )
        .into_iter()
        .unzip();
        (permissions.listen, locations.listen) = compile_each(
            &file,
            entries(&net.listen),
            "permissions.network.listen",
            ListenAddr::parse,
            e,
        )
        .into_iter()
        .unzip();
        (permissions.env, locations.env) = compile_each(
            &file,
            entries(&p.env),
            "permissions.env",
            EnvPattern::parse,
            e,
        )
        .into_iter()
        .unzip();
        if let Some(process) = &p.process {
            permissions.process = true;
            (permissions.commands, locations.commands) = compile_each(
                &file,
                entries(&process.get_ref().commands),
                "permissions.process.commands",
                resolve_command,
                &mut errors,
            )
            .into_iter()
            .unzip();
            if let Some(n) = &process.get_ref().network {
                permissions.process_network = *n.get_ref();
                locations.process_network = Some(file.loc(n.start()));
            }
        }

        if let Some(secrets) = &p.secrets {
            let object = file.loc(secrets.start());
            for (name, hosts) in secrets.get_ref() {
                if !aether_policy::is_valid_secret_name(name) {
                    errors.push(file.error_at(
                        secrets.start(),
                        format!(
                            "invalid secret name `{}` in `permissions.secrets`: expected letters, digits, `_`, `-` or `.`",
                            aether_policy::escape_untrusted(name)
                        ),
                    ));
                    continue;
                }
                let compiled = compile_each(
                    &file,
                    entries(hosts),
                    "permissions.secrets",
                    DomainPattern::parse,
                    &mut errors,
                );
                let loc = compiled.first().map_or(object, |(_, l)| *l);
                permissions.secrets.push(SecretRequest {
                    name: name.clone(),
                    hosts: values(compiled),
                });
                locations.secrets.push(loc);
            }
        }

        let mut limits = RequestedLimits::default();
        if let Some(s) = &raw.limits.memory {
            match aether_policy::parse_size(s.get_ref()) {
                Ok(size) => {
                    limits.memory = Some(size);
                    locations.memory = Some(at(s));
                }
                Err(e) => {
                    errors.push(file.error_at(s.start(), format!("invalid `limits.memory`: {e}")))
                }
            }
        }
        if let Some(s) = &raw.limits.timeout {
            match aether_policy::parse_duration(s.get_ref()) {
                Ok(d) => {
                    limits.timeout = Some(d);
                    locations.timeout = Some(at(s));
                }
                Err(e) => {
                    errors.push(file.error_at(s.start(), format!("invalid `limits.timeout`: {e}")))
                }
            }
        }

        match (version, main) {
            (Some(version), Some(main)) if errors.is_empty() => Ok(Manifest {
                dir: dir.to_path_buf(),
                file,
                name,
                version,
                main,
                description: raw.description,
                permissions,
                limits,
                locations,
            }),
            _ => Err(errors),
        }
    }

    /// Where the request `item` was written in this manifest.
    pub fn location_of(&self, item: RequestItem) -> Option<Loc> {
        let l = &self.locations;
        match item {
            RequestItem::FsRead(i) => l.fs_read.get(i).copied(),
            RequestItem::FsWrite(i) => l.fs_write.get(i).copied(),
            RequestItem::Domain(i) => l.domains.get(i).copied(),
            RequestItem::Listen(i) => l.listen.get(i).copied(),
            RequestItem::Env(i) => l.env.get(i).copied(),
            RequestItem::Command(i) => l.commands.get(i).copied(),
            RequestItem::ProcessNetwork => l.process_network,
            RequestItem::Secret(i) => l.secrets.get(i).copied(),
            RequestItem::Memory => l.memory,
            RequestItem::Timeout => l.timeout,
        }
    }
}

/// The compiled values of [`compile_each`], without their locations.
fn values<T>(compiled: Vec<(T, Loc)>) -> Vec<T> {
    compiled.into_iter().map(|(v, _)| v).collect()
}

/// The entries of a list field with their byte offsets, for [`compile_each`].
fn entries(list: &[S<String>]) -> impl Iterator<Item = (&str, usize)> {
    list.iter().map(|s| (s.get_ref().as_str(), s.start()))
}

/// `[a-z0-9][a-z0-9-]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `path` as a normalized relative path that stays inside its base, lexically; `None` if it is
/// absolute, empty, or climbs out.
pub fn inside_relative(path: &str) -> Option<String> {
    if path.is_empty() || path.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// serde_json's message without its trailing ` at line L column C` (we print the location first).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    };
    format!("invalid manifest: {s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("log-reader"));
        assert!(valid_name("0x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("Log"));
        assert!(!valid_name(""));
        assert!(!valid_name("a_b"));
    }

    #[test]
    fn every_bad_entry_is_reported_at_its_place() {
        let text = "{\n  \"name\": \"Bad_Name\",\n  \"version\": \"1\",\n  \"permissions\": {\n    \"env\": [\"OK\", \"*\", \"A-*\"],\n    \"network\": { \"listen\": [\"127.0.0.1:0\"] }\n  },\n  \"limits\": { \"memory\": \"12 parsecs\" }\n}\n";
        let file = SourceFile {
            path: "m.json".into(),
            text: text.into(),
        };
        let errors = Manifest::parse(file, Path::new("/p"), Path::new("/ws")).unwrap_err();
        let mut at: Vec<(u32, u32)> = errors
            .iter()
            .map(|e| e.loc.map(|l| (l.line, l.col)).unwrap())
            .collect();
        at.sort();
        // Each at its value's opening quote: name, version, env `A-*` (not a name; `*` alone
        // is every variable), listen port 0, memory.
        assert_eq!(
            at,
            vec![(2, 11), (3, 14), (5, 24), (6, 29), (8, 25)],
            "{errors:#?}"
        );
    }

    // See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
    #[test]
    fn issue_15_env_star_parses() {
        let file = SourceFile {
            path: "m.json".into(),
            text: r#"{"name":"x","version":"1.0.0","permissions":{"env":["*"]}}"#.into(),
        };
        let m = Manifest::parse(file, Path::new("/p"), Path::new("/ws")).unwrap();
        assert_eq!(m.permissions.env, vec![EnvPattern::Prefix(String::new())]);
    }

    // See: https://json-schema.org/understanding-json-schema/reference/schema (editors read
    // `$schema` from the document to find its schema).
    #[test]
    fn issue_17_manifest_accepts_schema_key() {
        let file = SourceFile {
            path: "m.json".into(),
            text:
                r#"{"$schema":"../schemas/aether-plugin.schema.json","name":"x","version":"1.0.0"}"#
                    .into(),
        };
        let m = Manifest::parse(file, Path::new("/p"), Path::new("/ws")).unwrap();
        assert_eq!(m.name, "x");
        // Only that key: another `$` key is still a typo.
        let file = SourceFile {
            path: "m.json".into(),
            text: r#"{"$schemas":"x","name":"x","version":"1.0.0"}"#.into(),
        };
        assert!(Manifest::parse(file, Path::new("/p"), Path::new("/ws")).is_err());
    }

    #[test]
    fn main_stays_inside() {
        assert_eq!(inside_relative("index.js").as_deref(), Some("index.js"));
        assert_eq!(
            inside_relative("./src/../lib/a.js").as_deref(),
            Some("lib/a.js")
        );
        assert_eq!(inside_relative("../x.js"), None);
        assert_eq!(inside_relative("src/../../x.js"), None);
        assert_eq!(inside_relative("/etc/passwd"), None);
        assert_eq!(inside_relative("."), None);
        assert_eq!(inside_relative("a\0b"), None);
    }
}
