//! Gateway escape tests (SPEC §5 fetch rows, §6 "Network proxying").
//!
//! Every server here is a scripted HTTP/1.1 responder on `127.0.0.1:0` that answers a fixed
//! number of connections and stops by itself. Nothing here contacts any other address: denied
//! targets are refused before a socket is opened, and the fake resolver's "other" answers are
//! never connected to.
//!
//! Sources of the tricks: the PayloadsAllTheThings "Server Side Request Forgery" list (decimal,
//! hex and octal IPv4 spellings, `0.0.0.0`, IPv4-mapped IPv6, `localhost`, redirects to internal
//! hosts, DNS rebinding) and the Deno / Node.js security advisories on `fetch` permission checks
//! that were bypassed by redirects and by a second DNS lookup at connect time.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use aether_host::gateway::{FetchError, FetchRequest, Gateway, Proxies, Redirect, Resolve, fetch};
use aether_policy::{
    ByteSize, Capability, DenialReason, DomainPattern, Grant, IpNet, Permissions, Policy,
    RequestedLimits,
};

/// A scripted server: answers `responses.len()` connections in order, then stops; gives up
/// after 10 s whatever happens. Joining returns the request heads it received.
struct Server {
    port: u16,
    handle: JoinHandle<Vec<String>>,
}

impl Server {
    fn start(responses: Vec<String>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(10);
            let mut seen = Vec::new();
            for response in responses {
                let mut stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if Instant::now() > stop {
                                return seen;
                            }
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => return seen,
                    }
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.push(String::from_utf8_lossy(&buf).into_owned());
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.flush();
            }
            seen
        });
        Server { port, handle }
    }

    fn requests(self) -> Vec<String> {
        self.handle.join().expect("server thread")
    }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// A grant of `domains`, under a policy allowing exactly them and `allow_private`.
fn grant_with(domains: &[String], allow_private: &[&str], max_response: ByteSize) -> Grant {
    let domains: Vec<DomainPattern> = domains
        .iter()
        .map(|d| DomainPattern::parse(d).expect("domain pattern"))
        .collect();
    let policy = Policy {
        domains: domains.clone(),
        allow_private: allow_private
            .iter()
            .map(|n| IpNet::parse(n).expect("cidr"))
            .collect(),
        max_response_bytes: max_response,
        ..Policy::default()
    };
    Grant::new(
        Permissions {
            domains,
            ..Default::default()
        },
        Some(&policy),
        &RequestedLimits::default(),
    )
    .expect("grant")
}

/// `127.0.0.1:port` granted, and reachable (`allow_private = ["127.0.0.1/32"]`).
fn loopback_grant(port: u16) -> Grant {
    grant_with(
        &[format!("127.0.0.1:{port}")],
        &["127.0.0.1/32"],
        ByteSize::mib(16),
    )
}

fn get(url: impl Into<String>) -> FetchRequest {
    FetchRequest {
        url: url.into(),
        method: "GET".into(),
        headers: Vec::new(),
        body: None,
        redirect: Redirect::Follow,
        malformed: None,
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// Answers from a script, counting lookups; the second and later answers are whatever follows
/// the first in `answers` (a rebinding attacker's DNS server).
struct FakeResolver {
    answers: Vec<Vec<IpAddr>>,
    calls: Cell<usize>,
}

impl FakeResolver {
    fn new(answers: Vec<Vec<IpAddr>>) -> FakeResolver {
        FakeResolver {
            answers,
            calls: Cell::new(0),
        }
    }
}

impl Resolve for FakeResolver {
    fn resolve(&self, _host: &str, _port: u16, _deadline: Instant) -> io::Result<Vec<IpAddr>> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        Ok(self
            .answers
            .get(n)
            .or(self.answers.last())
            .cloned()
            .unwrap_or_default())
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Cloud metadata address (PayloadsAllTheThings SSRF list); never connected to.
const METADATA: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));

fn no_dns() -> FakeResolver {
    FakeResolver::new(Vec::new())
}

fn denied(result: Result<impl std::fmt::Debug, FetchError>, reason: DenialReason) {
    match result {
        Err(FetchError::Denied { denial: d, .. }) => {
            assert_eq!(d.capability, Capability::Network);
            assert_eq!(d.reason, reason, "{d}");
        }
        other => panic!("expected a {reason:?} denial, got {other:?}"),
    }
}

fn type_error(result: Result<impl std::fmt::Debug, FetchError>) {
    assert!(
        matches!(result, Err(FetchError::Type(_))),
        "expected a type error, got {result:?}"
    );
}

#[test]
fn granted_get_works() {
    let server = Server::start(vec![ok("hello")]);
    let port = server.port;
    let response = fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/a?b=1#frag")),
        &no_dns(),
        deadline(),
    )
    .expect("fetch");
    assert_eq!(response.status, 200);
    assert_eq!(response.status_text, "OK");
    assert_eq!(response.body, b"hello");
    assert_eq!(response.url, format!("http://127.0.0.1:{port}/a?b=1"));
    assert_eq!(response.hops.len(), 1);
    assert_eq!(
        response.hops[0].addr.to_string(),
        format!("127.0.0.1:{port}")
    );
    let requests = server.requests();
    assert!(
        requests[0].starts_with("GET /a?b=1 HTTP/1.1\r\n"),
        "{requests:?}"
    );
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{requests:?}"
    );
}

