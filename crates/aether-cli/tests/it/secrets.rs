//! Secrets a plugin can use but never see (issue 22, SPEC §2 `secrets`, §3 `[secrets.NAME]`,
//! §5 `aether.secret`), end to end in both tiers, against local servers on 127.0.0.1 that
//! record every request they receive.
//!
//! See: Deno Sandbox, Vercel Sandbox and Cloudflare's egress credential injection (the
//! credential stays outside the sandbox and is added on egress to approved hosts only), and
//! CVE-2023-28155 / CVE-2018-1000007 (credentials forwarded on a redirect to another host).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};

use crate::run::{output, step};
use crate::{Out, Ws};

/// The secret's value in every test: it must reach the granted server and nothing else.
const VALUE: &str = "s3cr3t-VALUE-4242-zq";

/// A local HTTP server recording the raw bytes of every request. `/to/<port>/<path>` redirects
/// to `http://127.0.0.1:<port>/<path>`, `/echo` answers with the request's head, anything else
/// with `ok`.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let seen = Arc::clone(&seen2);
                        thread::spawn(move || serve(stream, &seen));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Recorder {
            port,
            seen,
            stop,
            handle: Some(handle),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(mut stream: std::net::TcpStream, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let head_end = data.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                break;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&data).into_owned();
    seen.lock().unwrap().push(text.clone());
    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
    let response = if let Some(rest) = path.strip_prefix("/to/") {
        let (port, tail) = rest.split_once('/').unwrap_or((rest, ""));
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/{tail}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    } else if path == "/echo" {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Echo: {}\r\nConnection: close\r\n\r\n{head}",
            head.len(),
            head.replace("\r\n", " | ")
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned()
    };
    let _ = stream.write_all(response.as_bytes());
}

/// The client plugin: runs each case of `input.cases` and reports what happened.
const CLIENT_JS: &str = r#"
export default async function (input) {
  const t = aether.secret("TOKEN");
  const G = `http://127.0.0.1:${input.granted}`, O = `http://127.0.0.1:${input.other}`;
  const h = (v) => ({ headers: { "X-Token": `Bearer ${v}` } });
  const cases = {
    header: () => fetch(`${G}/ok`, h(t)),
    header_other: () => fetch(`${O}/ok`, h(t)),
    redirect_other: () => fetch(`${G}/to/${input.other}/ok`, h(t)),
    url_other: () => fetch(`${O}/ok?key=${t}`),
    query: () => fetch(`${G}/ok?key=${t}`),
    body: () => fetch(`${G}/ok`, { method: "POST", body: `token=${t}` }),
    path: () => fetch(`${G}/${t}`),
    echo: () => fetch(`${G}/echo`, h(t)),
    forged: () => fetch(`${G}/forged`, h(input.forged)),
    env: async () => ({ status: 0, text: async () => String(aether.env.get("AETHER_TEST_TOKEN")) }),
    log: async () => { console.log("placeholder", t); console.error(t); return { status: 0, text: async () => "" }; },
    child: async () => {
      const r = await aether.process.run("/bin/echo", [t], { stdin: t });
      return { status: r.code, text: async () => r.stdout.trim() };
    },
    child_env: async () => {
      const r = await aether.process.run("/usr/bin/env", []);
      return { status: r.code, text: async () => r.stdout };
    },
  };
  const out = { placeholder: t };
  for (const c of input.cases) {
    try {
      const r = await cases[c]();
      const body = await r.text();
      out[c] = { ok: true, status: r.status, body, echo: r.headers?.get?.("x-echo") ?? null };
    } catch (e) {
      out[c] = { ok: false, name: e.name, capability: e.capability ?? null, target: e.target ?? null, message: String(e.message) };
    }
  }
  return out;
}
"#;

struct Setup {
    ws: Ws,
    granted: Recorder,
    other: Recorder,
}

