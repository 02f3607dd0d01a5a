//! The network gateway: the only code that makes an outbound HTTP request for a plugin (SPEC §5
//! fetch rows, §6 "Network proxying").
//!
//! For the first request and for every redirect hop, in this order:
//!
//! 1. the URL is parsed strictly (WHATWG, `url` crate);
//! 2. [`Grant::check_scheme`]: only `http`/`https`, and no plain `http` under `https_only`;
//! 3. [`parse_host`] + [`Grant::check_host`] on the canonical host (so `2130706433`, `0x7f.1`,
//!    `0177.0.0.1` and `[::ffff:127.0.0.1]` are all `127.0.0.1`);
//! 4. the name is resolved **once**, here, through a [`Resolve`];
//! 5. the first address that passes [`Grant::check_address`] is kept; only then is userinfo
//!    refused (a `TypeError`): the grant is checked first (SPEC §5);
//! 6. the step's secret placeholders ([`crate::secrets`]) are replaced by their values, for
//!    this hop only, where [`Grant::check_secret_host`] allows (header values; the URL query
//!    and the body only with `in_body`); a placeholder anywhere else, or bound for a host its
//!    secret does not cover, refuses the request (capability `secrets`), `--unsafe` or not;
//! 7. the connection goes to exactly that socket address: `ureq` is given a resolver that
//!    answers only that address, so no second lookup happens (DNS rebinding between check and
//!    connect is closed).
//!
//! It never follows redirects inside `ureq`, never uses an environment proxy (`HTTP_PROXY` would
//! send the request, and the name resolution, elsewhere), never decompresses (the body is
//! counted as received), and refuses request headers that could reframe the request.
//!
//! What it must never do: connect to an address it has not checked, or resolve a name twice
//! for one hop.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use aether_policy::{
    Capability, CheckedAddr, CheckedHost, Denial, DenialReason, Grant, Host, UnsafeMode, parse_host,
};

use crate::secrets::{Placeholder, contains_bytes, redact, redact_bytes, replace_bytes};
use thiserror::Error;
use ureq::http;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, DefaultConnector, NextTimeout, RustlsConnector, TcpConnector,
    Transport, TransportAdapter,
};
use url::Url;

/// Redirects followed at most (SPEC §5): the sixth redirect fails the fetch.
pub const MAX_REDIRECTS: usize = 5;

/// The largest request body a plugin may send: 16 MiB. The body already lives in the plugin's
/// heap (under its memory ceiling); this bounds the copy the gateway makes of it and the
/// bandwidth one call can use for exfiltration-by-volume. Larger bodies are a `TypeError`.
pub const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The largest total size of a request's header names and values: 64 KiB, what common servers
/// accept (nginx's `large_client_header_buffers` is 4 × 8 KiB by default). Larger is a
/// `TypeError`. The same cap holds for the headers of a response a listener sends
/// (`respond`, see [`crate::inbound`]).
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

/// The largest response head (status line and headers) the gateway reads: 64 KiB. A server
/// that sends more fails the fetch with a `TypeError` instead of growing aether's memory.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;

/// What to do with a 3xx response that has a `Location` (the fetch `redirect` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redirect {
    /// Follow up to [`MAX_REDIRECTS`] hops, each checked like the first.
    #[default]
    Follow,
    /// Return the 3xx response as it is.
    Manual,
    /// Fail with a [`FetchError::Type`].
    Error,
}

/// A request as a plugin makes it. Nothing here is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Absolute `http:` or `https:` URL.
    pub url: String,
    /// HTTP method (a token; `GET` when empty).
    pub method: String,
    /// Request headers. `Host`, hop-by-hop headers, `Content-Length`, and any name or value
    /// with CR, LF or NUL are refused.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// Redirect mode.
    pub redirect: Redirect,
    /// What is wrong with the request besides its URL, as the caller found it (an invalid
    /// `redirect`, or what the plugin's bindings refused): SPEC §5, the grant is checked
    /// first, so the request fails with this as a `TypeError` only after its URL has been
    /// checked; nothing is sent.
    pub malformed: Option<String>,
}