#[test]
fn ungranted_port_is_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let other = if port == 65535 { port - 1 } else { port + 1 };
    denied(
        fetch(
            &loopback_grant(port),
            get(format!("http://127.0.0.1:{other}/")),
            &no_dns(),
            deadline(),
        ),
        DenialReason::NotCovered,
    );
}

/// Other spellings of 127.0.0.1 (PayloadsAllTheThings SSRF "bypass using decimal / hex / octal
/// IP", "IPv6/IPv4 address embedding", "localhost"): all the loopback address, refused when
/// `allow_private` is empty even though `127.0.0.1:PORT` and `localhost:PORT` are granted.
#[test]
fn loopback_spellings_denied_without_allow_private() {
    let port = 8080;
    let grant = grant_with(
        &[format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        &[],
        ByteSize::mib(16),
    );
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
    ] {
        denied(
            fetch(
                &grant,
                get(format!("http://{host}:{port}/")),
                &no_dns(),
                deadline(),
            ),
            DenialReason::PrivateAddress,
        );
    }
    let dns = FakeResolver::new(vec![vec![LOOPBACK]]);
    denied(
        fetch(
            &grant,
            get(format!("http://localhost:{port}/")),
            &dns,
            deadline(),
        ),
        DenialReason::PrivateAddress,
    );
    assert_eq!(dns.calls.get(), 1);
    // `0.0.0.0` means "this host" to connect(2) on Linux: not granted by `127.0.0.1`, and
    // non-public anyway.
    denied(
        fetch(
            &grant,
            get(format!("http://0.0.0.0:{port}/")),
            &no_dns(),
            deadline(),
        ),
        DenialReason::NotCovered,
    );
    let zero = grant_with(&[format!("0.0.0.0:{port}")], &[], ByteSize::mib(16));
    denied(
        fetch(
            &zero,
            get(format!("http://0.0.0.0:{port}/")),
            &no_dns(),
            deadline(),
        ),
        DenialReason::PrivateAddress,
    );
}

/// `http://granted@evil/` confusion (PayloadsAllTheThings SSRF "bypass using @"). The deadline
/// is already past, so only the refusal can yield `Type` (an accepted URL would time out).
#[test]
fn userinfo_is_refused() {
    let grant = loopback_grant(8080);
    type_error(fetch(
        &grant,
        get("http://user:pass@127.0.0.1:8080/"),
        &no_dns(),
        Instant::now(),
    ));
    type_error(fetch(
        &grant,
        get("http://127.0.0.1:8080@127.0.0.1:8080/"),
        &no_dns(),
        Instant::now(),
    ));
}

