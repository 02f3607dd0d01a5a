//! `aether run PIPELINE`: validate everything, then run the steps (SPEC §4, §7).
//!
//! Exit 0 when every step succeeded, 1 when a step failed, 2 when the run was refused before
//! any step started (invalid files, policy excess, graph errors, windows, integrity).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use aether_host::gateway::Proxies;
use aether_pipeline::{Scheduler, StepStatus};
use aether_policy::Tier;
use aether_worker::Zygote;
use clap::Args;

use crate::inspect::AuditLog;
use crate::runner::{Collector, Console, Progress, RunOptions, Runner, violation_counts};
use crate::workspace::{Loaded, Workspace};
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
    let loaded = crate::workspace::load_pipeline(
        &args.pipeline,
        args.execution.policy.as_deref(),
        jiff::Timestamp::now(),
        args.execution.unsafe_,
        crate::workspace::Analysis::RunGate,
        args.frozen,
    );
    execute(loaded, &args.execution, args.jobs, Printed::Pipeline)
}

/// Runs a validated workspace: refuses (exit 2) on anything [`Loaded::refuses_run`] finds or
/// an `--unsafe` the policy forbids, then runs the steps and reports as SPEC §7 says. Shared
/// by `run` and `exec`, so both apply the same checks and print the same shapes.
pub fn execute(
    loaded: Loaded<Workspace>,
    args: &ExecutionArgs,
    jobs: Option<std::num::NonZeroUsize>,
    printed: Printed,
) -> anyhow::Result<Outcome> {
    // One clock for the execution windows, checked again when each step starts.
    let clock = jiff::Timestamp::now;
    render::print_diagnostics(&loaded.malformed, &loaded.findings)?;
    let mut stderr = std::io::stderr().lock();
    let ws = match loaded.value {
        Some(ws) if !loaded.refuses_run() => ws,
        _ => {
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
    };
    if args.unsafe_ {
        if !ws.unsafe_allowed {
            writeln!(
                stderr,
                "error: the policy does not allow `--unsafe`\n\nhint: run without `--unsafe`, or set `[unsafe] allowed = true` in the policy if the operator accepts running plugins unconfined"
            )?;
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
        writeln!(
            stderr,
            "WARNING: --unsafe: no permission checks, no memory or time limits, no execution windows; plugins run with aether's full authority (would-be violations are still recorded)"
        )?;
    }
    // The operator's proxies, read once: a malformed one refuses the run rather than being
    // ignored (traffic would otherwise leave by a route the operator did not intend).
    let proxies = match Proxies::from_vars(|name| std::env::var(name).ok()) {
        Ok(proxies) => proxies,
        Err(message) => {
            writeln!(stderr, "error: {message}")?;
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
    };
    // The process tier's zygote starts now, while aether is still single-threaded, and only
    // when a step needs it. A machine that cannot confine workers refuses the run: such steps
    // never run with less isolation than the policy asks.
    let zygote = if ws.steps.iter().any(|s| s.tier == Tier::Process) {
        match Zygote::start() {
            Ok(zygote) => Some(zygote),
            Err(e) => {
                writeln!(
                    stderr,
                    "error: {e}\n\nnote: the steps that need the process tier: {}",
                    ws.steps
                        .iter()
                        .filter(|s| s.tier == Tier::Process)
                        .map(|s| s.decl.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                writeln!(stderr, "refused: nothing ran")?;
                return Ok(Outcome::Refused);
            }
        }
    } else {
        None
    };
    let run_id = run_id();
    let audit = match &args.inspect_security {
        None => None,
        Some(dir) => match AuditLog::create(dir, &run_id, args.audit_limit) {
            Ok(log) => Some(Arc::new(log)),
            Err(e) => {
                writeln!(
                    stderr,
                    "error: cannot write the security report into `{}`: {e}\n\nhint: choose a writable directory with `--inspect-security=DIR`",
                    dir.display()
                )?;
                writeln!(stderr, "refused: nothing ran")?;
                return Ok(Outcome::Refused);
            }
        },
    };
    drop(stderr);

    let started = jiff::Timestamp::now();
    let console = Arc::new(Console::new(args.output == OutputFormat::Human));
    let collector = Arc::new(Collector::new(console.clone(), audit.clone()));
    let runner = Runner::new(
        &ws,
        collector.clone(),
        RunOptions {
            unsafe_run: args.unsafe_,
            proxies,
            zygote: zygote.as_ref(),
            sample: audit.is_some(),
            clock: &clock,
        },
    );
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN)
    });
    let progress = Progress {
        ws: &ws,
        console,
        enabled: args.output == OutputFormat::Human,
    };
    let records = Scheduler::new(jobs).run(&ws.plan, &runner, &progress);
    let ok = records.iter().all(|r| r.status == StepStatus::Succeeded);

    let events = collector.events();
    let mut stderr = std::io::stderr().lock();
    if let Some(audit) = &audit {
        let run = crate::inspect::RunData {
            run_id: &run_id,
            ws: &ws,
            records: &records,
            events: &events,
            started,
            unsafe_run: args.unsafe_,
            ok,
        };
        match crate::inspect::write_report(audit, &run) {
            Ok(summary) => write!(stderr, "{summary}")?,
            Err(e) => {
                writeln!(
                    stderr,
                    "error: the security report in `{}` is incomplete: {e}",
                    audit.dir().display()
                )?;
            }
        }
    }
    let counts = violation_counts(&events);
    if audit.is_none() && !counts.is_empty() {
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
            let steps: Vec<_> = records
                .iter()
                .zip(&ws.steps)
                .map(|(r, s)| {
                    let m = r.extra.clone().unwrap_or_default();
                    JsonStep {
                        id: &s.decl.id,
                        plugin: &ws.plugins[s.plugin].manifest.name,
                        status: r.status.as_str(),
                        output: r.output.as_deref(),
                        error: r.error.as_ref().map(ToString::to_string),
                        duration_ms: u64::try_from(m.duration.as_millis()).unwrap_or(u64::MAX),
                        peak_memory_bytes: m.peak_memory_bytes,
                        cpu_ms: m.cpu_ms,
                    }
                })
                .collect();
            let doc = JsonRun {
                run_id: &run_id,
                pipeline: &ws.pipeline.name,
                status: if ok { "succeeded" } else { "failed" },
                steps,
            };
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        OutputFormat::Human => {
            if printed == Printed::StepOutput {
                let mut stdout = std::io::stdout().lock();
                for output in records.iter().filter_map(|r| r.output.as_deref()) {
                    writeln!(stdout, "{}", output.get())?;
                }
            }
            // `exec`: the step's own line said how it went; the output is on stdout.
            if printed == Printed::StepOutput {
                return Ok(if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                });
            }
            let failed = records
                .iter()
                .filter(|r| r.status != StepStatus::Succeeded)
                .count();
            if ok {
                writeln!(
                    stderr,
                    "pipeline `{}` succeeded: {} steps",
                    render::terminal_safe(&ws.pipeline.name),
                    records.len()
                )?;
            } else {
                writeln!(
                    stderr,
                    "pipeline `{}` failed: {failed} of {} steps did not succeed",
                    render::terminal_safe(&ws.pipeline.name),
                    records.len()
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

/// `--output json` (SPEC §7): one object on stdout.
#[derive(serde::Serialize)]
struct JsonRun<'a> {
    run_id: &'a str,
    pipeline: &'a str,
    status: &'static str,
    steps: Vec<JsonStep<'a>>,
}

/// One step of [`JsonRun`]. `output` is written verbatim, exactly as the plugin's
/// `JSON.stringify` wrote it (SPEC §4).
#[derive(serde::Serialize)]
struct JsonStep<'a> {
    id: &'a str,
    plugin: &'a str,
    status: &'static str,
    output: Option<&'a serde_json::value::RawValue>,
    error: Option<String>,
    duration_ms: u64,
    peak_memory_bytes: u64,
    cpu_ms: u64,
}

/// `--audit-limit`: a size as in manifests (`64MiB`, `1GB`, plain bytes).
fn parse_audit_limit(text: &str) -> Result<u64, String> {
    aether_policy::parse_size(text)
        .map(|size| size.0)
        .map_err(|e| e.to_string())
}

/// A run id unique enough to tell runs apart in reports: time and process id.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}
