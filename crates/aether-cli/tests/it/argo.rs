//! `aether export argo` (SPEC §7, issue 25): the Workflow passes Argo's published models, and
//! replayed locally — each task's container command run as a process in dependency order, with
//! parameters substituted as Argo does — gives every step the output `aether run` gives it.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::Ws;

/// Exports `pipeline` (relative to `ws`) and checks it with Argo's models when the validator is
/// installed (CI sets `AETHER_HERA_PYTHON`: a Python with the `hera` package).
fn export(ws: &Ws, pipeline: &str) -> Value {
    let out = ws.aether(&[
        "export",
        "argo",
        pipeline,
        "--image",
        "example/aether:dev",
        "--jobs",
        "2",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    if let Some(python) = std::env::var_os("AETHER_HERA_PYTHON") {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/argo/validate.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(out.stdout.as_bytes())
            .unwrap();
        let checked = child.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "Argo's models refuse the export: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    serde_saphyr::from_str(&out.stdout).unwrap()
}

/// Runs the Workflow's DAG locally, as Argo would, and returns each step's output (by step id).
fn replay(ws: &Ws, workflow: &Value) -> HashMap<String, String> {
    let spec = &workflow["spec"];
    let templates = spec["templates"].as_array().unwrap();
    let template = |name: &str| {
        templates
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no template `{name}`"))
    };
    let entry = spec["entrypoint"].as_str().unwrap();
    let tasks = template(entry)["dag"]["tasks"].as_array().unwrap().clone();
    let scratch = tempfile::tempdir().unwrap();
    let mut outputs: HashMap<String, String> = HashMap::new();
    let mut by_step: HashMap<String, String> = HashMap::new();
    while outputs.len() < tasks.len() {
        let ready = tasks
            .iter()
            .find(|t| {
                let name = t["name"].as_str().unwrap();
                !outputs.contains_key(name)
                    && t["dependencies"].as_array().is_none_or(|deps| {
                        deps.iter()
                            .all(|d| outputs.contains_key(d.as_str().unwrap()))
                    })
            })
            .expect("a task whose dependencies are done (the DAG has no cycle)");
        let name = ready["name"].as_str().unwrap().to_owned();
        // Task arguments: `{{tasks.X.outputs.parameters.output}}` is X's output.
        let mut parameters: HashMap<String, String> = HashMap::new();
        for p in ready["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut value = p["value"].as_str().unwrap().to_owned();
            for (task, output) in &outputs {
                value = value.replace(
                    &format!("{{{{tasks.{task}.outputs.parameters.output}}}}"),
                    output,
                );
            }
            assert!(!value.contains("{{"), "unresolved parameter {value}");
            parameters.insert(p["name"].as_str().unwrap().to_owned(), value);
        }
        let t = template(ready["template"].as_str().unwrap());
        let container = &t["container"];
        assert_eq!(container["command"], serde_json::json!(["aether"]));
        let output_path = t["outputs"]["parameters"][0]["valueFrom"]["path"]
            .as_str()
            .unwrap();
        let local_output = scratch.path().join(format!("{name}.json"));
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let mut a = a.as_str().unwrap().to_owned();
                for (p, v) in &parameters {
                    a = a.replace(&format!("{{{{inputs.parameters.{p}}}}}"), v);
                }
                assert!(!a.contains("{{"), "unresolved argument {a}");
                if a == output_path {
                    local_output.to_string_lossy().into_owned()
                } else {
                    a
                }
            })
            .collect();
        let step = args[args.iter().position(|a| a == "--step").unwrap() + 1].clone();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = ws.aether(&arg_refs);
        assert_eq!(ran.code, Some(0), "task {name}: {}", ran.stderr);
        let output = std::fs::read_to_string(&local_output).unwrap();
        by_step.insert(step, output.clone());
        outputs.insert(name, output);
    }
    by_step
}

/// Each step's output text in a full `aether run --output json`, by step id.
fn full_run(ws: &Ws, pipeline: &str) -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Run<'a> {
        #[serde(borrow)]
        steps: Vec<Step<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Step<'a> {
        id: String,
        #[serde(borrow)]
        output: &'a serde_json::value::RawValue,
    }
    let out = ws.aether(&["run", pipeline, "--output", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let run: Run = serde_json::from_str(&out.stdout).unwrap();
    run.steps
        .into_iter()
        .map(|s| (s.id, s.output.get().to_owned()))
        .collect()
}

/// Copies the example workspace `examples/NAME` into `ws`.
fn copy_example(ws: &Ws, name: &str) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let status = Command::new("cp")
        .arg("-R")
        .arg(format!("{}/.", from.display()))
        .arg(ws.path())
        .status()
        .unwrap();
    assert!(status.success());
}

