//! Issue 15, SPEC §5 "the grant is checked first": a request whose target lies outside the
//! grant is a `PermissionDenied` with exactly one recorded violation, whatever else is wrong
//! with it (a path climbing above `/`, a NUL byte, a module that leaves the plugin through a
//! symlink whether or not it exists there, a URL with credentials); only a request the grant
//! covers may fail with a `TypeError`. And SPEC §4: a module reachable from `main` that is not
//! UTF-8 text refuses the run before anything runs.
//!
//! The path, module and URL cases run in both isolation tiers (the process tier reaches every
//! capability through the broker over its socket).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fetch::Server;
use crate::run::{output, step};
use crate::{Out, Ws};

const TIERS: [&str; 2] = ["thread", "process"];

/// Runs each of `input.ops`, `[kind, arg]`: `read`/`write`/`exists` a path, `import` a module,
/// `fetch` a URL, `env` a variable, `run` a command, `listen` a hostname. Returns, for each,
/// `{ok: value}` or `{err: {name, capability, target}}`. An argument `[a, b]` is joined with a
/// NUL byte, and `{lone}` in an argument is a lone surrogate (JSON input cannot carry one).
const PROBE: &str = r#"
const arg = (a) => (Array.isArray(a) ? a.join("\0") : a).replaceAll("{lone}", "\ud800");
export default async function (input) {
  const out = [];
  for (const [kind, raw] of input.ops) {
    const a = arg(raw);
    try {
      let v;
      if (kind === "read") v = aether.fs.readText(a);
      else if (kind === "write") v = aether.fs.writeText(a, "x");
      else if (kind === "exists") v = aether.fs.exists(a);
      else if (kind === "import") v = Object.keys(await import(a));
      else if (kind === "fetch") { const r = await fetch(a); v = [r.status, await r.text()]; }
      else if (kind === "env") v = aether.env.get(a);
      else if (kind === "run") v = (await aether.process.run(a, [])).code;
      else if (kind === "listen") { const s = aether.listen({ hostname: a, port: 1 }); s.close(); v = "listening"; }
      out.push({ ok: v === undefined ? null : v });
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null } });
    }
  }
  return out;
}
"#;

/// A workspace whose `probe` plugin has `permissions`, under a policy allowing the same
/// (`policy` holds the TOML), in `tier`, running `ops` in one step.
fn probe(tier: &str, permissions: &Value, policy: &str, ops: &Value) -> Ws {
    let ws = Ws::new();
    let manifest = json!({
        "name": "probe", "version": "1.0.0", "permissions": permissions,
        "limits": { "timeout": "20s" },
    });
    ws.js_plugin("probe", &manifest.to_string(), PROBE);
    ws.write(
        "aether-policy.toml",
        &format!("{policy}\n[isolation]\ndefault = \"{tier}\"\n"),
    );
    let with = json!({ "ops": ops });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: grant-first\npolicy: ./aether-policy.toml\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n    with: {with}\n"
        ),
    );
    ws
}

/// Runs the pipeline with `--inspect-security=sec`; returns the run document and the records of
/// `sec/violations.jsonl` as `(capability, target)`.
fn run_inspected(ws: &Ws) -> (Out, Value, Vec<(String, String)>) {
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--output",
        "json",
        "--inspect-security=sec",
    ]);
    out.no_panic();
    let v = out.json();
    let text = std::fs::read_to_string(ws.path().join("sec/violations.jsonl")).unwrap_or_default();
    let records = text
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            (
                r["capability"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out, v, records)
}

/// Asserts that the pipeline's step really runs in `tier`.
fn assert_tier(ws: &Ws, tier: &str) {
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(check.json()["steps"][0]["tier"], tier, "{}", check.stdout);
}

fn denied(capability: &str, target: &str) -> Value {
    json!({ "err": { "name": "PermissionDenied", "capability": capability, "target": target } })
}

fn type_error() -> Value {
    json!({ "err": { "name": "TypeError", "capability": null, "target": null } })
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
        .collect()
}