/// One request the gateway actually sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The URL requested (normalized).
    pub url: String,
    /// The checked address connected to.
    pub addr: SocketAddr,
    /// The status it answered.
    pub status: u16,
    /// The secrets substituted in it, each as `NAME -> host[:port]` (names, never values).
    pub secrets: Vec<String>,
}

/// The final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Canonical reason phrase for the status (empty when unknown).
    pub status_text: String,
    /// The final URL, after redirects.
    pub url: String,
    /// Response headers in order; values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The body, at most the grant's `max_response_bytes`.
    pub body: Vec<u8>,
    /// Every request sent, in order, the last one being this response.
    pub hops: Vec<Hop>,
}

/// Why a fetch failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// Beyond the grant (the JS side throws `PermissionDenied`, capability `network`).
    #[error("{denial}")]
    Denied {
        /// The URL of the hop that was refused (the request's own URL, or a redirect's).
        url: String,
        /// What the grant refused.
        denial: Denial,
    },
    /// Not about the grant: malformed URL, invalid header, connection failure, response above
    /// `max_response_bytes`, too many redirects, `redirect: "error"` (a JS `TypeError`).
    #[error("{0}")]
    Type(String),
    /// The deadline passed.
    #[error("fetch timed out")]
    Timeout,
}

/// Name resolution, done once per hop by the gateway.
pub trait Resolve {
    /// The addresses of `host` (a canonical domain name, never an IP literal), or a
    /// `TimedOut` error once `deadline` has passed.
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>>;
}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        (**self).resolve(host, port, deadline)
    }
}

impl<T: Resolve + ?Sized> Resolve for Box<T> {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        (**self).resolve(host, port, deadline)
    }
}

/// The system resolver (`getaddrinfo` through std's `ToSocketAddrs`).
///
/// `getaddrinfo` cannot be cancelled, so each lookup runs on a thread of its own and the fetch
/// stops waiting for it at the deadline; a lookup that hangs past it finishes in the background
/// and its answer is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let name = host.to_owned();
        std::thread::Builder::new()
            .name("aether-dns".into())
            .spawn(move || {
                let answer = (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip()).collect());
                let _ = tx.send(answer);
            })?;
        let wait = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// The `ureq` resolver for one hop: answers one address the gateway chose, whatever it is
/// asked: the checked target's ([`PinnedResolver::checked`]), or the operator's proxy when the
/// request is tunnelled ([`PinnedResolver::proxy`], the tunnel then asks for the checked
/// target).
struct PinnedResolver(SocketAddr);

impl PinnedResolver {
    /// The connection goes to `addr` and nowhere else.
    fn checked(addr: CheckedAddr, port: u16) -> PinnedResolver {
        PinnedResolver(SocketAddr::new(addr.addr(), port))
    }

    /// The connection goes to the operator's proxy (configuration, not the plugin's choice).
    fn proxy(addr: SocketAddr) -> PinnedResolver {
        PinnedResolver(addr)
    }
}

impl fmt::Debug for PinnedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedResolver({})", self.0)
    }
}

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        _uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        out.push(self.0);
        Ok(out)
    }
}

/// The `CONNECT` handshake with the operator's proxy, over the TCP connection `ureq` opened to
/// it: asks for a tunnel to the checked address (an IP, never a name), then hands the tunnel
/// on, to TLS for `https:`. (`ureq`'s own CONNECT support would send the name, or with
/// `resolve_target` a malformed `ip:port:port` target in 3.5.2.)
#[derive(Debug)]
struct Tunnel {
    target: CheckedAddr,
    port: u16,
}

/// The longest proxy response head read before giving up.
const MAX_PROXY_HEAD_BYTES: usize = 8 * 1024;

