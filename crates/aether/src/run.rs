//! Running a validated [`Workspace`]: the steps in dependency order, at most `jobs` at a time,
//! each in a fresh sandbox behind a broker holding its grant (SPEC §4, §5), then the
//! [`RunReport`] (the data of `--output json` and of `summary.json`).
//!
//! [`Workspace::run`] does every check that can refuse a run before any step starts (an
//! unsafe run the policy forbids, malformed proxies, a process tier this machine cannot
//! confine, unreadable secrets, an unwritable report directory) and returns them as
//! [`RunError`]; after that a run always completes with a report, whatever its steps did.

use std::io;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aether_host::gateway::Proxies;
use aether_host::secrets::SecretValues;
use aether_pipeline::{JsonText, Scheduler, StepRecord, StepStatus};
use aether_policy::{Capability, Decision, Tier};
use aether_worker::Zygote;

use crate::events::{Subscriber, Warning};
use crate::inspect::{AuditLog, RunData};
use crate::runner::{Collector, Kept, Metrics, Notify, Runner, RunnerOptions, violation_counts};
use crate::workspace::Workspace;

/// The default of [`RunOptions::audit_limit`]: 64 MiB per step (`--audit-limit`).
pub const DEFAULT_AUDIT_LIMIT: u64 = 64 << 20;

/// How to run a workspace. Deny-by-default: not unsafe, no security report, no proxies
/// unless the environment names them ([`RunOptions::proxies`]), every step.
///
/// ```
/// let options = aether::RunOptions::default().jobs(std::num::NonZeroUsize::MIN);
/// assert!(!options.unsafe_run);
/// ```
pub struct RunOptions {
    /// Turn every check, limit and window off (`--unsafe`; thread tier). Refused
    /// ([`RunError::UnsafeNotAllowed`]) when the policy says `[unsafe] allowed = false`.
    pub unsafe_run: bool,
    /// How many steps may run at once (default: the number of CPUs).
    pub jobs: Option<NonZeroUsize>,
    /// Write the security report into this directory (`--inspect-security`).
    pub inspect_security: Option<PathBuf>,
    /// With [`RunOptions::inspect_security`]: the most bytes of `events.jsonl` and
    /// `violations.jsonl` one step may cause to be written ([`DEFAULT_AUDIT_LIMIT`]).
    pub audit_limit: u64,
    /// Run only this step (`run --step`), given the outputs of the steps it needs.
    pub only: Option<OnlyStep>,
    /// The operator's proxies for every step's `fetch`; `None` reads `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` from the environment when the run starts.
    pub proxies: Option<Proxies>,
    /// Receives events, logs, progress and warnings.
    pub subscriber: Arc<dyn Subscriber>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            unsafe_run: false,
            jobs: None,
            inspect_security: None,
            audit_limit: DEFAULT_AUDIT_LIMIT,
            only: None,
            proxies: None,
            subscriber: Arc::new(()),
        }
    }
}

impl RunOptions {
    /// Sets [`RunOptions::jobs`].
    pub fn jobs(mut self, jobs: NonZeroUsize) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// Sets [`RunOptions::subscriber`].
    pub fn subscriber(mut self, subscriber: Arc<dyn Subscriber>) -> Self {
        self.subscriber = subscriber;
        self
    }

    /// Sets [`RunOptions::inspect_security`].
    pub fn inspect_security(mut self, dir: impl Into<PathBuf>) -> Self {
        self.inspect_security = Some(dir.into());
        self
    }
}

/// `run --step`: the one step to run and the outputs of the steps it needs.
#[derive(Debug, Clone)]
pub struct OnlyStep {
    /// The step's id.
    pub id: String,
    /// Step id and output text of each step it needs, in the order given.
    pub needs: Vec<(String, JsonText)>,
}

