//! `aether.process.run` end to end (issue 4): only granted commands, an empty environment plus
//! the granted variables, the plugin's own filesystem grants, no network, and no child outliving
//! its step or its `timeoutMs`.
//!
//! Sources: Deno's manual on `--allow-run` ("essentially invalidates the sandbox": a child
//! inherits the environment and the whole disk); Node.js's permission model, whose child
//! processes run with no restriction at all (CVE-2024-36137 and the `--allow-child-process`
//! documentation); the classic `sleep &` grandchild that outlives a killed parent.

use std::net::TcpListener;

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{output, run_env};

/// Runs each `[command, args, options]` of `input.runs` and returns `{code, signal, stdout,
/// stderr}` or `{err: {name, capability, target}}` for each. With `input.detach`, starts that
/// command without waiting for it and returns at once.
const RUNNER: &str = r#"
export default async function (input) {
  if (input.detach) {
    aether.process.run(...input.detach).catch(() => {});
    return "detached";
  }
  const out = [];
  for (const [command, args, options] of input.runs) {
    try {
      out.push(await aether.process.run(command, args, options ?? undefined));
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null, message: e.message } });
    }
  }
  return out;
}
"#;

const POLICY: &str = r#"
[filesystem]
read = ["./data/**"]
write = ["./out/**"]

[env]
allow = ["AETHER_IT_*"]

[process]
commands = ["sh", "cat", "env", "bash"]

[isolation]
high_risk = "thread"
"#;

fn workspace(input: &Value, network: bool) -> Ws {
    let ws = Ws::new();
    ws.write("data/granted.txt", "granted contents");
    ws.write("secret.txt", "not for children");
    ws.write("out/.keep", "");
    let manifest = json!({
        "name": "runner",
        "version": "1.0.0",
        "permissions": {
            "filesystem": { "read": ["./data/**"], "write": ["./out/**"] },
            "env": ["AETHER_IT_*"],
            "process": { "commands": ["sh", "cat", "env", "bash"], "network": network },
        },
        "limits": { "timeout": "20s" },
    });
    ws.js_plugin("runner", &manifest.to_string(), RUNNER);
    let policy = if network {
        POLICY.replace("[process]\n", "[process]\nallow_network = true\n")
    } else {
        POLICY.to_owned()
    };
    ws.write("aether-policy.toml", &policy);
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: procs\npolicy: ./aether-policy.toml\nsteps:\n  - id: r\n    plugin: ./plugins/runner\n    with: {input}\n"
        ),
    );
    ws
}

fn runs(ws: &Ws) -> Vec<Value> {
    let (_, v) = run_env(
        ws,
        &[
            ("AETHER_IT_OK", "visible"),
            ("AETHER_SECRET_TOKEN", "hunter2"),
        ],
    );
    output(&v, "r").as_array().unwrap().clone()
}

/// Processes whose command line contains `marker`.
fn survivors(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[test]
fn only_granted_commands_run_and_their_environment_is_scrubbed() {
    let ws = workspace(
        &json!({ "runs": [
            ["env", [], null],
            ["/bin/ls", ["/"], null],
            ["cat", [], { "stdin": "piped in" }],
        ]}),
        false,
    );
    let results = runs(&ws);
    let env = results[0]["stdout"].as_str().unwrap();
    assert_eq!(env.trim(), "AETHER_IT_OK=visible", "{results:#?}");
    assert!(!env.contains("hunter2"));
    assert_eq!(results[1]["err"]["name"], "PermissionDenied");
    assert_eq!(results[1]["err"]["capability"], "process");
    assert_eq!(results[1]["err"]["target"], "/bin/ls");
    assert_eq!(
        results[2],
        json!({ "code": 0, "signal": null, "stdout": "piped in", "stderr": "" })
    );
}

/// The child sees the plugin's grants and nothing else (Node/Deno children see the whole disk).
#[test]
fn a_child_reads_and_writes_only_inside_the_grants() {
    let ws = workspace(
        &json!({ "runs": [
            ["cat", ["data/granted.txt"], null],
            ["cat", ["secret.txt"], null],
            ["cat", ["/etc/shadow"], null],
            ["sh", ["-c", "echo made > out/new.txt"], null],
            ["sh", ["-c", "echo made > stolen.txt"], null],
        ]}),
        false,
    );
    let results = runs(&ws);
    assert_eq!(results[0]["stdout"], "granted contents", "{results:#?}");
    assert_eq!(results[0]["code"], 0);
    // `secret.txt` is readable by aether (and, as root, `/etc/shadow` too): only the jail
    // stops the child, and nothing of the file comes out.
    for denied in [&results[1], &results[2], &results[4]] {
        assert_ne!(denied["code"], 0, "{results:#?}");
        assert_eq!(denied["stdout"], "", "{results:#?}");
    }
    assert_eq!(results[3]["code"], 0, "{results:#?}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out/new.txt")).unwrap(),
        "made\n"
    );
    assert!(!ws.path().join("stolen.txt").exists());
}

/// No TCP without `process.network`, even to a listener on loopback; with it, the same
/// connection works (the control). `/dev/tcp` is bash's own socket syntax.
#[test]
fn a_child_has_no_network_unless_granted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let input = json!({ "runs": [["bash", ["-c", &connect], null]] });

    let results = runs(&workspace(&input, false));
    assert_ne!(results[0]["code"], 0, "{results:#?}");
    assert_eq!(results[0]["stdout"], "", "{results:#?}");

    let results = runs(&workspace(&input, true));
    assert_eq!(results[0]["stdout"], "connected\n", "{results:#?}");
}

/// A child and its `sleep` grandchildren are killed at `timeoutMs`: the promise resolves with
/// `code: null, signal: "SIGKILL"`, and nothing with the marker survives.
#[test]
fn timeout_ms_kills_the_whole_tree() {
    let marker = "987.125";
    let ws = workspace(
        &json!({ "runs": [
            ["sh", ["-c", format!("sleep {marker} & sleep {marker}")], { "timeoutMs": 300 }],
        ]}),
        false,
    );
    let results = runs(&ws);
    assert_eq!(results[0]["code"], Value::Null, "{results:#?}");
    assert!(results[0].as_object().unwrap().contains_key("code"));
    assert_eq!(results[0]["signal"], "SIGKILL");
    assert_eq!(survivors(marker), Vec::<String>::new());
}

/// A child the plugin did not wait for dies with its step (SPEC §5).
#[test]
fn a_child_never_outlives_its_step() {
    let marker = "987.375";
    let ws = workspace(
        &json!({ "detach": ["sh", ["-c", format!("sleep {marker}")]] }),
        false,
    );
    let (_, v) = run_env(&ws, &[]);
    assert_eq!(output(&v, "r"), "detached");
    assert_eq!(survivors(marker), Vec::<String>::new());
}

/// SPEC §5: captured output counts toward the plugin's memory ceiling; a child that floods it
/// stops the step with the memory error, recorded as a kill, instead of growing aether.
#[test]
fn a_flood_of_child_output_hits_the_memory_ceiling() {
    let ws = workspace(
        &json!({ "runs": [["sh", ["-c", "while :; do echo flood; done"], null]] }),
        false,
    );
    let manifest = ws.path().join("plugins/runner/aether-plugin.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(r#""timeout":"20s""#, r#""timeout":"20s","memory":"8MiB""#),
    )
    .unwrap();
    let (out, v) = run_env(&ws, &[]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        crate::run::error(&v, "r"),
        "memory limit of 8 MiB exceeded",
        "{v:#}"
    );
}
