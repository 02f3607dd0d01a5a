//! `aether check` and `aether run`'s refusals (issue 2): every malformed file, excess, cycle
//! and bad reference is reported with file:line:col and the SPEC's exit codes.

use crate::Ws;
use crate::snapshots::aether_snapshot;

const POLICY: &str = r#"
[filesystem]
read = ["./data/**"]
write = ["./out/"]

[env]
allow = ["LOG_*"]
"#;

fn ok_workspace() -> Ws {
    let ws = Ws::new();
    ws.write("aether-policy.toml", POLICY);
    ws.plugin(
        "reader",
        r#"{
  "name": "reader",
  "version": "1.0.0",
  "permissions": { "filesystem": { "read": ["./data/*.log"] }, "env": ["LOG_LEVEL"] }
}"#,
    );
    ws.plugin("writer", r#"{ "name": "writer", "version": "0.1.0", "permissions": { "filesystem": { "write": ["./out/"] } } }"#);
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n  - id: b\n    plugin: ./plugins/writer\n    needs: [a]\n    with: { x: \"${{ steps.a.output.n }}\" }\n",
    );
    ws
}

#[test]
fn a_valid_workspace_prints_grants_and_risk() {
    let ws = ok_workspace();
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Each plugin's name, version, risk, tier, grant and limits, and the steps.
    aether_snapshot!(&ws, "check_valid_workspace", out.stdout);

    let json = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(json.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let plugins = v["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 2);
    assert_eq!(plugins[0]["name"], "reader");
    assert_eq!(plugins[0]["risk"], "medium");
    assert_eq!(plugins[0]["tier"], "thread");
    assert!(
        plugins[0]["grant"]["filesystem"]["read"][0]
            .as_str()
            .unwrap()
            .ends_with("/data/*.log")
    );
    // The plugins' code uses none of what they declare: least-privilege warnings only.
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(
        findings
            .iter()
            .all(|f| f["rule"] == "capability-unused" && f["level"] == "warning"),
        "{findings:#?}"
    );
}

#[test]
fn a_typo_in_a_manifest_field_is_malformed_with_its_location() {
    let ws = ok_workspace();
    // `permisions`: a typo must not silently drop a restriction (SPEC §2).
    ws.write(
        "plugins/reader/aether-plugin.json",
        "{\n  \"name\": \"reader\",\n  \"version\": \"1.0.0\",\n  \"permisions\": {}\n}\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    // The whole error: file:line:col, the field, and the fields that exist.
    aether_snapshot!(&ws, "check_manifest_field_typo", out.stderr);
    let run = ws.aether(&["run", "pipeline.yaml"]);
    assert_eq!(run.code, Some(2));
}

#[test]
fn every_policy_excess_is_listed_at_once() {
    let ws = ok_workspace();
    ws.write(
        "plugins/reader/aether-plugin.json",
        r#"{
  "name": "reader",
  "version": "1.0.0",
  "permissions": {
    "filesystem": { "read": ["/etc/*", "./data/**"] },
    "env": ["AWS_SECRET_ACCESS_KEY"],
    "network": { "domains": ["evil.example"] }
  }
}"#,
    );
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let excess: Vec<_> = findings
        .iter()
        .filter(|f| f["rule"] == "policy-excess")
        .collect();
    assert_eq!(excess.len(), 3, "{findings:#?}");
    assert!(
        excess
            .iter()
            .any(|f| f["line"] == 5 && f["capability"] == "filesystem.read")
    );
    assert!(
        excess
            .iter()
            .any(|f| f["line"] == 6 && f["capability"] == "env")
    );
    assert!(
        excess
            .iter()
            .any(|f| f["line"] == 7 && f["capability"] == "network")
    );
    let run = ws.aether(&["run", "pipeline.yaml"]);
    assert_eq!(run.code, Some(2));
    // All three refusals at once, each located, with its hint.
    aether_snapshot!(&ws, "run_refused_policy_excesses", run.stderr);
}

#[test]
fn a_cycle_is_named_and_located() {
    let ws = ok_workspace();
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n    needs: [b]\n  - id: b\n    plugin: ./plugins/writer\n    needs: [a]\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    aether_snapshot!(&ws, "check_cycle", out.stderr);
    assert_eq!(ws.aether(&["run", "pipeline.yaml"]).code, Some(2));
}

#[test]
fn a_reference_to_a_step_not_needed_is_refused() {
    let ws = ok_workspace();
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n  - id: b\n    plugin: ./plugins/writer\n    with: { x: \"${{ steps.a.output.n }}\" }\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("pipeline.yaml:8:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("add `a` to the `needs`"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_pipeline_fields_and_raised_limits_are_refused() {
    let ws = ok_workspace();
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n    timout: 5s\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("pipeline.yaml:5:"), "{}", out.stderr);

    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/reader\n    timeout: 1h\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("pipeline.yaml:5:"), "{}", out.stderr);
    assert!(out.stderr.contains("may only lower"), "{}", out.stderr);
}

#[test]
fn missing_and_malformed_files_are_clear_errors() {
    let ws = ok_workspace();
    let out = ws.aether(&["check", "nope.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("nope.yaml: cannot read the file: no such file or directory"),
        "{}",
        out.stderr
    );

    ws.write(
        "aether-policy.toml",
        "[filesystem]\nread = [\"./data/**\"\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("aether-policy.toml:"), "{}", out.stderr);

    ws.write("aether-policy.toml", "[filesystem]\nreed = []\n");
    let out = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("aether-policy.toml:2:1"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_plugin_directory_is_checked_against_a_policy() {
    let ws = ok_workspace();
    let out = ws.aether(&["check", "plugins/reader", "--policy", "aether-policy.toml"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("reader 1.0.0"));
    ws.write("strict.toml", "[filesystem]\nread = [\"./other/**\"]\n");
    let out = ws.aether(&["check", "plugins/reader", "--policy", "strict.toml"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
}

#[test]
fn the_example_workspace_checks_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/log-digest/pipeline.yaml");
    let out = Ws::new().aether(&["check", root.to_str().unwrap()]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for name in ["log-reader", "summarizer", "report-writer"] {
        assert!(out.stdout.contains(name), "{}", out.stdout);
    }
}

/// SPEC §2: a child process gets whole directories, so `check` warns (exit 0) where a glob of a
/// plugin that runs commands is narrower than what its children will get, and only there.
#[test]
fn globs_wider_for_child_processes_are_warned_about() {
    let ws = Ws::new();
    ws.plugin(
        "gz",
        r#"{ "name": "gz", "version": "1.0.0", "permissions": {
              "filesystem": { "read": ["./data/*.log", "./conf/**"], "write": ["./out/"] },
              "process": { "commands": ["/bin/sh"] } } }"#,
    );
    let out = ws.aether(&["check", "plugins/gz", "--format", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = out.json();
    let warned: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "process-confinement")
        .map(|f| f["target"].as_str().unwrap())
        .collect();
    assert_eq!(warned, ["./data/*.log"], "{v:#}");

    // Without commands, the same globs are exact: no warning.
    ws.plugin(
        "plain",
        r#"{ "name": "plain", "version": "1.0.0", "permissions": {
              "filesystem": { "read": ["./data/*.log"] } } }"#,
    );
    let out = ws.aether(&["check", "plugins/plain", "--format", "json"]);
    assert!(
        !out.stdout.contains("process-confinement"),
        "{}",
        out.stdout
    );
}
