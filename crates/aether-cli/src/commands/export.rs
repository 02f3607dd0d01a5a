//! `aether export argo PIPELINE --image IMAGE`: an Argo Workflows `Workflow` that runs the
//! pipeline on Kubernetes, one pod per step, each running `aether run --step` (SPEC §7; the
//! document itself is built by `aether::pipeline::argo`). See `docs/scale-out.md`.

use std::io::Write;
use std::path::PathBuf;

use aether::pipeline::argo::{ArgoOptions, ArgoStep, workflow};
use clap::{Args, Subcommand};

use crate::Outcome;
use crate::render;
use aether::workspace::{Analysis, Level};

/// Arguments of `aether export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    target: ExportTarget,
}

/// What `aether export` can write.
#[derive(Subcommand)]
enum ExportTarget {
    /// Print an Argo Workflows `Workflow` (YAML) running the pipeline, one pod per step.
    Argo(ArgoArgs),
}

/// Arguments of `aether export argo`.
#[derive(Args)]
struct ArgoArgs {
    /// The pipeline file, as the steps' containers will name it (relative to `--workdir`).
    #[arg(value_name = "PIPELINE")]
    pipeline: PathBuf,
    /// The container image holding aether and the workspace (pipeline, policy, plugins,
    /// `aether.lock`).
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// The containers' working directory: the workspace's place in the image.
    #[arg(long, value_name = "DIR", default_value = "/workspace")]
    workdir: String,
    /// The Workflow's name prefix (default: the pipeline's name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// At most this many step pods at once (`spec.parallelism`).
    #[arg(long, value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
}

/// Runs `aether export`.
pub fn export(args: ExportArgs) -> anyhow::Result<Outcome> {
    let ExportTarget::Argo(args) = args.target;
    // Validated as a run is, so that a pipeline that could not run is not exported; windows
    // are warnings here (the run happens later, and each pod checks them again).
    let loaded = aether::workspace::load_pipeline(
        &args.pipeline,
        None,
        jiff::Timestamp::now(),
        false,
        Analysis::RunGate,
        false,
    );
    render::print_diagnostics(&loaded.malformed, &loaded.findings)?;
    let refused =
        !loaded.malformed.is_empty() || loaded.findings.iter().any(|f| f.level == Level::Error);
    let ws = match loaded.value {
        Some(ws) if !refused => ws,
        _ => {
            writeln!(std::io::stderr(), "refused: nothing exported")?;
            return Ok(Outcome::Refused);
        }
    };
    let steps: Vec<ArgoStep> = ws
        .steps
        .iter()
        .map(|s| {
            let limits = s.grant.limits();
            let timeout = limits.timeout;
            ArgoStep {
                memory_bytes: limits.memory.0,
                timeout_seconds: timeout
                    .as_secs()
                    .saturating_add(u64::from(timeout.subsec_nanos() > 0)),
            }
        })
        .collect();
    let pipeline = args.pipeline.to_string_lossy();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| ws.pipeline.name.replace('_', "-"));
    let document = workflow(
        &ws.plan,
        &steps,
        &ArgoOptions {
            pipeline: &pipeline,
            image: &args.image,
            workdir: &args.workdir,
            name: &name,
            jobs: args.jobs.map(std::num::NonZeroUsize::get),
        },
    );
    let yaml = serde_saphyr::to_string(&document)?;
    std::io::stdout().lock().write_all(yaml.as_bytes())?;
    // Output sizes are only known when the steps run: say once what bounds them.
    writeln!(
        std::io::stderr(),
        "note: each step's output travels as an Argo parameter, which the Workflow object holds (Kubernetes bounds it to about 1 MiB in all); a step whose output may be larger should write it to a volume or an artifact repository and return a reference (docs/scale-out.md)"
    )?;
    Ok(Outcome::Success)
}
