//! The order of a process-tier run's start (issue 23, the one-step cold run): the entry
//! module of each first step is compiled in aether while the zygote starts, instead of when
//! its worker asks for it. What a plugin sees must not change: a module that does not compile
//! fails its step with its `file:line:col` exactly as in the thread tier, and nothing is
//! written; a run whose process-tier step is never reached leaves no zygote or worker behind.

use std::process::{Command, Stdio};

use serde_json::json;

use crate::Ws;
use crate::tier_pool::{eventually, family, gone};

/// A plugin that writes a file, then a class body QuickJS does not parse (`accessor` fields)
/// although the run's static gate (oxc) does: the module fails only when it is compiled.
const UNCOMPILABLE: &str = "export default (i) => {\n  aether.fs.writeText(\"out/x.txt\", \"x\");\n  return i;\n};\nclass A { accessor x = 1; }\n";

fn uncompilable(tier: &str) -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "bad",
        &json!({ "name": "bad", "version": "1.0.0",
                 "permissions": { "filesystem": { "write": ["./out/**"] } } })
        .to_string(),
        UNCOMPILABLE,
    );
    ws.write(
        "aether-policy.toml",
        &format!("[filesystem]\nwrite = [\"./out/**\"]\n[isolation]\ndefault = \"{tier}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        "name: bad\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/bad\n",
    );
    ws
}

#[test]
fn a_first_steps_entry_module_that_does_not_compile_fails_as_in_the_thread_tier() {
    let mut errors = Vec::new();
    for tier in ["thread", "process"] {
        let ws = uncompilable(tier);
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(1), "{tier}: {}", out.stderr);
        let step = &out.json()["steps"][0];
        assert_eq!(step["status"], "failed", "{tier}: {step}");
        let error = step["error"].as_str().unwrap().to_owned();
        assert!(error.contains("SyntaxError"), "{tier}: {error}");
        assert!(error.contains("index.js:5:20"), "{tier}: {error}");
        assert!(
            !ws.path().join("out").exists(),
            "{tier}: something was written"
        );
        errors.push(error);
    }
    assert_eq!(errors[0], errors[1]);
}

/// Step `b` (process tier) needs `a` (thread tier), which fails after a while: `b` is never
/// reached. The zygote started for it, and the worker forked ahead for it, are gone once the
/// run has ended.
#[test]
fn a_process_step_never_reached_leaves_no_zygote_or_worker_behind() {
    let ws = Ws::new();
    ws.js_plugin(
        "fail",
        r#"{ "name": "fail", "version": "1.0.0" }"#,
        "export default async () => { await new Promise((r) => setTimeout(r, 1500)); throw new Error(\"no\"); };\n",
    );
    ws.js_plugin(
        "ok",
        r#"{ "name": "ok", "version": "1.0.0" }"#,
        "export default (i) => i;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: a\n    plugin: ./plugins/fail\n  - id: b\n    plugin: ./plugins/ok\n    needs: [a]\n    isolation: process\n",
    );
    let aether = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["run", "pipeline.yaml", "--output", "json"])
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = aether.id();
    let mut seen = Vec::new();
    let started = eventually(|| {
        let Some((zygote, workers)) = family(me) else {
            return false;
        };
        seen = workers.clone();
        seen.push(zygote);
        !workers.is_empty()
    });
    let out = aether.wait_with_output().unwrap();
    assert!(started, "no zygote with a worker forked ahead: {seen:?}");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"][1]["status"], "skipped", "{report}");
    assert!(
        eventually(|| seen.iter().all(|&pid| gone(pid))),
        "a worker or the zygote outlived the run: {seen:?}"
    );
}

/// The zygote starts while the workspace is still being validated (as soon as a step that runs
/// is known to need it): a run that validation then refuses still refuses, with nothing run.
#[test]
fn a_run_refused_after_its_zygote_started_still_refuses_and_runs_nothing() {
    let ws = Ws::new();
    ws.js_plugin(
        "ok",
        r#"{ "name": "ok", "version": "1.0.0", "permissions": { "filesystem": { "write": ["./out/**"] } } }"#,
        "export default (i) => { aether.fs.writeText(\"out/a.txt\", \"a\"); return i; };\n",
    );
    ws.js_plugin(
        "broken",
        r#"{ "name": "broken", "version": "1.0.0" }"#,
        "export default (i) => {\n  return i +;\n};\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: a\n    plugin: ./plugins/ok\n    isolation: process\n  - id: b\n    plugin: ./plugins/broken\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("index.js:2:"), "{}", out.stderr);
    assert!(!ws.path().join("out").exists());
}

/// `run --step` starts a zygote only for its own step's tier, and runs it in that tier.
#[test]
fn run_step_runs_its_step_in_its_own_tier() {
    let ws = Ws::new();
    ws.js_plugin(
        "pid",
        r#"{ "name": "pid", "version": "1.0.0" }"#,
        "export default (i) => ({ n: i.n });\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: a\n    plugin: ./plugins/pid\n    with: { n: 1 }\n  - id: b\n    plugin: ./plugins/pid\n    isolation: process\n    with: { n: 2 }\n",
    );
    for (step, n) in [("a", 1), ("b", 2)] {
        let out = ws.aether(&["run", "pipeline.yaml", "--step", step, "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert_eq!(out.json()["steps"][0]["output"], json!({ "n": n }));
    }
}
