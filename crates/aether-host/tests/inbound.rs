//! `aether.listen` in the broker (issue 9), over real sockets on 127.0.0.1: only granted
//! addresses are bound; requests are parsed under the inbound limits and what is malformed,
//! oversized or too slow is answered by aether and never reaches the plugin; responses cannot
//! inject headers; every request is an event; `end` frees the port at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::bundle::PluginBundle;
use aether_host::events::{Event, Recorder};
use aether_host::inbound::InboundLimits;
use aether_host::{Host, HostError, HostRequest, HostValue};
use aether_policy::{
    Capability, Decision, Grant, ListenAddr, Permissions, Policy, RequestedLimits,
};

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Recorder for Events {
    fn record(&self, event: Event) {
        self.0.lock().expect("lock").push(event);
    }
    fn log(&self, _step: &str, _level: &str, _message: &str) {}
}

impl Events {
    fn all(&self) -> Vec<Event> {
        self.0.lock().expect("lock").clone()
    }

    /// The events of requests a listener received.
    fn inbound(&self) -> Vec<Event> {
        self.all()
            .into_iter()
            .filter(|e| e.traffic.as_ref().is_some_and(|t| t.inbound.is_some()))
            .collect()
    }
}

/// A port nothing listens on right now (bound and released).
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
    probe.local_addr().expect("addr").port()
}

/// A step granted `127.0.0.1:port` only.
fn step(port: u16, limits: InboundLimits) -> (StepHost, Arc<Events>) {
    let listen = vec![ListenAddr::parse(&format!("127.0.0.1:{port}")).expect("listen")];
    let policy = Policy {
        listen: listen.clone(),
        ..Policy::default()
    };
    let permissions = Permissions {
        listen,
        ..Permissions::default()
    };
    let grant = Grant::new(permissions, Some(&policy), &RequestedLimits::default()).expect("grant");
    let events = Arc::new(Events::default());
    let plugin = tempfile::tempdir().expect("tempdir");
    std::fs::write(plugin.path().join("index.js"), "").expect("write");
    let bundle = Arc::new(PluginBundle::load(plugin.path()).expect("bundle"));
    let host = StepHost::new(
        StepIdentity {
            step: "s".into(),
            plugin: "p".into(),
        },
        grant,
        Path::new("/").to_path_buf(),
        bundle,
        Arc::clone(&events) as Arc<dyn Recorder>,
    )
    .inbound_limits(limits);
    (host, events)
}

fn listen(host: &StepHost, hostname: &str, port: u16) -> Result<u64, HostError> {
    match host.call(HostRequest::Listen {
        hostname: hostname.into(),
        port,
    })? {
        HostValue::Listener { id } => Ok(id),
        other => panic!("listen answered {other:?}"),
    }
}

/// The next request: `(id, method, url, body)`, or `None` once closed.
fn accept(host: &StepHost, listener: u64) -> Option<(u64, String, String, Vec<u8>)> {
    match host.call(HostRequest::Accept { listener }) {
        Ok(HostValue::Request {
            id,
            method,
            url,
            body,
            ..
        }) => Some((id, method, url, body)),
        Ok(HostValue::Unit) => None,
        other => panic!("accept answered {other:?}"),
    }
}

