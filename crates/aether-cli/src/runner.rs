//! Runs a validated workspace: each step's plugin in a sandbox of its own, behind a broker that
//! checks every host call against the step's grant; the overlay is committed only when the step
//! succeeded.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::events::{Event, Recorder};
use aether_host::gateway::Proxies;
use aether_pipeline::{Observer, StepOutcome, StepRecord, StepRunner, StepStatus};
use aether_policy::{Capability, Decision, Tier};
use aether_sandbox::{Limits, StepSpec};
use aether_worker::Zygote;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use serde_json::json;

use crate::inspect::AuditLog;
use crate::render::terminal_safe;
use crate::workspace::Workspace;

/// What the run measured about one step.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// When the step started, from the run's start.
    pub start: Duration,
    /// Wall-clock time of the step.
    pub duration: Duration,
    /// The engine heap's high-water mark plus the overlay.
    pub peak_memory_bytes: u64,
    /// CPU time of the engine thread.
    pub cpu_ms: u64,
    /// Memory and CPU over the step (with `--inspect-security`).
    pub samples: Vec<aether_sandbox::Sample>,
}

/// Where the run's human output goes: a live display of running steps when stderr is a
/// terminal (lines printed above it), plain lines otherwise.
pub struct Console {
    bars: Option<MultiProgress>,
    running: Mutex<HashMap<usize, ProgressBar>>,
}

