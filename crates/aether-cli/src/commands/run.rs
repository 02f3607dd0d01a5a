//! `aether run PIPELINE`: validate everything, then run the steps (SPEC §4, §7).
//!
//! Exit 0 when every step succeeded, 1 when a step failed, 2 when the run was refused before
//! any step started (invalid files, policy excess, graph errors, windows, integrity).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use aether_host::gateway::Proxies;
use aether_pipeline::{JsonText, Scheduler, StepRecord, StepStatus};
use aether_policy::Tier;
use aether_worker::Zygote;
use clap::Args;

use crate::inspect::AuditLog;
use crate::runner::{Collector, Console, Metrics, Progress, RunOptions, Runner, violation_counts};
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
    /// The step's id.
    pub id: String,
    /// `--need-output`: step id and output text, in the order given.
    pub needs: Vec<(String, JsonText)>,
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
                    let bytes = aether_manifest::read_regular(
                        std::path::Path::new(file),
                        aether_manifest::MAX_TEXT_FILE_BYTES,
                        aether_manifest::Symlinks::Follow,
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
            id: id.clone(),
            needs,
            output_file: args.output_file.clone(),
        }))
    }

    /// The step's index in `ws`, once every given output is one of its needs and every output
    /// its `with:` references is given; `Err` says what is wrong.
    fn check(&self, ws: &Workspace) -> Result<usize, String> {
        let graph = ws.plan.graph();
        let index = graph.index_of(&self.id).ok_or_else(|| {
            format!(
                "the pipeline has no step `{}`",
                render::terminal_safe(&self.id)
            )
        })?;
        for (need, _) in &self.needs {
            let needed = graph
                .index_of(need)
                .is_some_and(|n| graph.depends_on(index, n));
            if !needed {
                return Err(format!(
                    "`--need-output {}=…`: step `{}` does not need a step `{}`",
                    render::terminal_safe(need),
                    self.id,
                    render::terminal_safe(need)
                ));
            }
        }
        let mut missing: Vec<&str> = ws
            .plan
            .template(index)
            .references()
            .map(|r| r.step())
            .filter(|step| !self.needs.iter().any(|(n, _)| n == step))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(format!(
                "step `{}` uses the output of {}: give {} with `--need-output ID=JSON|@FILE`",
                self.id,
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "it" } else { "each" }
            ));
        }
        Ok(index)
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
    let loaded = crate::workspace::load_pipeline(
        &args.pipeline,
        args.execution.policy.as_deref(),
        jiff::Timestamp::now(),
        args.execution.unsafe_,
        crate::workspace::Analysis::RunGate,
        args.frozen,
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
    execute(
        loaded,
        &args.execution,
        args.jobs,
        Printed::Pipeline,
        only.as_ref(),
    )
}

/// Runs a validated workspace: refuses (exit 2) on anything [`Loaded::refuses_run`] finds or
/// an `--unsafe` the policy forbids, then runs the steps and reports as SPEC §7 says. Shared
/// by `run` and `exec`, so both apply the same checks and print the same shapes.
pub fn execute(
    loaded: Loaded<Workspace>,
    args: &ExecutionArgs,
    jobs: Option<std::num::NonZeroUsize>,
    printed: Printed,
    only: Option<&OnlyStep>,
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
    // `run --step`: the step and the outputs it is given are checked before anything starts.
    let only = match only.map(|o| o.check(&ws).map(|index| (o, index))) {
        None => None,
        Some(Ok(selected)) => Some(selected),
        Some(Err(message)) => {
            writeln!(stderr, "error: {message}")?;
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
    // Compile once: the per-process cache, or also the disk cache if asked for and no plugin
    // of the run can reach it (compile_cache.rs).
    crate::compile_cache::configure(&ws, args.unsafe_, &mut stderr)?;
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
    let runs = |i: usize| only.is_none_or(|(_, index)| index == i);
    let zygote = if ws
        .steps
        .iter()
        .enumerate()
        .any(|(i, s)| runs(i) && s.tier == Tier::Process)
    {
        match Zygote::start() {
            Ok(zygote) => {
                // Workers forked ahead, one per job slot, never more than the steps need.
                let steps = (0..ws.steps.len())
                    .filter(|&i| runs(i) && ws.steps[i].tier == Tier::Process)
                    .count();
                let slots = jobs.map_or_else(
                    || std::thread::available_parallelism().map_or(1, |n| n.get()),
                    |n| n.get(),
                );
                zygote.keep_ready(slots, steps);
                Some(zygote)
            }
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
    // Read once, after the zygote started (no worker is forked from a process holding them).
    let secrets = aether_host::secrets::SecretValues::load(
        ws.steps
            .iter()
            .enumerate()
            .filter(|(i, _)| runs(*i))
            .flat_map(|(_, s)| s.grant.secrets()),
    );
    let secrets = match secrets {
        Ok(s) => s,
        Err(e) => {
            writeln!(stderr, "error: {e}")?;
            writeln!(stderr, "refused: nothing ran")?;
            return Ok(Outcome::Refused);
        }
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
            secrets,
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
    let records: Vec<(usize, StepRecord<Metrics>)> = match only {
        None => Scheduler::new(jobs)
            .run(&ws.plan, &runner, &progress)
            .into_iter()
            .enumerate()
            .collect(),
        Some((only, index)) => {
            let record = Scheduler::run_step(
                &ws.plan,
                index,
                |id| {
                    only.needs
                        .iter()
                        .find(|(n, _)| n == id)
                        .map(|(_, text)| text.as_ref())
                },
                &runner,
                &progress,
            );
            vec![(index, record)]
        }
    };
    let ok = records
        .iter()
        .all(|(_, r)| r.status == StepStatus::Succeeded);
    if let Some((
        OnlyStep {
            output_file: Some(path),
            ..
        },
        _,
    )) = only
        && let Some(output) = records.first().and_then(|(_, r)| r.output.as_deref())
        && let Err(e) = write_output_file(path, output.get())
    {
        let mut stderr = std::io::stderr().lock();
        writeln!(
            stderr,
            "error: cannot write the step's output to `{}`: {e}",
            path.display()
        )?;
        return Ok(Outcome::Failure);
    }

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
                .map(|(i, r)| {
                    let s = &ws.steps[*i];
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
                for output in records.iter().filter_map(|(_, r)| r.output.as_deref()) {
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
                .filter(|(_, r)| r.status != StepStatus::Succeeded)
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
