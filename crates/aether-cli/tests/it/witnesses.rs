//! Issue 20 (items 1–2): every provider takes a witness and every decision goes through the
//! broker's one decision path. What the user sees must not change: these tests pin the events
//! of the cases the refactor moved (a fetch hop overridden by `--unsafe`, decided by the
//! gateway itself before) and the refusal of a child's `cwd` outside the grant.

use serde_json::{Value, json};

use crate::Ws;
use crate::fetch::Server;

/// Fetches `input.url` and returns `{status, url}` or `{err: {name, target}}`.
const FETCHER: &str = r#"
export default async function (input) {
  try {
    const res = await fetch(input.url);
    return { status: res.status, url: res.url, text: await res.text() };
  } catch (e) {
    return { err: { name: e.name, target: e.target ?? null } };
  }
}
"#;

/// `(capability, target, decision)` of every record of `DIR/events.jsonl`.
fn events(ws: &Ws, dir: &str) -> Vec<(String, String, String)> {
    std::fs::read_to_string(ws.path().join(dir).join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (field("capability"), field("target"), field("decision"))
        })
        .collect()
}

/// A redirect whose first hop and second hop are both ungranted (no grant at all, loopback
/// addresses), in an `--unsafe` run: each hop's checks (host, address) are overridden and
/// recorded `allowed-unsafe` as they are decided, then every request that left is recorded
/// `allowed` with its traffic. Before issue 20 the gateway overrode these denials itself and
/// the broker recorded them afterwards; the same records must come out of the one decision
/// path, in the same order.
// See: Deno GHSA-h7m2-jr49-vxw8 (permission checks skipped on redirect hops), the case the
// hop-by-hop check exists for.
#[test]
fn issue_20_an_unsafe_redirect_hop_is_decided_and_recorded_like_every_override() {
    let server = Server::start();
    let target = Server::start();
    let (p, t) = (server.port, target.port);
    let ws = Ws::new();
    ws.js_plugin(
        "fetcher",
        r#"{ "name": "fetcher", "version": "1.0.0" }"#,
        FETCHER,
    );
    let first = format!("http://127.0.0.1:{p}/to/{t}/ok");
    let second = format!("http://127.0.0.1:{t}/ok");
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: net\nsteps:\n  - id: f\n    plugin: ./plugins/fetcher\n    with: {}\n",
            json!({ "url": first })
        ),
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--unsafe",
        "--output",
        "json",
        "--inspect-security=sec",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.json()["steps"][0]["output"],
        json!({ "status": 200, "url": second, "text": "hello" })
    );
    let network: Vec<(String, String, String)> = events(&ws, "sec")
        .into_iter()
        .filter(|(capability, ..)| capability == "network")
        .collect();
    let e = |target: &str, decision: &str| {
        ("network".to_owned(), target.to_owned(), decision.to_owned())
    };
    assert_eq!(
        network,
        [
            e(&format!("127.0.0.1:{p}"), "allowed-unsafe"),
            e("127.0.0.1", "allowed-unsafe"),
            e(&format!("127.0.0.1:{t}"), "allowed-unsafe"),
            e("127.0.0.1", "allowed-unsafe"),
            e(&first, "allowed"),
            e(&second, "allowed"),
        ]
    );
    assert_eq!(target.hits(), 1);
}

/// Runs `sh -c pwd` in each `cwd` of `input.cwds` (`null`: none given) and returns its
/// `stdout` or `{err: {name, capability, target}}` for each.
const PWD: &str = r#"
export default async function (input) {
  const out = [];
  for (const cwd of input.cwds) {
    try {
      const r = await aether.process.run("sh", ["-c", "pwd"], cwd === null ? {} : { cwd });
      out.push(r.stdout.trim());
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null } });
    }
  }
  return out;
}
"#;

/// A child's working directory is the workspace, or a `cwd` the read grant covers: a `cwd`
/// outside it — named directly, climbing out with `..`, or through a symlink inside the grant
/// that points out of it — is refused before anything is spawned, as a read of it would be
/// (`ChildSpec::cwd` takes a `WorkingDir`, which only the workspace or a read witness makes).
// See: Node's `test/parallel/test-permission-child-process-cli.js` (a granted spawn must not
// reach beyond the file grants through its options).
#[test]
fn issue_20_a_child_cwd_outside_the_read_grant_is_refused() {
    let ws = Ws::new();
    ws.write("data/inner/.keep", "");
    ws.write("other/.keep", "");
    ws.symlink("../other", "data/out");
    let manifest = json!({
        "name": "pwd",
        "version": "1.0.0",
        "permissions": {
            "filesystem": { "read": ["./data", "./data/**"] },
            "process": { "commands": ["sh"] },
        },
        "limits": { "timeout": "20s" },
    });
    ws.js_plugin("pwd", &manifest.to_string(), PWD);
    ws.write(
        "aether-policy.toml",
        "[filesystem]\nread = [\"./data\", \"./data/**\"]\n\n[process]\ncommands = [\"sh\"]\n\n[isolation]\nhigh_risk = \"thread\"\n",
    );
    let input = json!({ "cwds": [null, "./data/inner", "/etc", "./data/../other", "./data/out"] });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: pwd\npolicy: ./aether-policy.toml\nsteps:\n  - id: p\n    plugin: ./plugins/pwd\n    with: {input}\n"
        ),
    );
    let (out, v) = crate::run::run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let real = ws.real();
    let refused = |target: String| json!({ "err": { "name": "PermissionDenied", "capability": "filesystem.read", "target": target } });
    assert_eq!(
        crate::run::output(&v, "p"),
        &json!([
            real.display().to_string(),
            real.join("data/inner").display().to_string(),
            refused("/etc".to_owned()),
            refused(real.join("other").display().to_string()),
            refused(real.join("data/out").display().to_string()),
        ])
    );
}