/// A workspace whose plugin `client` may fetch both servers and send `TOKEN` to the granted
/// one; `policy_extra` is appended to `[secrets.TOKEN]`.
fn setup(tier: &str, cases: &[&str], secret_extra: &str, extra_perms: &Value) -> Setup {
    let (granted, other) = (Recorder::start(), Recorder::start());
    let ws = Ws::new();
    let (g, o) = (granted.port, other.port);
    let mut perms = json!({
        "network": { "domains": [format!("127.0.0.1:{g}"), format!("127.0.0.1:{o}")] },
        "env": ["AETHER_TEST_*"],
        "secrets": { "TOKEN": [format!("127.0.0.1:{g}")] },
    });
    if let (Some(p), Some(extra)) = (perms.as_object_mut(), extra_perms.as_object()) {
        p.extend(extra.clone());
    }
    let manifest = json!({ "name": "client", "version": "1.0.0", "permissions": perms });
    ws.js_plugin("client", &manifest.to_string(), CLIENT_JS);
    ws.write(
        "aether-policy.toml",
        &format!(
            "[network]\ndomains = [\"127.0.0.1:{g}\", \"127.0.0.1:{o}\"]\nallow_private = [\"127.0.0.1/32\"]\n\
             [env]\nallow = [\"AETHER_TEST_*\"]\n\
             [process]\ncommands = [\"/bin/echo\", \"/usr/bin/env\"]\naccept_weaker_confinement = true\n\
             [unsafe]\nallowed = true\n\
             [isolation]\ndefault = \"{tier}\"\nhigh_risk = \"{tier}\"\n\
             [secrets.TOKEN]\nfrom_env = \"AETHER_TEST_TOKEN\"\nhosts = [\"127.0.0.1:{g}\"]\n{secret_extra}"
        ),
    );
    let with = json!({ "granted": g, "other": o, "cases": cases, "forged": "aether-secret-00000000000000000000000000000000" });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: secrets\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/client\n    with: {with}\n"
        ),
    );
    Setup { ws, granted, other }
}

fn run(s: &Setup, extra: &[&str]) -> (Out, Value) {
    let mut args = vec!["run", "pipeline.yaml", "--output", "json"];
    args.extend_from_slice(extra);
    let out = s.ws.aether_env(&args, &[("AETHER_TEST_TOKEN", VALUE)]);
    out.no_panic();
    assert!(!out.stdout.contains(VALUE), "{}", out.stdout);
    assert!(!out.stderr.contains(VALUE), "{}", out.stderr);
    let v = out.json();
    (out, v)
}

/// Asserts that case `c` was refused with `PermissionDenied`, capability `secrets`.
fn refused_secrets(o: &Value, c: &str) {
    assert_eq!(o[c]["ok"], false, "{c}: {o:#}");
    assert_eq!(o[c]["name"], "PermissionDenied", "{c}: {o:#}");
    assert_eq!(o[c]["capability"], "secrets", "{c}: {o:#}");
    assert!(
        o[c]["target"].as_str().unwrap().starts_with("TOKEN -> "),
        "{c}: {o:#}"
    );
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn issue_22_secret_is_substituted_in_a_header_for_a_granted_host() {
    for tier in ["thread", "process"] {
        let s = setup(tier, &["header"], "", &json!({}));
        let (out, v) = run(&s, &[]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "a");
        assert_eq!(o["header"]["ok"], true, "{tier}: {o:#}");
        let placeholder = o["placeholder"].as_str().unwrap();
        assert!(placeholder.starts_with("aether-secret-"), "{placeholder}");
        let seen = s.granted.requests();
        assert_eq!(seen.len(), 1, "{tier}: {seen:?}");
        assert!(
            seen[0].contains(&format!("x-token: Bearer {VALUE}"))
                || seen[0].contains(&format!("X-Token: Bearer {VALUE}")),
            "{tier}: {seen:?}"
        );
        assert!(!seen[0].contains(placeholder), "{tier}: {seen:?}");
    }
}

#[test]
fn issue_22_secret_bound_for_another_host_is_refused() {
    for tier in ["thread", "process"] {
        let s = setup(
            tier,
            &["header_other", "redirect_other", "url_other"],
            "",
            &json!({}),
        );
        let audit = s.ws.path().join("audit");
        let audit_arg = format!("--inspect-security={}", audit.display());
        let (out, v) = run(&s, &[&audit_arg]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "a");
        for c in ["header_other", "redirect_other", "url_other"] {
            refused_secrets(o, c);
        }
        // Nothing carrying the secret reached the other host: it was refused before connecting.
        assert!(s.other.requests().is_empty(), "{:?}", s.other.requests());
        // The redirect's first hop (no secret needed there? it carried the header) went to the
        // granted host only.
        assert!(s.granted.requests().len() <= 1);
        let violations = std::fs::read_to_string(audit.join("violations.jsonl")).unwrap();
        let secrets: Vec<Value> = violations
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["capability"] == "secrets")
            .collect();
        assert_eq!(secrets.len(), 3, "{tier}: {violations}");
        assert!(secrets.iter().all(|r| r["decision"] == "denied"));
    }
}