fn respond(
    host: &StepHost,
    request: u64,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(), HostError> {
    host.call(HostRequest::Respond {
        request,
        status: 200,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    })
    .map(|_| ())
}

/// Sends `raw` and reads the whole answer (until the server closes).
fn exchange(port: u16, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// [`exchange`] on a thread of its own; the answer comes on the channel.
fn exchange_later(port: u16, raw: &'static [u8]) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(exchange(port, raw));
    });
    rx
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn serves_requests_one_per_connection_and_records_each() {
    let port = free_port();
    let (host, events) = step(port, InboundLimits::default());
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let clients = [
        exchange_later(port, b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"),
        exchange_later(
            port,
            b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        ),
        exchange_later(port, b"HEAD /c HTTP/1.0\r\n\r\n"),
    ];
    for _ in 0..3 {
        let (request, method, url, body) = accept(&host, id).expect("a request");
        let path = url
            .strip_prefix(&format!("http://127.0.0.1:{port}"))
            .expect("url names the listening address")
            .to_owned();
        let text = format!("{method} {path} {}", String::from_utf8_lossy(&body));
        respond(&host, request, &[("X-Seen", "yes")], &text).expect("respond");
    }
    let answers: Vec<String> = clients
        .iter()
        .map(|rx| rx.recv().expect("answer"))
        .collect();
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\r\nx-seen: yes\r\n"), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    }
    assert!(
        answers[0].ends_with("\r\n\r\nGET /a?x=1 "),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].ends_with("\r\n\r\nPOST /b hello"),
        "{}",
        answers[1]
    );
    // HEAD: the length of the body it would have had, and no body.
    assert!(
        answers[2].contains("content-length: 8\r\n"),
        "{}",
        answers[2]
    );
    assert!(answers[2].ends_with("\r\n\r\n"), "{}", answers[2]);

    let all = events.all();
    assert_eq!(
        (all[0].capability, all[0].decision, all[0].target.as_str()),
        (
            Capability::Network,
            Decision::Allowed,
            format!("127.0.0.1:{port}").as_str()
        )
    );
    let mut seen: Vec<(String, String, u16, u64, u64)> = events
        .inbound()
        .iter()
        .map(|e| {
            let t = e.traffic.as_ref().expect("traffic");
            let i = t.inbound.as_ref().expect("inbound");
            assert_eq!(t.address.to_string(), format!("127.0.0.1:{port}"));
            assert_eq!(i.peer.ip().to_string(), "127.0.0.1");
            assert_eq!(e.target, format!("http://127.0.0.1:{port}{}", i.path));
            (
                i.method.clone(),
                i.path.clone(),
                t.status,
                t.bytes_received,
                t.bytes_sent,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("GET".into(), "/a?x=1".into(), 200, 0, 11),
            ("HEAD".into(), "/c".into(), 200, 0, 0),
            ("POST".into(), "/b".into(), 200, 5, 13),
        ]
    );
}

/// Attempts to listen beyond a grant of `127.0.0.1:P`. Sources: the "0.0.0.0 Day" disclosure
/// (Oligo, 2024: `0.0.0.0` reaches what `127.0.0.1` serves, and binding it exposes a port to
/// the network), PayloadsAllTheThings SSRF "bypass localhost" (IPv4-mapped IPv6, decimal and
/// octal spellings), and port 0 (any port the system picks, SPEC §2).
#[test]
fn binds_only_granted_addresses_and_nothing_listens_after_a_refusal() {
    let port = free_port();
    let (host, events) = step(port, InboundLimits::default());
    for (hostname, p) in [
        ("0.0.0.0", port),
        ("::", port),
        ("127.0.0.2", port),
        ("::1", port),
        ("127.0.0.1", port.wrapping_add(1).max(1)),
        ("127.0.0.1", 0),
    ] {
        let denied = listen(&host, hostname, p);
        assert!(
            matches!(&denied, Err(HostError::PermissionDenied { capability: Capability::Network, target, .. })
                if target == &SocketAddr::new(hostname.parse().expect("ip"), p).to_string()),
            "{hostname}:{p}: {denied:?}"
        );
        assert!(refused(port), "{hostname}:{p} left something listening");
    }
    // Names no listen grant can cover (grants name addresses, and no name is looked up): the
    // grant is checked first (SPEC §5, issue 15), so each is a denial with its violation, not
    // a `TypeError`.
    for name in ["example.com", "2130706433", "0177.0.0.1", "0x7f.1", "127.1"] {
        let denied = listen(&host, name, port);
        assert!(
            matches!(&denied, Err(HostError::PermissionDenied { capability: Capability::Network, target, .. })
                if target == &format!("{name}:{port}")),
            "{name}: {denied:?}"
        );
        assert!(refused(port), "{name} left something listening");
    }
    let denials: Vec<String> = events
        .all()
        .iter()
        .filter(|e| e.decision == Decision::Denied && e.capability == Capability::Network)
        .map(|e| e.target.clone())
        .collect();
    assert_eq!(denials.len(), 11, "{denials:?}");

    // The same address spelled IPv4-mapped, or as `localhost`, is the granted one: it binds
    // 127.0.0.1 itself, nothing wider.
    for hostname in ["::ffff:127.0.0.1", "localhost"] {
        let id = listen(&host, hostname, port).expect(hostname);
        let client = exchange_later(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let (request, _, url, _) = accept(&host, id).expect("a request");
        assert_eq!(url, format!("http://127.0.0.1:{port}/"));
        respond(&host, request, &[], "").expect("respond");
        assert!(client.recv().expect("answer").starts_with("HTTP/1.1 200"));
        host.call(HostRequest::CloseListener { listener: id })
            .expect("close");
        assert!(refused(port), "close left {hostname} listening");
        assert!(accept(&host, id).is_none(), "accept after close is null");
    }
}

#[test]
fn malformed_oversized_and_smuggled_requests_never_reach_the_plugin() {
    let port = free_port();
    let limits = InboundLimits {
        max_head_bytes: 1024,
        max_body_bytes: 16,
        ..InboundLimits::default()
    };
    let (host, events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2048)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..101)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("head above the cap", big_header.into_bytes(), "431"),
        ("too many fields", many_headers.into_bytes(), "431"),
        (
            "body above the cap",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n".to_vec(),
            "413",
        ),
        (
            "huge Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n"
                .to_vec(),
            "400",
        ),
        // Request smuggling, CL.TE and TE.CL (RFC 9112 §6.1; PortSwigger "HTTP request
        // smuggling"): a message with both is refused, whatever their order.
        (
            "Content-Length and Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            "400",
        ),
        (
            "Transfer-Encoding and Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
                .to_vec(),
            "400",
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
            "411",
        ),
        (
            "two Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            "400",
        ),
        (
            "signed Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\na".to_vec(),
            "400",
        ),
        (
            "listed Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 1\r\n\r\na".to_vec(),
            "400",
        ),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), "400"),
        (
            "two Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "absolute form",
            b"GET http://evil.example/ HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            "400",
        ),
        ("not HTTP", b"\x00\x01\x02 hello\r\n\r\n".to_vec(), "400"),
        (
            "HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "space before colon",
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 3\r\n\r\nabc".to_vec(),
            "400",
        ),
    ];
    for (what, raw, status) in &cases {
        let answer = exchange(port, raw);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{what}: {answer}");
    }
    // The only request the plugin ever gets is the good one sent last.
    let good = exchange_later(
        port,
        b"PUT /good HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n0123456789abcdef",
    );
    let (request, method, url, body) = accept(&host, id).expect("the good request");
    assert_eq!(
        (method.as_str(), url.as_str(), body.as_slice()),
        (
            "PUT",
            format!("http://127.0.0.1:{port}/good").as_str(),
            &b"0123456789abcdef"[..]
        )
    );
    respond(&host, request, &[], "ok").expect("respond");
    assert!(good.recv().expect("answer").starts_with("HTTP/1.1 200"));
    let statuses: Vec<u16> = events
        .inbound()
        .iter()
        .map(|e| e.traffic.as_ref().expect("traffic").status)
        .collect();
    let expected: Vec<u16> = cases
        .iter()
        .map(|(_, _, s)| s.parse().expect("status"))
        .chain([200])
        .collect();
    assert_eq!(
        statuses, expected,
        "every request is an event, refused or not"
    );
}

