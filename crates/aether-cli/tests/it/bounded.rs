//! aether itself stays bounded whatever a plugin does (issue 16): every plugin-controlled text
//! aether keeps or writes has a size that does not depend on the plugin.

use crate::Ws;

/// A plugin asking for 100 variables whose names are 1 MiB long each (distinct), throwing an
/// error of 4 MiB at the end, and logging a 1 MiB message and 300 of 64 KiB before it.
const HUGE: &str = r#"
export default () => {
  const big = "A".repeat(1 << 20);
  let denied = 0;
  for (let i = 0; i < 100; i++) {
    try { aether.env.get(big + i); } catch (e) { if (e.name === "PermissionDenied" && e.target.length > (1 << 20)) denied++; }
  }
  console.log("M".repeat(1 << 20));
  const line = "L".repeat(1 << 16);
  for (let i = 0; i < 300; i++) console.log(line);
  throw new Error(`denied ${denied} ` + "E".repeat(4 << 20));
};
"#;

// See: issue 16 ("Event targets have no length limit": 1,700 calls with a 1 MiB name took
// aether to 7.8 GB RSS; repeating one 1 MiB target wrote 948 MB to events.jsonl in 8 s).
#[test]
fn issue_16_huge_plugin_texts_are_capped_in_events_errors_and_logs() {
    let ws = Ws::new();
    ws.js_plugin(
        "huge",
        r#"{"name": "huge", "version": "1.0.0", "limits": {"memory": "64MiB", "timeout": "5m"}}"#,
        HUGE,
    );
    ws.write(
        "pipeline.yaml",
        "name: bounded\nsteps:\n  - id: huge\n    plugin: ./plugins/huge\n",
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--output",
        "json",
        "--inspect-security=audit",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let run = out.json();
    let error = run["steps"][0]["error"].as_str().unwrap();
    // The plugin saw its whole target in each denial.
    assert!(
        error.contains("denied 100 "),
        "{}",
        &error[..200.min(error.len())]
    );
    assert!(
        error.len() < 17 * 1024,
        "the step's error is {} bytes",
        error.len()
    );
    assert!(error.contains("bytes in all)"), "the cut is marked");

    for file in ["events.jsonl", "violations.jsonl"] {
        let text = std::fs::read_to_string(ws.path().join("audit").join(file)).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(r#""capability":"env""#))
            .collect();
        assert_eq!(lines.len(), 100, "{file}: one record per refused call");
        assert!(
            text.len() < 100 * 8 * 1024,
            "{file} is {} bytes",
            text.len()
        );
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let target = first["target"].as_str().unwrap();
        assert!(
            target.ends_with(&format!("({} bytes in all)", (1 << 20) + 1)),
            "{}",
            &target[target.len() - 40..]
        );
    }
    // One message is cut to 64 KiB; the step prints 16 MiB, then one line says the rest is
    // dropped.
    assert!(!out.stderr.contains(&"M".repeat(65 * 1024)));
    assert!(
        out.stderr.len() < 17 << 20,
        "stderr is {} bytes",
        out.stderr.len()
    );
    assert!(out.stderr.contains("further log output is dropped"));
}

// See: issue 16 ("With `--inspect-security`, repeating one 1 MiB target wrote 948 MB to
// `events.jsonl` and as much to `violations.jsonl` in 8 s").
#[test]
fn issue_16_a_steps_audit_trail_stops_at_its_limit_and_says_how_much_it_counted() {
    let ws = Ws::new();
    ws.js_plugin(
        "probe",
        r#"{"name": "probe", "version": "1.0.0"}"#,
        r#"export default () => {
  for (let i = 0; i < 5000; i++) { try { aether.env.get("SECRET_" + i); } catch {} }
  return "done";
};"#,
    );
    ws.plugin("quiet", r#"{"name": "quiet", "version": "1.0.0"}"#);
    ws.write(
        "pipeline.yaml",
        "name: bounded\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n  - id: quiet\n    plugin: ./plugins/quiet\n",
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--inspect-security=audit",
        "--audit-limit=64KiB",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let dir = ws.path().join("audit");
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let violations = std::fs::read_to_string(dir.join("violations.jsonl")).unwrap();
    // The step wrote at most its limit (plus the records of the other step and the seal).
    assert!(
        events.len() + violations.len() < 80 * 1024,
        "{} bytes",
        events.len() + violations.len()
    );
    let written = violations.lines().count() as u64;
    let omitted: serde_json::Value = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["capability"] == "audit.omitted")
        .expect("an audit.omitted record");
    assert_eq!(omitted["step"], "probe");
    assert_eq!(
        omitted["omitted"]["violations"].as_u64().unwrap() + written,
        5000
    );
    // Counts stay exact, the trail still verifies, and the report says what was not written.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"][0]["violations"], 5000);
    assert_eq!(
        summary["steps"][0]["events_not_written"],
        omitted["omitted"]["events"]
    );
    assert_eq!(summary["steps"][1]["events_not_written"], 0);
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("reached the audit limit"));
    let verified = ws.aether(&["verify-log", "audit"]);
    assert_eq!(
        verified.code,
        Some(0),
        "{}{}",
        verified.stdout,
        verified.stderr
    );
}

// See: issue 16 ("Host memory held for a plugin counts toward its ceiling: ... event records
// kept for the report").
#[test]
fn issue_16_events_kept_for_the_report_count_toward_the_steps_ceiling() {
    let ws = Ws::new();
    ws.js_plugin(
        "probe",
        r#"{"name": "probe", "version": "1.0.0", "limits": {"memory": "8MiB"}}"#,
        r#"export default () => {
  const pad = "P".repeat(1000);
  for (let i = 0; i < 20000; i++) { try { aether.env.get(pad + i); } catch {} }
  return "done";
};"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: bounded\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    out.no_panic();
    let run = out.json();
    assert_eq!(run["steps"][0]["status"], "failed", "{}", out.stderr);
    assert_eq!(run["steps"][0]["error"], "memory limit of 8 MiB exceeded");
}
