//! `aether exec PLUGIN_DIR` (SPEC §7): one plugin once, as a one-step pipeline whose workspace
//! is the current directory, under the same validation and checks as `run`.

use crate::Ws;

/// A plugin that echoes its input and context with values whose JSON text must survive
/// exactly (SPEC §4).
fn echo(ws: &Ws) {
    ws.write(
        "echo/aether-plugin.json",
        r#"{"name":"echo","version":"1.0.0"}"#,
    );
    ws.write(
        "echo/index.js",
        r#"export default (input, context) => ({
  input, step: context.step, pipeline: context.pipeline, plugin: context.plugin,
  n: 0.1 + 0.2, big: 2 ** 53 + 2, lone: "\ud800",
});
"#,
    );
}

// See: https://docs.deno.com/runtime/reference/cli/run/ (one file, run once, output on stdout)
#[test]
fn issue_17_exec_prints_the_output_exactly() {
    let ws = Ws::new();
    echo(&ws);
    // `${{` in the input is data, not a template: there is no other step to refer to.
    let out = ws.aether(&[
        "exec",
        "echo",
        "--input",
        r#"{"a":"${{ steps.x.output }}"}"#,
    ]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        concat!(
            r#"{"input":{"a":"${{ steps.x.output }}"},"step":"echo","pipeline":"echo","#,
            r#""plugin":{"name":"echo","version":"1.0.0"},"n":0.30000000000000004,"#,
            r#""big":9007199254740994,"lone":"\ud800"}"#,
            "\n"
        )
    );
    // `@FILE`, relative to the current directory; no `--input` is `null`.
    ws.write("in.json", "[1, 2.5]");
    let out = ws.aether(&["exec", "./echo", "--input", "@in.json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with(r#"{"input":[1,2.5],"#),
        "{}",
        out.stdout
    );
    let out = ws.aether(&["exec", "echo"]);
    assert!(
        out.stdout.starts_with(r#"{"input":null,"#),
        "{}",
        out.stdout
    );
}

#[test]
fn issue_17_exec_json_output_has_runs_shape() {
    let ws = Ws::new();
    echo(&ws);
    let out = ws.aether(&["exec", "echo", "--output", "json", "--input", "7"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The output text is kept verbatim inside the document (serde_json cannot read a lone
    // surrogate back, so it is checked in the text, then replaced to parse the rest).
    assert!(out.stdout.contains(r#""lone":"\ud800""#), "{}", out.stdout);
    let doc: serde_json::Value =
        serde_json::from_str(&out.stdout.replace(r"\ud800", r"\u00e9")).unwrap();
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["pipeline"], "echo");
    assert!(doc["run_id"].is_string());
    let step = &doc["steps"][0];
    assert_eq!(step["id"], "echo");
    assert_eq!(step["plugin"], "echo");
    assert_eq!(step["status"], "succeeded");
    assert_eq!(step["output"]["input"], 7);
    assert!(step["error"].is_null());
    for key in ["duration_ms", "peak_memory_bytes", "cpu_ms"] {
        assert!(step[key].is_u64(), "{key}: {doc}");
    }

    // A plugin that throws: exit 1, `failed`, the error a non-empty string, nothing on stdout
    // in human mode.
    ws.write(
        "boom/aether-plugin.json",
        r#"{"name":"boom","version":"1.0.0"}"#,
    );
    ws.write(
        "boom/index.js",
        "export default () => { throw new Error('kaput'); };\n",
    );
    let out = ws.aether(&["exec", "boom", "--output", "json"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["steps"][0]["status"], "failed");
    assert!(doc["steps"][0]["output"].is_null());
    assert!(doc["steps"][0]["error"].as_str().unwrap().contains("kaput"));
    let out = ws.aether(&["exec", "boom"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("kaput"), "{}", out.stderr);
}

// See: https://docs.deno.com/runtime/fundamentals/security/ (a run is held to its grant)
#[test]
fn issue_17_exec_workspace_is_the_current_directory_and_the_grant_holds() {
    let ws = Ws::new();
    ws.write("data/notes.txt", "hello");
    ws.write("secret.txt", "no");
    ws.write(
        "plugins/reader/aether-plugin.json",
        r#"{"name":"reader","version":"1.0.0","permissions":{"filesystem":{"read":["./data/**"]}}}"#,
    );
    ws.write(
        "plugins/reader/index.js",
        r#"export default () => {
  const notes = aether.fs.readText("data/notes.txt");
  try { aether.fs.readText("secret.txt"); return { notes, leaked: true }; }
  catch (e) { return { notes, name: e.name, capability: e.capability, target: e.target }; }
};
"#,
    );
    let out = ws.aether(&["exec", "plugins/reader", "--inspect-security=report"]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    let output: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(output["notes"], "hello");
    assert_eq!(output["name"], "PermissionDenied");
    assert_eq!(output["capability"], "filesystem.read");
    let target = output["target"].as_str().unwrap();
    assert!(target.ends_with("/secret.txt"), "{target}");
    // The security report is written as `run` writes it.
    let violations = std::fs::read_to_string(ws.path().join("report/violations.jsonl")).unwrap();
    let first: serde_json::Value =
        serde_json::from_str(violations.lines().next().unwrap()).unwrap();
    assert_eq!(first["capability"], "filesystem.read");
    assert_eq!(first["decision"], "denied");
    assert_eq!(first["step"], "reader");
    assert!(ws.path().join("report/summary.json").is_file());
}

#[test]
fn issue_17_exec_refuses_as_run_does() {
    let ws = Ws::new();
    ws.write(
        "envy/aether-plugin.json",
        r#"{"name":"envy","version":"1.0.0","permissions":{"env":["HOME"]}}"#,
    );
    ws.write(
        "envy/index.js",
        "export default () => aether.env.get('HOME') ?? null;\n",
    );
    // Policy excess: exit 2, nothing ran, the excess at its place in the manifest.
    ws.write("policy.toml", "[limits]\nmax_memory = \"1GB\"\n");
    let out = ws.aether(&["exec", "envy", "--policy", "policy.toml"]);
    assert_eq!(out.no_panic().code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("aether-plugin.json:1:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("refused: nothing ran"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    // `--unsafe` under a policy that forbids it.
    let out = ws.aether(&["exec", "envy", "--policy", "policy.toml", "--unsafe"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    // Allowed by the policy: runs.
    ws.write("ok.toml", "[env]\nallow = [\"HOME\"]\n");
    let out = ws.aether_env(
        &["exec", "envy", "--policy", "ok.toml"],
        &[("HOME", "/home/x")],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "\"/home/x\"\n");
    // A syntax error refuses, at its line.
    ws.write(
        "bad/aether-plugin.json",
        r#"{"name":"bad","version":"1.0.0"}"#,
    );
    ws.write("bad/index.js", "export default () => {\n  return (;\n};\n");
    let out = ws.aether(&["exec", "bad"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("index.js:2:"), "{}", out.stderr);
}

#[test]
fn issue_17_exec_rejects_bad_arguments() {
    let ws = Ws::new();
    echo(&ws);
    let out = ws.aether(&["exec", "echo", "--input", "{nope"]);
    assert_eq!(out.no_panic().code, Some(2));
    assert!(out.stderr.contains("--input:1:2:"), "{}", out.stderr);
    let out = ws.aether(&["exec", "echo", "--input", "@missing.json"]);
    assert_eq!(out.no_panic().code, Some(2));
    assert!(out.stderr.contains("missing.json"), "{}", out.stderr);
    let out = ws.aether(&["exec", "nowhere"]);
    assert_eq!(out.no_panic().code, Some(2));
    assert!(
        out.stderr.contains("not a plugin directory"),
        "{}",
        out.stderr
    );
}

/// A lock in the current directory pins `exec`'s plugin as it pins a pipeline's: a changed
/// file refuses the run, and the hint names a command that exists (before session 6 it said
/// `aether lock --update /ws/(aether exec)`, the one-step pipeline's made-up path).
#[test]
fn exec_lock_mismatch_hint_names_a_real_command() {
    let ws = Ws::new();
    echo(&ws);
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: a\n    plugin: ./echo\n",
    );
    let out = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    ws.write("echo/index.js", "export default () => 1;\n");
    let out = ws.aether(&["exec", "echo"]);
    assert_ne!(out.no_panic().code, Some(0));
    assert!(out.stderr.contains("changed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`aether lock --update PIPELINE`")
            && !out.stderr.contains("(aether exec)"),
        "{}",
        out.stderr
    );
}
