//! The network gateway: the only code that makes an outbound HTTP request for a plugin (SPEC §5
//! fetch rows, §6 "Network proxying").
//!
//! For the first request and for every redirect hop, in this order:
//!
//! 1. the URL is parsed strictly (WHATWG, `url` crate);
//! 2. [`Grant::check_scheme`]: only `http`/`https`, and no plain `http` under `https_only`;
//! 3. [`parse_host`](aether_policy::parse_host) + [`Grant::check_host`] on the canonical host (so `2130706433`, `0x7f.1`,
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
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_policy::{Denial, Grant};
use thiserror::Error;
use ureq::http;
use ureq::unversioned::transport::{Connector, DefaultConnector, RustlsConnector, TcpConnector};
use url::Url;

use crate::secrets::{Placeholder, redact, redact_bytes};

mod checks;
mod proxy;
mod resolver;

use checks::{Checks, Refuse, check_url, substitute};
pub(crate) use checks::{Decide, Framing, check_headers};
pub use proxy::Proxies;
use proxy::Tunnel;
use resolver::PinnedResolver;
pub use resolver::{Resolve, SystemResolver};

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

fn type_error(msg: impl Into<String>) -> FetchError {
    FetchError::Type(msg.into())
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

/// A fetch with what it sent: see `Gateway::fetch_traced`.
#[derive(Debug)]
pub(crate) struct Traced {
    /// The response, or why there is none.
    pub(crate) result: Result<FetchResponse, FetchError>,
    /// Every request sent, in order, including those of a fetch that failed afterwards.
    pub(crate) hops: Vec<Hop>,
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
    /// `deadline`. See the module docs for the order of checks on each hop. The URL is the
    /// plugin's and unchecked: this is the check, and the connection it makes takes only the
    /// `CheckedAddr` the check returned. Outside a step nothing overrides a denial.
    pub fn fetch(
        &self,
        grant: &Grant,
        request: FetchRequest,
        deadline: Instant,
    ) -> Result<FetchResponse, FetchError> {
        let checks = Checks {
            grant,
            secrets: &[],
            decide: &Refuse,
        };
        self.fetch_with(&checks, request, deadline, &mut Vec::new())
    }

    /// [`Gateway::fetch`], also returning every request actually sent ([`Hop`]s), whether the
    /// fetch then succeeded or not (a redirect to a denied host, a response above the cap):
    /// the audit trail must show the requests that left. Every check of every hop is decided
    /// by `decide` (the step's broker: in an `--unsafe` run, what the grant denies — host,
    /// scheme, address — is fetched anyway and recorded `allowed-unsafe` there; parsing,
    /// header checks, size caps and the deadline still apply). The step's secret
    /// `placeholders` are substituted (step 6 of the module docs); a secret's denial is never
    /// overridden, `--unsafe` or not: the value goes only where its grant says. What comes back
    /// (response headers and body, error messages) has every value sent replaced by its
    /// placeholder again.
    pub(crate) fn fetch_traced(
        &self,
        grant: &Grant,
        request: FetchRequest,
        deadline: Instant,
        decide: &impl Decide,
        placeholders: &[Placeholder],
    ) -> Traced {
        let checks = Checks {
            grant,
            secrets: placeholders,
            decide,
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
        Traced { result, hops }
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
    fn fetch_with<D: Decide>(
        &self,
        checks: &Checks<'_, D>,
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