#[test]
fn issue_22_secret_in_query_body_or_path_needs_in_body() {
    for tier in ["thread", "process"] {
        let s = setup(tier, &["query", "body", "path"], "", &json!({}));
        let (out, v) = run(&s, &[]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "a");
        for c in ["query", "body", "path"] {
            refused_secrets(o, c);
        }
        assert!(
            s.granted.requests().is_empty(),
            "{:?}",
            s.granted.requests()
        );

        // With `in_body = true`, the query and the body are substituted; a path never is.
        let s = setup(
            tier,
            &["query", "body", "path"],
            "in_body = true\n",
            &json!({}),
        );
        let (out, v) = run(&s, &[]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "a");
        assert_eq!(o["query"]["ok"], true, "{o:#}");
        assert_eq!(o["body"]["ok"], true, "{o:#}");
        refused_secrets(o, "path");
        let seen = s.granted.requests();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen.iter().any(|r| r.contains(&format!("?key={VALUE}"))),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|r| r.ends_with(&format!("token={VALUE}"))),
            "{seen:?}"
        );
    }
}

#[test]
fn issue_22_value_never_reaches_outputs_logs_or_artifacts() {
    for tier in ["thread", "process"] {
        let s = setup(
            tier,
            &["header", "echo", "log", "env", "header_other", "forged"],
            "",
            &json!({}),
        );
        let audit = s.ws.path().join("audit");
        let audit_arg = format!("--inspect-security={}", audit.display());
        let (out, v) = run(&s, &[&audit_arg]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "a");
        let placeholder = o["placeholder"].as_str().unwrap();
        // A server echoing the request: the value goes back to its placeholder.
        assert_eq!(o["echo"]["ok"], true, "{o:#}");
        assert!(
            o["echo"]["body"].as_str().unwrap().contains(placeholder),
            "{o:#}"
        );
        assert!(
            o["echo"]["echo"].as_str().unwrap().contains(placeholder),
            "{o:#}"
        );
        // The source variable is never readable, whatever `env` grants.
        assert_eq!(o["env"]["ok"], false, "{o:#}");
        assert_eq!(o["env"]["capability"], "env", "{o:#}");
        // Every file the run wrote, stdout and stderr (checked in `run`).
        let written = files(s.ws.path());
        assert!(written.len() > 5, "{written:?}");
        for f in written {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(VALUE),
                "{tier}: the value is in {}",
                f.display()
            );
        }
        // Events say which secret went to which host: the name, never the value.
        let events = std::fs::read_to_string(audit.join("events.jsonl")).unwrap();
        let sent: Vec<Value> = events
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["capability"] == "secrets" && r["decision"] == "allowed")
            .collect();
        let to = format!("TOKEN -> 127.0.0.1:{}", s.granted.port);
        assert!(sent.iter().any(|r| r["target"] == "TOKEN"), "{events}");
        assert_eq!(
            sent.iter().filter(|r| r["target"] == to.as_str()).count(),
            2,
            "{events}"
        );
        assert!(out.stderr.contains(placeholder), "{}", out.stderr);
        // The report's interaction diagram shows the edge, by name.
        let mmd = std::fs::read_to_string(audit.join("interactions.mmd")).unwrap();
        assert!(mmd.contains("secret TOKEN"), "{mmd}");
    }
}