impl<In: Transport> Connector<In> for Tunnel {
    type Out = In;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        let mut io = TransportAdapter::new(transport, details.current_time.clone());
        io.set_timeout(details.timeout);
        let target = SocketAddr::new(self.target.addr(), self.port);
        write!(io, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
        io.flush()?;
        // Byte by byte: nothing after the head may be consumed, it belongs to the tunnel.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > MAX_PROXY_HEAD_BYTES || io.read(&mut byte)? == 0 {
                return Err(ureq::Error::ConnectProxyFailed(
                    "the proxy closed the connection or sent no valid answer".into(),
                ));
            }
            head.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&head);
        let status_line = status_line.lines().next().unwrap_or_default();
        if status_line.split(' ').nth(1) != Some("200") {
            return Err(ureq::Error::ConnectProxyFailed(format!(
                "the proxy refused the tunnel: `{}`",
                aether_policy::escape_untrusted(status_line)
            )));
        }
        Ok(Some(io.into_inner()))
    }
}

/// The operator's outbound proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), for hosts behind
/// a corporate gateway.
///
/// A proxy weakens no check: the gateway still checks the URL, the host, and the address the
/// name resolves to (resolved here, once), then asks the proxy to `CONNECT` to that checked IP
/// address, never to the name, so the proxy cannot resolve it to something else. TLS and the
/// `Host` header still carry the original name. The proxy's own address is the operator's
/// choice and is not subject to `allow_private`. Only `http://` proxies without credentials
/// are supported; every request, `http:` ones included, goes through a `CONNECT` tunnel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    https: Option<ProxyUrl>,
    http: Option<ProxyUrl>,
    /// `NO_PROXY` entries, lower case, leading dots removed; `*` bypasses every host.
    no_proxy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyUrl {
    host: String,
    port: u16,
}

impl Proxies {
    /// No proxy: every connection is direct.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// The proxies an environment names: `HTTPS_PROXY` for `https:` URLs and `HTTP_PROXY` for
    /// `http:` ones (either spelled in lower case too, the lower case winning), `NO_PROXY` as
    /// a comma-separated list of host names (matching their subdomains too), IP addresses, or
    /// `*`. `var` reads one variable. An error names the variable and what is wrong with it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Proxies, String> {
        let pick = |name: &str| {
            var(&name.to_ascii_lowercase())
                .or_else(|| var(name))
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_owned(), v))
        };
        let parse = |found: Option<(String, String)>| {
            match found {
            None => Ok(None),
            Some((name, value)) => ProxyUrl::parse(&value).map(Some).map_err(|why| {
                format!(
                    "{name} `{}` is not a usable proxy: {why}\n\nhint: set it to `http://host:port`, or unset it",
                    aether_policy::escape_untrusted(&value)
                )
            }),
        }
        };
        let no_proxy = pick("NO_PROXY")
            .map(|(_, v)| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Proxies {
            https: parse(pick("HTTPS_PROXY"))?,
            http: parse(pick("HTTP_PROXY"))?,
            no_proxy,
        })
    }

    /// The proxy for `url`, unless `NO_PROXY` exempts its host.
    fn for_url(&self, url: &Url) -> Option<&ProxyUrl> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let exempt = self.no_proxy.iter().any(|e| {
            e == "*"
                || host == *e
                || host
                    .strip_suffix(e.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        (!exempt).then_some(proxy)
    }
}

impl ProxyUrl {
    fn parse(text: &str) -> Result<ProxyUrl, String> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| e.to_string())?;
        if url.scheme() != "http" {
            return Err(format!(
                "the `{}` scheme is not supported (only `http://` proxies)",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("proxy credentials are not supported".into());
        }
        let host = url
            .host_str()
            .ok_or("it has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(ProxyUrl {
            host,
            port: url.port().unwrap_or(80),
        })
    }
}

fn type_error(msg: impl Into<String>) -> FetchError {
    FetchError::Type(msg.into())
}

