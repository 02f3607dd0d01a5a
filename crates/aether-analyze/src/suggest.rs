//! `aether check --suggest` (issue 24): the narrowest `permissions` covering every capability
//! use the analysis sees, what it could not determine, and the difference with the grant the
//! plugin ships. Built from the same facts as the findings ([`crate::analyze`]), so that the
//! two never disagree.
//!
//! A literal argument becomes one entry, as the manifest writes it: a path as written (a bare
//! relative one gains `./`), a URL's host (and its port when explicit), a variable name, a
//! command, a listen address. Anything else is *undetermined*: a non-literal argument, a host
//! function used as a value, and everything that makes the code opaque (`eval`, computed access
//! to `aether`, a module that could not be read).

use std::path::Path;

use aether_policy::{Grant, parse_host, resolve_lexically};

use crate::scan::{Api, Arg, Class, Doubt, HostUse};

/// A place in the plugin: module (canonical name), 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The module's canonical name.
    pub module: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

/// One entry of the suggested permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The manifest field, e.g. `permissions.filesystem.read`.
    pub field: &'static str,
    /// The entry as the manifest would write it (unescaped: plugin-controlled text).
    pub value: String,
    /// Where it is used first.
    pub place: Place,
    /// Whether the shipped grant already allows it.
    pub granted: bool,
}

/// A use whose target the analysis could not determine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undetermined {
    /// The manifest field concerned.
    pub field: &'static str,
    /// The host function, as the SPEC writes it.
    pub api: String,
    /// Where.
    pub place: Place,
    /// Why, one lowercase phrase.
    pub why: &'static str,
}

/// A manifest entry that no determined use needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// The manifest field.
    pub field: &'static str,
    /// The entry as granted.
    pub value: String,
    /// Whether an undetermined use of the same field may still need it.
    pub maybe_used: bool,
}

/// What `--suggest` prints. Fields are in source order, deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestion {
    /// The narrowest entries covering every determined use.
    pub entries: Vec<Entry>,
    /// Uses whose target could not be determined: the suggestion may be too narrow there.
    pub undetermined: Vec<Undetermined>,
    /// Findings that make the code opaque (`dynamic-code`, `dynamic-access`, unreadable
    /// modules): rule and place. When any, capabilities may be used that nothing here shows.
    pub opaque: Vec<(&'static str, Place)>,
    /// Shipped entries no determined use needs.
    pub unused: Vec<Unused>,
}

/// One host use, placed.
pub(crate) struct SeenUse {
    pub(crate) place: Place,
    pub(crate) host_use: HostUse,
}

/// The manifest field a use needs.
fn field(api: Api) -> &'static str {
    api.class().field()
}

/// The entry a literal argument needs, as the manifest writes it.
fn entry_for(api: Api, arg: &Arg) -> Option<String> {
    match (api, arg) {
        (Api::FsRead(_) | Api::FsWrite(_), Arg::Text { value, .. }) => {
            let p = Path::new(value);
            Some(
                if p.is_absolute() || value.starts_with("./") || value.starts_with("../") {
                    value.clone()
                } else {
                    format!("./{value}")
                },
            )
        }
        (Api::Fetch, Arg::Text { value, .. }) => {
            let url = url::Url::parse(value).ok()?;
            let host = url.host_str()?;
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        }
        (Api::EnvGet | Api::ProcessRun, Arg::Text { value, .. }) => Some(value.clone()),
        (Api::Listen, Arg::Listen { hostname, port, .. }) => {
            let ip = aether_policy::parse_listen_host(hostname)?;
            Some(std::net::SocketAddr::new(ip, *port).to_string())
        }
        _ => None,
    }
}

/// Whether the shipped manifest entry `granted` (of `class`) covers the suggested `value`.
fn covers(grant: &Grant, workspace: &Path, class: Class, index: usize, value: &str) -> bool {
    let p = grant.permissions();
    match class {
        Class::FsRead | Class::FsWrite => {
            let list = if class == Class::FsRead {
                &p.fs_read
            } else {
                &p.fs_write
            };
            let Some(abs) = resolve_lexically(Path::new(value), workspace) else {
                return false;
            };
            list.get(index).is_some_and(|pat| pat.matches(&abs))
        }
        Class::Network => {
            let Ok(url) = url::Url::parse(&format!("https://{value}")) else {
                return false;
            };
            let Some(host) = url.host_str().and_then(|h| parse_host(h).ok()) else {
                return false;
            };
            // A suggested entry without a port is a default-port URL of either scheme.
            let default = 443;
            let port = url.port().unwrap_or(default);
            p.domains
                .get(index)
                .is_some_and(|d| d.matches(&host, port, default) || d.matches(&host, 80, 80))
        }
        Class::Env => p.env.get(index).is_some_and(|e| e.matches(value)),
        Class::Process => p
            .commands
            .get(index)
            .is_some_and(|c| c.as_os_str() == value || c.file_name().is_some_and(|n| n == value)),
        Class::Listen => p
            .listen
            .get(index)
            .is_some_and(|l| l.addr().to_string() == value),
    }
}

/// The shipped entries of `class`, displayed.
fn shipped(grant: &Grant, class: Class) -> Vec<String> {
    let p = grant.permissions();
    match class {
        Class::FsRead => p.fs_read.iter().map(|x| x.as_str().to_owned()).collect(),
        Class::FsWrite => p.fs_write.iter().map(|x| x.as_str().to_owned()).collect(),
        Class::Network => p.domains.iter().map(ToString::to_string).collect(),
        Class::Listen => p.listen.iter().map(|l| l.addr().to_string()).collect(),
        Class::Env => p.env.iter().map(ToString::to_string).collect(),
        Class::Process => p.commands.iter().map(|c| c.display().to_string()).collect(),
    }
}

/// Builds the suggestion from the uses seen and the opaque findings.
pub(crate) fn build(
    uses: &[SeenUse],
    opaque: Vec<(&'static str, Place)>,
    grant: &Grant,
    workspace: &Path,
) -> Suggestion {
    let mut s = Suggestion {
        opaque,
        ..Suggestion::default()
    };
    for u in uses {
        let api = u.host_use.api;
        let value = match (&u.host_use.arg, u.host_use.doubt) {
            (_, Some(Doubt::Value)) => None,
            (Some(arg), _) => entry_for(api, arg),
            (None, _) => None,
        };
        match value {
            Some(value) => {
                if !s
                    .entries
                    .iter()
                    .any(|e| e.field == field(api) && e.value == value)
                {
                    let class = api.class();
                    let granted = (0..shipped(grant, class).len())
                        .any(|i| covers(grant, workspace, class, i, &value));
                    s.entries.push(Entry {
                        field: field(api),
                        value,
                        place: u.place.clone(),
                        granted,
                    });
                }
            }
            None => s.undetermined.push(Undetermined {
                field: field(api),
                api: api.display(),
                place: u.place.clone(),
                why: match u.host_use.doubt {
                    Some(Doubt::Value) => "the function is passed, stored or exported as a value",
                    _ => "its argument is not a literal the analysis can read",
                },
            }),
        }
    }
    for class in Class::ALL {
        let maybe_used = s.undetermined.iter().any(|u| u.field == class.field());
        for (i, value) in shipped(grant, class).into_iter().enumerate() {
            let used = s
                .entries
                .iter()
                .any(|e| e.field == class.field() && covers(grant, workspace, class, i, &e.value));
            if !used {
                s.unused.push(Unused {
                    field: class.field(),
                    value,
                    maybe_used,
                });
            }
        }
    }
    s
}