// See: WHATWG URL (userinfo is never the host) and PayloadsAllTheThings SSRF "bypass using
// @": the host a URL would reach decides first (SPEC §5, the grant first); credentials are a
// `TypeError` only for a granted host. The same holds for a request whose headers or method are
// malformed: an ungranted target is its denial first.
#[test]
fn issue_15_userinfo_and_malformed_requests_are_judged_by_their_host_first() {
    let grant = loopback_grant(8080);
    for url in [
        "http://granted.example@127.0.0.1:9090/",
        "http://127.0.0.1:8080@127.0.0.1:9090/",
        "http://user:pass@169.254.169.254/",
        "http://user@other.example/",
    ] {
        denied(
            fetch(&grant, get(url), &no_dns(), Instant::now()),
            DenialReason::NotCovered,
        );
    }
    let mut bad = get("http://other.example/");
    bad.headers = vec![("X-A".into(), "1\r\nHost: evil".into())];
    denied(
        fetch(&grant, bad, &no_dns(), Instant::now()),
        DenialReason::NotCovered,
    );
    let mut bad = get("http://other.example/");
    bad.method = "CONNECT".into();
    denied(
        fetch(&grant, bad, &no_dns(), Instant::now()),
        DenialReason::NotCovered,
    );
    // Granted host: the request's own faults, as before.
    let mut bad = get("http://127.0.0.1:8080/");
    bad.method = "CONNECT".into();
    type_error(fetch(&grant, bad, &no_dns(), Instant::now()));
}

#[test]
fn other_schemes_are_denied() {
    let grant = loopback_grant(8080);
    for url in [
        "file:///etc/passwd",
        "data:text/plain,hi",
        "gopher://127.0.0.1:8080/",
        "ftp://127.0.0.1:8080/",
    ] {
        denied(
            fetch(&grant, get(url), &no_dns(), deadline()),
            DenialReason::UnsupportedScheme,
        );
    }
    type_error(fetch(&grant, get("not a url"), &no_dns(), deadline()));
}

#[test]
fn plain_http_is_denied_under_https_only() {
    let domains = vec![DomainPattern::parse("127.0.0.1:8080").expect("pattern")];
    let policy = Policy {
        domains: domains.clone(),
        https_only: true,
        ..Policy::default()
    };
    let grant = Grant::new(
        Permissions {
            domains,
            ..Default::default()
        },
        Some(&policy),
        &RequestedLimits::default(),
    )
    .expect("grant");
    denied(
        fetch(&grant, get("http://127.0.0.1:8080/"), &no_dns(), deadline()),
        DenialReason::InsecureScheme,
    );
}

/// Redirect to an internal host (PayloadsAllTheThings SSRF "bypass using a redirect"; the
/// Deno and Node.js advisories on permission checks skipped for redirect hops).
#[test]
fn redirect_to_ungranted_host_is_denied() {
    let server = Server::start(vec![
        redirect("http://169.254.169.254/latest/meta-data/"),
        redirect("http://127.0.0.1:1/"),
    ]);
    let port = server.port;
    let grant = loopback_grant(port);
    denied(
        fetch(
            &grant,
            get(format!("http://127.0.0.1:{port}/")),
            &no_dns(),
            deadline(),
        ),
        DenialReason::NotCovered,
    );
    denied(
        fetch(
            &grant,
            get(format!("http://127.0.0.1:{port}/")),
            &no_dns(),
            deadline(),
        ),
        DenialReason::NotCovered,
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn redirect_to_granted_host_is_followed() {
    let server = Server::start(vec![redirect("/next"), ok("done")]);
    let port = server.port;
    let response = fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/start")),
        &no_dns(),
        deadline(),
    )
    .expect("fetch");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"done");
    assert_eq!(response.url, format!("http://127.0.0.1:{port}/next"));
    let hops: Vec<(String, u16)> = response
        .hops
        .iter()
        .map(|h| (h.url.clone(), h.status))
        .collect();
    assert_eq!(
        hops,
        vec![
            (format!("http://127.0.0.1:{port}/start"), 302),
            (format!("http://127.0.0.1:{port}/next"), 200),
        ]
    );
    let requests = server.requests();
    assert!(
        requests[1].starts_with("GET /next HTTP/1.1"),
        "{requests:?}"
    );
}

#[test]
fn manual_redirect_returns_the_3xx_and_error_mode_refuses() {
    let server = Server::start(vec![redirect("/next"), redirect("/next")]);
    let port = server.port;
    let grant = loopback_grant(port);
    let mut request = get(format!("http://127.0.0.1:{port}/"));
    request.redirect = Redirect::Manual;
    let response = fetch(&grant, request, &no_dns(), deadline()).expect("fetch");
    assert_eq!(response.status, 302);
    assert!(
        response
            .headers
            .iter()
            .any(|(n, v)| n == "location" && v == "/next")
    );
    let mut request = get(format!("http://127.0.0.1:{port}/"));
    request.redirect = Redirect::Error;
    type_error(fetch(&grant, request, &no_dns(), deadline()));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn redirect_loop_stops_after_five_hops() {
    let server = Server::start(vec![redirect("/again"); 6]);
    let port = server.port;
    type_error(fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/")),
        &no_dns(),
        deadline(),
    ));
    assert_eq!(server.requests().len(), 6);
}

