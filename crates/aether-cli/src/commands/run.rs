//! `aether run PIPELINE`: validate everything, then run the steps (SPEC §4, §7).
//!
//! Exit 0 when every step succeeded, 1 when a step failed, 2 when the run was refused before
//! any step started (invalid files, policy excess, graph errors, windows, integrity).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use aether::pipeline::{JsonText, StepStatus};
use aether::{Loaded, Workspace};
use clap::Args;

use crate::progress::Console;
use crate::{Outcome, OutputFormat, render};

/// The options `aether run` and `aether exec` share (SPEC §7).
#[derive(Args)]
pub struct ExecutionArgs {
    /// The policy (`run`: default the pipeline's `policy:` key; `exec`: default none).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Turn every check, limit and window off (thread tier); would-be violations are still
    /// recorded as `allowed-unsafe`. Refused when the policy says `[unsafe] allowed = false`.
    #[arg(long = "unsafe")]
    pub unsafe_: bool,
    /// Write the security report into DIR (default `./aether-security/`): the audit trail
    /// streamed as the run goes, then violations, resources, heatmap, interaction diagram
    /// and `report.html`.
    #[arg(
        long = "inspect-security",
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "aether-security"
    )]
    pub inspect_security: Option<PathBuf>,
    /// With `--inspect-security`: the most bytes of `events.jsonl` and `violations.jsonl` one
    /// step may cause to be written (`64MiB` by default). Past it, the step's further events
    /// are counted, not written, and the trail and the report say how many.
    #[arg(long = "audit-limit", value_name = "SIZE", default_value = "64MiB", value_parser = parse_audit_limit)]
    pub audit_limit: u64,
}

/// Arguments of `aether run`.
#[derive(Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(value_name = "PIPELINE")]
    pipeline: PathBuf,
    #[command(flatten)]
    execution: ExecutionArgs,
    /// How many steps may run at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
    /// Refuse to run without `aether.lock` beside the pipeline (with one, every plugin is
    /// always verified against it).
    #[arg(long)]
    frozen: bool,
    /// Run only this step, as a unit of work: the whole workspace is validated as for a full
    /// run, and the outputs of the steps it needs come from `--need-output`.
    #[arg(long, value_name = "ID")]
    step: Option<String>,
    /// With `--step`: the output of a step it needs, as JSON text (`ID=JSON`) or read from a
    /// file (`ID=@FILE`). Every step its `with:` references must be given.
    #[arg(long = "need-output", value_name = "ID=JSON|@FILE", requires = "step")]
    need_output: Vec<String>,
    /// With `--step`: also write the step's output to PATH, exactly as the plugin's
    /// `JSON.stringify` wrote it (nothing is written when the step fails).
    #[arg(long = "output-file", value_name = "PATH", requires = "step")]
    output_file: Option<PathBuf>,
}

/// `run --step`: the one step to run, the outputs it is given, and where its output goes.
pub struct OnlyStep {
    /// The step and the outputs it is given.
    pub step: aether::OnlyStep,
    /// `--output-file`.
    pub output_file: Option<PathBuf>,
}

impl OnlyStep {
    /// Reads `--step`, `--need-output` and `--output-file`; `Err` says what is wrong.
    fn from_args(args: &RunArgs) -> Result<Option<OnlyStep>, String> {
        let Some(id) = &args.step else {
            return Ok(None);
        };
        let mut needs: Vec<(String, JsonText)> = Vec::new();
        for given in &args.need_output {
            let Some((need, value)) = given.split_once('=') else {
                return Err(format!(
                    "`--need-output {}` is not `ID=JSON` or `ID=@FILE`",
                    render::terminal_safe(given)
                ));
            };
            let text = match value.strip_prefix('@') {
                Some(file) => {
                    let bytes = aether::manifest::read_regular(
                        std::path::Path::new(file),
                        aether::manifest::MAX_TEXT_FILE_BYTES,
                        aether::manifest::Symlinks::Follow,
                    )
                    .map_err(|e| format!("`--need-output {need}=@{file}`: {e}"))?;
                    String::from_utf8(bytes).map_err(|_| {
                        format!("`--need-output {need}=@{file}`: the file is not UTF-8 text")
                    })?
                }
                None => value.to_owned(),
            };
            let text = serde_json::value::RawValue::from_string(text.trim().to_owned())
                .map_err(|e| format!("`--need-output {need}=…` is not one JSON value: {e}"))?;
            if needs.iter().any(|(n, _)| n == need) {
                return Err(format!("`--need-output {need}=…` is given twice"));
            }
            needs.push((need.to_owned(), text));
        }
        Ok(Some(OnlyStep {
            step: aether::OnlyStep {
                id: id.clone(),
                needs,
            },
            output_file: args.output_file.clone(),
        }))
    }
}

