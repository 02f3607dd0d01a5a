//! `--unsafe` (SPEC §6): refused when the policy forbids it; otherwise no checks, a loud
//! warning, and would-be violations still recorded as `allowed-unsafe`.

use crate::Ws;

/// A plugin that reads a file its manifest does not grant.
fn reader_of_secret() -> Ws {
    let ws = Ws::new();
    ws.write("secret.txt", "s3cret");
    ws.write(
        "plugins/r/aether-plugin.json",
        r#"{ "name": "r", "version": "1.0.0" }"#,
    );
    ws.write(
        "plugins/r/index.js",
        "export default () => aether.fs.readText('./secret.txt');\n",
    );
    ws
}

#[test]
fn unsafe_is_refused_when_the_policy_forbids_it() {
    let ws = reader_of_secret();
    // `[unsafe] allowed` defaults to false in a policy (SPEC §3).
    ws.write("aether-policy.toml", "[limits]\nmax_timeout = \"1m\"\n");
    ws.write(
        "pipeline.yaml",
        "name: u\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/r\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--unsafe"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("does not allow `--unsafe`"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("a started"),
        "nothing may run: {}",
        out.stderr
    );
}

#[test]
fn without_unsafe_the_read_is_denied_and_with_it_allowed_and_recorded() {
    let ws = reader_of_secret();
    ws.write(
        "pipeline.yaml",
        "name: u\nsteps:\n  - id: a\n    plugin: ./plugins/r\n",
    );
    let denied = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    denied.no_panic();
    assert_eq!(denied.code, Some(1), "{}", denied.stderr);
    let v: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert!(
        v["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("PermissionDenied"),
        "{v}"
    );

    // No policy at all: `--unsafe` is allowed (SPEC §3).
    let out = ws.aether(&["run", "pipeline.yaml", "--unsafe", "--output", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("WARNING: --unsafe"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 filesystem.read allowed-unsafe"),
        "{}",
        out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["steps"][0]["output"], "s3cret");
}

#[test]
fn unsafe_runs_past_a_policy_excess_when_the_policy_allows_it() {
    let ws = reader_of_secret();
    ws.write(
        "plugins/r/aether-plugin.json",
        r#"{ "name": "r", "version": "1.0.0", "permissions": { "env": ["HOME"] } }"#,
    );
    ws.write("aether-policy.toml", "[unsafe]\nallowed = true\n");
    ws.write(
        "pipeline.yaml",
        "name: u\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/r\n",
    );
    assert_eq!(
        ws.aether(&["run", "pipeline.yaml"]).code,
        Some(2),
        "the excess refuses a normal run"
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--unsafe"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("warning:"),
        "the excess is still reported: {}",
        out.stderr
    );
}