/// Slowloris (Hansen, 2009): a client that trickles its head, or stalls in its body, is cut
/// off at the limit with a 408, while other clients are served meanwhile.
#[test]
fn slow_clients_are_cut_off_without_holding_up_others() {
    let port = free_port();
    let limits = InboundLimits {
        head_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        ..InboundLimits::default()
    };
    let (host, _events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");

    let (tx, slow_head) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut answer = Vec::new();
        // One header line every 50 ms, for up to 20 s: never a complete head.
        for i in 0..400 {
            if stream
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .is_err()
            {
                break;
            }
            let mut buf = [0u8; 1024];
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&answer).into_owned());
    });
    let slow_body = exchange_later(
        port,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
    );
    // Sent while both slow clients hold their connections: served all the same.
    let fast = exchange_later(port, b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    let (request, _, url, _) = accept(&host, id).expect("the fast request");
    assert!(url.ends_with("/fast"), "{url}");
    respond(&host, request, &[], "fast").expect("respond");
    assert!(fast.recv().expect("answer").ends_with("\r\n\r\nfast"));

    let head = slow_head.recv().expect("slow head");
    assert!(head.starts_with("HTTP/1.1 408 "), "{head}");
    let body = slow_body.recv().expect("slow body");
    assert!(body.starts_with("HTTP/1.1 408 "), "{body}");
    // Neither reached the plugin: the listener has nothing more.
    host.call(HostRequest::CloseListener { listener: id })
        .expect("close");
    assert!(accept(&host, id).is_none());
}

