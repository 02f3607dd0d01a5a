//! Issue 21: the `aether` command is a thin client of the library `aether`. Its dependencies
//! are the façade, argument parsing and rendering crates only, so that no validation,
//! scheduling, integrity or report-building logic can come back into it unnoticed.

use std::process::Command;

/// What `aether-cli` may depend on (normal dependencies): the façade, and crates that parse
/// arguments, render, or write files whole.
const ALLOWED: &[&str] = &[
    "aether",       // the façade: everything checked, run and reported
    "anyhow",       // error chains printed with `{:#}`
    "clap",         // argument parsing
    "indicatif",    // the live progress display
    "jiff",         // "now", given to the façade
    "serde",        // rendering JSON documents
    "serde_json",   // rendering JSON documents
    "serde-saphyr", // rendering `export argo` as YAML
    "tempfile",     // `--output-file` written whole or not at all
    "url",          // rendering `file:` URIs in SARIF
];

// See: issue 21, "Done when" 1 (a `cargo tree`-based check keeps the CLI's dependencies to
// the façade, clap and rendering).
#[test]
fn issue_21_cli_depends_on_the_facade_and_rendering_only() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aether-cli")
        .expect("the package aether-cli");
    let normal: Vec<&str> = cli["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    let extra: Vec<&&str> = normal.iter().filter(|d| !ALLOWED.contains(d)).collect();
    assert!(
        extra.is_empty(),
        "aether-cli depends on {extra:?}: move that logic into the façade `aether`"
    );
    assert!(normal.contains(&"aether"), "{normal:?}");
}