impl OnlyStep {
    /// The step's index in `ws`, once every given output is one of its needs and every output
    /// its `with:` references is given; `Err` says what is wrong.
    pub fn check(&self, ws: &Workspace) -> Result<usize, String> {
        let safe = aether_policy::escape_untrusted_lines;
        let graph = ws.plan.graph();
        let index = graph
            .index_of(&self.id)
            .ok_or_else(|| format!("the pipeline has no step `{}`", safe(&self.id)))?;
        for (need, _) in &self.needs {
            let needed = graph
                .index_of(need)
                .is_some_and(|n| graph.depends_on(index, n));
            if !needed {
                return Err(format!(
                    "`--need-output {}=…`: step `{}` does not need a step `{}`",
                    safe(need),
                    self.id,
                    safe(need)
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

/// Why a run was refused before any step started. Each message is one sentence saying what is
/// wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// [`RunOptions::only`] names no step, or its outputs do not fit the step's needs.
    #[error("{0}")]
    Selection(String),
    /// An unsafe run, which the policy forbids.
    #[error(
        "the policy does not allow `--unsafe`\n\nhint: run without `--unsafe`, or set `[unsafe] allowed = true` in the policy if the operator accepts running plugins unconfined"
    )]
    UnsafeNotAllowed,
    /// A proxy variable of the environment is malformed (traffic would otherwise leave by a
    /// route the operator did not intend).
    #[error("{0}")]
    Proxies(String),
    /// Steps need the process tier, which this machine cannot give.
    #[error("{source}\n\nnote: the steps that need the process tier: {}", steps.join(", "))]
    ProcessTier {
        /// Why the process tier could not start.
        source: aether_worker::WorkerError,
        /// The ids of the steps that need it.
        steps: Vec<String>,
    },
    /// A granted secret could not be read (the message names it and its source, never its
    /// value).
    #[error("{0}")]
    Secrets(String),
    /// The thread of a spawned run ([`Workspace::spawn`]) could not be started.
    #[error("cannot start the run's thread: {0}")]
    Thread(io::Error),
    /// The security report's directory could not be written.
    #[error(
        "cannot write the security report into `{}`: {source}\n\nhint: choose a writable directory with `--inspect-security=DIR`",
        dir.display()
    )]
    SecurityReport {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Cancels a run: steps not yet started fail without running (the error
/// [`crate::runner::CANCELLED`]), and those that depend on them are skipped. Running steps
/// end as they would (at most at their timeout). Cheap to clone; usable from any thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Cancels the run.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The workspace a [`Run`] runs: borrowed, or shared with the thread of a [`RunHandle`].
enum WorkspaceRef<'a> {
    Borrowed(&'a Workspace),
    Shared(Arc<Workspace>),
}

impl std::ops::Deref for WorkspaceRef<'_> {
    type Target = Workspace;
    fn deref(&self) -> &Workspace {
        match self {
            WorkspaceRef::Borrowed(ws) => ws,
            WorkspaceRef::Shared(ws) => ws,
        }
    }
}

/// A run that passed every check and is ready to go: [`Run::wait`] runs it on this thread.
/// Events, logs and progress go to [`RunOptions::subscriber`] as it goes;
/// [`Run::cancel_token`] cancels it from another thread.
pub struct Run<'a> {
    ws: WorkspaceRef<'a>,
    options: RunOptions,
    only: Option<usize>,
    proxies: Proxies,
    zygote: Option<Zygote>,
    secrets: SecretValues,
    audit: Option<Arc<AuditLog>>,
    run_id: String,
    cancel: CancelToken,
    /// How many steps may run at once ([`RunOptions::jobs`], else the CPUs).
    jobs: NonZeroUsize,
}

impl Workspace {
    /// Checks everything that can refuse a run, in the order `aether run` does, and returns the
    /// run ready to go. Warnings (an unsafe run; a compile cache setting not followed) go to
    /// the subscriber. Nothing has run when this returns an error.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// let ws = aether::Workspace::load(dir.path().join("pipeline.yaml"), aether::LoadOptions::default())?;
    /// let report = ws.run(aether::RunOptions::default())?.wait();
    /// assert!(report.succeeded());
    /// assert_eq!(report.steps[0].output.as_ref().map(|o| o.get()), Some(r#"{"greeting":"hello, world"}"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(&self, options: RunOptions) -> Result<Run<'_>, RunError> {
        Run::prepare(WorkspaceRef::Borrowed(self), options)
    }

    /// As [`Workspace::run`], then runs it on a thread of its own: the handle cancels it and
    /// waits for its report.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// let ws = aether::Workspace::load(dir.path().join("pipeline.yaml"), aether::LoadOptions::default())?;
    /// let (subscriber, events) = aether::ChannelSubscriber::new();
    /// let options = aether::RunOptions::default().subscriber(std::sync::Arc::new(subscriber));
    /// let handle = aether::Workspace::spawn(std::sync::Arc::new(ws), options)?;
    /// let report = handle.join();
    /// assert!(report.succeeded());
    /// assert!(events.try_iter().any(|e| matches!(e, aether::RunEvent::StepFinished { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(ws: Arc<Workspace>, options: RunOptions) -> Result<RunHandle, RunError> {
        let run = Run::prepare(WorkspaceRef::Shared(ws), options)?;
        let cancel = run.cancel_token();
        let thread = std::thread::Builder::new()
            .name("aether-run".into())
            .spawn(move || run.wait())
            .map_err(RunError::Thread)?;
        Ok(RunHandle { thread, cancel })
    }
}