#[test]
fn issue_22_forged_or_foreign_placeholders_are_inert() {
    for tier in ["thread", "process"] {
        let s = setup(tier, &["forged"], "", &json!({}));
        let g = s.granted.port;
        // Step `b` gets step `a`'s placeholder and sends it: an inert string, sent as written.
        s.ws.write(
            "pipeline.yaml",
            &format!(
                "name: secrets\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/client\n    with: {{ granted: {g}, other: {g}, cases: [] }}\n  - id: b\n    plugin: ./plugins/client\n    needs: [a]\n    with: {{ granted: {g}, other: {g}, cases: [forged, header], forged: \"${{{{ steps.a.output.placeholder }}}}\" }}\n"
            ),
        );
        let (out, v) = run(&s, &[]);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let a = output(&v, "a")["placeholder"].as_str().unwrap().to_owned();
        let b = output(&v, "b");
        assert_ne!(
            b["placeholder"],
            a.as_str(),
            "placeholders are unique to the step"
        );
        assert_eq!(b["forged"]["ok"], true, "{b:#}");
        let seen = s.granted.requests();
        let forged = seen.iter().find(|r| r.contains("/forged")).unwrap();
        assert!(forged.contains(&a), "sent as written: {forged}");
        assert!(!forged.contains(VALUE), "{forged}");
        assert!(
            seen.iter().any(|r| r.contains(VALUE)),
            "b's own placeholder works"
        );
        let _ = step(&v, "b");
    }
}