/// Request headers the gateway frames itself or that act on the connection, not the request
/// (RFC 9110 §7.6.1). Letting a plugin set them would allow request smuggling or a second
/// request on the same connection.
fn is_forbidden_header(name: &str) -> bool {
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

/// The grant's checks for one fetch, with the denials an `--unsafe` run overrides.
struct Checks<'a> {
    grant: &'a Grant,
    /// The step's secret placeholders, substituted hop by hop.
    secrets: &'a [Placeholder],
    /// `Some` in an `--unsafe` run: the token, and the denials it overrode (collected here
    /// instead of failing the fetch, for the broker to record).
    overridden: Option<(&'a UnsafeMode, RefCell<Vec<Denial>>)>,
}

impl Checks<'_> {
    /// `checked`, or in an `--unsafe` run the witness `unchecked` makes once the denial is
    /// noted.
    fn pass<T>(
        &self,
        checked: Result<T, Denial>,
        unchecked: impl FnOnce(&UnsafeMode) -> T,
    ) -> Result<T, Denial> {
        match (checked, &self.overridden) {
            (Ok(v), _) => Ok(v),
            (Err(d), Some((mode, overridden))) => {
                overridden.borrow_mut().push(d);
                Ok(unchecked(mode))
            }
            (Err(d), None) => Err(d),
        }
    }
}

/// A URL that passed every check for one hop, with the address to connect to.
struct Target {
    url: Url,
    /// The only address the hop's connection goes to.
    addr: CheckedAddr,
    /// The host and ports as checked, for the secrets' hosts.
    host: Host,
    port: u16,
    default_port: u16,
}

/// What one hop sends once the step's placeholders are replaced (see [`substitute`]).
struct Substituted {
    url: Url,
    headers: http::HeaderMap,
    body: Option<Vec<u8>>,
    /// `NAME -> host[:port]` for each secret substituted.
    sent: Vec<String>,
}