/// A run going on a thread of its own ([`Workspace::spawn`]).
pub struct RunHandle {
    thread: std::thread::JoinHandle<RunReport>,
    cancel: CancelToken,
}

impl RunHandle {
    /// Cancels the run ([`CancelToken`]).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels the run from elsewhere.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the run's report.
    pub fn join(self) -> RunReport {
        match self.thread.join() {
            Ok(report) => report,
            // The run catches its steps' panics; one of its own is a bug, passed on.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<'a> Run<'a> {
    fn prepare(ws: WorkspaceRef<'a>, options: RunOptions) -> Result<Run<'a>, RunError> {
        let only = match &options.only {
            None => None,
            Some(o) => Some(o.check(&ws).map_err(RunError::Selection)?),
        };
        if options.unsafe_run {
            if !ws.unsafe_allowed {
                return Err(RunError::UnsafeNotAllowed);
            }
            options.subscriber.warning(&Warning::Unsafe);
        }
        // Compile once: the per-process cache, or also the disk cache if asked for and no
        // plugin of the run can reach it (compile_cache.rs).
        if let Some(warning) = crate::compile_cache::configure(&ws, options.unsafe_run) {
            options.subscriber.warning(&Warning::CompileCache(warning));
        }
        // The operator's proxies, read once: a malformed one refuses the run rather than being
        // ignored.
        let proxies = match &options.proxies {
            Some(p) => p.clone(),
            None => Proxies::from_vars(|name| std::env::var(name).ok())
                .map_err(|e| RunError::Proxies(e.to_string()))?,
        };
        // The process tier's zygote starts now, and only when a step needs it. A machine that
        // cannot confine workers refuses the run: such steps never run with less isolation
        // than the policy asks.
        let runs = |i: usize| only.is_none_or(|index| index == i);
        // Asked once: without `--jobs` it reads the cgroup's CPU quota (a few files).
        let jobs = options.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN)
        });
        // Started while the workspace was validated, if it was loaded for this run.
        let early = ws
            .zygote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let zygote = if ws
            .steps
            .iter()
            .enumerate()
            .any(|(i, s)| runs(i) && s.tier == Tier::Process)
        {
            // While the zygote starts, the entry modules of the first steps are compiled
            // (their workers would otherwise wait for it: about 1 ms each).
            let first = |i: usize| only.is_some() || ws.steps[i].decl.needs.is_empty();
            let meanwhile = || compile_entries(&ws, |i| runs(i) && first(i));
            let zygote = match early {
                Some(starting) => starting.ready(meanwhile),
                None => Zygote::start_with(meanwhile),
            }
            .map_err(|source| RunError::ProcessTier {
                source,
                steps: ws
                    .steps
                    .iter()
                    .filter(|s| s.tier == Tier::Process)
                    .map(|s| s.decl.id.clone())
                    .collect(),
            })?;
            // Workers forked ahead, one per job slot, never more than the steps need.
            let steps = (0..ws.steps.len())
                .filter(|&i| runs(i) && ws.steps[i].tier == Tier::Process)
                .count();
            zygote.keep_ready(jobs.get(), steps);
            Some(zygote)
        } else {
            None
        };
        // Read once, after the zygote started (no worker is forked from a process holding them).
        let secrets = SecretValues::load(
            ws.steps
                .iter()
                .enumerate()
                .filter(|(i, _)| runs(*i))
                .flat_map(|(_, s)| s.grant.secrets()),
        )
        .map_err(RunError::Secrets)?;
        let run_id = run_id();
        let audit = match &options.inspect_security {
            None => None,
            Some(dir) => Some(Arc::new(
                AuditLog::create(dir, &run_id, options.audit_limit).map_err(|source| {
                    RunError::SecurityReport {
                        dir: dir.clone(),
                        source,
                    }
                })?,
            )),
        };
        Ok(Run {
            ws,
            options,
            only,
            proxies,
            zygote,
            secrets,
            audit,
            run_id,
            cancel: CancelToken::default(),
            jobs,
        })
    }

