//! The process tier's prepared engine (issue 23): the zygote makes a runtime and context with
//! the built-ins before it forks, and every worker gets its own copy on write of them. What a
//! step does to its copy stays in its worker; no two workers draw the same `Math.random`.

use crate::Ws;

/// A process-tier workspace with plugin `name` running `index_js`, and `pipeline`.
fn workspace(plugins: &[(&str, &str)], pipeline: &str) -> Ws {
    let ws = Ws::new();
    for (name, index_js) in plugins {
        ws.js_plugin(
            name,
            &format!(r#"{{ "name": "{name}", "version": "1.0.0" }}"#),
            index_js,
        );
    }
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    ws.write("pipeline.yaml", pipeline);
    ws
}

/// The output of step `id` in a `--output json` report.
fn output(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .map(|s| s["output"].clone())
        .unwrap_or_default()
}

/// A step that changes the built-ins and the global object (prototype pollution) leaves the
/// next step's engine as the zygote made it: each worker changes its own copy only.
// See: https://github.com/advisories/GHSA-hrpp-h998-j3pp (prototype pollution reaching other
// code sharing the same built-ins)
#[test]
fn issue_23_a_steps_changes_to_the_built_ins_stay_in_its_worker() {
    let ws = workspace(
        &[
            (
                "pollute",
                "export default () => {\n  Object.prototype.polluted = 1;\n  Array.prototype.push = () => 'hijacked';\n  globalThis.leak = 'secret';\n  Math.max = () => 42;\n  return [].push(1);\n};\n",
            ),
            (
                "look",
                "export default () => ({ proto: ({}).polluted ?? null, push: [].push(7), leak: typeof globalThis.leak, max: Math.max(1, 2) });\n",
            ),
        ],
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/pollute\n  - id: b\n    plugin: ./plugins/look\n    needs: [a]\n  - id: c\n    plugin: ./plugins/look\n    needs: [b]\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--jobs", "1", "--output", "json"]);
    let report = out.no_panic().json();
    assert_eq!(
        output(&report, "a"),
        serde_json::json!("hijacked"),
        "{report}"
    );
    for id in ["b", "c"] {
        assert_eq!(
            output(&report, id),
            serde_json::json!({ "proto": null, "push": 1, "leak": "undefined", "max": 2 }),
            "{report}"
        );
    }
}

/// Each worker's `Math.random` is seeded anew: workers forked from the same zygote (whose
/// context they all copy) do not draw the same numbers.
#[test]
fn issue_23_each_worker_draws_its_own_math_random() {
    let ws = workspace(
        &[(
            "draw",
            "export default () => [Math.random(), Math.random(), Math.random()];\n",
        )],
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/draw\n  - id: b\n    plugin: ./plugins/draw\n  - id: c\n    plugin: ./plugins/draw\n    needs: [a, b]\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--jobs", "2", "--output", "json"]);
    let report = out.no_panic().json();
    let draws: Vec<serde_json::Value> = ["a", "b", "c"]
        .iter()
        .map(|id| output(&report, id))
        .collect();
    for draw in &draws {
        assert_eq!(draw.as_array().map(Vec::len), Some(3), "{report}");
    }
    assert_ne!(draws[0], draws[1], "{report}");
    assert_ne!(draws[1], draws[2], "{report}");
    assert_ne!(draws[0], draws[2], "{report}");
}
