//! `check` says which layers protect each plugin and step on this machine, and why it has its
//! tier (issue 23 item 4): the engine alone in the thread tier; the engine, a worker process,
//! seccomp, Landlock and namespaces in the process tier (or none, naming what the kernel
//! lacks, where it cannot run); and the setting that chose the tier: the policy's `default`
//! or `high_risk` (naming the permissions that make the plugin high risk), no policy, or the
//! step's `isolation: process`. JSON only adds an `isolation` object; `tier` stays.

use serde_json::{Value, json};

use crate::Ws;

/// Three plugins: `plain` (low risk), `caller` (high risk: network with env), and a step of
/// `plain` raised by `isolation: process`, under a policy with `default = "thread"` and
/// `high_risk = "process"` written out (or `high_risk` as given).
fn workspace(high_risk: &str) -> Ws {
    let ws = Ws::new();
    ws.plugin("plain", r#"{ "name": "plain", "version": "1.0.0" }"#);
    ws.plugin(
        "caller",
        &json!({
            "name": "caller", "version": "1.0.0",
            "permissions": {
                "network": { "domains": ["api.example.com"] },
                "env": ["API_REGION"],
            },
        })
        .to_string(),
    );
    ws.write(
        "aether-policy.toml",
        &format!(
            "[network]\ndomains = [\"api.example.com\"]\n[env]\nallow = [\"API_REGION\"]\n[isolation]\ndefault = \"thread\"\nhigh_risk = \"{high_risk}\"\n"
        ),
    );
    ws.write(
        "pipeline.yaml",
        "name: layers\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/plain\n  - id: b\n    plugin: ./plugins/caller\n  - id: c\n    plugin: ./plugins/plain\n    isolation: process\n",
    );
    ws
}

fn check_json(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let out = ws.aether(&all);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.json()
}

fn by_key<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[key] == value)
        .unwrap_or_else(|| panic!("no `{value}` in {list:#}"))
}

fn layers(isolation: &Value) -> Vec<&str> {
    isolation["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect()
}

/// The process tier's layers on this machine: all five, or none with the reason when the
/// kernel cannot run the tier (then `run` refuses the step).
fn assert_process_layers(isolation: &Value) {
    assert_eq!(isolation["tier"], "process");
    if isolation["unavailable"].is_null() {
        assert_eq!(
            layers(isolation),
            ["engine", "process", "seccomp", "landlock", "namespaces"]
        );
    } else {
        assert!(layers(isolation).is_empty(), "{isolation:#}");
        assert!(
            isolation["unavailable"]
                .as_str()
                .unwrap()
                .contains("missing")
        );
    }
}

#[test]
fn issue_23_check_json_says_which_layers_protect_each_plugin_and_why() {
    let ws = workspace("process");
    let doc = check_json(&ws, &["pipeline.yaml"]);

    let plain = by_key(&doc["plugins"], "name", "plain");
    // The plugin is shown at the strongest tier one of its steps runs in (as `tier` always
    // was): step `c` raised it.
    assert_eq!(plain["tier"], "process");
    assert_eq!(plain["isolation"]["reason"], "step-isolation");
    assert_process_layers(&plain["isolation"]);

    let caller = by_key(&doc["plugins"], "name", "caller");
    assert_eq!(caller["tier"], caller["isolation"]["tier"]);
    assert_eq!(caller["isolation"]["reason"], "policy-high-risk");
    assert_process_layers(&caller["isolation"]);
    let why = caller["isolation"]["why"].as_str().unwrap();
    assert!(
        why.contains("`network.domains`") && why.contains("`env`"),
        "{why}"
    );
    assert!(why.contains("`[isolation] high_risk`"), "{why}");

    let a = by_key(&doc["steps"], "id", "a");
    assert_eq!(a["tier"], "thread");
    assert_eq!(a["isolation"]["reason"], "policy-default");
    assert_eq!(layers(&a["isolation"]), ["engine"]);
    assert!(a["isolation"]["unavailable"].is_null());

    let b = by_key(&doc["steps"], "id", "b");
    assert_eq!(b["isolation"]["reason"], "policy-high-risk");
    assert_process_layers(&b["isolation"]);

    let c = by_key(&doc["steps"], "id", "c");
    assert_eq!(c["isolation"]["reason"], "step-isolation");
    assert_process_layers(&c["isolation"]);
    // Points at the step's `isolation:` (pipeline.yaml line 10, column 16).
    let why = c["isolation"]["why"].as_str().unwrap();
    assert!(why.contains("pipeline.yaml:10:16"), "{why}");
}

#[test]
fn issue_23_check_human_prints_a_layers_line_and_its_reason() {
    let ws = workspace("process");
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let block = |name: &str| {
        let start = out
            .stdout
            .find(&format!("{name} 1.0.0 ("))
            .unwrap_or_else(|| panic!("{}", out.stdout));
        out.stdout[start..].split("\n\n").next().unwrap().to_owned()
    };
    let caller = block("caller");
    assert!(caller.contains("\n  layers:           "), "{caller}");
    assert!(
        caller.contains("\n  tier because:     high risk (`network.domains`, `env`)"),
        "{caller}"
    );
    let steps = out.stdout.split("steps:\n").nth(1).unwrap();
    let a = steps
        .lines()
        .find(|l| l.trim_start().starts_with("a "))
        .unwrap();
    assert!(
        a.contains(
            "tier: thread  layers: engine  why: the policy's `[isolation] default` is `thread`"
        ),
        "{a}"
    );
    let c = steps
        .lines()
        .find(|l| l.trim_start().starts_with("c "))
        .unwrap();
    assert!(
        c.contains("why: the step asks for `isolation: process`"),
        "{c}"
    );
}

#[test]
fn issue_23_a_high_risk_plugin_kept_in_the_thread_tier_says_which_setting_did() {
    let ws = workspace("thread");
    let doc = check_json(&ws, &["pipeline.yaml"]);
    let caller = by_key(&doc["plugins"], "name", "caller");
    assert_eq!(caller["risk"], "high");
    assert_eq!(caller["tier"], "thread");
    assert_eq!(caller["isolation"]["reason"], "policy-high-risk");
    assert_eq!(layers(&caller["isolation"]), ["engine"]);
    let why = caller["isolation"]["why"].as_str().unwrap();
    assert!(why.contains("`[isolation] high_risk` is `thread`"), "{why}");
}

#[test]
fn issue_23_without_a_policy_the_reason_is_the_default_of_spec_6() {
    let ws = workspace("process");
    ws.write(
        "pipeline.yaml",
        "name: layers\nsteps:\n  - id: a\n    plugin: ./plugins/plain\n  - id: b\n    plugin: ./plugins/caller\n",
    );
    let doc = check_json(&ws, &["pipeline.yaml"]);
    let plain = by_key(&doc["plugins"], "name", "plain");
    assert_eq!(plain["isolation"]["reason"], "no-policy");
    assert_eq!(layers(&plain["isolation"]), ["engine"]);
    let caller = by_key(&doc["plugins"], "name", "caller");
    assert_eq!(caller["isolation"]["reason"], "no-policy");
    assert_process_layers(&caller["isolation"]);

    // A plugin directory on its own gets the same object.
    let doc = check_json(&ws, &["plugins/caller"]);
    assert_eq!(doc["plugins"][0]["isolation"]["reason"], "no-policy");
    assert_process_layers(&doc["plugins"][0]["isolation"]);
}
