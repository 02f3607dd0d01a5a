//! `fetch` end to end (issue 4): a plugin's requests through the gateway, against a local HTTP
//! server on 127.0.0.1 that counts what reaches it. Nothing here contacts any other address:
//! every other target is refused before a socket is opened.
//!
//! Sources of the tricks: the PayloadsAllTheThings "Server Side Request Forgery" payload list
//! (`localhost`, `0.0.0.0`, decimal `2130706433`, hex `0x7f.1`, octal `0177.0.0.1`, IPv4-mapped
//! `[::ffff:127.0.0.1]`, `user@host` URLs, `file:`/`data:` schemes, open redirects to internal
//! hosts); the Deno and Node.js security advisories on network permission checks
//! skipped for redirect hops; Spin's outbound HTTP following redirects outside its
//! allow-list.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{error, output, run};

/// A local HTTP server: `/ok` answers `hello`, `/big` 2048 bytes, `/slow` after 5 s,
/// `/to/<port>/<path>` redirects to `http://127.0.0.1:<port>/<path>`, `/redirect/<url>` to
/// `<url>` as written, `/echo` returns the request head. Counts accepted connections (a
/// completed TCP handshake counts, even without a request); stops when dropped.
pub(crate) struct Server {
    pub(crate) port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (Arc::clone(&hits), Arc::clone(&stop));
        let handle = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        h.fetch_add(1, Ordering::Relaxed);
                        let stop = Arc::clone(&s);
                        thread::spawn(move || serve(stream, &stop));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            hits,
            stop,
            handle: Some(handle),
        }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(mut stream: std::net::TcpStream, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let (status, extra, body) = if path == "/ok" {
        ("200 OK", String::new(), "hello".to_owned())
    } else if path == "/big" {
        ("200 OK", String::new(), "x".repeat(2048))
    } else if path == "/slow" {
        for _ in 0..500 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        ("200 OK", String::new(), "late".to_owned())
    } else if let Some(rest) = path.strip_prefix("/to/") {
        let (port, target) = rest.split_once('/').unwrap_or((rest, ""));
        let location = format!("http://127.0.0.1:{port}/{target}");
        (
            "302 Found",
            format!("Location: {location}\r\n"),
            String::new(),
        )
    } else if let Some(location) = path.strip_prefix("/redirect/") {
        (
            "302 Found",
            format!("Location: {location}\r\n"),
            String::new(),
        )
    } else if path == "/echo" {
        ("200 OK", String::new(), head)
    } else {
        ("404 Not Found", String::new(), String::new())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// Fetches each of `input.requests` (`[url, init]`) in turn and returns, for each,
/// `{status, url, redirected, text}` or `{err: {name, capability, target}}`.
const FETCHER: &str = r#"
export default async function (input) {
  const out = [];
  for (const [url, init] of input.requests) {
    try {
      const res = await fetch(url, init ?? undefined);
      out.push({ status: res.status, url: res.url, redirected: res.redirected, text: await res.text() });
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null } });
    }
  }
  return out;
}
"#;

/// A workspace whose `fetcher` plugin is granted `domains`, under a policy with `network`
/// (its `[network]` section's extra lines), running `requests` in one step.
fn fetcher(domains: &[String], network: &str, requests: &Value, timeout: &str) -> Ws {
    let ws = Ws::new();
    let manifest = json!({
        "name": "fetcher",
        "version": "1.0.0",
        "permissions": { "network": { "domains": domains } },
        "limits": { "timeout": timeout },
    });
    ws.js_plugin("fetcher", &manifest.to_string(), FETCHER);
    let policy_domains = serde_json::to_string(domains).unwrap();
    ws.write(
        "aether-policy.toml",
        &format!("[network]\ndomains = {policy_domains}\n{network}\n"),
    );
    let with = json!({ "requests": requests });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: net\npolicy: ./aether-policy.toml\nsteps:\n  - id: f\n    plugin: ./plugins/fetcher\n    with: {with}\n"
        ),
    );
    ws
}

const LOOPBACK_ALLOWED: &str = "allow_private = [\"127.0.0.1/32\"]";

fn denied(target: &str) -> Value {
    json!({ "err": { "name": "PermissionDenied", "capability": "network", "target": target } })
}

