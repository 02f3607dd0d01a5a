//! Findings a reviewer can read (issue 24): one finding per cause and file with a repeat count,
//! `--max-findings` with a summary line, the same in JSON and SARIF (still valid for
//! Microsoft's validator), and `--suggest` on the examples.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::Ws;

/// A plugin evaluating code three times in one file and reading an undeclared variable.
fn repeated() -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "p",
        r#"{ "name": "p", "version": "1.0.0" }"#,
        "export default (input) => [\n  eval(input.a),\n  eval(input.b),\n  eval(input.c),\n  aether.env.get('HOME'),\n];\n",
    );
    ws
}

// See: https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/sarif-v2.1.0-os.html#_Toc34317638
// (`occurrenceCount`) and the issue's 21,354 warnings on one bundle.
#[test]
fn issue_24_repeated_findings_are_one_with_a_count() {
    let ws = repeated();
    let out = ws.aether(&["check", "plugins/p", "--format", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v = out.json();
    let findings = v["findings"].as_array().unwrap();
    let code: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "dynamic-code")
        .collect();
    assert_eq!(code.len(), 1, "{v:#}");
    assert_eq!(code[0]["count"], 3);
    assert_eq!(code[0]["line"], 2);
    let related: Vec<u64> = code[0]["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(related, [3, 4]);
    // Errors first.
    assert_eq!(findings[0]["level"], "error", "{v:#}");
    assert_eq!(findings[0]["rule"], "capability-undeclared");

    let human = ws.aether(&["check", "plugins/p"]);
    assert!(
        human.stderr.contains("= 2 more times in this file, at 3:"),
        "{}",
        human.stderr
    );
    assert_eq!(human.stderr.matches("--> ").count(), 1, "{}", human.stderr);
}

#[test]
fn issue_24_max_findings_caps_with_a_summary_line() {
    let ws = repeated();
    let out = ws.aether(&["check", "plugins/p", "--max-findings", "1"]);
    out.no_panic();
    // The exit code counts every finding.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("1 more finding (3 occurrences) not shown"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("eval"), "{}", out.stderr);
    let json = ws.aether(&[
        "check",
        "plugins/p",
        "--max-findings",
        "1",
        "--format",
        "json",
    ]);
    let v = json.json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["omitted"]["findings"], 1);
    assert_eq!(v["omitted"]["occurrences"], 3);
    let sarif = ws.aether(&[
        "check",
        "plugins/p",
        "--max-findings",
        "1",
        "--format",
        "sarif",
    ]);
    let log = sarif.json();
    assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 1);
    assert_eq!(log["runs"][0]["properties"]["omittedFindings"], 1);
}

#[test]
fn issue_24_grouped_sarif_has_occurrence_count_and_related_locations() {
    let ws = repeated();
    let out = ws.aether(&["check", "plugins/p", "--format", "sarif"]);
    out.no_panic();
    let log = out.json();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let code = results
        .iter()
        .find(|r| r["ruleId"] == "dynamic-code")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(code["occurrenceCount"], 3);
    let related = code["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 2);
    assert_eq!(related[0]["physicalLocation"]["region"]["startLine"], 3);

    // Microsoft's validator accepts it (`.ci/run` installs it).
    let Some(tool) = std::env::var_os("AETHER_SARIF_MULTITOOL")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
    else {
        assert!(
            std::env::var_os("AETHER_SARIF_MULTITOOL").is_none(),
            "AETHER_SARIF_MULTITOOL is set but is not a file"
        );
        eprintln!("skipped the validator: set AETHER_SARIF_MULTITOOL (.ci/run installs it)");
        return;
    };
    let path = ws.write("check.sarif", &out.stdout);
    let verdict = ws.path().join("verdict.sarif");
    let ran = Command::new(tool)
        .arg("validate")
        .arg(&path)
        .arg("-o")
        .arg(&verdict)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stdout)
    );
    let verdict: Value = serde_json::from_str(&std::fs::read_to_string(&verdict).unwrap()).unwrap();
    let errors: Vec<&Value> = verdict["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["results"].as_array())
        .flatten()
        .filter(|r| r["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "the validator found errors: {errors:#?}");
}

/// `aether check ARGS --suggest --format json` run in `examples/<example>`: its suggestions.
fn suggest(example: &str, target: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(example);
    let out = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["check", target, "--suggest", "--format", "json"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    v["suggestions"].as_array().cloned().unwrap_or_default()
}

fn manifest_permissions(example: &str, plugin: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(example)
        .join("plugins")
        .join(plugin)
        .join("aether-plugin.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["permissions"].clone()
}

// `--suggest` on every example plugin: it reproduces the manifest where the code's targets are
// literals, and explains every difference elsewhere (the npm TypeScript example, which needs
// `npm ci` first, is `examples::issue_24_suggest_on_the_npm_typescript_example_asks_for_nothing`).
#[test]
fn issue_24_suggest_reproduces_or_explains_the_examples_manifests() {
    // Literal targets: exactly the manifest, no difference.
    for (example, plugin) in [("child-process", "sorter"), ("log-digest", "summarizer")] {
        let s = suggest(example, &format!("plugins/{plugin}"));
        assert_eq!(s.len(), 1, "{s:#?}");
        assert_eq!(s[0]["permissions"], manifest_permissions(example, plugin));
        assert_eq!(s[0]["used_not_asked"], serde_json::json!([]));
        assert_eq!(s[0]["asked_not_used"], serde_json::json!([]));
        assert_eq!(s[0]["undetermined"], serde_json::json!([]));
    }
    // Targets taken from the step's input: the one use is undetermined, and the manifest's
    // entries are "maybe used" by it, never reported as unused.
    for (example, target, api) in [
        ("log-digest", "plugins/log-reader", "aether.fs.readText"),
        ("log-digest", "plugins/report-writer", "aether.fs.writeText"),
        ("local-fetch", "plugins/price-check", "fetch"),
        ("secrets", "pipeline.yaml", "fetch"),
    ] {
        let s = suggest(example, target);
        assert_eq!(s.len(), 1, "{example} {target}: {s:#?}");
        let undetermined = s[0]["undetermined"].as_array().unwrap();
        assert_eq!(undetermined.len(), 1, "{s:#?}");
        assert_eq!(undetermined[0]["api"], api);
        let unused = s[0]["asked_not_used"].as_array().unwrap();
        assert!(!unused.is_empty(), "{s:#?}");
        assert!(unused.iter().all(|u| u["maybe_used"] == true), "{s:#?}");
        assert_eq!(s[0]["used_not_asked"], serde_json::json!([]));
    }
    // The hostile plugin uses five things its manifest does not ask for.
    let s = suggest("hostile-plugin", "plugins/grabber");
    let missing: Vec<&str> = s[0]["used_not_asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        [
            "/etc/passwd",
            "exfiltrate.example",
            "HOME",
            "/tmp/aether-was-here",
            "/bin/sh"
        ]
    );
    assert_eq!(s[0]["asked_not_used"], serde_json::json!([]));
}