// See: issue 25 ("`aether export argo examples/log-digest/pipeline.yaml --image
// example/aether:dev` passes the Argo model validation, and its local replay gives the same
// outputs as `aether run`").
#[test]
fn issue_25_the_example_exported_to_argo_replays_to_the_same_outputs() {
    let ws = Ws::new();
    copy_example(&ws, "log-digest");
    let workflow = export(&ws, "pipeline.yaml");
    let spec = &workflow["spec"];
    assert_eq!(workflow["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(workflow["kind"], "Workflow");
    assert_eq!(spec["parallelism"], 2);
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    for t in spec["templates"].as_array().unwrap().iter().skip(1) {
        let c = &t["container"];
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["workingDir"], "/workspace");
        assert!(t["activeDeadlineSeconds"].as_u64().unwrap() > 0);
        assert!(c["resources"]["limits"]["memory"].as_str().is_some());
    }
    let replayed = replay(&ws, &workflow);
    assert_eq!(replayed, full_run(&ws, "pipeline.yaml"));
}

#[test]
fn issue_25_a_dag_with_transitive_references_replays_to_the_same_outputs() {
    let ws = Ws::new();
    ws.js_plugin(
        "node",
        r#"{"name": "node", "version": "1.0.0", "limits": {"memory": "64MiB", "timeout": "2500ms"}}"#,
        "export default (input, context) => ({ step: context.step, input, x: 0.1 + 0.2 });\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: fan_out\nsteps:\n  - id: root_step\n    plugin: ./plugins/node\n    with: { n: 1 }\n  - id: left\n    plugin: ./plugins/node\n    needs: [root_step]\n    with: { v: \"${{ steps.root_step.output.x }}\" }\n  - id: right\n    plugin: ./plugins/node\n    needs: [root_step]\n    with: 7\n  - id: join\n    plugin: ./plugins/node\n    needs: [left, right]\n    with: [\"${{ steps.left.output }}\", \"${{ steps.root_step.output }}\"]\n",
    );
    let workflow = export(&ws, "pipeline.yaml");
    let templates = workflow["spec"]["templates"].as_array().unwrap();
    // `_` is not allowed in Argo names; the timeout rounds up, plus the start-up slack.
    let root = templates.iter().find(|t| t["name"] == "root-step").unwrap();
    assert_eq!(root["activeDeadlineSeconds"], 3 + 60);
    // `join` references `root_step` transitively: it depends on it and receives its output.
    let dag = &templates[0]["dag"]["tasks"];
    let join = dag
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "join")
        .unwrap();
    assert_eq!(
        join["dependencies"],
        serde_json::json!(["root-step", "left", "right"])
    );
    assert_eq!(join["arguments"]["parameters"].as_array().unwrap().len(), 2);
    assert_eq!(replay(&ws, &workflow), full_run(&ws, "pipeline.yaml"));
}

#[test]
fn issue_25_an_invalid_pipeline_is_not_exported() {
    let ws = Ws::new();
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: a\n    plugin: ./plugins/missing\n",
    );
    let out = ws.aether(&["export", "argo", "pipeline.yaml", "--image", "x"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

/// The image recipe matches what the export expects (its workdir and uid), and the `aether`
/// commands it runs while the image is built succeed on its workspace. (CI has no container
/// runtime: this runs the same commands on the same files.)
// See: issue 25 item 3.
#[test]
fn issue_25_the_containerfile_builds_a_workspace_the_export_can_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let recipe = std::fs::read_to_string(root.join("Containerfile")).unwrap();
    // The image is the last stage; `ARG WORKSPACE=` is declared before the first.
    let image = &recipe[recipe.rfind("\nFROM ").unwrap()..];
    let value = |prefix: &str| {
        image
            .lines()
            .chain(recipe.lines())
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        value("WORKDIR "),
        "/workspace",
        "the export's default --workdir"
    );
    assert_eq!(
        value("USER ").split(':').next().unwrap(),
        aether_pipeline_uid().to_string(),
        "the uid the export runs as"
    );
    let workspace = value("ARG WORKSPACE=");
    let name = workspace.strip_prefix("examples/").unwrap();
    let ws = Ws::new();
    copy_example(&ws, name);
    let runs: Vec<Vec<&str>> = image
        .lines()
        .filter_map(|l| l.strip_prefix("RUN aether "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!runs.is_empty());
    for args in runs {
        let out = ws.aether(&args);
        assert_eq!(out.code, Some(0), "aether {args:?}: {}", out.stderr);
    }
    // The image's workspace runs step by step as the export will run it.
    let workflow = export(&ws, "pipeline.yaml");
    assert_eq!(replay(&ws, &workflow), full_run(&ws, "pipeline.yaml"));
}

/// `aether::pipeline::argo::RUN_AS_USER`, as the exported Workflow states it.
fn aether_pipeline_uid() -> u64 {
    let ws = Ws::new();
    copy_example(&ws, "log-digest");
    export(&ws, "pipeline.yaml")["spec"]["securityContext"]["runAsUser"]
        .as_u64()
        .unwrap()
}
