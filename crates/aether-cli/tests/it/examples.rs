//! Issue 17, item 8: the examples under `examples/` run as their READMEs say. Each test copies
//! its example into a temporary workspace (nothing is written into the repository) and runs it
//! the way a newcomer would.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::Ws;
use crate::npm::{copy_tree, npm_ci};

/// `examples/NAME` in the repository.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// Copies `from` into `to` (real copies; symlinks as symlinks), leaving out what a run or an
/// install leaves in a checkout: `node_modules` and `aether-security`.
fn copy_example_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "aether-security" {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let dest = to.join(&name);
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), dest).unwrap();
        } else if kind.is_dir() {
            copy_example_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A workspace holding a copy of `examples/NAME`.
fn copy_example(name: &str) -> Ws {
    let ws = Ws::new();
    copy_example_tree(&example(name), ws.path());
    ws
}

/// The output of the only step of a `--output json` run that succeeded.
fn only_output(run: &crate::Out) -> Value {
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    run.json()["steps"][0]["output"].clone()
}

// See: https://docs.npmjs.com/cli/commands/npm-ci (the README's install step) and
// https://github.com/npm/node-semver (a CommonJS package, imported from TypeScript).
#[test]
fn issue_17_example_npm_typescript_runs() {
    let ws = copy_example("npm-typescript");
    let plugin = "plugins/release-picker";
    let installed = npm_ci(&example("npm-typescript").join(plugin));
    copy_tree(
        &installed.join("node_modules"),
        &ws.path().join(plugin).join("node_modules"),
    );
    let out = only_output(&ws.aether(&["run", "pipeline.yaml", "--output", "json"]));
    assert_eq!(
        out["matching"],
        json!(["1.2.0", "1.9.3", "1.10.1"]),
        "{out:#}"
    );
    assert_eq!(out["best"], "1.10.1", "{out:#}");
    assert_eq!(out["next"], "1.11.0", "{out:#}");
    assert_eq!(out["invalid"], json!(["banana"]), "{out:#}");
    let check = ws.aether(&["check", "pipeline.yaml"]);
    check.no_panic();
    assert_eq!(check.code, Some(0), "{}\n{}", check.stdout, check.stderr);
}

// See: https://docs.python.org/3/library/http.server.html (the server run.sh starts on
// 127.0.0.1 at a free port).
#[test]
fn issue_17_example_local_fetch_runs_its_script() {
    let out = Command::new(example("local-fetch").join("run.sh"))
        .args(["--output", "json"])
        .env("AETHER", env!("CARGO_BIN_EXE_aether"))
        .output()
        .expect("bash and python3 (run.sh needs them)");
    let run = crate::Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let out = only_output(&run);
    assert_eq!(
        out,
        json!({ "currency": "EUR", "items": 3, "total": 7.5, "dearest": "orange juice" })
    );
}

// See: SPEC §5 `aether.process.run` and the manifest's `permissions.process.commands`.
#[test]
fn issue_17_example_child_process_runs() {
    let ws = copy_example("child-process");
    let out = only_output(&ws.aether(&["run", "pipeline.yaml", "--output", "json"]));
    assert_eq!(
        out,
        json!({ "sorted": ["Apple", "banana", "cherry", "fig", "pear"], "code": 0 })
    );
}

// See: SECURITY.md (what a plugin must not reach) and docs/inspect-security.md (the report).
#[test]
fn issue_17_example_hostile_plugin_is_contained_and_reported() {
    let ws = copy_example("hostile-plugin");
    let run = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--inspect-security=aether-security",
        "--output",
        "json",
    ]);
    let out = only_output(&run);
    let outcomes = out["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 6, "{out:#}");
    assert!(outcomes.iter().all(|o| o["denied"] == true), "{out:#}");
    assert!(!Path::new("/tmp/aether-was-here").exists());

    let report = ws.path().join("aether-security");
    let text = std::fs::read_to_string(report.join("violations.jsonl")).unwrap();
    let mut seen: Vec<(String, String, String)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["capability"].as_str().unwrap().to_owned(),
                v["decision"].as_str().unwrap().to_owned(),
                v["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let denied = |c: &str, t: &str| (c.to_owned(), "denied".to_owned(), t.to_owned());
    assert_eq!(
        seen,
        [
            denied("env", "HOME"),
            denied("filesystem.read", "/etc/passwd"),
            denied("filesystem.write", "/tmp/aether-was-here"),
            denied("module", "fs"),
            denied("network", "https://exfiltrate.example/?d=1"),
            denied("process", "/bin/sh"),
        ]
    );

    let verify = ws.aether(&["verify-log", "aether-security"]);
    verify.no_panic();
    assert_eq!(verify.code, Some(0), "{}\n{}", verify.stdout, verify.stderr);

    // The README shows the terminal summary this run prints.
    let readme = std::fs::read_to_string(example("hostile-plugin").join("README.md")).unwrap();
    let summary = run
        .stderr
        .lines()
        .find(|l| l.starts_with("6 violations:"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(readme.contains(summary), "README lacks `{summary}`");
}

// `check --suggest` on the TypeScript plugin with its npm dependency installed: semver needs
// no capability, the manifest asks for none, and the analysis of the whole `node_modules` it
// reaches finds nothing to ask for (issue 24 "Done when": `--suggest` reproduces the examples'
// manifests).
#[test]
fn issue_24_suggest_on_the_npm_typescript_example_asks_for_nothing() {
    let ws = copy_example("npm-typescript");
    let plugin = "plugins/release-picker";
    let installed = npm_ci(&example("npm-typescript").join(plugin));
    copy_tree(
        &installed.join("node_modules"),
        &ws.path().join(plugin).join("node_modules"),
    );
    let out = ws.aether(&["check", plugin, "--suggest", "--format", "json"]);
    out.no_panic();
    let v = out.json();
    let suggestions = v["suggestions"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(suggestions.len(), 1, "{v:#}");
    let s = &suggestions[0];
    let permissions = &s["permissions"];
    assert!(
        permissions.is_null() || permissions.as_object().is_some_and(|o| o.is_empty()),
        "{s:#}"
    );
    for key in ["used_not_asked", "asked_not_used", "undetermined"] {
        assert_eq!(s[key], json!([]), "{key}: {s:#}");
    }
}