#[test]
fn response_above_cap_is_a_type_error() {
    let big = "x".repeat(200);
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let server = Server::start(vec![ok(&big), chunked, ok(&"y".repeat(100))]);
    let port = server.port;
    let grant = grant_with(
        &[format!("127.0.0.1:{port}")],
        &["127.0.0.1/32"],
        ByteSize(100),
    );
    let url = format!("http://127.0.0.1:{port}/");
    type_error(fetch(&grant, get(&url), &no_dns(), deadline()));
    type_error(fetch(&grant, get(&url), &no_dns(), deadline()));
    let exact = fetch(&grant, get(&url), &no_dns(), deadline()).expect("exactly at the cap");
    assert_eq!(exact.body.len(), 100);
    server.requests();
}

/// CRLF injection and request smuggling through headers (PayloadsAllTheThings "CRLF
/// Injection"; the Node.js advisories on header validation in its HTTP client).
#[test]
fn header_injection_is_refused() {
    let grant = loopback_grant(8080);
    let bad: [(&str, &str); 11] = [
        ("X-A", "1\r\nX-Injected: 1"),
        ("X-A", "1\nX-Injected: 1"),
        ("X-A", "1\0"),
        ("X-A\r\nX-B", "1"),
        ("Host", "169.254.169.254"),
        ("host", "evil"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "x"),
        ("TE", "trailers"),
    ];
    for (name, value) in bad
        .into_iter()
        .chain([("Keep-Alive", "1"), ("Content-Length", "0")])
    {
        let mut request = get("http://127.0.0.1:8080/");
        request.headers = vec![(name.into(), value.into())];
        // A deadline already past: a request that got through the header checks would end
        // in `Timeout`, so `Type` here can only come from the refusal (no socket is opened).
        type_error(fetch(&grant, request, &no_dns(), Instant::now()));
    }
}

/// DNS rebinding (PayloadsAllTheThings SSRF "bypass using DNS rebinding"; the same
/// check-one-lookup, connect-after-another class that Deno's `--allow-net` advisories discuss):
/// the first two answers (one per hop) are the loopback address, any later one the metadata
/// address. The gateway resolves once per hop and connects to the address it checked, so a
/// second lookup at connect time would show up as a third call here.
#[test]
fn dns_rebinding_resolves_once_per_hop() {
    let server = Server::start(vec![redirect("/second"), ok("pinned")]);
    let port = server.port;
    let grant = grant_with(
        &[format!("rebind.test:{port}")],
        &["127.0.0.1/32"],
        ByteSize::mib(16),
    );
    let dns = FakeResolver::new(vec![vec![LOOPBACK], vec![LOOPBACK], vec![METADATA]]);
    let response = fetch(
        &grant,
        get(format!("http://rebind.test:{port}/first")),
        &dns,
        deadline(),
    )
    .expect("fetch");
    assert_eq!(response.body, b"pinned");
    assert_eq!(dns.calls.get(), 2, "one lookup per hop");
    assert!(response.hops.iter().all(|h| h.addr.ip() == LOOPBACK));
    let requests = server.requests();
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains(&format!("host: rebind.test:{port}\r\n")),
        "{requests:?}"
    );

    // A name answering only the metadata address: refused by the address check, naming it,
    // before any socket is opened.
    let dns = FakeResolver::new(vec![vec![METADATA]]);
    match fetch(
        &grant,
        get(format!("http://rebind.test:{port}/")),
        &dns,
        deadline(),
    ) {
        Err(FetchError::Denied { denial: d, .. }) => {
            assert_eq!(d.reason, DenialReason::PrivateAddress);
            assert_eq!(d.target, METADATA.to_string());
        }
        other => panic!("expected a denial naming the address, got {other:?}"),
    }
    assert_eq!(dns.calls.get(), 1);
}

#[test]
fn connection_refused_is_a_type_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    type_error(fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/")),
        &no_dns(),
        deadline(),
    ));
}

#[test]
fn past_deadline_times_out() {
    let server = Server::start(Vec::new());
    let port = server.port;
    let result = fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/")),
        &no_dns(),
        Instant::now(),
    );
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
    server.requests();
}

