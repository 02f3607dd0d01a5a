//! `--inspect-security` (issue 6, SPEC §8/§9): every file's schema on a run with allowed,
//! denied, virtualized and killed events, a file handed from one step to another and a fetch;
//! the hash chain; and `report.html` rendered by headless Chromium with no console error and
//! no network request.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Ws;

const WRITER: &str = r#"
export default async (input) => {
  aether.fs.mkdir("out");
  aether.fs.writeText("out/handoff.txt", "from a");
  aether.fs.writeText("elsewhere.txt", "virtualized");
  let denied = null;
  try { aether.fs.readText("secret.txt"); } catch (e) { denied = e.name; }
  const res = await fetch(input.url);
  return { denied, status: res.status, x: 1 };
};
"#;

const READER: &str = r#"
export default (input) => ({ text: aether.fs.readText("out/handoff.txt"), got: input.x });
"#;

const SPINNER: &str = "export default () => { for (;;) {} };\n";

fn workspace(port: u16) -> Ws {
    let ws = Ws::new();
    ws.write("secret.txt", "no");
    let manifest = |name: &str, extra: Value| {
        let mut m = json!({ "name": name, "version": "1.0.0" });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m.to_string()
    };
    ws.js_plugin(
        "writer",
        &manifest(
            "writer",
            json!({ "permissions": {
                "filesystem": { "write": ["./out/**"] },
                "network": { "domains": [format!("127.0.0.1:{port}")] },
                "env": ["UNUSED_*"],
            } }),
        ),
        WRITER,
    );
    ws.js_plugin(
        "reader",
        &manifest(
            "reader",
            json!({ "permissions": { "filesystem": { "read": ["./out/**"] } } }),
        ),
        READER,
    );
    ws.js_plugin(
        "spinner",
        &manifest("spinner", json!({ "limits": { "timeout": "1s" } })),
        SPINNER,
    );
    ws.write(
        "aether-policy.toml",
        &format!(
            "[filesystem]\nread = [\"./out/**\"]\nwrite = [\"./out/**\"]\nvirtualize_denied_writes = true\n[network]\ndomains = [\"127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.1/32\"]\n[env]\nallow = [\"UNUSED_*\"]\n[isolation]\nhigh_risk = \"thread\"\n"
        ),
    );
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: audit\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/writer\n    with: {{ url: \"http://127.0.0.1:{port}/ok\" }}\n  - id: b\n    plugin: ./plugins/reader\n    needs: [a]\n    with: {{ x: \"${{{{ steps.a.output.x }}}}\" }}\n  - id: spin\n    plugin: ./plugins/spinner\n"
        ),
    );
    ws
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const EVENT_FIELDS: [&str; 8] = [
    "time",
    "run_id",
    "step",
    "plugin",
    "capability",
    "target",
    "decision",
    "reason",
];

#[test]
fn every_file_of_the_report_has_its_schema() {
    let server = crate::fetch::Server::start();
    let ws = workspace(server.port);
    let out = ws.aether(&["run", "pipeline.yaml", "--inspect-security=report"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "the spinner is killed: {}", out.stderr);
    let dir = ws.path().join("report");
    for file in [
        "report.html",
        "violations.jsonl",
        "events.jsonl",
        "resources.json",
        "heatmap.svg",
        "interactions.mmd",
        "interactions.svg",
        "summary.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }

    // events.jsonl: every use, SPEC fields, hash-chained.
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    let events = lines(&dir.join("events.jsonl"));
    let mut prev = "0".repeat(64);
    for (line, event) in raw.iter().zip(&events) {
        for field in EVENT_FIELDS {
            assert!(event.get(field).is_some(), "{field} missing in {event}");
        }
        assert_eq!(event["prev"], prev.as_str(), "{event}");
        prev = sha256_hex(line);
    }
    let decisions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["capability"].as_str().unwrap(),
                e["decision"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("filesystem.write", "allowed"),
        ("filesystem.read", "denied"),
        ("filesystem.write", "virtualized"),
        ("limit.timeout", "killed"),
        ("network", "allowed"),
        ("filesystem.read", "allowed"),
    ] {
        assert!(
            decisions.contains(&expected),
            "{expected:?} in {decisions:?}"
        );
    }
    let fetch = events
        .iter()
        .find(|e| e["capability"] == "network")
        .unwrap();
    assert_eq!(fetch["status"], 200);
    assert_eq!(fetch["address"], format!("127.0.0.1:{}", server.port));

    // violations.jsonl: the violations only, same fields.
    let violations = lines(&dir.join("violations.jsonl"));
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(violations.iter().all(|v| v["decision"] != "allowed"));
    assert!(
        violations
            .iter()
            .all(|v| EVENT_FIELDS.iter().all(|f| v.get(f).is_some()))
    );

    // summary.json: SPEC's fields, and the seal (issue 15); events_head anchors the chain,
    // whose last record is the seal.
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let mut keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "events_head",
            "pipeline",
            "run_id",
            "seal",
            "steps",
            "unsafe"
        ]
    );
    assert_eq!(summary["events_head"], prev.as_str());
    let last = events.last().unwrap();
    assert_eq!(last["capability"], "audit.seal");
    assert_eq!(last["seal"], summary["seal"]);
    assert_eq!(events.iter().filter(|e| e.get("seal").is_some()).count(), 1);
    assert_eq!(summary["run_id"], events[0]["run_id"]);
    let step_keys = [
        "cpu_ms",
        "duration_ms",
        "events_not_written",
        "id",
        "peak_memory_bytes",
        "plugin",
        "status",
        "violations",
    ];
    for step in summary["steps"].as_array().unwrap() {
        let mut keys: Vec<&String> = step.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, step_keys);
    }
    let spin = &summary["steps"][2];
    assert_eq!(
        (spin["id"].as_str(), spin["status"].as_str()),
        (Some("spin"), Some("failed"))
    );

    // resources.json: samples over each step's run.
    let resources: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("resources.json")).unwrap())
            .unwrap();
    let spin = resources["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "spin")
        .unwrap();
    let samples = spin["samples"].as_array().unwrap();
    assert!(samples.len() > 10, "{spin}");
    for sample in samples {
        for field in ["t_ms", "heap_bytes", "cpu_ms"] {
            assert!(sample[field].is_u64(), "{sample}");
        }
    }

    // The diagram names the file handed from a to b, and the data edge.
    let mmd = std::fs::read_to_string(dir.join("interactions.mmd")).unwrap();
    assert!(mmd.contains("handoff.txt"), "{mmd}");
    for svg in ["heatmap.svg", "interactions.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(text.trim_start().starts_with("<svg"), "{svg}");
        // Nothing to fetch: the SVG namespace is the only URL allowed in it.
        let rest = text.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!rest.contains("http:") && !rest.contains("https:"), "{svg}");
    }

    // The terminal summary names the counts and the report.
    assert!(out.stderr.contains("3 violations"), "{}", out.stderr);
    assert!(out.stderr.contains("report.html"), "{}", out.stderr);
}

/// `report.html` renders in headless Chromium without a console error, and cannot reach the
/// network (its Content-Security-Policy refuses every fetch, and a refusal would be a console
/// error).
#[test]
fn the_report_renders_in_headless_chromium_without_errors() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok()
    });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("AETHER_REQUIRE_CHROMIUM").is_none(),
            "chromium is required here (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium");
        return;
    };
    let server = crate::fetch::Server::start();
    let ws = workspace(server.port);
    let out = ws.aether(&["run", "pipeline.yaml", "--inspect-security=report"]);
    out.no_panic();
    let html = ws.path().join("report/report.html");
    let profile = tempfile::tempdir().unwrap();
    let rendered = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    let dom = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{stderr}");
    assert!(dom.contains("<svg"), "the report did not render: {dom}");
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Content Security Policy"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
}