    /// The run's id (in reports and the audit trail).
    pub fn id(&self) -> &str {
        &self.run_id
    }

    /// A token that cancels the run from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Runs the steps and returns the report (and writes the security report, if asked for).
    pub fn wait(self) -> RunReport {
        let ws: &Workspace = &self.ws;
        let clock = jiff::Timestamp::now;
        let started = jiff::Timestamp::now();
        let subscriber = self.options.subscriber.clone();
        let collector = Arc::new(Collector::new(subscriber.clone(), self.audit.clone()));
        let runner = Runner::new(
            ws,
            collector.clone(),
            RunnerOptions {
                unsafe_run: self.options.unsafe_run,
                proxies: self.proxies.clone(),
                zygote: self.zygote.as_ref(),
                sample: self.audit.is_some(),
                clock: &clock,
                secrets: self.secrets.clone(),
                cancelled: self.cancel.0.clone(),
            },
        );
        let jobs = self.jobs;
        let notify = Notify {
            ws,
            subscriber: &*subscriber,
        };
        let records: Vec<(usize, StepRecord<Metrics>)> = match (self.only, &self.options.only) {
            (Some(index), Some(only)) => {
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
                    &notify,
                );
                vec![(index, record)]
            }
            _ => Scheduler::new(jobs)
                .run(&ws.plan, &runner, &notify)
                .into_iter()
                .enumerate()
                .collect(),
        };
        let ok = records
            .iter()
            .all(|(_, r)| r.status == StepStatus::Succeeded);
        let events = collector.events();
        let security_report = self.audit.as_ref().map(|audit| {
            let run = RunData {
                run_id: &self.run_id,
                ws,
                records: &records,
                events: &events,
                started,
                unsafe_run: self.options.unsafe_run,
                ok,
            };
            SecurityReport {
                dir: audit.dir().to_path_buf(),
                summary: crate::inspect::write_report(audit, &run),
            }
        });
        let steps = records
            .into_iter()
            .map(|(index, r)| {
                let s = &ws.steps[index];
                StepReport {
                    index,
                    id: s.decl.id.clone(),
                    plugin: ws.plugins[s.plugin].manifest.name.clone(),
                    status: r.status,
                    output: r.output,
                    error: r.error.as_ref().map(ToString::to_string),
                    metrics: r.extra.unwrap_or_default(),
                }
            })
            .collect();
        RunReport {
            run_id: self.run_id,
            pipeline: ws.pipeline.name.clone(),
            unsafe_run: self.options.unsafe_run,
            started,
            steps,
            events,
            security_report,
        }
    }
}

/// How a run went: the data of `--output json` and of `summary.json`.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Whether the run was unsafe.
    pub unsafe_run: bool,
    /// When the run's steps started.
    pub started: jiff::Timestamp,
    /// The steps that ran or were decided, in pipeline order (one for [`RunOptions::only`]).
    pub steps: Vec<StepReport>,
    /// The events the run kept ([`Kept`]: each distinct one once, with its repeats), in order.
    pub events: Vec<Kept>,
    /// The security report, with [`RunOptions::inspect_security`].
    pub security_report: Option<SecurityReport>,
}

