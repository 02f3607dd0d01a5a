//! Issue 15, items 4-7 of "What to build": `*` in `env`, one escaper, the stack depth, and
//! windows checked again when a step starts.

use serde_json::Value;

use crate::Ws;

/// A plugin asking for every variable, and reading two.
fn env_star_workspace(allow: &str) -> Ws {
    let ws = Ws::new();
    ws.write("aether-policy.toml", &format!("[env]\nallow = {allow}\n"));
    ws.js_plugin(
        "all-env",
        r#"{ "name": "all-env", "version": "1.0.0", "permissions": { "env": ["*"] } }"#,
        "export default () => ({ a: aether.env.get('AETHER_T_A'), b: aether.env.get('OTHER_B') });\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: e\npolicy: ./aether-policy.toml\nsteps:\n  - id: s\n    plugin: ./plugins/all-env\n",
    );
    ws
}

// See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
#[test]
fn issue_15_env_star_is_every_variable_under_a_star_policy() {
    let ws = env_star_workspace(r#"["*"]"#);
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    let v = check.json();
    assert_eq!(v["plugins"][0]["grant"]["env"], serde_json::json!(["*"]));
    assert_eq!(v["plugins"][0]["risk"], "medium");
    let human = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    assert!(
        human.stdout.contains("env:              *"),
        "{}",
        human.stdout
    );

    let run = ws.aether_env(
        &["run", "pipeline.yaml", "--output", "json"],
        &[("AETHER_T_A", "one"), ("OTHER_B", "two")],
    );
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.json()["steps"][0]["output"],
        serde_json::json!({ "a": "one", "b": "two" })
    );
}

// See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
#[test]
fn issue_15_env_star_is_an_excess_under_a_narrower_policy() {
    let ws = env_star_workspace(r#"["AETHER_*", "OTHER_B"]"#);
    for format in ["json", "sarif"] {
        let out = ws.aether(&["check", "pipeline.yaml", "--format", format]);
        out.no_panic();
        assert_eq!(out.code, Some(1), "{format}: {}", out.stderr);
        let v: Value = out.json();
        if format == "json" {
            let excess: Vec<&Value> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] == "policy-excess")
                .collect();
            assert_eq!(excess.len(), 1, "{v:#}");
            assert_eq!(excess[0]["capability"], "env");
            assert_eq!(excess[0]["target"], "*");
            assert_eq!(excess[0]["line"], 1);
        } else {
            let results = v["runs"][0]["results"].as_array().unwrap();
            assert!(
                results.iter().any(|r| r["ruleId"] == "policy-excess"),
                "{v:#}"
            );
        }
    }
    let run = ws.aether(&["run", "pipeline.yaml"]);
    run.no_panic();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("aether-plugin.json:1:"),
        "{}",
        run.stderr
    );
}

/// Recursion and nested-input parsing as a plugin author coming from Node expects them.
const DEEP: &str = r#"
export default () => {
  function f(n) { return n === 0 ? 0 : 1 + f(n - 1); }
  const r = { ten_thousand: f(10000) };
  try { f(1e7); r.ten_million = "returned"; }
  catch (e) { r.ten_million = [e instanceof RangeError, e.name]; }
  // A recursive descent over a deep tree, and `JSON.parse` of deep nesting.
  let tree = null;
  for (let i = 0; i < 5000; i++) tree = { child: tree };
  const depth = (t) => (t === null ? 0 : 1 + depth(t.child));
  r.tree = depth(tree);
  let a = JSON.parse("[".repeat(5000) + "]".repeat(5000)), n = 0;
  while (Array.isArray(a)) { a = a[0]; n++; }
  r.json = n;
  try { JSON.parse("[".repeat(1e6) + "]".repeat(1e6)); r.json_million = "parsed"; }
  catch (e) { r.json_million = e instanceof RangeError; }
  // Still usable after the overflow.
  r.after = f(100);
  return r;
};
"#;

