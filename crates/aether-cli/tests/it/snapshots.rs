//! Snapshot tests of what users and tools read (issue 20 item 5): the human output of `run`
//! and `check`, `run --output json`, `check --format json` and `--format sarif`, and the
//! `summary.json` of `--inspect-security`, for a few representative pipelines.
//!
//! Every snapshot goes through [`aether_snapshot!`], whose filters hide what changes from run
//! to run (the workspace's temporary path, durations, CPU and memory figures, run ids, times,
//! digests), so that a snapshot changes only when the output does. The snapshots live in
//! `snapshots/` beside this file; review a change with `cargo insta review` (or read the
//! `.snap.new` file). CI runs with `INSTA_UPDATE=no`: a new or changed snapshot fails the test
//! and is never written.

use serde_json::Value;

use crate::{Out, Ws};

/// The filters of every snapshot: `(regex, replacement)`, applied in order.
pub(crate) const FILTERS: &[(&str, &str)] = &[
    // Any temporary directory left (the workspace itself is replaced before, see below).
    (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
    // Times of day and dates (RFC 3339).
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIME]",
    ),
    // Digests (SHA-256, hex).
    (r"\b[0-9a-f]{64}\b", "[SHA256]"),
    // Run ids.
    (r#""run_id": "[^"]*""#, r#""run_id": "[RUN_ID]""#),
    // Measured figures in JSON: durations, CPU, memory, start offsets.
    (
        r#""(duration_ms|cpu_ms|peak_memory_bytes|peak_heap_bytes|start_ms|end_ms|t_ms|heap_bytes|elapsed_ms)": \d+"#,
        r#""$1": "[N]""#,
    ),
    // Measured durations in human output (`succeeded in 12ms`, `failed after 1.2s`); limits
    // (`timeout 30s`) are configuration and stay.
    (r"\b(in|after) \d+(\.\d+)? ?(ms|µs|s)\b", "$1 [DURATION]"),
];

/// Asserts a snapshot of `text` named `name`, with `ws`'s paths written `[WS]` and every
/// [`FILTERS`] applied.
macro_rules! aether_snapshot {
    ($ws:expr, $name:expr, $text:expr) => {{
        let text = $crate::snapshots::hide_workspace($ws, &$text);
        let mut settings = insta::Settings::clone_current();
        for (pattern, replacement) in $crate::snapshots::FILTERS {
            settings.add_filter(pattern, *replacement);
        }
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!($name, text));
    }};
}
pub(crate) use aether_snapshot;

/// `text` with the workspace's directory (as given and with symlinks resolved) written `[WS]`.
pub(crate) fn hide_workspace(ws: &Ws, text: &str) -> String {
    let real = ws.real().display().to_string();
    let given = ws.path().display().to_string();
    text.replace(&real, "[WS]").replace(&given, "[WS]")
}

/// A JSON document, pretty-printed for a snapshot.
fn pretty(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    serde_json::to_string_pretty(&v).unwrap()
}

/// Both streams and the exit code of a run, as one text.
fn streams(out: &Out) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

const POLICY: &str = r#"
[filesystem]
read = ["./data/**"]
write = ["./out/"]

[env]
allow = ["LOG_*"]
"#;

/// Two plugins: `reader` reads a file it is granted, tries one it is not (the denial is
/// caught), and hands a count to `writer`, which writes it under `out/`.
fn two_step_workspace() -> Ws {
    let ws = Ws::new();
    ws.write("aether-policy.toml", POLICY);
    ws.write("data/a.log", "one\ntwo\nthree\n");
    ws.write("data/secret.txt", "no\n");
    ws.write("out/.keep", "");
    ws.js_plugin(
        "reader",
        r#"{
  "name": "reader",
  "version": "1.0.0",
  "permissions": { "filesystem": { "read": ["./data/*.log"] } }
}"#,
        r#"export default function () {
  const lines = aether.fs.readText("data/a.log").trim().split("\n");
  let denied = null;
  try { aether.fs.readText("data/secret.txt"); } catch (e) { denied = e.name; }
  console.log(`read ${lines.length} lines`);
  return { n: lines.length, denied };
}
"#,
    );
    ws.js_plugin(
        "writer",
        r#"{ "name": "writer", "version": "0.1.0", "permissions": { "filesystem": { "write": ["./out/"] } } }"#,
        r#"export default function (input) {
  aether.fs.writeText("out/count.txt", String(input.x));
  return { wrote: "out/count.txt" };
}
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n  - id: b\n    plugin: ./plugins/writer\n    needs: [a]\n    with: { x: \"${{ steps.a.output.n }}\" }\n",
    );
    ws
}

#[test]
fn snapshot_run_human_output() {
    let ws = two_step_workspace();
    let out = ws.aether(&["run", "pipeline.yaml"]);
    out.no_panic();
    aether_snapshot!(&ws, "run_human", streams(&out));
}

#[test]
fn snapshot_run_output_json() {
    let ws = two_step_workspace();
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    aether_snapshot!(&ws, "run_output_json", pretty(&out.stdout));
}

#[test]
fn snapshot_run_summary_json() {
    let ws = two_step_workspace();
    let out = ws.aether(&["run", "pipeline.yaml", "--inspect-security=report"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary = std::fs::read_to_string(ws.path().join("report/summary.json")).unwrap();
    aether_snapshot!(&ws, "run_summary_json", pretty(&summary));
}

#[test]
fn snapshot_failed_step_human_output() {
    let ws = two_step_workspace();
    ws.write(
        "plugins/writer/index.js",
        "export default function () { aether.fs.readText(\"/etc/passwd\"); }\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    aether_snapshot!(&ws, "run_failed_step_human", streams(&out));
}

#[test]
fn snapshot_check_human_json_and_sarif() {
    let ws = two_step_workspace();
    let human = ws.aether(&["check", "pipeline.yaml"]);
    human.no_panic();
    aether_snapshot!(&ws, "check_human", streams(&human));
    let json = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    aether_snapshot!(&ws, "check_json", pretty(&json.stdout));
    let sarif = ws.aether(&["check", "pipeline.yaml", "--format", "sarif"]);
    aether_snapshot!(&ws, "check_sarif", pretty(&sarif.stdout));
}