fn type_error() -> Value {
    json!({ "err": { "name": "TypeError", "capability": null, "target": null } })
}

#[test]
fn a_granted_fetch_reaches_the_server_and_returns_its_response() {
    let server = Server::start();
    let p = server.port;
    let base = format!("http://127.0.0.1:{p}");
    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        LOOPBACK_ALLOWED,
        &json!([
            [format!("{base}/ok"), null],
            [format!("{base}/missing"), null]
        ]),
        "10s",
    );
    let (_, v) = run(&ws);
    assert_eq!(
        output(&v, "f"),
        &json!([
            { "status": 200, "url": format!("{base}/ok"), "redirected": false, "text": "hello" },
            { "status": 404, "url": format!("{base}/missing"), "redirected": false, "text": "" },
        ])
    );
    assert_eq!(server.hits(), 2);
}

/// SPEC §3: loopback is reached only when `allow_private` covers it, whatever the domain grant
/// says, and every other spelling of 127.0.0.1 (and 0.0.0.0, which Linux routes to loopback)
/// is the same address.
#[test]
fn loopback_in_any_spelling_needs_allow_private() {
    let server = Server::start();
    let p = server.port;
    let spellings = [
        format!("http://127.0.0.1:{p}/ok"),
        format!("http://localhost:{p}/ok"),
        format!("http://[::ffff:127.0.0.1]:{p}/ok"),
        format!("http://2130706433:{p}/ok"),
        format!("http://0x7f.1:{p}/ok"),
        format!("http://0177.0.0.1:{p}/ok"),
        format!("http://0.0.0.0:{p}/ok"),
        format!("http://[::1]:{p}/ok"),
    ];
    let domains = [
        format!("127.0.0.1:{p}"),
        format!("localhost:{p}"),
        format!("0.0.0.0:{p}"),
        format!("[::1]:{p}"),
    ];
    let requests: Vec<Value> = spellings.iter().map(|u| json!([u, null])).collect();
    let ws = fetcher(&domains, "", &json!(requests), "10s");
    let (_, v) = run(&ws);
    let results = output(&v, "f").as_array().unwrap();
    for (url, result) in spellings.iter().zip(results) {
        assert_eq!(result["err"]["name"], "PermissionDenied", "{url}: {result}");
        assert_eq!(result["err"]["capability"], "network", "{url}: {result}");
    }
    assert_eq!(server.hits(), 0, "nothing may reach the server");

    // Positive control: the same grant with `allow_private` reaches it.
    let ws = fetcher(
        &domains,
        LOOPBACK_ALLOWED,
        &json!([[&spellings[3], null]]),
        "10s",
    );
    let (_, v) = run(&ws);
    assert_eq!(output(&v, "f")[0]["text"], "hello");
    assert_eq!(server.hits(), 1);
}

#[test]
fn ungranted_hosts_ports_schemes_and_credentials_are_refused() {
    let server = Server::start();
    let p = server.port;
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let q = other.local_addr().unwrap().port();
    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        &format!("{LOOPBACK_ALLOWED}\nhttps_only = false"),
        &json!([
            [format!("http://127.0.0.1:{q}/ok"), null],
            ["http://example.com/", null],
            [format!("http://user:pass@127.0.0.1:{p}/ok"), null],
            ["file:///etc/passwd", null],
            ["data:text/plain,hi", null],
            [format!("http://127.0.0.1:{p}/ok"), { "headers": { "X-A": "1\r\nHost: evil" } }],
            ["not a url", null],
        ]),
        "10s",
    );
    let (_, v) = run(&ws);
    let results = output(&v, "f").as_array().unwrap();
    assert_eq!(results[0], denied(&format!("http://127.0.0.1:{q}/ok")));
    assert_eq!(results[1], denied("http://example.com/"));
    assert_eq!(results[2], type_error(), "userinfo");
    assert_eq!(results[3], denied("file:///etc/passwd"));
    assert_eq!(results[4], denied("data:text/plain,hi"));
    assert_eq!(results[5], type_error(), "header injection");
    assert_eq!(results[6], type_error(), "malformed URL");
    assert_eq!(server.hits(), 0);
}