impl Console {
    /// A console; `live` asks for the progress display (used only if stderr is a terminal).
    pub fn new(live: bool) -> Console {
        let live = live && std::io::stderr().is_terminal();
        Console {
            bars: live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Prints a line on stderr (above the live display, if any).
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<usize, ProgressBar>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Collects events (streaming them to the audit log, with `--inspect-security`) and prints
/// step logs (prefixed by step id) to the console.
pub struct Collector {
    events: Mutex<Vec<Event>>,
    console: Arc<Console>,
    audit: Option<Arc<AuditLog>>,
}

impl Collector {
    /// A collector printing step logs to `console` and appending every event to `audit`.
    pub fn new(console: Arc<Console>, audit: Option<Arc<AuditLog>>) -> Collector {
        Collector {
            events: Mutex::new(Vec::new()),
            console,
            audit,
        }
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Recorder for Collector {
    fn record(&self, event: Event) {
        if let Some(audit) = &self.audit {
            audit.append(&event);
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn log(&self, step: &str, level: &str, message: &str) {
        let level = match level {
            "log" | "info" => String::new(),
            other => format!("{other}: "),
        };
        for line in message.lines() {
            self.console
                .line(&format!("[{step}] {level}{}", terminal_safe(line)));
        }
    }
}

/// The [`StepRunner`] of `aether run`.
pub struct Runner<'a> {
    ws: &'a Workspace,
    collector: Arc<Collector>,
    options: RunOptions<'a>,
    started: std::time::Instant,
}

/// How a run goes, besides its workspace.
pub struct RunOptions<'a> {
    /// `--unsafe`, which the caller has checked the policy allows.
    pub unsafe_run: bool,
    /// The operator's proxies, for every step's `fetch`.
    pub proxies: Proxies,
    /// Forks the workers of process-tier steps (which fail without it).
    pub zygote: Option<&'a Zygote>,
    /// Sample each step's memory and CPU (`--inspect-security`).
    pub sample: bool,
}

/// The limits of an `--unsafe` step: none in practice (a year, and all addressable memory).
const UNSAFE_LIMITS: Limits = Limits {
    memory: u64::MAX,
    timeout: Duration::from_secs(365 * 24 * 3600),
    stack: Limits::DEFAULT_STACK,
};

impl<'a> Runner<'a> {
    /// A runner of `ws`'s steps, running the plugin files read (and analyzed) when the
    /// workspace was loaded. The run's clock (steps' start offsets) starts now.
    pub fn new(
        ws: &'a Workspace,
        collector: Arc<Collector>,
        options: RunOptions<'a>,
    ) -> Runner<'a> {
        Runner {
            ws,
            collector,
            options,
            started: std::time::Instant::now(),
        }
    }
}

impl StepRunner for Runner<'_> {
    type Extra = Metrics;

    fn run(&self, index: usize, input: serde_json::Value) -> StepOutcome<Metrics> {
        let step = &self.ws.steps[index];
        let plugin = &self.ws.plugins[step.plugin];
        let m = &plugin.manifest;
        let limits = step.grant.limits();
        let limits = if self.options.unsafe_run {
            UNSAFE_LIMITS
        } else {
            Limits {
                memory: limits.memory.0,
                timeout: limits.timeout,
                stack: Limits::DEFAULT_STACK,
            }
        };
        let start = std::time::Instant::now();
        let mut host = StepHost::new(
            StepIdentity {
                step: step.decl.id.clone(),
                plugin: m.name.clone(),
            },
            step.grant.clone(),
            self.ws.pipeline.workspace.clone(),
            plugin.bundle.clone(),
            self.collector.clone(),
        )
        .proxies(self.options.proxies.clone());
        host = host.deadline(aether_policy::deadline_after(start, limits.timeout));
        if self.options.unsafe_run {
            host = host.unsafe_mode(aether_policy::UnsafeMode::acknowledge());
        }
        let host = Arc::new(host);
        let spec = StepSpec {
            main: m.main.clone(),
            input,
            context: json!({
                "step": step.decl.id,
                "pipeline": self.ws.pipeline.name,
                "plugin": { "name": m.name, "version": m.version.to_string() },
            }),
            limits,
            sample: self.options.sample,
        };
        let outcome = match (step.tier, self.options.zygote) {
            (Tier::Thread, _) => aether_sandbox::run_step(spec, host.clone()),
            (Tier::Process, Some(zygote)) => {
                aether_worker::run_in_worker(zygote, spec, host.clone())
            }
            (Tier::Process, None) => {
                return StepOutcome::failed(
                    format!(
                        "step `{}` needs the process isolation tier, which is not running; refusing to run it with less",
                        step.decl.id
                    ),
                    Metrics::default(),
                );
            }
        };
        host.end();
        let metrics = Metrics {
            start: start.saturating_duration_since(self.started),
            duration: outcome.duration,
            peak_memory_bytes: outcome.peak_memory_bytes,
            cpu_ms: outcome.cpu_ms,
            samples: outcome.samples,
        };
        match outcome.result {
            Ok(output) => match host.take_overlay().commit() {
                Ok(_) => StepOutcome::succeeded(output, metrics),
                Err((path, e)) => StepOutcome::failed(
                    format!(
                        "the step succeeded but its write to `{}` could not be committed: {e}",
                        path.display()
                    ),
                    metrics,
                ),
            },
            Err(e) => {
                let (capability, killed) = match &e {
                    aether_sandbox::StepError::Memory { .. } => {
                        (Some(Capability::LimitMemory), true)
                    }
                    aether_sandbox::StepError::Timeout { .. } => {
                        (Some(Capability::LimitTimeout), true)
                    }
                    _ => (None, false),
                };
                if let (Some(capability), true) = (capability, killed) {
                    self.collector.record(Event {
                        time: std::time::SystemTime::now(),
                        step: step.decl.id.clone(),
                        plugin: m.name.clone(),
                        capability,
                        target: step.decl.id.clone(),
                        decision: Decision::Killed,
                        reason: e.to_string(),
                        traffic: None,
                    });
                }
                StepOutcome::failed(e.to_string(), metrics)
            }
        }
    }
}

/// Shows each step as it starts and finishes: a spinner per running step on a terminal, plain
/// lines otherwise.
pub struct Progress<'a> {
    /// The workspace, for step ids.
    pub ws: &'a Workspace,
    /// Where to print.
    pub console: Arc<Console>,
    /// Whether to show progress at all (`--output json` keeps stderr for logs only).
    pub enabled: bool,
}

impl Observer<Metrics> for Progress<'_> {
    fn started(&self, index: usize) {
        if !self.enabled {
            return;
        }
        let id = &self.ws.steps[index].decl.id;
        match &self.console.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_message(format!("{id} running"));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.console.running().insert(index, bar);
            }
            None => self.console.line(&format!("▶ {id} started")),
        }
    }

    fn finished(&self, index: usize, record: &StepRecord<Metrics>) {
        if !self.enabled {
            return;
        }
        if let Some(bar) = self.console.running().remove(&index) {
            bar.finish_and_clear();
        }
        let id = &self.ws.steps[index].decl.id;
        let ms = record.extra.as_ref().map_or(0, |m| m.duration.as_millis());
        let error = record
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let line = match record.status {
            StepStatus::Succeeded => format!("✔ {id} succeeded in {ms} ms"),
            StepStatus::Failed => format!("✘ {id} failed after {ms} ms: {error}"),
            StepStatus::Skipped => format!("- {id} {error}"),
        };
        self.console.line(&terminal_safe(&line));
    }
}

/// Violations counted by capability and decision, for the end-of-run summary.
pub fn violation_counts(events: &[Event]) -> BTreeMap<(Capability, Decision), usize> {
    let mut counts = BTreeMap::new();
    for e in events.iter().filter(|e| e.decision.is_violation()) {
        *counts.entry((e.capability, e.decision)).or_insert(0) += 1;
    }
    counts
}