/// How one step went.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepReport {
    /// The step's index in the pipeline.
    pub index: usize,
    /// The step's id.
    pub id: String,
    /// Its plugin's name.
    pub plugin: String,
    /// Succeeded, failed or skipped.
    pub status: StepStatus,
    /// Its output, exactly as the plugin's `JSON.stringify` wrote it (SPEC §4).
    pub output: Option<JsonText>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// What the run measured.
    pub metrics: Metrics,
}

/// The report directory of `--inspect-security`, written when the run ended.
#[derive(Debug)]
pub struct SecurityReport {
    /// The directory.
    pub dir: PathBuf,
    /// The terminal summary of the report, or why the report is incomplete.
    pub summary: io::Result<String>,
}

impl RunReport {
    /// Whether every step succeeded (`aether run` exits 0).
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Succeeded)
    }

    /// Violations counted by capability and decision.
    pub fn violation_counts(&self) -> std::collections::BTreeMap<(Capability, Decision), u64> {
        violation_counts(&self.events)
    }

    /// The `--output json` document (SPEC §7): one JSON object, step outputs verbatim.
    pub fn to_json(&self) -> String {
        let doc = JsonRun {
            run_id: &self.run_id,
            pipeline: &self.pipeline,
            status: if self.succeeded() {
                "succeeded"
            } else {
                "failed"
            },
            steps: self
                .steps
                .iter()
                .map(|s| JsonStep {
                    id: &s.id,
                    plugin: &s.plugin,
                    status: s.status.as_str(),
                    output: s.output.as_deref(),
                    error: s.error.as_deref(),
                    duration_ms: u64::try_from(s.metrics.duration.as_millis()).unwrap_or(u64::MAX),
                    peak_memory_bytes: s.metrics.peak_memory_bytes,
                    cpu_ms: s.metrics.cpu_ms,
                })
                .collect(),
        };
        serde_json::to_string(&doc).unwrap_or_default()
    }
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
    error: Option<&'a str>,
    duration_ms: u64,
    peak_memory_bytes: u64,
    cpu_ms: u64,
}

/// Compiles into this process's compile-once cache the entry module of each distinct plugin of
/// the process-tier steps `pick` selects, as its worker will ask for it (the same name and
/// text the broker serves), so that the worker's first request is served from the cache
/// instead of a compile on the step's path (issue 23). Only ES modules in `.js`/`.mjs` files:
/// a TypeScript entry is compiled per step by the broker, a CommonJS one is wrapped by the
/// worker. A module that does not compile is not kept: the worker compiles it again and the
/// step fails with its error (file:line:col) as before. Its memory is held to the step's
/// ceiling, as the broker's own compile is.
fn compile_entries(ws: &Workspace, pick: impl Fn(usize) -> bool) {
    let mut done: Vec<usize> = Vec::new();
    for (i, step) in ws.steps.iter().enumerate() {
        if step.tier != Tier::Process || !pick(i) || done.contains(&step.plugin) {
            continue;
        }
        done.push(step.plugin);
        let info = &ws.plugins[step.plugin];
        let Ok(resolved) = info.bundle.resolve_module(
            &info.manifest.main,
            None,
            aether_host::resolve::ResolveMode::Import,
        ) else {
            continue;
        };
        let script = resolved.name.ends_with(".js") || resolved.name.ends_with(".mjs");
        if resolved.kind != aether_policy::ModuleKind::Esm || !script {
            continue;
        }
        let Ok(source) = std::str::from_utf8(&resolved.bytes) else {
            continue;
        };
        let memory = usize::try_from(step.grant.limits().memory.bytes()).unwrap_or(usize::MAX);
        // Kept in the cache, or not at all: either way the worker gets what it got before.
        let _ = aether_sandbox::compile_module(&resolved.name, source, memory);
    }
}

/// A run id unique enough to tell runs apart in reports: time and process id.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}
