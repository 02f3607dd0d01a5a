//! The grant's checks for one hop (steps 1 to 6 of the gateway's docs): the URL, scheme, host
//! and every resolved address, each through the grant and then through the run's [`Decide`]
//! (the broker's one decision path, which alone may override a denial under `--unsafe` and
//! records it); the secrets' substitution; and the request headers a plugin may not send.
//!
//! What it must never do: give the client an address that is not a [`CheckedAddr`], or a
//! secret's value outside the hosts its grant names.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use aether_policy::{
    Capability, CheckedAddr, CheckedHost, Denial, DenialReason, Grant, Host, UnsafeMode, parse_host,
};
use ureq::http;
use url::Url;

use super::resolver::Resolve;
use super::{FetchError, MAX_REQUEST_HEADER_BYTES, type_error};
use crate::secrets::{Placeholder, contains_bytes, replace_bytes};

/// Request headers the gateway frames itself or that act on the connection, not the request
/// (RFC 9110 §7.6.1). Letting a plugin set them would allow request smuggling or a second
/// request on the same connection.
pub(super) fn is_forbidden_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "host"
            | "connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "keep-alive"
            | "content-length"
    ) || lower.starts_with("proxy-")
}

/// Which message a plugin's headers go into: the messages differ, the rules do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A `fetch` request, framed by the gateway.
    Request,
    /// A response to a request a listener received (`respond`), framed by aether.
    Response,
}

/// The headers as `http` values, or a type error naming the first bad one. The same rules hold
/// for a request the gateway sends and a response a listener sends: at most
/// [`MAX_REQUEST_HEADER_BYTES`], no CR, LF or NUL anywhere (header injection, response
/// splitting), no framing or connection header, valid names and values.
pub(crate) fn check_headers(
    headers: &[(String, String)],
    framing: Framing,
) -> Result<http::HeaderMap, FetchError> {
    let (what, framer) = match framing {
        Framing::Request => ("request", "the gateway frames the request itself"),
        Framing::Response => ("response", "aether frames the response itself"),
    };
    let total: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_REQUEST_HEADER_BYTES {
        return Err(type_error(format!(
            "{what} headers are {total} bytes, more than the limit of {MAX_REQUEST_HEADER_BYTES}"
        )));
    }
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let shown = aether_policy::escape_untrusted(name);
        if [name.as_str(), value.as_str()]
            .iter()
            .any(|s| s.contains(['\r', '\n', '\0']))
        {
            return Err(type_error(format!(
                "invalid header `{shown}`: CR, LF and NUL are not allowed"
            )));
        }
        if is_forbidden_header(name) {
            return Err(type_error(format!(
                "header `{shown}` may not be set: {framer}"
            )));
        }
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| type_error(format!("invalid header name `{shown}`")))?;
        let v = http::HeaderValue::from_str(value)
            .map_err(|_| type_error(format!("invalid value for header `{shown}`")))?;
        map.append(n, v);
    }
    Ok(map)
}

/// How the result of one of a hop's checks (scheme, host, address) is decided. The gateway
/// never overrides a denial itself: in a step, the broker's one decision path
/// (`StepHost::decide_as`) does, recording the override as it records every other
/// capability's; outside a step ([`super::Gateway::fetch`]), [`Refuse`] refuses every denial.
pub(crate) trait Decide {
    /// `check`'s witness when the grant allowed it; else the witness `unchecked` makes, if the
    /// run overrides the denial (`--unsafe`: recorded `allowed-unsafe`); else
    /// [`FetchError::Denied`] for the hop's `url`, which the caller records once the requests
    /// sent before it are.
    fn decide<W>(
        &self,
        url: &str,
        check: Result<W, Denial>,
        unchecked: impl FnOnce(&UnsafeMode) -> W,
    ) -> Result<W, FetchError>;
}

/// The [`Decide`] of a fetch made outside a step: no override, nothing recorded.
pub(crate) struct Refuse;

impl Decide for Refuse {
    fn decide<W>(
        &self,
        url: &str,
        check: Result<W, Denial>,
        _unchecked: impl FnOnce(&UnsafeMode) -> W,
    ) -> Result<W, FetchError> {
        check.map_err(|denial| FetchError::Denied {
            url: url.to_owned(),
            denial,
        })
    }
}

/// The grant's checks for one fetch, and who decides their results.
pub(super) struct Checks<'a, D> {
    pub(super) grant: &'a Grant,
    /// The step's secret placeholders, substituted hop by hop.
    pub(super) secrets: &'a [Placeholder],
    /// Decides every check's result (see [`Decide`]).
    pub(super) decide: &'a D,
}

/// A URL that passed every check for one hop, with the address to connect to.
pub(super) struct Target {
    pub(super) url: Url,
    /// The only address the hop's connection goes to.
    pub(super) addr: CheckedAddr,
    /// The host and ports as checked, for the secrets' hosts.
    pub(super) host: Host,
    pub(super) port: u16,
    pub(super) default_port: u16,
}

/// What one hop sends once the step's placeholders are replaced (see [`substitute`]).
pub(super) struct Substituted {
    pub(super) url: Url,
    pub(super) headers: http::HeaderMap,
    pub(super) body: Option<Vec<u8>>,
    /// `NAME -> host[:port]` for each secret substituted.
    pub(super) sent: Vec<String>,
}