#[test]
fn issue_22_unsafe_never_reveals_the_value() {
    let s = setup(
        "thread",
        &["header", "header_other", "env", "url_other"],
        "",
        &json!({}),
    );
    let (out, v) = run(&s, &["--unsafe"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "a");
    assert_eq!(o["header"]["ok"], true, "{o:#}");
    refused_secrets(o, "header_other");
    refused_secrets(o, "url_other");
    assert_eq!(o["env"]["ok"], false, "{o:#}");
    assert!(s.other.requests().iter().all(|r| !r.contains(VALUE)));
}

#[test]
fn issue_22_children_get_placeholders_as_inert_strings() {
    let s = setup(
        "thread",
        &["child", "child_env"],
        "",
        &json!({ "process": { "commands": ["/bin/echo", "/usr/bin/env"] } }),
    );
    let (out, v) = run(&s, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "a");
    // Arguments and stdin hold the placeholder as written.
    assert_eq!(o["child"]["ok"], true, "{o:#}");
    assert_eq!(o["child"]["body"], o["placeholder"], "{o:#}");
    // The source variable is not in the child's environment, though `env` grants its prefix.
    assert_eq!(o["child_env"]["ok"], true, "{o:#}");
    let env = o["child_env"]["body"].as_str().unwrap();
    assert!(
        !env.contains("AETHER_TEST_TOKEN") && !env.contains(VALUE),
        "{env}"
    );
}

#[test]
fn issue_22_undefined_secret_or_wider_hosts_is_a_static_excess() {
    let s = setup("thread", &[], "", &json!({}));
    let manifest = json!({ "name": "client", "version": "1.0.0", "permissions": {
        "secrets": { "TOKEN": ["evil.example"], "OTHER": ["127.0.0.1"] } } });
    s.ws.write("plugins/client/aether-plugin.json", &manifest.to_string());
    let check = s.ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(check.code, Some(1), "{}", check.stderr);
    let findings = check.json()["findings"].clone();
    let secrets: Vec<&Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["capability"] == "secrets")
        .collect();
    assert_eq!(secrets.len(), 2, "{findings:#}");
    let (out, _) = (
        s.ws.aether_env(&["run", "pipeline.yaml"], &[("AETHER_TEST_TOKEN", VALUE)]),
        (),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);

    // With no policy, no secret exists.
    s.ws.write(
        "pipeline.yaml",
        "name: x\nsteps:\n  - id: a\n    plugin: ./plugins/client\n",
    );
    let out =
        s.ws.aether_env(&["run", "pipeline.yaml"], &[("AETHER_TEST_TOKEN", VALUE)]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn issue_22_check_shows_each_plugins_secrets_and_hosts() {
    let s = setup("thread", &[], "", &json!({}));
    // A plugin that only uses its secret: nothing else to find.
    s.ws.write(
        "plugins/client/index.js",
        "export default () => aether.secret(\"TOKEN\").length;\n",
    );
    let check = s.ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    let v = check.json();
    assert_eq!(check.code, Some(0), "{v:#}");
    assert_eq!(
        v["plugins"][0]["grant"]["secrets"]["TOKEN"],
        json!([format!("127.0.0.1:{}", s.granted.port)])
    );
    let human = s.ws.aether(&["check", "pipeline.yaml"]);
    assert!(
        human.stdout.contains(&format!(
            "secrets:          TOKEN -> 127.0.0.1:{}",
            s.granted.port
        )),
        "{}",
        human.stdout
    );
}

#[test]
fn issue_22_the_secrets_example_checks_clean() {
    let pipeline =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/secrets/pipeline.yaml");
    let ws = Ws::new();
    let check = ws.aether(&["check", pipeline.to_str().unwrap(), "--format", "json"]);
    let v = check.json();
    assert_eq!(check.code, Some(0), "{v:#}");
    assert_eq!(
        v["plugins"][0]["grant"]["secrets"]["API_TOKEN"],
        json!(["httpbin.org"])
    );
    assert_eq!(v["plugins"][0]["risk"], "high");
}

#[test]
fn issue_22_from_file_secret_is_sent_and_its_file_never_readable() {
    for tier in ["thread", "process"] {
        let s = setup(
            tier,
            &["header"],
            "",
            &json!({ "filesystem": { "read": ["./keys/**"] } }),
        );
        s.ws.write("keys/token", &format!("{VALUE}\n"));
        let policy = std::fs::read_to_string(s.ws.path().join("aether-policy.toml")).unwrap();
        let policy = policy.replace(
            "from_env = \"AETHER_TEST_TOKEN\"",
            "from_file = \"keys/token\"",
        ) + "[filesystem]\nread = [\"./keys/**\"]\n";
        s.ws.write("aether-policy.toml", &policy);
        s.ws.write(
            "plugins/client/index.js",
            &CLIENT_JS.replace(
                "const out = { placeholder: t };",
                "const out = { placeholder: t };\n  try { out.read = aether.fs.readText(\"keys/token\"); } catch (e) { out.read = { name: e.name, capability: e.capability }; }",
            ),
        );
        let out = s.ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert!(!out.stdout.contains(VALUE) && !out.stderr.contains(VALUE));
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let v = out.json();
        let o = output(&v, "a");
        assert_eq!(o["read"]["name"], "PermissionDenied", "{o:#}");
        assert_eq!(o["read"]["capability"], "filesystem.read", "{o:#}");
        assert_eq!(o["header"]["ok"], true, "{o:#}");
        assert!(s.granted.requests()[0].contains(VALUE));
    }
}

#[test]
fn issue_22_a_listeners_response_carries_placeholders_as_inert_strings() {
    for tier in ["thread", "process"] {
        let port = crate::listen::free_port();
        let s = setup(
            tier,
            &[],
            "",
            &json!({ "network": { "domains": [], "listen": [format!("127.0.0.1:{port}")] } }),
        );
        let policy = std::fs::read_to_string(s.ws.path().join("aether-policy.toml")).unwrap();
        let policy = policy.replace(
            "allow_private = [",
            &format!("listen = [\"127.0.0.1:{port}\"]\nallow_private = ["),
        );
        s.ws.write("aether-policy.toml", &policy);
        s.ws.write(
            "plugins/client/index.js",
            &format!(
                "export default async () => {{\n  const t = aether.secret(\"TOKEN\");\n  const server = aether.listen({{ hostname: \"127.0.0.1\", port: {port} }});\n  const req = await server.accept();\n  req.respond(200, {{ \"X-Token\": t }}, `token=${{t}}`);\n  server.close();\n  return {{ placeholder: t }};\n}};\n"
            ),
        );
        let client = thread::spawn(move || {
            let mut stream = crate::listen::connect(port);
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        });
        let (out, v) = run(&s, &[]);
        let answer = client.join().unwrap();
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let placeholder = output(&v, "a")["placeholder"].as_str().unwrap().to_owned();
        assert!(answer.contains(&format!("token={placeholder}")), "{answer}");
        assert!(!answer.contains(VALUE), "{answer}");
    }
}