/// What the shared run machinery prints besides `run`'s own output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    /// `aether run`: progress and a summary on stderr (human), or the JSON document.
    Pipeline,
    /// `aether exec`: in human mode, also the one step's output on stdout, exactly as the
    /// plugin's `JSON.stringify` wrote it.
    StepOutput,
}

/// Runs `aether run`.
pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    // The process tier's zygote starts as soon as the loader knows a step that runs needs it.
    let loaded = aether::workspace::load_pipeline_for_run(
        &args.pipeline,
        args.execution.policy.as_deref(),
        jiff::Timestamp::now(),
        args.execution.unsafe_,
        args.frozen,
        args.step.as_deref(),
    );
    let only = match OnlyStep::from_args(&args) {
        Ok(only) => only,
        Err(message) => {
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "error: {message}")?;
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
    };
    execute(loaded, &args.execution, args.jobs, Printed::Pipeline, only)
}

/// Runs a validated workspace: refuses (exit 2) on anything [`Loaded::refuses_run`] finds or
/// an `--unsafe` the policy forbids, then runs the steps and reports as SPEC §7 says. Shared
/// by `run` and `exec`, so both apply the same checks and print the same shapes.
pub fn execute(
    loaded: Loaded<Workspace>,
    args: &ExecutionArgs,
    jobs: Option<std::num::NonZeroUsize>,
    printed: Printed,
    only: Option<OnlyStep>,
) -> anyhow::Result<Outcome> {
    render::print_diagnostics(&loaded.malformed, &loaded.findings)?;
    let ws = match loaded.value {
        Some(ws) if !loaded.refuses_run() => ws,
        _ => {
            writeln!(std::io::stderr(), "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
    };
    let console = Arc::new(Console::new(args.output == OutputFormat::Human));
    let (only, output_file) = match only {
        Some(o) => (Some(o.step), o.output_file),
        None => (None, None),
    };
    let options = aether::RunOptions {
        unsafe_run: args.unsafe_,
        jobs,
        inspect_security: args.inspect_security.clone(),
        audit_limit: args.audit_limit,
        only,
        proxies: None,
        subscriber: console,
    };
    let report = match ws.run(options) {
        Ok(run) => run.wait(),
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "error: {e}")?;
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
    };
    let ok = report.succeeded();
    if let Some(path) = &output_file
        && let Some(output) = report.steps.first().and_then(|s| s.output.as_deref())
        && let Err(e) = write_output_file(path, output.get())
    {
        writeln!(
            std::io::stderr(),
            "error: cannot write the step's output to `{}`: {e}",
            path.display()
        )?;
        return Ok(Outcome::Failure);
    }

    let mut stderr = std::io::stderr().lock();
    if let Some(security) = &report.security_report {
        match &security.summary {
            Ok(summary) => write!(stderr, "{summary}")?,
            Err(e) => {
                writeln!(
                    stderr,
                    "error: the security report in `{}` is incomplete: {e}",
                    security.dir.display()
                )?;
            }
        }
    }
    let counts = report.violation_counts();
    if report.security_report.is_none() && !counts.is_empty() {
        let total: u64 = counts.values().sum();
        let parts: Vec<String> = counts
            .iter()
            .map(|((c, d), n)| format!("{n} {c} {d}"))
            .collect();
        writeln!(
            stderr,
            "{total} violation{}: {}",
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        )?;
    }
    match args.output {
        OutputFormat::Json => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", report.to_json())?;
        }
        OutputFormat::Human => {
            if printed == Printed::StepOutput {
                let mut stdout = std::io::stdout().lock();
                for output in report.steps.iter().filter_map(|s| s.output.as_deref()) {
                    writeln!(stdout, "{}", output.get())?;
                }
                // `exec`: the step's own line said how it went; the output is on stdout.
                return Ok(if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                });
            }
            let failed = report
                .steps
                .iter()
                .filter(|s| s.status != StepStatus::Succeeded)
                .count();
            if ok {
                writeln!(
                    stderr,
                    "pipeline `{}` succeeded: {} steps",
                    render::terminal_safe(&report.pipeline),
                    report.steps.len()
                )?;
            } else {
                writeln!(
                    stderr,
                    "pipeline `{}` failed: {failed} of {} steps did not succeed",
                    render::terminal_safe(&report.pipeline),
                    report.steps.len()
                )?;
            }
        }
    }
    // SPEC §7: the exit code says how the steps went; an incomplete report is said on stderr.
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// Writes `text` to `path` whole or not at all: into a new file beside it, then renamed over it.
fn write_output_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `--audit-limit`: a size as in manifests (`64MiB`, `1GB`, plain bytes).
fn parse_audit_limit(text: &str) -> Result<u64, String> {
    aether::policy::parse_size(text)
        .map(|size| size.0)
        .map_err(|e| e.to_string())
}