/// Step 6 of the module docs: every placeholder of the step found in the hop's request is
/// replaced by its value where the grant allows it, or the hop is refused. Placeholders can be
/// substituted only in header values (any secret) and in the URL query and body (secrets with
/// `in_body`); anywhere else (the URL's host, path or userinfo, a header name) nothing could
/// keep the value to its hosts, so the request is refused.
pub(super) fn substitute<D>(
    checks: &Checks<'_, D>,
    target: &Target,
    headers: &http::HeaderMap,
    body: Option<&Vec<u8>>,
) -> Result<Substituted, Denial> {
    let mut out = Substituted {
        url: target.url.clone(),
        headers: headers.clone(),
        body: body.cloned(),
        sent: Vec::new(),
    };
    let shown = if target.port == target.default_port {
        target.host.to_string()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    for p in checks.secrets {
        let mut url = target.url.clone();
        url.set_query(None);
        let misplaced =
            url.as_str().contains(&p.text) || headers.keys().any(|k| k.as_str().contains(&p.text));
        if misplaced {
            return Err(Denial {
                capability: Capability::Secrets,
                target: format!("{} -> {shown}", p.name),
                field: "permissions.secrets",
                granted: vec!["header values; the URL query and body with `in_body`".to_owned()],
                reason: DenialReason::NotCovered,
            });
        }
        let in_header = headers
            .values()
            .any(|v| contains_bytes(v.as_bytes(), p.text.as_bytes()));
        let in_query = target.url.query().is_some_and(|q| q.contains(&p.text));
        let in_body = body.is_some_and(|b| contains_bytes(b, p.text.as_bytes()));
        if !(in_header || in_query || in_body) {
            continue;
        }
        let grant = checks.grant;
        let (host, port, default_port) = (&target.host, target.port, target.default_port);
        grant.check_secret_host(&p.name, host, port, default_port, in_query || in_body)?;
        if in_header {
            let mut replaced = http::HeaderMap::new();
            for (name, value) in &out.headers {
                let bytes = replace_bytes(value.as_bytes(), p.text.as_bytes(), p.value.as_bytes());
                if let Ok(mut v) = http::HeaderValue::from_bytes(&bytes) {
                    v.set_sensitive(true);
                    replaced.append(name.clone(), v);
                }
            }
            out.headers = replaced;
        }
        if in_query {
            let query = out.url.query().map(|q| q.replace(&p.text, &p.value));
            out.url.set_query(query.as_deref());
        }
        if in_body {
            out.body = out
                .body
                .map(|b| replace_bytes(&b, p.text.as_bytes(), p.value.as_bytes()));
        }
        out.sent.push(format!("{} -> {shown}", p.name));
    }
    Ok(out)
}

/// Steps 1–5 of the module docs for one hop.
pub(super) fn check_url<D: Decide>(
    checks: &Checks<'_, D>,
    url: &str,
    resolver: &dyn Resolve,
    deadline: Instant,
) -> Result<Target, FetchError> {
    let mut url = Url::parse(url).map_err(|e| {
        type_error(format!(
            "invalid URL `{}`: {e}",
            aether_policy::escape_untrusted(url)
        ))
    })?;
    url.set_fragment(None);
    let shown = url.to_string();
    let grant = checks.grant;
    let known_port = match url.scheme() {
        "https" => 443,
        _ => 80,
    };
    let default_port = checks
        .decide
        .decide(&shown, grant.check_scheme(url.scheme()), |_| known_port)?;
    let host_text = url
        .host_str()
        .ok_or_else(|| type_error(format!("URL `{url}` has no host")))?;
    let host = parse_host(host_text).map_err(|e| type_error(e.to_string()))?;
    let port = url.port_or_known_default().unwrap_or(default_port);
    let checked = grant.check_host(&host, port, default_port);
    let host = checks
        .decide
        .decide(&shown, checked, |mode| {
            CheckedHost::unchecked(&host, port, mode)
        })?
        .host()
        .clone();
    let addr = match &host {
        Host::Ip(ip) => {
            let checked = grant.check_address(*ip);
            checks
                .decide
                .decide(&shown, checked, |mode| CheckedAddr::unchecked(*ip, mode))?
        }
        Host::Domain(name) => {
            let (first, checked) = first_allowed(grant, resolver, name, port, deadline)?;
            checks
                .decide
                .decide(&shown, checked, |mode| CheckedAddr::unchecked(first, mode))?
        }
    };
    // SPEC §5, the grant first: the host that would be connected to decides. Userinfo is
    // refused only here, once that host passed: `http://granted.example@127.0.0.1/` goes to
    // 127.0.0.1, so it is that address's denial when it is not granted (WHATWG URL: the part
    // before `@` is userinfo, never the host).
    if !url.username().is_empty() || url.password().is_some() {
        return Err(type_error(
            "URLs with credentials (`user:pass@`) are not allowed",
        ));
    }
    Ok(Target {
        url,
        addr,
        host,
        port,
        default_port,
    })
}

/// Resolves `name` once: the first address, and the first one the grant allows (or the first
/// address's denial when none is allowed).
pub(super) fn first_allowed(
    grant: &Grant,
    resolver: &dyn Resolve,
    name: &str,
    port: u16,
    deadline: Instant,
) -> Result<(IpAddr, Result<CheckedAddr, Denial>), FetchError> {
    let addrs = resolver.resolve(name, port, deadline).map_err(|e| {
        if e.kind() == io::ErrorKind::TimedOut {
            FetchError::Timeout
        } else {
            type_error(format!("could not resolve `{name}`: {e}"))
        }
    })?;
    let first = *addrs
        .first()
        .ok_or_else(|| type_error(format!("`{name}` resolved to no address")))?;
    let mut first_denial = None;
    for ip in addrs {
        match grant.check_address(ip) {
            Ok(a) => return Ok((first, Ok(a))),
            Err(d) => {
                first_denial.get_or_insert(d);
            }
        }
    }
    // `addrs` is not empty: `first` came from it, so a denial was noted.
    match first_denial {
        Some(d) => Ok((first, Err(d))),
        None => Err(type_error(format!("`{name}` resolved to no address"))),
    }
}