/// A workspace running `DEEP` under the given tier.
fn deep_workspace(isolation: &str) -> Ws {
    let ws = Ws::new();
    ws.js_plugin("deep", r#"{ "name": "deep", "version": "1.0.0" }"#, DEEP);
    ws.write(
        "aether-policy.toml",
        &format!("[isolation]\ndefault = \"{isolation}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        "name: deep\npolicy: ./aether-policy.toml\nsteps:\n  - id: d\n    plugin: ./plugins/deep\n",
    );
    ws
}

// See: Node's default `--stack-size` (984 KiB, V8 `FLAG_stack_size`) and
// https://github.com/quickjs-ng/quickjs/issues (QuickJS's 1 MiB default).
#[test]
fn issue_15_recursion_as_deep_as_node_in_both_tiers() {
    for tier in ["thread", "process"] {
        let ws = deep_workspace(tier);
        let (out, v) = crate::run::run(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        assert_eq!(
            crate::run::output(&v, "d"),
            &serde_json::json!({
                "ten_thousand": 10000,
                "ten_million": [true, "RangeError"],
                "tree": 5000,
                "json": 5000,
                "json_million": true,
                "after": 100,
            }),
            "{tier}"
        );
    }
}

// See: issue 15, "What is wrong" 8: a step whose plugin has a window `needs` an earlier step
// that sleeps past the window's end. Windows have minute granularity, so this test waits for
// the next minute boundary (30 s on average, at most about 61 s); the runner's own test
// (`runner::window_tests`) covers the same with an injected clock and no wait.
#[test]
fn issue_15_a_step_reached_after_its_window_closed_fails_end_to_end() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let since_epoch = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // Leave at least 3 s between the run's start and the boundary for aether to start.
    if since_epoch().as_secs() % 60 >= 57 {
        std::thread::sleep(Duration::from_secs(4));
    }
    let now = since_epoch();
    let minute = now.as_secs() / 60;
    let hhmm = |m: u64| format!("{:02}:{:02}", (m / 60) % 24, m % 60);
    let boundary = Duration::from_secs((minute + 1) * 60);
    let sleep_ms = (boundary - now).as_millis() + 1_000;

    let ws = Ws::new();
    ws.js_plugin(
        "sleeper",
        r#"{ "name": "sleeper", "version": "1.0.0", "limits": { "timeout": "2m" } }"#,
        "export default (input) => new Promise((resolve) => setTimeout(() => resolve(input.ms), input.ms));\n",
    );
    ws.js_plugin(
        "late",
        r#"{ "name": "late", "version": "1.0.0" }"#,
        "export default () => 'ran';\n",
    );
    ws.write(
        "aether-policy.toml",
        &format!(
            "[[windows]]\napplies_to = [\"late\"]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = \"{}\"\nend = \"{}\"\ntimezone = \"UTC\"\n",
            hhmm(minute),
            hhmm(minute + 1)
        ),
    );
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: w\npolicy: ./aether-policy.toml\nsteps:\n  - id: sleep\n    plugin: ./plugins/sleeper\n    with: {{ ms: {sleep_ms} }}\n  - id: late\n    plugin: ./plugins/late\n    needs: [sleep]\n  - id: other\n    plugin: ./plugins/late\n"
        ),
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--output",
        "json",
        "--inspect-security=report",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v = out.json();
    assert_eq!(
        crate::run::output(&v, "sleep"),
        &serde_json::json!(sleep_ms)
    );
    // `other` started at once, inside the window.
    assert_eq!(crate::run::output(&v, "other"), "ran");
    let error = crate::run::error(&v, "late");
    assert!(
        error.contains("`late`") && error.contains("next window opens"),
        "{error}"
    );
    let violations = std::fs::read_to_string(ws.path().join("report/violations.jsonl")).unwrap();
    let records: Vec<Value> = violations
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{violations}");
    assert_eq!(records[0]["capability"], "window");
    assert_eq!(records[0]["decision"], "denied");
    assert_eq!(records[0]["step"], "late");
    assert_eq!(records[0]["plugin"], "late");
}

// See: https://nvd.nist.gov/vuln/detail/CVE-2021-42574 ("Trojan Source"): a right-to-left
// override in a manifest's path pattern made `check`'s grant listing read as another path;
// and the CLI's own escaper let the invisible operators U+2061-U+2064 through.
#[test]
fn issue_15_check_escapes_plugin_text_in_the_grant_listing() {
    let ws = Ws::new();
    ws.plugin(
        "sly",
        "{ \"name\": \"sly\", \"version\": \"1.0.0\", \"permissions\": { \"filesystem\": { \"read\": [\"./data/\u{202e}gol.txt\", \"./data/a\u{2062}b\"] } } }",
    );
    ws.write(
        "pipeline.yaml",
        "name: s\nsteps:\n  - id: s\n    plugin: ./plugins/sly\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for raw in ['\u{202e}', '\u{2062}'] {
        assert!(
            !out.stdout.contains(raw),
            "{:04X} raw: {}",
            raw as u32,
            out.stdout
        );
        assert!(
            !out.stderr.contains(raw),
            "{:04X} raw: {}",
            raw as u32,
            out.stderr
        );
    }
    assert!(
        out.stdout.contains("\\u{202e}gol.txt") && out.stdout.contains("a\\u{2062}b"),
        "{}",
        out.stdout
    );
}