/// HTTP response splitting (CWE-113): CR or LF in a header name or value would let the plugin
/// (or a client whose input it echoes) write a second response or headers of its choice; the
/// framing headers are aether's alone. Each refusal is a TypeError and the request can still
/// be answered properly.
#[test]
fn respond_refuses_header_injection_and_bad_statuses() {
    let port = free_port();
    let (host, _events) = step(port, InboundLimits::default());
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let client = exchange_later(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let (request, _, _, _) = accept(&host, id).expect("a request");
    let injections: [(&str, &str); 8] = [
        ("X-A", "1\r\nSet-Cookie: injected=1"),
        ("X-A", "1\nSet-Cookie: injected=1"),
        ("X-A\r\nSet-Cookie", "injected=1"),
        ("X-A", "1\0"),
        ("Content-Length", "0"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "keep-alive"),
        ("Bad Name", "x"),
    ];
    for (name, value) in injections {
        let refused = respond(&host, request, &[(name, value)], "x");
        assert!(
            matches!(
                refused,
                Err(HostError::Failed {
                    type_error: true,
                    ..
                })
            ),
            "{name:?}: {value:?}: {refused:?}"
        );
    }
    for status in [0, 99, 101, 199, 600, 1000] {
        let refused = host.call(HostRequest::Respond {
            request,
            status,
            headers: Vec::new(),
            body: Vec::new(),
        });
        assert!(
            matches!(
                refused,
                Err(HostError::Failed {
                    type_error: true,
                    ..
                })
            ),
            "{status}: {refused:?}"
        );
    }
    let no_content = host.call(HostRequest::Respond {
        request,
        status: 204,
        headers: Vec::new(),
        body: b"x".to_vec(),
    });
    assert!(matches!(
        no_content,
        Err(HostError::Failed {
            type_error: true,
            ..
        })
    ));
    respond(&host, request, &[("X-A", "1")], "fine").expect("respond");
    let again = respond(&host, request, &[], "twice");
    assert!(matches!(
        again,
        Err(HostError::Failed {
            type_error: true,
            ..
        })
    ));
    let answer = client.recv().expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.contains("injected"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
    assert!(answer.ends_with("\r\n\r\nfine"), "{answer}");
}

/// The first of two receivers to deliver, and the other.
fn first_of(
    a: mpsc::Receiver<String>,
    b: mpsc::Receiver<String>,
) -> (String, mpsc::Receiver<String>) {
    loop {
        if let Ok(answer) = a.try_recv() {
            return (answer, b);
        }
        if let Ok(answer) = b.try_recv() {
            return (answer, a);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A step's end closes its listeners (the port can be bound again at once), answers what the
/// plugin held or never accepted with a 503, records both, and refuses later binds.
#[test]
fn end_answers_what_is_pending_and_frees_the_port_at_once() {
    let port = free_port();
    let limits = InboundLimits {
        max_queued: 1,
        ..InboundLimits::default()
    };
    let (host, events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let held = exchange_later(port, b"GET /held HTTP/1.1\r\nHost: t\r\n\r\n");
    let (_request, _, url, _) = accept(&host, id).expect("a request");
    assert!(url.ends_with("/held"));
    // One queue place for two requests: the one answered 503 at once proves the other queued.
    let (over, queued) = first_of(
        exchange_later(port, b"GET /q HTTP/1.1\r\nHost: t\r\n\r\n"),
        exchange_later(port, b"GET /q HTTP/1.1\r\nHost: t\r\n\r\n"),
    );
    assert!(over.starts_with("HTTP/1.1 503 "), "{over}");
    host.end();
    let rebound = TcpListener::bind(("127.0.0.1", port));
    assert!(rebound.is_ok(), "the port is still taken: {rebound:?}");
    drop(rebound);
    assert!(held.recv().expect("answer").starts_with("HTTP/1.1 503 "));
    assert!(queued.recv().expect("answer").starts_with("HTTP/1.1 503 "));
    let mut answered: Vec<(String, u16, String)> = events
        .inbound()
        .iter()
        .map(|e| {
            let t = e.traffic.as_ref().expect("traffic");
            let path = t.inbound.as_ref().expect("inbound").path.clone();
            (path, t.status, e.reason.clone())
        })
        .collect();
    answered.sort();
    assert_eq!(
        answered,
        [
            (
                "/held".into(),
                503,
                "the step ended before the plugin responded".into()
            ),
            (
                "/q".into(),
                503,
                "the step ended before the plugin accepted the request".into()
            ),
            (
                "/q".into(),
                503,
                "too many requests waiting for the plugin".into()
            ),
        ]
    );
    assert!(matches!(
        listen(&host, "127.0.0.1", port),
        Err(HostError::Failed { .. })
    ));
    assert!(refused(port));
}

/// A client still sending its head when the step ends is cut off then, not at its head
/// timeout: nothing of the step's listening outlives it. It is told (503, issue 15) and its
/// request is an event by the time the step's end returns.
#[test]
fn end_cuts_off_clients_still_sending() {
    let port = free_port();
    let limits = InboundLimits {
        head_timeout: Duration::from_secs(120),
        ..InboundLimits::default()
    };
    let (host, events) = step(port, limits);
    listen(&host, "127.0.0.1", port).expect("listen");
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .expect("write");
    // Let the listener take the connection in before the step ends.
    let mut idle = [0u8; 1];
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(slow.read(&mut idle).is_err(), "no answer to half a head");
    host.end();
    let peer = slow.local_addr().expect("addr");
    let recorded: Vec<u16> = events
        .all()
        .iter()
        .filter_map(|e| e.traffic.as_ref())
        .filter(|t| t.inbound.as_ref().is_some_and(|i| i.peer == peer))
        .map(|t| t.status)
        .collect();
    assert_eq!(recorded, [503]);
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        closed.is_ok()
            || closed
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "still open after the step ended: {closed:?}"
    );
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 503 "),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}

/// More open connections than the limit: the extra one is answered 503 at once, without
/// waiting for the others.
#[test]
fn connections_and_queued_requests_are_bounded() {
    let port = free_port();
    let limits = InboundLimits {
        max_connections: 2,
        max_queued: 1,
        ..InboundLimits::default()
    };
    let (host, _events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let first = exchange_later(port, b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let second = exchange_later(port, b"GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Two complete requests, one queue place: one of them is answered 503 without the
    // plugin accepting anything.
    let (over, waiting) = first_of(first, second);
    assert!(over.starts_with("HTTP/1.1 503 "), "{over}");
    // The waiting one holds a connection; one more idle connection fills the limit, and the
    // next is refused at once.
    let _idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let extra = exchange(port, b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(extra.starts_with("HTTP/1.1 503 "), "{extra}");
    let (request, _, _, _) = accept(&host, id).expect("the queued request");
    respond(&host, request, &[], "ok").expect("respond");
    assert!(waiting.recv().expect("answer").starts_with("HTTP/1.1 200"));
}

/// `--unsafe` (SPEC §6): the grant is not checked, so an ungranted address is bound, and the
/// would-be violation is recorded as `allowed-unsafe`; the limits on clients still hold.
#[test]
fn unsafe_runs_bind_ungranted_addresses_and_record_it() {
    let granted = free_port();
    let other = free_port();
    let (host, events) = step(granted, InboundLimits::default());
    let host = host.unsafe_mode(aether_policy::UnsafeMode::acknowledge());
    let id = listen(&host, "127.0.0.1", other).expect("unsafe listen");
    let client = exchange_later(other, b"GET /u HTTP/1.1\r\nHost: t\r\n\r\n");
    let (request, _, _, _) = accept(&host, id).expect("a request");
    respond(&host, request, &[], "unsafe").expect("respond");
    assert!(client.recv().expect("answer").ends_with("\r\n\r\nunsafe"));
    let overridden: Vec<(Decision, String)> = events
        .all()
        .iter()
        .filter(|e| e.decision != Decision::Allowed)
        .map(|e| (e.decision, e.target.clone()))
        .collect();
    assert_eq!(
        overridden,
        [(Decision::AllowedUnsafe, format!("127.0.0.1:{other}"))]
    );
    host.end();
    assert!(refused(other));
}

/// `Expect: 100-continue` (curl sends it for bodies above 1 KiB and waits for the answer):
/// the body is asked for when it fits, refused with 413 before it is sent when it does not.
#[test]
fn expect_continue_is_answered() {
    let port = free_port();
    let limits = InboundLimits {
        max_body_bytes: 8,
        ..InboundLimits::default()
    };
    let (host, _events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let client = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
            .write_all(
                b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            )
            .expect("head");
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).expect("100 Continue");
        stream.write_all(b"hello").expect("body");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        (
            String::from_utf8_lossy(&interim).into_owned(),
            String::from_utf8_lossy(&rest).into_owned(),
        )
    });
    let (request, _, _, body) = accept(&host, id).expect("a request");
    assert_eq!(body, b"hello");
    respond(&host, request, &[], "ok").expect("respond");
    let (interim, rest) = client.join().expect("client");
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    let too_big = exchange(
        port,
        b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
    );
    assert!(too_big.starts_with("HTTP/1.1 413 "), "{too_big}");
}

/// A client that reads the response a trickle at a time (a slow-read attack, as in
/// slowhttptest's `-X` mode) cannot hold its connection, its thread and the response's bytes
/// in aether past the write timeout: the timeout bounds the whole response, not each write.
#[test]
fn slow_readers_are_cut_off_at_the_write_timeout() {
    let port = free_port();
    let limits = InboundLimits {
        write_timeout: Duration::from_millis(500),
        ..InboundLimits::default()
    };
    let (host, _events) = step(port, limits);
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let (tx, cut_off) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("request");
        // 1 KiB every 20 ms: 16 MiB would take more than five minutes.
        let mut buf = [0u8; 1024];
        let started = std::time::Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if started.elapsed() > Duration::from_secs(30) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(started.elapsed());
    });
    let (request, _, _, _) = accept(&host, id).expect("a request");
    host.call(HostRequest::Respond {
        request,
        status: 200,
        headers: Vec::new(),
        body: vec![b'x'; aether_host::inbound::MAX_RESPONSE_BODY_BYTES],
    })
    .expect("respond");
    let elapsed = cut_off.recv().expect("client");
    assert!(
        elapsed < Duration::from_secs(10),
        "a slow reader held its connection for {elapsed:?}"
    );
}

/// A response aether has not written yet is held in aether's memory for the plugin: it counts
/// toward the plugin's memory ceiling (`Host::reserved_bytes`) until it is written. Otherwise a
/// plugin could answer 32 clients that do not read with the same 16 MiB buffer, and make
/// aether hold 512 MiB per listener beyond its ceiling.
#[test]
fn unwritten_responses_count_toward_the_memory_ceiling() {
    let port = free_port();
    let (host, _events) = step(port, InboundLimits::default());
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    let (request, _, _, _) = accept(&host, id).expect("a request");
    assert_eq!(host.reserved_bytes(), 0);
    let size = 8 * 1024 * 1024;
    host.call(HostRequest::Respond {
        request,
        status: 200,
        headers: Vec::new(),
        body: vec![b'x'; size],
    })
    .expect("respond");
    // The client reads nothing yet: the response cannot all be in the socket's buffers.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        host.reserved_bytes() >= size as u64,
        "{} bytes reserved",
        host.reserved_bytes()
    );
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).expect("read");
    assert!(answer.len() > size);
    for _ in 0..100 {
        if host.reserved_bytes() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(host.reserved_bytes(), 0, "written responses are not held");
}

/// Every request a listener receives is an event, and events stay in aether's memory for the
/// run's report: a client's method and target (up to the 64 KiB head each) are capped in the
/// event, so that clients cannot make each event cost aether 128 KiB. The plugin still gets
/// the whole target.
#[test]
fn events_cap_the_method_and_target_clients_send() {
    let port = free_port();
    let (host, events) = step(port, InboundLimits::default());
    let id = listen(&host, "127.0.0.1", port).expect("listen");
    let long_path = format!("/{}", "p".repeat(60_000));
    let raw = format!("GET {long_path} HTTP/1.1\r\nHost: t\r\n\r\n");
    let raw: &'static [u8] = Box::leak(raw.into_bytes().into_boxed_slice());
    let client = exchange_later(port, raw);
    let (request, _, url, _) = accept(&host, id).expect("a request");
    assert!(
        url.ends_with(&long_path),
        "the plugin sees the whole target"
    );
    respond(&host, request, &[], "ok").expect("respond");
    assert!(client.recv().expect("answer").starts_with("HTTP/1.1 200"));
    let long_method = format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(60_000));
    let raw: &'static [u8] = Box::leak(long_method.into_bytes().into_boxed_slice());
    let client = exchange_later(port, raw);
    let (request, _, _, _) = accept(&host, id).expect("a request");
    respond(&host, request, &[], "ok").expect("respond");
    assert!(client.recv().expect("answer").starts_with("HTTP/1.1 200"));
    let max = aether_host::inbound::MAX_EVENT_TEXT_BYTES + '…'.len_utf8();
    let inbound = events.inbound();
    assert_eq!(inbound.len(), 2);
    for e in inbound {
        let i = e
            .traffic
            .as_ref()
            .and_then(|t| t.inbound.as_ref())
            .expect("inbound");
        assert!(i.path.len() <= max, "path of {} bytes", i.path.len());
        assert!(i.method.len() <= max, "method of {} bytes", i.method.len());
        assert_eq!(e.target, format!("http://127.0.0.1:{port}{}", i.path));
    }
}

/// A bind the grant allows but the system refuses (the port is taken, e.g. by another step) is
/// an `Error`, and no `allowed` event claims the plugin listened there.
#[test]
fn a_failed_bind_is_not_recorded_as_a_bind() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (host, events) = step(port, InboundLimits::default());
    let failed = listen(&host, "127.0.0.1", port);
    assert!(
        matches!(
            failed,
            Err(HostError::Failed {
                type_error: false,
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(events.all(), [], "no bind happened");
}

/// CPU time this process has used (user and system), from `stat`, `/proc/self/stat` opened
/// beforehand (no descriptor may be left to open it then).
fn cpu_time(stat: &std::fs::File) -> Duration {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = stat.read_at(&mut buf, 0).expect("stat");
    let stat = String::from_utf8_lossy(&buf[..n]);
    let after_name = &stat[stat.rfind(')').expect("name") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime, fields 14 and 15 of proc(5) (here from field 3), in clock ticks of
    // 10 ms on Linux.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// Out of file descriptors (EMFILE), a listening socket stays readable while its connection
/// cannot be accepted: the accepting thread must back off, not poll and fail in a loop that
/// burns a core of aether's for as long as it lasts. Runs in a process of its own (it lowers
/// the process's descriptor limit).
#[test]
fn out_of_descriptors_the_listener_does_not_spin() {
    const CHILD: &str = "AETHER_TEST_EMFILE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let status = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args([
                "--exact",
                "out_of_descriptors_the_listener_does_not_spin",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .status()
            .expect("run the child");
        assert!(status.success(), "the child test failed");
        return;
    }
    let port = free_port();
    let (host, _events) = step(port, InboundLimits::default());
    listen(&host, "127.0.0.1", port).expect("listen");
    let stat = std::fs::File::open("/proc/self/stat").expect("stat");
    let open = std::fs::read_dir("/proc/self/fd").expect("fds").count() as u64;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(open + 8),
            maximum: limit.maximum,
        },
    )
    .expect("setrlimit");
    // Connect until no descriptor is left: the last connections wait in the backlog.
    let mut clients = Vec::new();
    while let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
        clients.push(c);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_time(&stat);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(&stat) - before;
    assert!(used < Duration::from_millis(300), "{used:?} of CPU in 1 s");
}