// See: CVE-2023-30584 and CVE-2024-21891 (Node's permission model and path traversal), and
// Deno's tests/specs/permission cases on `..` out of an allowed directory: a path resolves as
// POSIX does (`/..` is `/`), then the grant decides. Before, the climbing path was a TypeError
// ("invalid path") with no violation, and a NUL byte a TypeError whatever the grant.
#[test]
fn issue_15_a_path_climbing_above_root_is_resolved_then_checked() {
    for tier in TIERS {
        let permissions = json!({ "filesystem": {
            "read": ["./data/**", "./granted.txt"], "write": ["./out/**"] } });
        let policy =
            "[filesystem]\nread = [\"./data/**\", \"./granted.txt\"]\nwrite = [\"./out/**\"]\n";
        let climbing = "data/sub/../../../../../../../../etc/hostname";
        let ops = |root: &str| {
            json!([
                ["read", climbing],
                ["exists", climbing],
                [
                    "read",
                    format!("data/../../../../../../../..{root}/granted.txt")
                ],
                ["read", ["data/a.txt", "/../../secret.txt"]],
                ["read", ["data/a", "b.txt"]],
                ["write", ["out/x.txt", "/../../secret.txt"]],
                ["write", ["out/a", "b.txt"]],
                ["read", "/../../../etc/a\u{0}b"],
                ["read", "/etc/{lone}"],
                ["write", "out/{lone}.txt"],
            ])
        };
        // The workspace's real path is only known once it exists.
        let ws = probe(tier, &permissions, policy, &json!([]));
        let root = ws.real();
        let r = root.to_str().unwrap();
        let with = json!({ "ops": ops(r) });
        ws.write(
            "pipeline.yaml",
            &format!(
                "name: grant-first\npolicy: ./aether-policy.toml\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n    with: {with}\n"
            ),
        );
        ws.write("data/a.txt", "A");
        ws.write("granted.txt", "G");
        ws.write("secret.txt", "SECRET");
        std::fs::create_dir(root.join("out")).unwrap();
        assert_tier(&ws, tier);
        let (out, v, records) = run_inspected(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "probe").as_array().unwrap().clone();
        let t = |rel: &str| format!("{r}/{rel}");
        assert_eq!(o[0], denied("filesystem.read", "/etc/hostname"), "{tier}");
        assert_eq!(o[1], denied("filesystem.read", "/etc/hostname"), "{tier}");
        // Granted once resolved: read.
        assert_eq!(o[2], json!({ "ok": "G" }), "{tier}");
        // A NUL byte outside the grant is a denial; inside it, a TypeError.
        assert_eq!(o[3], denied("filesystem.read", &t("secret.txt")), "{tier}");
        assert_eq!(o[4], type_error(), "{tier}");
        assert_eq!(o[5], denied("filesystem.write", &t("secret.txt")), "{tier}");
        assert_eq!(o[6], type_error(), "{tier}");
        assert_eq!(o[7], denied("filesystem.read", "/etc/a\0b"), "{tier}");
        // A lone surrogate is U+FFFD, as Node's `fs` and WebIDL's USVString make it: one
        // target, checked first; inside the grant, that is the file written.
        assert_eq!(o[8], denied("filesystem.read", "/etc/\u{FFFD}"), "{tier}");
        assert_eq!(o[9], json!({ "ok": null }), "{tier}");
        assert_eq!(
            records,
            pairs(&[
                ("filesystem.read", "/etc/hostname"),
                ("filesystem.read", "/etc/hostname"),
                ("filesystem.read", &t("secret.txt")),
                ("filesystem.write", &t("secret.txt")),
                ("filesystem.read", "/etc/a\0b"),
                ("filesystem.read", "/etc/\u{FFFD}"),
            ]),
            "{tier}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("out/\u{FFFD}.txt")).unwrap(),
            "x"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("secret.txt")).unwrap(),
            "SECRET"
        );
    }
}