/// Step 6 of the module docs: every placeholder of the step found in the hop's request is
/// replaced by its value where the grant allows it, or the hop is refused. Placeholders can be
/// substituted only in header values (any secret) and in the URL query and body (secrets with
/// `in_body`); anywhere else (the URL's host, path or userinfo, a header name) nothing could
/// keep the value to its hosts, so the request is refused.
fn substitute(
    checks: &Checks<'_>,
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
fn check_url(
    checks: &Checks<'_>,
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
    let denied = |denial: Denial| FetchError::Denied {
        url: url.to_string(),
        denial,
    };
    let grant = checks.grant;
    let known_port = match url.scheme() {
        "https" => 443,
        _ => 80,
    };
    let default_port = checks
        .pass(grant.check_scheme(url.scheme()), |_| known_port)
        .map_err(denied)?;
    let host_text = url
        .host_str()
        .ok_or_else(|| type_error(format!("URL `{url}` has no host")))?;
    let host = parse_host(host_text).map_err(|e| type_error(e.to_string()))?;
    let port = url.port_or_known_default().unwrap_or(default_port);
    let checked = grant.check_host(&host, port, default_port);
    let host = checks
        .pass(checked, |mode| CheckedHost::unchecked(&host, port, mode))
        .map_err(denied)?
        .host()
        .clone();
    let addr = match &host {
        Host::Ip(ip) => {
            let checked = grant.check_address(*ip);
            checks
                .pass(checked, |mode| CheckedAddr::unchecked(*ip, mode))
                .map_err(denied)?
        }
        Host::Domain(name) => {
            let (first, checked) = first_allowed(grant, resolver, name, port, deadline)?;
            checks
                .pass(checked, |mode| CheckedAddr::unchecked(first, mode))
                .map_err(denied)?
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
fn first_allowed(
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

fn remaining(deadline: Instant) -> Result<Duration, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(FetchError::Timeout)
    } else {
        Ok(left)
    }
}

fn map_ureq(err: ureq::Error, cap: u64) -> FetchError {
    match err {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => FetchError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => type_error(format!(
            "response body exceeds `max_response_bytes` ({cap} bytes)"
        )),
        other => type_error(format!("request failed: {other}")),
    }
}

/// A fetch with what it sent: see [`Gateway::fetch_traced`].
#[derive(Debug)]
pub struct Traced {
    /// The response, or why there is none.
    pub result: Result<FetchResponse, FetchError>,
    /// Every request sent, in order, including those of a fetch that failed afterwards.
    pub hops: Vec<Hop>,
    /// The denials an `--unsafe` run overrode.
    pub overridden: Vec<Denial>,
}

/// The gateway: how names are resolved and which proxies are used. Cheap to build. A clone
/// shares the fetches under way: shutting down one shuts down all.
#[derive(Debug, Clone)]
pub struct Gateway<R> {
    resolver: R,
    proxies: Proxies,
    in_flight: Arc<InFlight>,
}

/// The connections of the fetches under way, so that [`Gateway::shutdown`] can cut them.
#[derive(Debug, Default)]
struct InFlight(Mutex<InFlightState>);

#[derive(Debug, Default)]
struct InFlightState {
    closed: bool,
    next: u64,
    /// One agent per hop under way (an agent holds that hop's one connection).
    agents: HashMap<u64, ureq::Agent>,
}

/// A hop's place in [`InFlight`], given up when the hop is over.
struct Registered<'a> {
    in_flight: &'a InFlight,
    id: u64,
}

impl InFlight {
    fn state(&self) -> std::sync::MutexGuard<'_, InFlightState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tracks `agent` until the returned guard drops; refused once the gateway is shut down.
    fn register(&self, agent: &ureq::Agent) -> Result<Registered<'_>, FetchError> {
        let mut state = self.state();
        if state.closed {
            return Err(type_error("the step has ended".to_owned()));
        }
        let id = state.next;
        state.next += 1;
        state.agents.insert(id, agent.clone());
        Ok(Registered {
            in_flight: self,
            id,
        })
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.in_flight.state().agents.remove(&self.id);
    }
}

impl<R: Resolve> Gateway<R> {
    /// A gateway resolving names with `resolver` and connecting directly.
    pub fn new(resolver: R) -> Gateway<R> {
        Gateway {
            resolver,
            proxies: Proxies::none(),
            in_flight: Arc::default(),
        }
    }

    /// Cuts every fetch under way (its connection is shut down: a read blocked on it returns at
    /// once, and the fetch fails) and refuses new ones. The broker calls it when the step
    /// ends, so that no fetch outlives its step (SPEC §5). Idempotent.
    pub fn shutdown(&self) {
        let agents: Vec<ureq::Agent> = {
            let mut state = self.in_flight.state();
            state.closed = true;
            state.agents.drain().map(|(_, a)| a).collect()
        };
        for agent in agents {
            agent.shutdown();
        }
    }

    /// The same gateway, going through `proxies` (see [`Proxies`]: no check is weakened).
    pub fn proxies(mut self, proxies: Proxies) -> Gateway<R> {
        self.proxies = proxies;
        self
    }

    /// Fetches `request` under `grant`, following redirects as it asks, never past
    /// `deadline`. See the module docs for the order of checks on each hop.
    pub fn fetch(
        &self,
        grant: &Grant,
        request: FetchRequest,
        deadline: Instant,
    ) -> Result<FetchResponse, FetchError> {
        let checks = Checks {
            grant,
            secrets: &[],
            overridden: None,
        };
        self.fetch_with(&checks, request, deadline, &mut Vec::new())
    }

    /// [`Gateway::fetch`], also returning every request actually sent ([`Hop`]s), whether the
    /// fetch then succeeded or not (a redirect to a denied host, a response above the cap):
    /// the audit trail must show the requests that left. With `unsafe_mode` (an `--unsafe`
    /// run), what the grant denies (host, scheme, address) is fetched anyway and the denials
    /// are returned, for the caller to record as `allowed-unsafe`; parsing, header checks, size
    /// caps and the deadline still apply.
    ///
    /// # Security
    ///
    /// With `unsafe_mode`, reaches any host and address, private ones included; see
    /// [`UnsafeMode`].
    pub fn fetch_traced(
        &self,
        grant: &Grant,
        request: FetchRequest,
        deadline: Instant,
        unsafe_mode: Option<&UnsafeMode>,
    ) -> Traced {
        self.fetch_traced_with(grant, request, deadline, unsafe_mode, &[])
    }

    /// [`Gateway::fetch_traced`] substituting the step's secret `placeholders` (step 6 of the
    /// module docs). A secret's denial is never overridden, `--unsafe` or not: the value goes
    /// only where its grant says. What comes back (response headers and body, error messages)
    /// has every value sent replaced by its placeholder again.
    pub(crate) fn fetch_traced_with(
        &self,
        grant: &Grant,
        request: FetchRequest,
        deadline: Instant,
        unsafe_mode: Option<&UnsafeMode>,
        placeholders: &[Placeholder],
    ) -> Traced {
        let checks = Checks {
            grant,
            secrets: placeholders,
            overridden: unsafe_mode.map(|mode| (mode, RefCell::new(Vec::new()))),
        };
        let mut hops = Vec::new();
        let result = match self.fetch_with(&checks, request, deadline, &mut hops) {
            Ok(mut r) if !placeholders.is_empty() => {
                for (_, v) in &mut r.headers {
                    *v = redact(v, placeholders);
                }
                r.body = redact_bytes(&r.body, placeholders);
                Ok(r)
            }
            Err(FetchError::Type(m)) => Err(FetchError::Type(redact(&m, placeholders))),
            other => other,
        };
        let overridden = checks
            .overridden
            .map(|(_, denials)| denials.into_inner())
            .unwrap_or_default();
        Traced {
            result,
            hops,
            overridden,
        }
    }

    /// The address of the proxy for `url`, if one applies (resolved once, here).
    fn proxy_for(&self, url: &Url, deadline: Instant) -> Result<Option<SocketAddr>, FetchError> {
        let Some(proxy) = self.proxies.for_url(url) else {
            return Ok(None);
        };
        let ip = match proxy.host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => *self
                .resolver
                .resolve(&proxy.host, proxy.port, deadline)
                .map_err(|e| {
                    type_error(format!("could not resolve the proxy `{}`: {e}", proxy.host))
                })?
                .first()
                .ok_or_else(|| {
                    type_error(format!("the proxy `{}` resolved to no address", proxy.host))
                })?,
        };
        Ok(Some(SocketAddr::new(ip, proxy.port)))
    }
}

