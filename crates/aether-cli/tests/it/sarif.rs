//! `aether check --format sarif` (issue 7, SPEC §7): SARIF 2.1.0 with rule metadata and regions,
//! accepted without errors by Microsoft's SARIF validator (`Sarif.Multitool validate`, from the
//! npm package `@microsoft/sarif-multitool-linux`, installed by `.ci/run`).

use serde_json::Value;

use crate::Ws;

/// A workspace with findings of several rules: a policy excess (with a location) and a
/// malformed-free pipeline.
fn workspace() -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "greedy",
        r#"{ "name": "greedy", "version": "1.0.0",
             "permissions": { "filesystem": { "read": ["/etc/**"] } } }"#,
        "export default () => aether.fs.readText('/etc/passwd');\n",
    );
    ws.write(
        "aether-policy.toml",
        "[filesystem]\nread = [\"./data/**\"]\n",
    );
    // Within the policy, but its code imports a blocked module, reads an undeclared variable
    // and evaluates code.
    ws.js_plugin(
        "nosy",
        r#"{ "name": "nosy", "version": "1.0.0" }"#,
        "import cp from \"child_process\";\nexport default () => aether.env.get(\"AWS_SECRET_ACCESS_KEY\") ?? eval(\"cp\");\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: s\npolicy: ./aether-policy.toml\nsteps:\n  - id: g\n    plugin: ./plugins/greedy\n  - id: n\n    plugin: ./plugins/nosy\n",
    );
    ws
}

#[test]
fn sarif_has_rules_results_and_regions() {
    let ws = workspace();
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "sarif"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let log: Value = out.json();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    let excess = results
        .iter()
        .find(|r| r["ruleId"] == "policy-excess")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(excess["level"], "error");
    let index = excess["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "policy-excess");
    let location = &excess["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("plugins/greedy/aether-plugin.json")
    );
    assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    // Code findings point into the module, at the call.
    for rule in ["module-blocked", "capability-undeclared", "dynamic-code"] {
        let result = results
            .iter()
            .find(|r| r["ruleId"] == rule)
            .unwrap_or_else(|| panic!("{rule}: {log:#}"));
        let location = &result["locations"][0]["physicalLocation"];
        assert!(
            location["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("plugins/nosy/index.js")
        );
        assert!(rules.iter().any(|r| r["id"] == rule));
    }
}

#[test]
fn sarif_passes_microsofts_validator() {
    let Some(tool) = std::env::var_os("AETHER_SARIF_MULTITOOL")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
    else {
        assert!(
            std::env::var_os("AETHER_SARIF_MULTITOOL").is_none(),
            "AETHER_SARIF_MULTITOOL is set but is not a file"
        );
        eprintln!("skipped: set AETHER_SARIF_MULTITOOL (.ci/run installs it)");
        return;
    };
    let ws = workspace();
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "sarif"]);
    let log = ws.write("check.sarif", &out.stdout);
    let verdict = ws.path().join("verdict.sarif");
    let ran = std::process::Command::new(tool)
        .arg("validate")
        .arg(&log)
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
    let errors = verdict["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["results"].as_array())
        .flatten()
        .filter(|r| r["level"] == "error")
        .count();
    assert_eq!(
        errors,
        0,
        "the validator found errors: {}",
        String::from_utf8_lossy(&ran.stdout)
    );
}
