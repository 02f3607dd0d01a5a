//! The process tier's prepared bindings (issue 23): the zygote installs the bindings with the
//! engine before it forks, over a gate with no host; each worker arms its copy with its own
//! step's host, deadline and ceiling. What each step can reach is its own grant only, and the
//! per-step accounting is still the step's own worker's.

use serde_json::json;

use crate::Ws;

/// A process-tier workspace: plugin `granted` may read `AETHER_IT_BOUND`, plugin `other` may
/// not; both try, log a line and read `performance.now()`.
fn workspace(pipeline: &str) -> Ws {
    let ws = Ws::new();
    let probe = "export default (input, ctx) => {\n  let env;\n  try { env = aether.env.get('AETHER_IT_BOUND') ?? null; } catch (e) { env = e.name; }\n  console.log(`step ${ctx.step}`);\n  return { env, now: performance.now() };\n};\n";
    ws.js_plugin(
        "granted",
        &json!({ "name": "granted", "version": "1.0.0", "permissions": { "env": ["AETHER_IT_BOUND"] } })
            .to_string(),
        probe,
    );
    ws.js_plugin(
        "other",
        &json!({ "name": "other", "version": "1.0.0" }).to_string(),
        probe,
    );
    ws.write(
        "aether-policy.toml",
        "[env]\nallow = [\"AETHER_IT_BOUND\"]\n[isolation]\ndefault = \"process\"\n",
    );
    ws.write("pipeline.yaml", pipeline);
    ws
}

/// Six steps of two plugins, interleaved, two at a time.
fn interleaved() -> String {
    let mut pipeline = String::from("name: p\npolicy: ./aether-policy.toml\nsteps:\n");
    for i in 0..6 {
        let plugin = if i % 2 == 0 { "granted" } else { "other" };
        pipeline.push_str(&format!("  - id: s{i}\n    plugin: ./plugins/{plugin}\n"));
    }
    pipeline
}

/// Every worker's bindings come from the same zygote, yet each step reaches its own host only:
/// the granted steps read the variable, the others get `PermissionDenied` whichever worker
/// ran before them, each step's log line is its own, and `performance.now()` counts from the
/// step's start, not from the zygote's preparation.
#[test]
fn issue_23_each_steps_prepared_bindings_reach_its_own_grant_only() {
    let ws = workspace(&interleaved());
    let out = ws.aether_env(
        &["run", "pipeline.yaml", "--jobs", "2", "--output", "json"],
        &[("AETHER_IT_BOUND", "visible")],
    );
    let report = out.no_panic().json();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 6, "{report}");
    for (i, step) in steps.iter().enumerate() {
        let expected = if i % 2 == 0 {
            json!("visible")
        } else {
            json!("PermissionDenied")
        };
        assert_eq!(step["output"]["env"], expected, "{report}");
        let now = step["output"]["now"].as_f64().expect("now");
        assert!((0.0..5_000.0).contains(&now), "{report}");
        assert!(out.stderr.contains(&format!("step s{i}")), "{}", out.stderr);
    }
}

/// `--inspect-security`'s per-step figures are still each step's own worker's, read by aether
/// from the kernel: every step has its own peak memory (a worker's resident set, more than the
/// engine alone and under the ceiling) and a duration.
#[test]
fn issue_23_each_steps_accounting_is_its_own_workers() {
    let ws = workspace(&interleaved());
    let out = ws.aether_env(
        &[
            "run",
            "pipeline.yaml",
            "--jobs",
            "2",
            "--inspect-security=report",
        ],
        &[("AETHER_IT_BOUND", "visible")],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("report/summary.json")).expect("summary"),
    )
    .expect("json");
    let steps = summary["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 6, "{summary}");
    for step in steps {
        let peak = step["peak_memory_bytes"].as_u64().expect("peak");
        assert!(
            (1 << 20..256 << 20).contains(&peak),
            "{}: {peak}",
            step["id"]
        );
        assert!(step["cpu_ms"].as_u64().is_some(), "{summary}");
        assert!(step["duration_ms"].as_u64().is_some(), "{summary}");
    }
}