/// A plugin `probe` with a directory symlink `link-to-other` to `other/` (outside it, holding
/// `secret.js`), and a dangling one, `gone`, to `/nonexistent-aether-dir`.
fn with_links(ws: &Ws) {
    ws.write("other/secret.js", "export const secret = 1;\n");
    ws.write("plugins/probe/lib.js", "export const lib = 1;\n");
    ws.symlink("../../other", "plugins/probe/link-to-other");
    ws.symlink("/nonexistent-aether-dir", "plugins/probe/gone");
}

// See: SPEC §5 ("a symlink leading out ... whether or not the target exists") and Node's
// test/fixtures/permission symlink cases (CVE-2023-30586-era symlink escapes of the permission
// model). Before, a dynamic import through a directory symlink out of the plugin was "cannot
// find module" (a TypeError) with no violation.
#[test]
fn issue_15_a_module_through_a_symlink_out_of_the_plugin_is_a_violation_found_or_not() {
    for tier in TIERS {
        let ops = json!([
            ["import", "./link-to-other/secret.js"],
            ["import", "./link-to-other/missing.js"],
            ["import", "./gone/x.js"],
            ["import", "./lib.js"],
            ["import", "./missing.js"],
        ]);
        let ws = probe(tier, &json!({}), "", &ops);
        with_links(&ws);
        assert_tier(&ws, tier);
        let (out, v, records) = run_inspected(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "probe").as_array().unwrap().clone();
        assert_eq!(
            o[0],
            denied("module", "./link-to-other/secret.js"),
            "{tier}"
        );
        assert_eq!(
            o[1],
            denied("module", "./link-to-other/missing.js"),
            "{tier}"
        );
        assert_eq!(o[2], denied("module", "./gone/x.js"), "{tier}");
        assert_eq!(o[3], json!({ "ok": ["lib"] }), "{tier}");
        // Inside the plugin, a missing file is not a violation.
        assert_eq!(o[4]["err"]["capability"], Value::Null, "{tier}: {}", o[4]);
        assert_ne!(o[4]["err"]["name"], "PermissionDenied", "{tier}");
        assert_eq!(
            records,
            pairs(&[
                ("module", "./link-to-other/secret.js"),
                ("module", "./link-to-other/missing.js"),
                ("module", "./gone/x.js"),
            ]),
            "{tier}"
        );
    }
}

// See: SPEC §4 (static imports that would be `module` violations refuse the run, symlinks
// resolved). Before, `run` started (and failed in the step) and `check` said module-not-found.
#[test]
fn issue_15_a_static_import_through_a_symlink_out_refuses_the_run_and_check_agrees() {
    for spec in ["./link-to-other/secret.js", "./link-to-other/missing.js"] {
        let ws = Ws::new();
        ws.js_plugin(
            "probe",
            r#"{ "name": "probe", "version": "1.0.0" }"#,
            &format!("import * as s from {spec:?};\nexport default () => Object.keys(s);\n"),
        );
        with_links(&ws);
        ws.write(
            "pipeline.yaml",
            "name: static\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n",
        );
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(2), "{spec}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("index.js:1:"), "{spec}: {}", out.stderr);
        let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
        check.no_panic();
        let findings = check.json()["findings"].clone();
        let blocked: Vec<&Value> = findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "module-blocked")
            .collect();
        assert_eq!(blocked.len(), 1, "{spec}: {findings:#}");
        assert_eq!(blocked[0]["target"], *spec, "{spec}");
        assert_eq!(blocked[0]["capability"], "module", "{spec}");
    }
}

/// A server on 127.0.0.1 answering every request with a 302 to `location`.
fn redirector(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
        }
    });
    port
}