/// [`Gateway::fetch`] with `resolver` and no proxy.
pub fn fetch(
    grant: &Grant,
    request: FetchRequest,
    resolver: &dyn Resolve,
    deadline: Instant,
) -> Result<FetchResponse, FetchError> {
    Gateway::new(resolver).fetch(grant, request, deadline)
}

impl<R: Resolve> Gateway<R> {
    fn fetch_with(
        &self,
        checks: &Checks<'_>,
        request: FetchRequest,
        deadline: Instant,
        hops: &mut Vec<Hop>,
    ) -> Result<FetchResponse, FetchError> {
        let grant = checks.grant;
        let cap = grant.max_response_bytes().bytes();
        let mut url_text = request.url;
        // SPEC §5, the grant first: the first hop's URL is checked against the grant before
        // anything else about the request (method, headers, body), so that a request to an
        // ungranted host is its violation however malformed the rest is.
        let mut first = Some(check_url(checks, &url_text, &self.resolver, deadline)?);
        if let Some(problem) = request.malformed {
            return Err(type_error(problem));
        }
        let mut headers = check_headers(&request.headers, Framing::Request)?;
        let method_text = if request.method.is_empty() {
            "GET"
        } else {
            request.method.as_str()
        };
        let mut method = http::Method::from_bytes(method_text.as_bytes()).map_err(|_| {
            type_error(format!(
                "invalid method `{}`",
                aether_policy::escape_untrusted(method_text)
            ))
        })?;
        // Fetch standard "forbidden methods": CONNECT would turn the connection into a tunnel.
        if matches!(
            method.as_str().to_ascii_uppercase().as_str(),
            "CONNECT" | "TRACE" | "TRACK"
        ) {
            return Err(type_error(format!("method `{method}` is not allowed")));
        }
        let mut body = request.body;
        if let Some(b) = &body
            && b.len() > MAX_REQUEST_BODY_BYTES
        {
            return Err(type_error(format!(
                "the request body is {} bytes, more than the gateway's limit of {MAX_REQUEST_BODY_BYTES}",
                b.len()
            )));
        }

        loop {
            let target = match first.take() {
                Some(target) => target,
                None => check_url(checks, &url_text, &self.resolver, deadline)?,
            };
            let timeout = remaining(deadline)?;
            let proxy = self.proxy_for(&target.url, deadline)?;
            let config = ureq::Agent::config_builder()
                .proxy(None)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .http_status_as_error(false)
                .max_idle_connections(0)
                .max_response_header_size(MAX_RESPONSE_HEADER_BYTES)
                .timeout_global(Some(timeout))
                .build();
            let agent = match proxy {
                None => ureq::Agent::with_parts(
                    config,
                    DefaultConnector::new(),
                    PinnedResolver::checked(target.addr, target.port),
                ),
                Some(proxy) => ureq::Agent::with_parts(
                    config,
                    TcpConnector::default()
                        .chain(Tunnel {
                            target: target.addr,
                            port: target.port,
                        })
                        .chain(RustlsConnector::default()),
                    PinnedResolver::proxy(proxy),
                ),
            };
            let substituted =
                substitute(checks, &target, &headers, body.as_ref()).map_err(|denial| {
                    FetchError::Denied {
                        url: target.url.to_string(),
                        denial,
                    }
                })?;
            let _registered = self.in_flight.register(&agent)?;
            let mut builder = http::Request::builder()
                .method(method.clone())
                .uri(substituted.url.as_str());
            if let Some(h) = builder.headers_mut() {
                h.extend(substituted.headers);
            }
            let sent = match &substituted.body {
                Some(b) => builder.body(b.clone()).map(|r| agent.run(r)),
                None => builder.body(()).map(|r| agent.run(r)),
            };
            let mut response = sent
                .map_err(|e| type_error(format!("invalid request: {e}")))?
                .map_err(|e| map_ureq(e, cap))?;
            let status = response.status();
            hops.push(Hop {
                url: target.url.to_string(),
                addr: SocketAddr::new(target.addr.addr(), target.port),
                status: status.as_u16(),
                secrets: substituted.sent,
            });

            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            // Only these are redirects in the fetch standard; 300 and 304 are returned as they are.
            let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            if let (true, Some(location)) = (is_redirect, location) {
                match request.redirect {
                    Redirect::Manual => {}
                    Redirect::Error => {
                        return Err(type_error(format!(
                            "redirect to `{}` refused (`redirect: \"error\"`)",
                            aether_policy::escape_untrusted(&location)
                        )));
                    }
                    Redirect::Follow => {
                        if hops.len() > MAX_REDIRECTS {
                            return Err(type_error(format!(
                                "too many redirects (more than {MAX_REDIRECTS})"
                            )));
                        }
                        let next = target.url.join(&location).map_err(|e| {
                            type_error(format!(
                                "invalid redirect location `{}`: {e}",
                                aether_policy::escape_untrusted(&location)
                            ))
                        })?;
                        // Fetch standard, HTTP-redirect fetch: 303 (and 301/302 after POST)
                        // become a GET without a body.
                        let code = status.as_u16();
                        if code == 303 && method != http::Method::HEAD
                            || matches!(code, 301 | 302) && method == http::Method::POST
                        {
                            method = http::Method::GET;
                            body = None;
                            headers.remove(http::header::CONTENT_TYPE);
                        }
                        // Credentials never follow a redirect to another origin (fetch standard
                        // drops `Authorization` on cross-origin redirects).
                        if next.origin() != target.url.origin() {
                            headers.remove(http::header::AUTHORIZATION);
                            headers.remove(http::header::COOKIE);
                        }
                        // A value a server put in `Location` goes back to its placeholder: the
                        // next hop substitutes it again only where its grant allows.
                        url_text = redact(next.as_str(), checks.secrets);
                        continue;
                    }
                }
            }

            let response_headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = response
                .body_mut()
                .with_config()
                .limit(cap)
                .read_to_vec()
                .map_err(|e| map_ureq(e, cap))?;
            return Ok(FetchResponse {
                status: status.as_u16(),
                status_text: status.canonical_reason().unwrap_or("").to_owned(),
                url: target.url.to_string(),
                headers: response_headers,
                body,
                hops: hops.clone(),
            });
        }
    }
}
