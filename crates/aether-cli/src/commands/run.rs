//! `aether run PIPELINE`: validate everything, then run the steps (SPEC §4, §7).
//!
//! Exit 0 when every step succeeded, 1 when a step failed, 2 when the run was refused before
//! any step started (invalid files, policy excess, graph errors, windows).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::{OutputFormat, Outcome, render};

/// Arguments of `aether run`.
#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(value_name = "PIPELINE")]
    pipeline: PathBuf,
    /// The policy (default: the pipeline's `policy:` key).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// How many steps may run at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    output: OutputFormat,
}

/// Runs `aether run`.
pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let loaded = crate::workspace::load_pipeline(&args.pipeline, args.policy.as_deref(), jiff::Timestamp::now());
    if loaded.refuses_run() {
        let mut stderr = std::io::stderr().lock();
        for e in &loaded.malformed {
            writeln!(stderr, "error: {}", render::terminal_safe(&e.to_string()))?;
        }
        for f in &loaded.findings {
            writeln!(stderr, "{}: {}", f.level.as_str(), render::terminal_safe(&f.to_string()))?;
        }
        writeln!(stderr, "refused: nothing ran")?;
        return Ok(Outcome::Refused);
    }
    let _ = (args.jobs, args.output);
    anyhow::bail!("the pipeline is valid, but running steps needs the sandbox runner, which this build does not have yet")
}