// See: WHATWG URL (the part before `@` is userinfo, never the host: `granted.example@127.0.0.1`
// connects to 127.0.0.1) and PayloadsAllTheThings SSRF `user@host` payloads. Before, such a URL
// was "URLs with credentials are not allowed" (a TypeError, no violation) whatever its host,
// also as a redirect target.
#[test]
fn issue_15_a_url_with_credentials_is_judged_by_the_host_it_would_reach() {
    for tier in TIERS {
        let server = Server::start();
        let ungranted = Server::start();
        let (p, u) = (server.port, ungranted.port);
        let hop = redirector(format!("http://granted.example@127.0.0.1:{u}/ok"));
        let granted_hop = redirector(format!("http://user:pw@127.0.0.1:{p}/ok"));
        let domains = [
            "granted.example".to_owned(),
            format!("127.0.0.1:{p}"),
            format!("127.0.0.1:{hop}"),
            format!("127.0.0.1:{granted_hop}"),
        ];
        let permissions = json!({ "network": { "domains": domains } });
        let policy = format!(
            "[network]\ndomains = {}\nallow_private = [\"127.0.0.1/32\"]\nhttps_only = false\n",
            serde_json::to_string(&domains).unwrap()
        );
        let ops = json!([
            ["fetch", format!("http://granted.example@127.0.0.1:{u}/ok")],
            [
                "fetch",
                format!("http://granted.example:pw@127.0.0.1:{u}/ok")
            ],
            ["fetch", format!("http://127.0.0.1:{hop}/")],
            ["fetch", format!("http://user:pw@127.0.0.1:{p}/ok")],
            ["fetch", format!("http://127.0.0.1:{granted_hop}/")],
        ]);
        let ws = probe(tier, &permissions, &policy, &ops);
        assert_tier(&ws, tier);
        let (out, v, records) = run_inspected(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let o = output(&v, "probe").as_array().unwrap().clone();
        let first = format!("http://granted.example@127.0.0.1:{u}/ok");
        let second = format!("http://granted.example:pw@127.0.0.1:{u}/ok");
        assert_eq!(o[0], denied("network", &first), "{tier}");
        assert_eq!(o[1], denied("network", &second), "{tier}");
        assert_eq!(o[2], denied("network", &first), "{tier}: redirect");
        // The host is granted: the credentials are the TypeError they were.
        assert_eq!(o[3], type_error(), "{tier}");
        assert_eq!(o[4], type_error(), "{tier}: redirect");
        assert_eq!(
            records,
            pairs(&[
                ("network", &first),
                ("network", &second),
                ("network", &first),
            ]),
            "{tier}"
        );
        assert_eq!(ungranted.hits(), 0, "{tier}");
        assert_eq!(server.hits(), 0, "{tier}");
    }
}

// See: Deno's tests/specs/permission (env allowlists) and Node's
// test/parallel/test-permission-*: a malformed name, command or listen address outside the
// grant is a violation like any other. Before, an unparseable listen hostname was a TypeError
// with no violation.
#[test]
fn issue_15_env_process_and_listen_check_the_grant_before_the_form() {
    let ops = json!([
        ["env", "HOME=x"],
        ["env", ["HOME", "x"]],
        ["env", "APP_A=B"],
        ["env", "HOME{lone}"],
        ["run", ["/bin/true", "x"]],
        ["run", "/bin/../bin/sh"],
        ["listen", "example.com"],
        ["listen", "not a host"],
    ]);
    let permissions = json!({ "env": ["APP_*"] });
    let ws = probe("thread", &permissions, "[env]\nallow = [\"APP_*\"]\n", &ops);
    let (out, v, records) = run_inspected(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap().clone();
    assert_eq!(o[0], denied("env", "HOME=x"));
    assert_eq!(o[1], denied("env", "HOME\0x"));
    // Covered by `APP_*` but no variable can have that name.
    assert_eq!(o[2], type_error());
    assert_eq!(o[3], denied("env", "HOME\u{FFFD}"));
    assert_eq!(o[4], denied("process", "/bin/true\0x"));
    assert_eq!(o[5], denied("process", "/bin/sh"));
    assert_eq!(o[6], denied("network", "example.com:1"));
    assert_eq!(o[7], denied("network", "not a host:1"));
    assert_eq!(
        records,
        pairs(&[
            ("env", "HOME=x"),
            ("env", "HOME\0x"),
            ("env", "HOME\u{FFFD}"),
            ("process", "/bin/true\0x"),
            ("process", "/bin/sh"),
            ("network", "example.com:1"),
            ("network", "not a host:1"),
        ])
    );
}

/// What QuickJS's `qjsc -b` writes: a version byte, then atoms and bytecode (not UTF-8).
const BYTECODE: &[u8] = b"\x05\x02\x0cdefault\x0eindex.js\x0f\xbc\x03\x00\x00\x00\x00\xff\xfe";

// See: SPEC §5 ("no bytecode") and §4 (syntax errors refuse the run). Before, a module that
// was not UTF-8 failed its step at run time, after earlier steps had run and written.
#[test]
fn issue_15_a_module_that_is_not_utf8_refuses_the_run_before_anything_runs() {
    for (name, entry) in [("main", "bc.js"), ("imported", "index.js")] {
        let ws = Ws::new();
        ws.js_plugin(
            "writer",
            r#"{ "name": "writer", "version": "1.0.0", "permissions": { "filesystem": { "write": ["./out/**"] } } }"#,
            "export default () => { aether.fs.mkdir(\"out\"); aether.fs.writeText(\"out/ran.txt\", \"ran\"); return 1; };\n",
        );
        ws.write(
            "plugins/bc/aether-plugin.json",
            &json!({ "name": "bc", "version": "1.0.0", "main": entry }).to_string(),
        );
        ws.write(
            "plugins/bc/index.js",
            "import x from './bc.js';\nexport default () => x;\n",
        );
        std::fs::write(ws.path().join("plugins/bc/bc.js"), BYTECODE).unwrap();
        ws.write(
            "aether-policy.toml",
            "[filesystem]\nwrite = [\"./out/**\"]\n",
        );
        ws.write(
            "pipeline.yaml",
            "name: bc\npolicy: ./aether-policy.toml\nsteps:\n  - id: first\n    plugin: ./plugins/writer\n  - id: bc\n    plugin: ./plugins/bc\n    needs: [first]\n",
        );
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(2), "{name}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("bc.js:1:"), "{name}: {}", out.stderr);
        assert!(
            !ws.path().join("out").exists(),
            "{name}: an earlier step ran"
        );
        let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
        check.no_panic();
        assert_eq!(check.code, Some(2), "{name}: {}", check.stderr);
        let findings = check.json()["findings"].clone();
        let bad: Vec<&Value> = findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["file"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("plugins/bc/bc.js")
            })
            .collect();
        assert_eq!(bad.len(), 1, "{name}: {findings:#}");
        assert!(
            bad[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("syntax error"),
            "{name}: {findings:#}"
        );
    }
}

#[test]
fn issue_15_the_step_record_of_a_denied_probe_is_a_success() {
    // A denial the plugin catches does not fail its step (the attempts are in the record).
    let ws = probe(
        "thread",
        &json!({}),
        "",
        &json!([["read", "/../etc/hostname"]]),
    );
    let (out, v, records) = run_inspected(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(step(&v, "probe")["status"], "succeeded");
    assert_eq!(records, pairs(&[("filesystem.read", "/etc/hostname")]));
}

// See: CVE-2023-30584 (path traversal) and WHATWG URL userinfo: `check` refuses what `run`
// refuses, for the same capability and target (the host, for a URL). Before, `check` passed over the climbing path
// (it could not normalize it) and called the credentials, not the ungranted address, the fault.
#[test]
fn issue_15_check_reports_the_same_refusals_as_run() {
    let ws = Ws::new();
    ws.js_plugin(
        "lit",
        r#"{ "name": "lit", "version": "1.0.0", "permissions": { "filesystem": { "read": ["./data/**"] }, "network": { "domains": ["granted.example"], "listen": ["127.0.0.1:8080"] } } }"#,
        "export default async () => {\n  aether.fs.readText(\"data/sub/../../../../../../../../etc/hostname\");\n  await fetch(\"https://granted.example@127.0.0.1/\");\n  aether.listen({ hostname: \"example.com\", port: 8080 });\n};\n",
    );
    ws.write(
        "aether-policy.toml",
        "[filesystem]\nread = [\"./data/**\"]\n[network]\ndomains = [\"granted.example\"]\nlisten = [\"127.0.0.1:8080\"]\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: lit\npolicy: ./aether-policy.toml\nsteps:\n  - id: lit\n    plugin: ./plugins/lit\n",
    );
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    let findings = check.json()["findings"].clone();
    let mismatches: Vec<(String, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "grant-mismatch")
        .map(|f| {
            (
                f["capability"].as_str().unwrap().to_owned(),
                f["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        mismatches,
        pairs(&[
            ("filesystem.read", "/etc/hostname"),
            ("network", "127.0.0.1"),
            ("network", "example.com:8080"),
        ]),
        "{findings:#}"
    );
}

/// Calls whose other arguments are wrong, each on the targets of `input`: `read`/`write`
/// paths, `env` name, `url`, `cmd` (a command), `run` (a granted command) with `dir` as its
/// `cwd`, `host` to listen on. Returns `{case: {ok} | {err: {name, capability, target}}}` in
/// the order of `CASES`.
const MALFORMED: &str = r#"
const enc = (s) => new TextEncoder().encode(s);
const cases = [
  ["writeBytes text", (t) => aether.fs.writeBytes(t.write, "text")],
  ["writeText number", (t) => aether.fs.writeText(t.write, 42)],
  ["appendText object", (t) => aether.fs.appendText(t.write, {})],
  ["writeText bytes path", (t) => aether.fs.writeText(enc(t.write), "x")],
  ["readText number path", () => aether.fs.readText(123)],
  ["readText bytes path", (t) => aether.fs.readText(enc(t.read))],
  ["exists bytes path", (t) => aether.fs.exists(enc(t.read))],
  ["mkdir bytes path", (t) => aether.fs.mkdir(enc(t.write))],
  ["env.get bytes name", (t) => aether.env.get(enc(t.env))],
  ["fetch bad header", (t) => fetch(t.url, { headers: { "bad\n": "x" } })],
  ["fetch GET body", (t) => fetch(t.url, { body: "x" })],
  ["fetch timeoutMs", (t) => fetch(t.url, { timeoutMs: -1 })],
  ["fetch redirect", (t) => fetch(t.url, { redirect: "bogus" })],
  ["fetch method", (t) => fetch(t.url, { method: "BAD METHOD" })],
  ["fetch body type", (t) => fetch(t.url, { method: "POST", body: 42 })],
  ["run args", (t) => aether.process.run(t.cmd, "not-an-array")],
  ["run timeoutMs", (t) => aether.process.run(t.cmd, [], { timeoutMs: "x" })],
  ["run cwd type", (t) => aether.process.run(t.cmd, [], { cwd: 5 })],
  ["run stdin", (t) => aether.process.run(t.cmd, [], { stdin: 5 })],
  ["run cwd", (t) => aether.process.run(t.run, [], { cwd: t.dir, timeoutMs: -1 })],
  ["listen port string", (t) => aether.listen({ hostname: t.host, port: "x" })],
  ["listen port fraction", (t) => aether.listen({ hostname: t.host, port: 1.5 })],
  // Well-formed once lone surrogates are U+FFFD: run only on ungranted targets.
  ["lone run arg", (t) => aether.process.run(t.cmd, ["\ud800"])],
  ["lone run command", (t) => aether.process.run(t.cmd + "\ud800", [])],
  ["lone header value", (t) => fetch(t.url, { headers: { "x-a": "\ud800" } })],
  ["lone method", (t) => fetch(t.url, { method: "G\ud800T" })],
];
export default async function (t) {
  const out = [];
  for (const [name, call] of cases) {
    if (name.startsWith("lone ") && !t.lone) continue;
    try {
      await call(t);
      out.push([name, { ok: null }]);
    } catch (e) {
      out.push([name, { err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null } }]);
    }
  }
  return out;
}
"#;

/// The records of `violations.jsonl`, as `(capability, target)`.
type Violations = Vec<(String, String)>;

/// Runs [`MALFORMED`] in `tier` with `targets`, under a grant of `./data/**` (and `extra_read`)
/// to read, `./out/**` to write, `APP_*`, `/bin/true`, `granted` on the network, and
/// `127.0.0.1:<listen>` to listen. Returns `[[case, result]...]` and the violations.
fn run_malformed(
    tier: &str,
    targets: &Value,
    extra_read: &[&str],
    granted: &str,
    listen: u16,
) -> (Vec<(String, Value)>, Violations, Ws) {
    let read: Vec<&str> = [&["./data/**"][..], extra_read].concat();
    let listen = format!("127.0.0.1:{listen}");
    let permissions = json!({
        "filesystem": { "read": read, "write": ["./out/**"] },
        "env": ["APP_*"],
        "process": { "commands": ["/bin/true"] },
        "network": { "domains": [granted], "listen": [listen] },
    });
    let policy = format!(
        "[filesystem]\nread = {}\nwrite = [\"./out/**\"]\n[env]\nallow = [\"APP_*\"]\n[process]\ncommands = [\"/bin/true\"]\n[network]\ndomains = [{granted:?}]\nallow_private = [\"127.0.0.1/32\"]\nlisten = [{listen:?}]\n",
        serde_json::to_string(&read).unwrap()
    );
    let ws = Ws::new();
    let manifest = json!({
        "name": "probe", "version": "1.0.0", "permissions": permissions,
        "limits": { "timeout": "20s" },
    });
    ws.js_plugin("probe", &manifest.to_string(), MALFORMED);
    ws.write(
        "aether-policy.toml",
        &format!("{policy}\n[isolation]\ndefault = \"{tier}\"\nhigh_risk = \"{tier}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: grant-first\npolicy: ./aether-policy.toml\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n    with: {targets}\n"
        ),
    );
    ws.write("data/a.txt", "A");
    ws.write("secret.txt", "SECRET");
    std::fs::create_dir(ws.path().join("out")).unwrap();
    assert_tier(&ws, tier);
    let (out, v, records) = run_inspected(&ws);
    assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
    let results = output(&v, "probe")
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].clone()))
        .collect();
    (results, records, ws)
}

// See: issue 15 (SPEC §5 "the grant is checked first ... whatever else is wrong with it"),
// Node's CVE-2024-21891 / CVE-2023-32004 (paths given as Buffer/Uint8Array) and
// test/fixtures/permission/fs-traversal.js, Deno's tests/specs/permission cases. The argument
// checks made in the sandbox's JavaScript bindings (data not a Uint8Array, a non-string path,
// a bad header, body, `timeoutMs`, `redirect`, `args`, `cwd`, `stdin` or port) come after the
// grant: an ungranted target is a `PermissionDenied` with one violation each. Before, each was
// a `TypeError` thrown before the host saw the target, and nothing was recorded.
#[test]
fn issue_15_malformed_arguments_to_an_ungranted_target_are_violations() {
    for tier in TIERS {
        let granted = Server::start();
        let ungranted = Server::start();
        let listen = TcpListener::bind("127.0.0.1:0").unwrap();
        let listen_port = listen.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{}/ok", ungranted.port);
        let targets = json!({
            "read": "secret.txt", "write": "secret.txt", "env": "HOME", "url": url,
            "cmd": "/bin/false", "run": "/bin/true", "dir": "secret", "host": "127.0.0.2",
            "lone": true,
        });
        let (o, records, ws) = run_malformed(
            tier,
            &targets,
            &[],
            &format!("127.0.0.1:{}", granted.port),
            listen_port,
        );
        let root = ws.real();
        let t = |rel: &str| format!("{}/{rel}", root.display());
        let expected = [
            ("writeBytes text", "filesystem.write", t("secret.txt")),
            ("writeText number", "filesystem.write", t("secret.txt")),
            ("appendText object", "filesystem.write", t("secret.txt")),
            ("writeText bytes path", "filesystem.write", t("secret.txt")),
            ("readText number path", "filesystem.read", t("123")),
            ("readText bytes path", "filesystem.read", t("secret.txt")),
            ("exists bytes path", "filesystem.read", t("secret.txt")),
            ("mkdir bytes path", "filesystem.write", t("secret.txt")),
            ("env.get bytes name", "env", "HOME".to_owned()),
            ("fetch bad header", "network", url.clone()),
            ("fetch GET body", "network", url.clone()),
            ("fetch timeoutMs", "network", url.clone()),
            ("fetch redirect", "network", url.clone()),
            ("fetch method", "network", url.clone()),
            ("fetch body type", "network", url.clone()),
            ("run args", "process", "/bin/false".to_owned()),
            ("run timeoutMs", "process", "/bin/false".to_owned()),
            ("run cwd type", "process", "/bin/false".to_owned()),
            ("run stdin", "process", "/bin/false".to_owned()),
            ("run cwd", "filesystem.read", t("secret")),
            ("listen port string", "network", "127.0.0.2:0".to_owned()),
            ("listen port fraction", "network", "127.0.0.2:0".to_owned()),
            ("lone run arg", "process", "/bin/false".to_owned()),
            (
                "lone run command",
                "process",
                "/bin/false\u{FFFD}".to_owned(),
            ),
            ("lone header value", "network", url.clone()),
            ("lone method", "network", url.clone()),
        ];
        let mut wrong = Vec::new();
        for ((case, got), (name, capability, target)) in o.iter().zip(&expected) {
            assert_eq!(case, name, "{tier}");
            if *got != denied(capability, target) {
                wrong.push(format!("{case}: {got}"));
            }
        }
        assert_eq!(o.len(), expected.len(), "{tier}");
        assert!(
            wrong.is_empty(),
            "{tier}: not denied:\n{}",
            wrong.join("\n")
        );
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(_, c, t)| ((*c).to_owned(), t.clone()))
            .collect();
        assert_eq!(records, want, "{tier}");
        assert_eq!(granted.hits() + ungranted.hits(), 0, "{tier}");
        assert_eq!(
            std::fs::read_to_string(root.join("secret.txt")).unwrap(),
            "SECRET"
        );
        drop(listen);
    }
}

// See: issue 15 (SPEC §5 "only a request whose target the grant covers may fail otherwise"):
// the same malformed calls on granted targets are the `TypeError`s they always were, nothing
// is performed, and nothing is recorded as a violation.
#[test]
fn issue_15_malformed_arguments_to_a_granted_target_stay_type_errors() {
    for tier in TIERS {
        let granted = Server::start();
        let listen = TcpListener::bind("127.0.0.1:0").unwrap();
        let listen_port = listen.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{}/ok", granted.port);
        let targets = json!({
            "read": "data/a.txt", "write": "out/w.txt", "env": "APP_X", "url": url,
            "cmd": "/bin/true", "run": "/bin/true", "dir": "data", "host": "127.0.0.1",
        });
        let (o, records, ws) = run_malformed(
            tier,
            &targets,
            &["./123"],
            &format!("127.0.0.1:{}", granted.port),
            listen_port,
        );
        let not_type_errors: Vec<String> = o
            .iter()
            .filter(|(_, got)| *got != type_error())
            .map(|(case, got)| format!("{case}: {got}"))
            .collect();
        assert_eq!(o.len(), 22, "{tier}");
        assert!(
            not_type_errors.is_empty(),
            "{tier}:\n{}",
            not_type_errors.join("\n")
        );
        assert_eq!(records, Vec::<(String, String)>::new(), "{tier}");
        assert_eq!(granted.hits(), 0, "{tier}");
        assert!(!ws.path().join("out/w.txt").exists(), "{tier}");
        drop(listen);
    }
}
