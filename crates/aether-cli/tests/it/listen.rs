//! `aether.listen` end to end (issue 9), in both isolation tiers: a plugin serves requests
//! from local clients through aether (no socket reaches it); ungranted binds are refused and
//! leave nothing listening; oversized and slow clients do not stall the step; the port is free
//! again as soon as a step that held it times out. Every server binds 127.0.0.1 only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{error, output};

/// A port nothing listens on right now, below Linux's ephemeral range (32768 and up): a port
/// from that range may be taken meanwhile as the source port of another test's connection,
/// and the plugin's bind then fails. Ports are spread by process and call, so that tests
/// running at once do not pick the same one.
pub(crate) fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 10_000 + (std::process::id() % 500) as u16 * 20;
    loop {
        let port = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Connects to `127.0.0.1:port`, retrying while nothing listens yet (the plugin listens some
/// time after aether starts), for 60 s at most.
pub(crate) fn connect(port: u16) -> TcpStream {
    for _ in 0..3000 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            return stream;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listened on 127.0.0.1:{port}");
}

/// Sends `raw` on `stream` and reads the answer until the server closes.
fn send(mut stream: TcpStream, raw: &[u8]) -> String {
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// [`send`] to `port` once it listens, on a thread of its own.
fn client(port: u16, raw: Vec<u8>) -> JoinHandle<String> {
    thread::spawn(move || send(connect(port), &raw))
}

/// A workspace whose plugins (name, index.js) are all granted `127.0.0.1:port`, under a
/// policy allowing it with `isolation` as the default tier, and a pipeline of `steps`
/// (`(id, plugin, with)`).
pub(crate) fn workspace(
    port: u16,
    isolation: &str,
    plugins: &[(&str, &str)],
    steps: &[(&str, &str, Value)],
) -> Ws {
    let ws = Ws::new();
    for (name, js) in plugins {
        let manifest = json!({
            "name": name, "version": "1.0.0",
            "permissions": { "network": { "listen": [format!("127.0.0.1:{port}")] } },
            "limits": { "timeout": "1s" },
        });
        let manifest = if *name == "sticky" {
            manifest
        } else {
            let mut m = manifest;
            m["limits"]["timeout"] = json!("60s");
            m
        };
        ws.js_plugin(name, &manifest.to_string(), js);
    }
    ws.write(
        "aether-policy.toml",
        &format!(
            "[network]\nlisten = [\"127.0.0.1:{port}\"]\n[isolation]\ndefault = \"{isolation}\"\n"
        ),
    );
    let mut pipeline = "name: inbound\npolicy: ./aether-policy.toml\nsteps:\n".to_owned();
    for (id, plugin, with) in steps {
        pipeline.push_str(&format!(
            "  - id: {id}\n    plugin: ./plugins/{plugin}\n    with: {with}\n"
        ));
    }
    ws.write("pipeline.yaml", &pipeline);
    ws
}

pub(crate) fn run(ws: &Ws, extra: &[&str]) -> Value {
    let mut args = vec!["run", "pipeline.yaml", "--output", "json", "--jobs", "1"];
    args.extend_from_slice(extra);
    let out = ws.aether(&args);
    out.no_panic();
    out.json()
}

/// Serves three requests, then closes its listener and returns what it saw.
const SERVER: &str = r#"
export default async function (input) {
  const server = aether.listen({ hostname: "127.0.0.1", port: input.port });
  const served = [];
  for (let i = 0; i < 3; i++) {
    const req = await server.accept();
    const who = req.headers.get("x-client");
    served.push(`${req.method} ${req.url} ${who} ${await req.text()}`);
    req.respond(200, { "x-served-by": "plugin" }, `hello ${who}`);
  }
  server.close();
  return { served: served.sort(), after: await server.accept() };
}
"#;

#[test]
fn a_plugin_serves_three_requests_and_returns_a_summary_in_both_tiers() {
    for tier in ["thread", "process"] {
        let port = free_port();
        let ws = workspace(
            port,
            tier,
            &[("server", SERVER)],
            &[("s", "server", json!({ "port": port }))],
        );
        let clients: Vec<JoinHandle<String>> = [
            "GET /a HTTP/1.1\r\nHost: t\r\nX-Client: 1\r\n\r\n".to_owned(),
            "POST /b?q=1 HTTP/1.1\r\nHost: t\r\nX-Client: 2\r\nContent-Length: 4\r\n\r\nbody"
                .to_owned(),
            "DELETE /c HTTP/1.1\r\nHost: t\r\nX-Client: 3\r\n\r\n".to_owned(),
        ]
        .into_iter()
        .map(|raw| client(port, raw.into_bytes()))
        .collect();
        let v = run(&ws, &["--inspect-security=report"]);
        let base = format!("http://127.0.0.1:{port}");
        assert_eq!(
            output(&v, "s"),
            &json!({
                "served": [
                    format!("DELETE {base}/c 3 "),
                    format!("GET {base}/a 1 "),
                    format!("POST {base}/b?q=1 2 body"),
                ],
                "after": null,
            }),
            "{tier}"
        );
        for (i, c) in clients.into_iter().enumerate() {
            let answer = c.join().unwrap();
            assert!(
                answer.starts_with("HTTP/1.1 200 OK\r\n"),
                "{tier}: {answer}"
            );
            assert!(
                answer.contains("x-served-by: plugin\r\n"),
                "{tier}: {answer}"
            );
            assert!(
                answer.ends_with(&format!("\r\n\r\nhello {}", i + 1)),
                "{tier}: {answer}"
            );
        }
        // Every request is an event: peer, method, path, status, bytes.
        let events = std::fs::read_to_string(ws.path().join("report/events.jsonl")).unwrap();
        let mut inbound: Vec<(String, String, u64, u64, u64)> = events
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e.get("peer").is_some())
            .map(|e| {
                assert!(e["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{e}");
                assert_eq!(e["address"], format!("127.0.0.1:{port}"), "{e}");
                assert_eq!(e["decision"], "allowed", "{e}");
                (
                    e["method"].as_str().unwrap().to_owned(),
                    e["path"].as_str().unwrap().to_owned(),
                    e["status"].as_u64().unwrap(),
                    e["bytes_received"].as_u64().unwrap(),
                    e["bytes_sent"].as_u64().unwrap(),
                )
            })
            .collect();
        inbound.sort();
        assert_eq!(
            inbound,
            [
                ("DELETE".into(), "/c".into(), 200, 0, 7),
                ("GET".into(), "/a".into(), 200, 0, 7),
                ("POST".into(), "/b?q=1".into(), 200, 4, 7),
            ],
            "{tier}"
        );
        let mmd = std::fs::read_to_string(ws.path().join("report/interactions.mmd")).unwrap();
        assert!(
            mmd.contains("[/\"127.0.0.1\"/]") && mmd.contains("\"inbound\""),
            "{mmd}"
        );
    }
}

/// Binds beyond a grant of `127.0.0.1:P`, each refused with a synchronous `PermissionDenied`
/// and a violation. Sources: the "0.0.0.0 Day" disclosure (Oligo, 2024: `0.0.0.0` serves
/// every local address), PayloadsAllTheThings SSRF localhost bypasses (IPv4-mapped IPv6), and
/// port 0 (SPEC §2). Nothing listens where a bind was refused, which the client checks by
/// connecting while the plugin is still running.
#[test]
fn ungranted_binds_are_permission_denied_and_nothing_listens_there() {
    let port = free_port();
    let other = free_port();
    let js = r#"
export default async function (input) {
  const tries = [];
  for (const [hostname, port] of input.tries) {
    try { aether.listen({ hostname, port }); tries.push("listening"); }
    catch (e) { tries.push([e.name, e.capability ?? null, e.target ?? null]); }
  }
  const server = aether.listen({ port: input.port });
  const req = await server.accept();
  req.respond(200, {}, "ok");
  return tries;
}
"#;
    let tries = json!([
        ["0.0.0.0", port],
        ["127.0.0.1", other],
        ["::ffff:127.0.0.1", other],
        ["localhost", other],
        ["127.0.0.1", 0],
        ["example.com", port],
    ]);
    for tier in ["thread", "process"] {
        let ws = workspace(
            port,
            tier,
            &[("binder", js)],
            &[("b", "binder", json!({ "port": port, "tries": tries }))],
        );
        let checker = thread::spawn(move || {
            // The plugin listens on the granted address only after every refused try.
            let stream = connect(port);
            let wildcard = TcpStream::connect(("127.0.0.2", port)).is_err();
            let other_port = TcpStream::connect(("127.0.0.1", other)).is_err();
            let answer = send(stream, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            (wildcard, other_port, answer)
        });
        let v = run(&ws, &["--inspect-security=report"]);
        let denied = |target: &str| json!(["PermissionDenied", "network", target]);
        assert_eq!(
            output(&v, "b"),
            &json!([
                denied(&format!("0.0.0.0:{port}")),
                denied(&format!("127.0.0.1:{other}")),
                denied(&format!("[::ffff:127.0.0.1]:{other}")),
                denied(&format!("127.0.0.1:{other}")),
                denied("127.0.0.1:0"),
                // A name is covered by no listen grant: the grant first (issue 15).
                denied(&format!("example.com:{port}")),
            ]),
            "{tier}"
        );
        let (wildcard, other_port, answer) = checker.join().unwrap();
        assert!(wildcard, "{tier}: 0.0.0.0:{port} was bound");
        assert!(other_port, "{tier}: 127.0.0.1:{other} was bound");
        assert!(answer.starts_with("HTTP/1.1 200"), "{tier}: {answer}");
        let violations =
            std::fs::read_to_string(ws.path().join("report/violations.jsonl")).unwrap();
        let targets: Vec<String> = violations
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["capability"] == "network" && e["decision"] == "denied")
            .map(|e| e["target"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(targets.len(), 6, "{tier}: {violations}");
    }
}

/// Oversized heads and bodies are answered by aether (431, 413) and a slowloris client holds
/// a connection in vain: the plugin gets the one good request and the step ends; then the
/// slow client's connection is closed, not left to its head timeout.
#[test]
fn oversized_and_slow_clients_do_not_stall_the_step() {
    let port = free_port();
    let js = r#"
export default async function (input) {
  const server = aether.listen({ port: input.port });
  const req = await server.accept();
  req.respond(200, {}, "served");
  return [req.method, req.url];
}
"#;
    let ws = workspace(
        port,
        "thread",
        &[("one", js)],
        &[("o", "one", json!({ "port": port }))],
    );
    let slowloris = thread::spawn(move || {
        let mut stream = connect(port);
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let _ = stream.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n");
        let mut got = Vec::new();
        // One header line every 50 ms for at most 60 s: never a complete head.
        for i in 0..1200 {
            if stream
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .is_err()
            {
                return (true, got);
            }
            let mut buf = [0u8; 1024];
            match stream.read(&mut buf) {
                Ok(0) => return (true, got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return (true, got),
            }
        }
        (false, got)
    });
    let others = thread::spawn(move || {
        let big_head = format!(
            "GET /big HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70 * 1024)
        );
        let head = send(connect(port), big_head.as_bytes());
        let body = send(
            connect(port),
            b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\nstart",
        );
        let good = send(connect(port), b"GET /good HTTP/1.1\r\nHost: t\r\n\r\n");
        (head, body, good)
    });
    let v = run(&ws, &[]);
    assert_eq!(
        output(&v, "o"),
        &json!(["GET", format!("http://127.0.0.1:{port}/good")])
    );
    let (head, body, good) = others.join().unwrap();
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    assert!(body.starts_with("HTTP/1.1 413 "), "{body}");
    assert!(good.ends_with("\r\n\r\nserved"), "{good}");
    let (closed, got) = slowloris.join().unwrap();
    assert!(closed, "the slow client was never cut off");
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "the slow request was served"
    );
}

/// A step that holds a port and times out (a busy loop, which only the deadline stops) frees
/// it at once: the next step binds the same port and serves on it.
#[test]
fn the_port_is_released_when_the_step_times_out() {
    let sticky = r#"
export default function (input) {
  aether.listen({ port: input.port });
  for (;;) {}
}
"#;
    let server = r#"
export default async function (input) {
  const server = aether.listen({ port: input.port });
  const req = await server.accept();
  req.respond(200, {}, "rebound");
  return "rebound";
}
"#;
    for tier in ["thread", "process"] {
        let port = free_port();
        let ws = workspace(
            port,
            tier,
            &[("sticky", sticky), ("server", server)],
            &[
                ("a", "sticky", json!({ "port": port })),
                ("b", "server", json!({ "port": port })),
            ],
        );
        // Requests that reach the sticky step's listener get a 503 when it ends; the client
        // asks again until the second step answers.
        let asker = thread::spawn(move || {
            for _ in 0..200 {
                let answer = send(connect(port), b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                if answer.ends_with("\r\n\r\nrebound") {
                    return true;
                }
                thread::sleep(Duration::from_millis(50));
            }
            false
        });
        let v = run(&ws, &[]);
        assert_eq!(error(&v, "a"), "timeout of 1s exceeded", "{tier}");
        assert_eq!(output(&v, "b"), &json!("rebound"), "{tier}: {v:#}");
        assert!(asker.join().unwrap(), "{tier}");
    }
}

/// A response the plugin gave and aether has not written yet counts toward the plugin's
/// memory ceiling: answering clients that do not read with the same 16 MiB buffer makes aether
/// hold a copy per client, and the plugin is stopped at its ceiling instead (SPEC §6), in both
/// tiers.
#[test]
fn unwritten_responses_count_toward_the_memory_ceiling() {
    let hoarder = r#"
export default async function (input) {
  const server = aether.listen({ port: input.port });
  const body = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < 8; i++) {
    const req = await server.accept();
    req.respond(200, {}, body);
  }
  return "held 128 MiB";
}
"#;
    for tier in ["thread", "process"] {
        let port = free_port();
        let ws = workspace(
            port,
            tier,
            &[("hoarder", hoarder)],
            &[("h", "hoarder", json!({ "port": port }))],
        );
        let manifest = json!({
            "name": "hoarder", "version": "1.0.0",
            "permissions": { "network": { "listen": [format!("127.0.0.1:{port}")] } },
            "limits": { "timeout": "60s", "memory": "64MiB" },
        });
        ws.js_plugin("hoarder", &manifest.to_string(), hoarder);
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let clients = thread::spawn(move || {
            // Eight clients that send their request and read nothing until the run is over.
            let held: Vec<TcpStream> = (0..8)
                .map(|_| {
                    let mut s = connect(port);
                    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    s
                })
                .collect();
            let _ = wait.recv_timeout(Duration::from_secs(60));
            drop(held);
        });
        let v = run(&ws, &[]);
        let _ = done.send(());
        clients.join().unwrap();
        assert_eq!(
            error(&v, "h"),
            "memory limit of 64 MiB exceeded",
            "{tier}: {v:#}"
        );
    }
}
