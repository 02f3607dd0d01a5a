//! An Argo Workflows `Workflow` that runs a pipeline on Kubernetes, one pod per step
//! (SPEC §7 `aether export argo`, issue 25).
//!
//! Each step becomes a DAG task whose container runs `aether run PIPELINE --step ID` with the
//! outputs of the steps its `with:` references passed as `--need-output ID=…` (Argo substitutes
//! the referenced tasks' output parameters), and `--output-file` naming the file Argo reads back
//! as the task's output parameter `output`. Every step still runs under aether's validation,
//! grants, limits and integrity checks; the pod adds a layer: non-root, no privilege
//! escalation, all capabilities dropped, `RuntimeDefault` seccomp, a read-only root filesystem
//! (scratch in an `emptyDir`), and no service-account token.
//!
//! This module only builds the document; it reads no file and knows nothing of engines.

use serde_json::{Value, json};

use crate::graph::Plan;

/// Where a step's container writes its output for Argo to read (an `emptyDir`).
pub const OUTPUT_DIR: &str = "/tmp/aether";
/// The output file inside [`OUTPUT_DIR`].
pub const OUTPUT_FILE: &str = "/tmp/aether/output.json";
/// Memory a step's pod is given beyond the plugin's ceiling: aether's own process (binary,
/// validation of the workspace, the event collector) and, in the process tier, the worker's
/// engine outside the metered heap. Measured peaks of aether itself stay below 64 MiB for a
/// step (`tests/it/soak.rs` measures several steps at once); twice that leaves room.
pub const MEMORY_OVERHEAD_BYTES: u64 = 128 * 1024 * 1024;
/// Seconds a step's pod is given beyond the step's timeout: pulling nothing (the image holds
/// the workspace), starting aether and validating the whole workspace before the step starts.
pub const DEADLINE_SLACK_SECONDS: u64 = 60;
/// The name of the DAG template, the Workflow's entry point (no step's task takes it).
pub const DAG_TEMPLATE: &str = "pipeline";
/// The uid the step containers run as when the image does not say (the distroless `nonroot`).
pub const RUN_AS_USER: u64 = 65532;

/// What the export needs to know of one step.
#[derive(Debug, Clone)]
pub struct ArgoStep {
    /// The plugin's memory ceiling for this step, in bytes.
    pub memory_bytes: u64,
    /// The step's timeout, in whole seconds (rounded up).
    pub timeout_seconds: u64,
}

/// The export's settings (`aether export argo` options).
#[derive(Debug, Clone)]
pub struct ArgoOptions<'a> {
    /// The pipeline file's path inside the image, as `aether run` is given it.
    pub pipeline: &'a str,
    /// The container image holding aether and the workspace.
    pub image: &'a str,
    /// The containers' working directory (the workspace in the image).
    pub workdir: &'a str,
    /// The Workflow's `generateName` prefix.
    pub name: &'a str,
    /// At most this many step pods at once (`spec.parallelism`); `None`: Argo's default.
    pub jobs: Option<usize>,
}

/// The Argo task (and template) name of each step: its id, with `_` (not allowed in task
/// names) spelled `-`, and a numeric suffix where that makes two names equal or takes
/// [`DAG_TEMPLATE`].
pub fn task_names(plan: &Plan) -> Vec<String> {
    let graph = plan.graph();
    let mut names: Vec<String> = Vec::with_capacity(graph.len());
    let taken =
        |names: &[String], name: &str| name == DAG_TEMPLATE || names.iter().any(|n| n == name);
    for i in 0..graph.len() {
        let base = graph.id(i).replace('_', "-");
        let base = if base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            base
        } else {
            format!("s{base}")
        };
        let mut name = base.clone();
        let mut n = 2;
        while taken(&names, &name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

/// The `Workflow` for `plan`, whose steps' limits are `steps` (by step index).
pub fn workflow(plan: &Plan, steps: &[ArgoStep], options: &ArgoOptions<'_>) -> Value {
    let graph = plan.graph();
    let names = task_names(plan);
    let mut tasks = Vec::with_capacity(graph.len());
    let mut templates = Vec::with_capacity(graph.len() + 1);
    for (i, limits) in steps.iter().enumerate().take(graph.len()) {
        // The steps whose outputs the template references (direct or transitive needs).
        let mut referenced: Vec<usize> = plan
            .template(i)
            .references()
            .filter_map(|r| graph.index_of(r.step()))
            .collect();
        referenced.sort_unstable();
        referenced.dedup();
        let mut dependencies: Vec<usize> = graph.needs(i).to_vec();
        dependencies.extend(&referenced);
        dependencies.sort_unstable();
        dependencies.dedup();

        let mut args = vec![
            json!("run"),
            json!(options.pipeline),
            json!("--step"),
            json!(graph.id(i)),
        ];
        let mut inputs = Vec::new();
        let mut arguments = Vec::new();
        for &r in &referenced {
            let parameter = format!("need-{}", names[r]);
            args.push(json!("--need-output"));
            args.push(json!(format!(
                "{}={{{{inputs.parameters.{parameter}}}}}",
                graph.id(r)
            )));
            inputs.push(json!({ "name": parameter }));
            arguments.push(json!({
                "name": parameter,
                "value": format!("{{{{tasks.{}.outputs.parameters.output}}}}", names[r]),
            }));
        }
        args.push(json!("--output-file"));
        args.push(json!(OUTPUT_FILE));

        let mut task = json!({
            "name": names[i],
            "template": names[i],
        });
        if !dependencies.is_empty() {
            task["dependencies"] = json!(
                dependencies
                    .iter()
                    .map(|&d| names[d].clone())
                    .collect::<Vec<_>>()
            );
        }
        if !arguments.is_empty() {
            task["arguments"] = json!({ "parameters": arguments });
        }
        tasks.push(task);

        let memory = limits.memory_bytes.saturating_add(MEMORY_OVERHEAD_BYTES);
        let mut template = json!({
            "name": names[i],
            "activeDeadlineSeconds": limits.timeout_seconds.saturating_add(DEADLINE_SLACK_SECONDS),
            "container": {
                "image": options.image,
                "command": ["aether"],
                "args": args,
                "workingDir": options.workdir,
                "resources": {
                    "requests": { "memory": memory.to_string() },
                    "limits": { "memory": memory.to_string() },
                },
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsNonRoot": true,
                    "capabilities": { "drop": ["ALL"] },
                },
                "volumeMounts": [{ "name": "scratch", "mountPath": OUTPUT_DIR }],
            },
            "volumes": [{ "name": "scratch", "emptyDir": {} }],
            "outputs": {
                "parameters": [{ "name": "output", "valueFrom": { "path": OUTPUT_FILE } }],
            },
        });
        if !inputs.is_empty() {
            template["inputs"] = json!({ "parameters": inputs });
        }
        templates.push(template);
    }
    templates.insert(
        0,
        json!({ "name": DAG_TEMPLATE, "dag": { "tasks": tasks } }),
    );
    let mut spec = json!({
        "entrypoint": DAG_TEMPLATE,
        "automountServiceAccountToken": false,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": RUN_AS_USER,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "templates": templates,
    });
    if let Some(jobs) = options.jobs {
        spec["parallelism"] = json!(jobs);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": { "generateName": format!("{}-", options.name) },
        "spec": spec,
    })
}