#[test]
fn forbidden_methods_are_refused() {
    let grant = loopback_grant(8080);
    for method in ["CONNECT", "connect", "TRACE", "TRACK", "GE T", "GET\r\n"] {
        let mut request = get("http://127.0.0.1:8080/");
        request.method = method.into();
        type_error(fetch(&grant, request, &no_dns(), Instant::now()));
    }
}

/// Credentials do not follow a redirect to another origin (fetch standard; the Node.js
/// `undici` advisories on `Authorization`/`Cookie` kept across cross-origin redirects).
#[test]
fn credentials_dropped_on_cross_origin_redirect() {
    let second = Server::start(vec![ok("other")]);
    let first = Server::start(vec![redirect(&format!(
        "http://127.0.0.1:{}/landing",
        second.port
    ))]);
    let grant = grant_with(
        &[
            format!("127.0.0.1:{}", first.port),
            format!("127.0.0.1:{}", second.port),
        ],
        &["127.0.0.1/32"],
        ByteSize::mib(16),
    );
    let mut request = get(format!("http://127.0.0.1:{}/", first.port));
    request.headers = vec![
        ("Authorization".into(), "Bearer secret".into()),
        ("Cookie".into(), "session=secret".into()),
        ("X-Kept".into(), "yes".into()),
    ];
    let response = fetch(&grant, request, &no_dns(), deadline()).expect("fetch");
    assert_eq!(response.body, b"other");
    let firsts = first.requests();
    assert!(firsts[0].contains("Bearer secret"), "{firsts:?}");
    let seconds = second.requests();
    assert!(!seconds[0].contains("secret"), "{seconds:?}");
    assert!(
        seconds[0].to_ascii_lowercase().contains("x-kept: yes"),
        "{seconds:?}"
    );
}

#[test]
fn status_304_with_location_is_not_followed() {
    let server = Server::start(vec![
        "HTTP/1.1 304 Not Modified\r\nLocation: /elsewhere\r\nConnection: close\r\n\r\n".into(),
    ]);
    let port = server.port;
    let response = fetch(
        &loopback_grant(port),
        get(format!("http://127.0.0.1:{port}/")),
        &no_dns(),
        deadline(),
    )
    .expect("fetch");
    assert_eq!(response.status, 304);
    assert_eq!(response.hops.len(), 1);
    server.requests();
}

/// A CONNECT proxy for one tunnel: records the request head it got, connects where the
/// CONNECT line says (127.0.0.1 only: anything else is answered 403), and relays both ways.
struct ConnectProxy {
    port: u16,
    handle: JoinHandle<Vec<String>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(10);
            let mut client = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < stop => thread::sleep(Duration::from_millis(5)),
                    Err(_) => return Vec::new(),
                }
            };
            let _ = client.set_nonblocking(false);
            let _ = client.set_read_timeout(Some(Duration::from_secs(3)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                match client.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let target = head.split(' ').nth(1).unwrap_or("").to_owned();
            if !target.starts_with("127.0.0.1:") {
                let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                return vec![head];
            }
            let Ok(mut upstream) = std::net::TcpStream::connect(&target) else {
                let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                return vec![head];
            };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut c2, mut u2) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            let up = thread::spawn(move || {
                let _ = io::copy(&mut c2, &mut u2);
            });
            let _ = io::copy(&mut upstream, &mut client);
            let _ = up.join();
            vec![head]
        });
        ConnectProxy { port, handle }
    }

    fn heads(self) -> Vec<String> {
        self.handle.join().expect("proxy thread")
    }
}

fn proxies(vars: &[(&str, String)]) -> Proxies {
    Proxies::from_vars(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .expect("proxy settings")
}

/// Issue 4: `HTTP(S)_PROXY` is honoured without weakening a check. The gateway resolves the
/// name itself and asks the proxy to CONNECT to the checked *address*, so the proxy cannot be
/// used for a second, rebinding lookup; the server still sees the original `Host`.
#[test]
fn a_proxy_is_asked_to_connect_to_the_checked_address_never_the_name() {
    let server = Server::start(vec![ok("via proxy")]);
    let port = server.port;
    let proxy = ConnectProxy::start();
    let grant = grant_with(
        &[format!("svc.test:{}", server.port)],
        &["127.0.0.1/32"],
        ByteSize::mib(16),
    );
    let gateway = Gateway::new(FakeResolver::new(vec![vec![LOOPBACK]])).proxies(proxies(&[(
        "HTTP_PROXY",
        format!("http://127.0.0.1:{}", proxy.port),
    )]));
    let response = gateway
        .fetch(
            &grant,
            get(format!("http://svc.test:{}/x", server.port)),
            deadline(),
        )
        .expect("fetch through the proxy");
    assert_eq!(response.body, b"via proxy");
    let heads = proxy.heads();
    assert!(
        heads[0].starts_with(&format!("CONNECT 127.0.0.1:{} ", server.port)),
        "{heads:?}"
    );
    let requests = server.requests();
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains(&format!("host: svc.test:{port}")),
        "{requests:?}"
    );
}