/// Every redirect hop is checked like the first (Deno/Spin advisories): a redirect to an
/// ungranted port is refused, to a granted one followed; `manual` returns the 302 itself.
#[test]
fn redirects_are_checked_hop_by_hop() {
    let server = Server::start();
    let granted = Server::start();
    let ungranted = Server::start();
    let (p, g, u) = (server.port, granted.port, ungranted.port);
    let ws = fetcher(
        &[format!("127.0.0.1:{p}"), format!("127.0.0.1:{g}")],
        LOOPBACK_ALLOWED,
        &json!([
            [format!("http://127.0.0.1:{p}/to/{u}/ok"), null],
            [format!("http://127.0.0.1:{p}/to/{g}/ok"), null],
            [format!("http://127.0.0.1:{p}/to/{g}/ok"), { "redirect": "manual" }],
            [format!("http://127.0.0.1:{p}/to/{g}/ok"), { "redirect": "error" }],
        ]),
        "10s",
    );
    let (_, v) = run(&ws);
    let results = output(&v, "f").as_array().unwrap();
    assert_eq!(results[0], denied(&format!("http://127.0.0.1:{u}/ok")));
    assert_eq!(
        results[1],
        json!({ "status": 200, "url": format!("http://127.0.0.1:{g}/ok"), "redirected": true, "text": "hello" })
    );
    assert_eq!(results[2]["status"], 302);
    assert_eq!(results[3], type_error());
    assert_eq!(ungranted.hits(), 0);
    assert_eq!(granted.hits(), 1);
}

#[test]
fn responses_above_max_response_bytes_and_plain_http_under_https_only_fail() {
    let server = Server::start();
    let p = server.port;
    let base = format!("http://127.0.0.1:{p}");
    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        &format!("{LOOPBACK_ALLOWED}\nmax_response_bytes = \"1KiB\""),
        &json!([[format!("{base}/big"), null], [format!("{base}/ok"), null]]),
        "10s",
    );
    let (_, v) = run(&ws);
    let results = output(&v, "f").as_array().unwrap();
    assert_eq!(results[0], type_error(), "2 KiB body over a 1 KiB cap");
    assert_eq!(results[1]["text"], "hello");

    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        &format!("{LOOPBACK_ALLOWED}\nhttps_only = true"),
        &json!([[format!("{base}/ok"), null]]),
        "10s",
    );
    let (_, v) = run(&ws);
    assert_eq!(output(&v, "f")[0]["err"]["name"], "PermissionDenied");
}

/// A server that never answers in time: `timeoutMs` rejects the fetch with a `TypeError`, and
/// the step's own timeout stops a step that waits on it (SPEC §5: "a fetch never outlives the
/// step").
#[test]
fn a_slow_server_is_cut_off_by_timeout_ms_and_by_the_step_timeout() {
    let server = Server::start();
    let p = server.port;
    let slow = format!("http://127.0.0.1:{p}/slow");
    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        LOOPBACK_ALLOWED,
        &json!([[&slow, { "timeoutMs": 200 }]]),
        "10s",
    );
    let (_, v) = run(&ws);
    assert_eq!(output(&v, "f")[0], type_error());

    let ws = fetcher(
        &[format!("127.0.0.1:{p}")],
        LOOPBACK_ALLOWED,
        &json!([[&slow, null]]),
        "1s",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1));
    assert_eq!(error(&v, "f"), "timeout of 1s exceeded");
}

/// `--unsafe` (SPEC §6): no checks, so an ungranted loopback fetch goes through; without it the
/// same plugin is refused (the control).
#[test]
fn unsafe_runs_fetch_without_checks() {
    let server = Server::start();
    let p = server.port;
    let ws = fetcher(
        &[],
        "",
        &json!([[format!("http://localhost:{p}/ok"), null]]),
        "10s",
    );
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: net\nsteps:\n  - id: f\n    plugin: ./plugins/fetcher\n    with: {}\n",
            json!({ "requests": [[format!("http://localhost:{p}/ok"), null]] })
        ),
    );
    let (_, v) = run(&ws);
    assert_eq!(output(&v, "f")[0]["err"]["name"], "PermissionDenied");
    assert_eq!(server.hits(), 0);

    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json", "--unsafe"]);
    out.no_panic();
    assert_eq!(
        out.json()["steps"][0]["output"][0]["text"],
        "hello",
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 1);
}
