//! ## What it does
//! Reports a host call whose literal first argument the grant refuses, checked exactly as the
//! runtime would check it:
//! - paths (`aether.fs.*`): made absolute against the workspace with `.`/`..` removed as POSIX
//!   does (`/..` is `/`), then
//!   `filesystem.read` or `filesystem.write` (the real path is taken as the path given: symlinks
//!   are for the runtime to see);
//! - URLs (`fetch`, `aether.fetch`): the scheme (`http`/`https`, `https_only`), the host and
//!   port against `network.domains`, an IP-literal host against the policy's private-address
//!   rules, and only then credentials in the URL (the grant first, as at run time);
//! - `aether.listen({hostname, port})` with literal IP and port: `network.listen`;
//! - variable names (`aether.env.get`): `env`;
//! - commands (`aether.process.run`): an absolute (or `./`) path must be a granted command, a
//!   bare name the file name of one.
//!
//! Only string literals and template literals without substitutions are checked; computed
//! arguments are left to the runtime.
//!
//! ## Why is this bad?
//! The call is certain to throw `PermissionDenied` and record a violation: the manifest is
//! missing a pattern, or the code reaches for something (`/etc/passwd`, an unexpected host) it
//! has no business with.
//!
//! ## Example
//! ```js
//! // "filesystem": { "read": ["/var/logs/temp/*"] }
//! aether.fs.readText("/etc/passwd");
//! await fetch("https://evil.example.com/upload");
//! ```
//!
//! ## References
//! - SPEC §2 (patterns), §5 (host API and denials)
//! - [CWE-863](https://cwe.mitre.org/data/definitions/863.html): Incorrect Authorization

use std::path::Path;

use aether_policy::{
    Capability, Denial, Grant, Host, escape_untrusted, parse_host, resolve_lexically,
};

use super::Site;
use crate::scan::{Api, Arg, HostUse};
use crate::{Finding, Level, RuleInfo};

/// `grant-mismatch`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "grant-mismatch",
    level: Level::Error,
    name: "GrantMismatch",
    summary: "a host call's literal argument is outside the plugin's grant",
    help: "add a matching pattern to the permission named in the message, or change the argument",
    cwe: Some(863),
};

/// The finding for `host_use`, if its literal argument is refused.
pub(crate) fn check(
    site: &Site<'_>,
    grant: &Grant,
    workspace: &Path,
    host_use: &HostUse,
) -> Option<Finding> {
    let (offset, refusal) = match host_use.arg.as_ref()? {
        Arg::Text { value, offset } => (*offset, refusal(grant, workspace, host_use.api, value)?),
        Arg::Listen {
            hostname,
            port,
            offset,
        } => (
            *offset,
            Refusal::Denial(grant.check_listen_host(hostname, *port).err()?),
        ),
    };
    let (message, capability, target) = match refusal {
        Refusal::Denial(d) => {
            let hint = if d.field.starts_with("permissions.") {
                format!(
                    "add a matching entry to `{}` in aether-plugin.json, or change the argument",
                    d.field
                )
            } else {
                format!(
                    "the policy's `{}` decides this; change the argument or ask for a policy change",
                    d.field
                )
            };
            (
                format!("`{}`: {d}\n\nhint: {hint}", host_use.api.display()),
                d.capability,
                d.target,
            )
        }
        Refusal::Credentials(url) => (
            format!(
                "`fetch`: network denied for `{}`: credentials in the URL are refused\n\nhint: send credentials in a header",
                escape_untrusted(&url)
            ),
            Capability::Network,
            url,
        ),
    };
    Some(site.finding(&INFO, offset, message, Some(capability), Some(target)))
}

enum Refusal {
    Denial(Denial),
    Credentials(String),
}

fn refusal(grant: &Grant, workspace: &Path, api: Api, value: &str) -> Option<Refusal> {
    match api {
        Api::FsRead(_) | Api::FsWrite(_) => {
            // Resolved as the runtime does (SPEC §5, the grant first): `..` at `/` stays at
            // `/`, and a NUL byte is checked like any other character.
            let abs = resolve_lexically(Path::new(value), workspace)?;
            let denied = if matches!(api, Api::FsRead(_)) {
                grant.check_read(&abs, &abs).err()
            } else {
                grant.check_write(&abs, &abs).err()
            };
            denied.map(Refusal::Denial)
        }
        Api::EnvGet => grant.check_env(value).err().map(Refusal::Denial),
        Api::ProcessRun => {
            let path = if value.contains('/') {
                resolve_lexically(Path::new(value), workspace)?
            } else {
                grant
                    .permissions()
                    .commands
                    .iter()
                    .find(|c| c.file_name().is_some_and(|n| n == value))
                    .cloned()
                    .unwrap_or_else(|| value.into())
            };
            grant.check_command(&path).err().map(Refusal::Denial)
        }
        Api::Fetch => fetch_refusal(grant, value),
        // The object form is checked as `Arg::Listen`; a string is a TypeError at run time.
        Api::Listen => None,
    }
}

fn fetch_refusal(grant: &Grant, value: &str) -> Option<Refusal> {
    // A malformed or relative URL is a TypeError at run time, not a grant matter.
    let url = url::Url::parse(value).ok()?;
    if let Err(d) = grant.check_scheme(url.scheme()) {
        return Some(Refusal::Denial(d));
    }
    let default_port = grant.check_scheme(url.scheme()).ok()?;
    let host = parse_host(url.host_str()?).ok()?;
    let port = url.port().unwrap_or(default_port);
    if let Err(d) = grant.check_host(&host, port, default_port) {
        return Some(Refusal::Denial(d));
    }
    if let Host::Ip(ip) = host
        && let Err(d) = grant.check_address(ip)
    {
        return Some(Refusal::Denial(d));
    }
    // Credentials only once the host the URL reaches is granted, as the gateway decides
    // (SPEC §5, the grant first).
    if !url.username().is_empty() || url.password().is_some() {
        return Some(Refusal::Credentials(value.to_owned()));
    }
    None
}