/// A proxy changes the route, not the rules: a denied host or address is refused before the
/// proxy is contacted.
#[test]
fn a_proxy_does_not_relax_the_grant() {
    let proxy_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port = proxy_listener.local_addr().expect("addr").port();
    let gateway = Gateway::new(FakeResolver::new(vec![vec![METADATA]])).proxies(proxies(&[(
        "HTTP_PROXY",
        format!("127.0.0.1:{proxy_port}"),
    )]));
    let grant = grant_with(&["svc.test".into()], &[], ByteSize::mib(16));
    denied(
        gateway.fetch(&grant, get("http://svc.test/"), deadline()),
        DenialReason::PrivateAddress,
    );
    denied(
        gateway.fetch(&grant, get("http://other.test/"), deadline()),
        DenialReason::NotCovered,
    );
    proxy_listener.set_nonblocking(true).expect("nonblocking");
    assert!(proxy_listener.accept().is_err(), "the proxy was contacted");
}

/// `NO_PROXY` hosts (and their subdomains) connect directly; malformed proxy settings are an
/// error naming the variable, not silently ignored.
#[test]
fn no_proxy_bypasses_and_bad_settings_are_errors() {
    let server = Server::start(vec![ok("direct")]);
    let grant = grant_with(
        &[format!("api.svc.test:{}", server.port)],
        &["127.0.0.1/32"],
        ByteSize::mib(16),
    );
    let gateway = Gateway::new(FakeResolver::new(vec![vec![LOOPBACK]])).proxies(proxies(&[
        ("HTTP_PROXY", "http://127.0.0.1:9".to_owned()),
        ("NO_PROXY", "localhost, .svc.test".to_owned()),
    ]));
    let response = gateway
        .fetch(
            &grant,
            get(format!("http://api.svc.test:{}/", server.port)),
            deadline(),
        )
        .expect("direct fetch");
    assert_eq!(response.body, b"direct");

    for bad in [
        "socks5://127.0.0.1:1080",
        "http://",
        "https://proxy.corp:3128",
    ] {
        let err =
            Proxies::from_vars(|n| (n == "HTTPS_PROXY").then(|| bad.to_owned())).expect_err(bad);
        assert!(err.starts_with("HTTPS_PROXY"), "{err}");
    }
}

/// TLS is verified: a server with a self-signed certificate (made and served by the `openssl`
/// command line tool) is refused with a `TypeError`, and so is a plain-HTTP server spoken to as
/// `https:`. (OWASP "Improper Certificate Validation"; many SSRF-hardening proxies disable
/// verification for internal hosts.)
#[test]
fn tls_certificates_are_verified() {
    let plain = Server::start(vec![ok("plain")]);
    let grant = loopback_grant(plain.port);
    type_error(fetch(
        &grant,
        get(format!("https://127.0.0.1:{}/", plain.port)),
        &no_dns(),
        deadline(),
    ));

    let dir = tempfile::tempdir().expect("tempdir");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir.path())
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: the `openssl` tool is not available");
        return;
    }
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", "cert.pem", "-key", "key.pem"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let ready = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < ready {
        thread::sleep(Duration::from_millis(20));
    }
    let result = fetch(
        &loopback_grant(port),
        get(format!("https://127.0.0.1:{port}/")),
        &no_dns(),
        deadline(),
    );
    let _ = server.kill();
    let _ = server.wait();
    match result {
        Err(FetchError::Type(message)) => {
            assert!(message.to_lowercase().contains("certificate"), "{message}")
        }
        other => panic!("a self-signed certificate must be refused, got {other:?}"),
    }
}
