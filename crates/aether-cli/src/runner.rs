//! Runs a validated workspace: each step's plugin in a sandbox of its own, behind a broker that
//! checks every host call against the step's grant; the overlay is committed only when the step
//! succeeded.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::bundle::PluginBundle;
use aether_host::events::{Event, Recorder};
use aether_pipeline::{Observer, StepOutcome, StepRecord, StepRunner};
use aether_policy::{Capability, Decision, Tier};
use aether_sandbox::{Limits, StepSpec};
use serde_json::json;

use crate::render::terminal_safe;
use crate::workspace::Workspace;

/// What the run measured about one step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics {
    /// Wall-clock time of the step.
    pub duration: Duration,
    /// The engine heap's high-water mark plus the overlay.
    pub peak_memory_bytes: u64,
    /// CPU time of the engine thread.
    pub cpu_ms: u64,
}

/// Collects events and prints step logs (prefixed by step id) to stderr.
#[derive(Default)]
pub struct Collector {
    events: Mutex<Vec<Event>>,
}

impl Collector {
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
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn log(&self, step: &str, level: &str, message: &str) {
        let mut err = std::io::stderr().lock();
        for line in message.lines() {
            let _ = writeln!(
                err,
                "[{step}] {}{}",
                if level == "log" || level == "info" {
                    String::new()
                } else {
                    format!("{level}: ")
                },
                terminal_safe(line)
            );
        }
    }
}

/// The [`StepRunner`] of `aether run`.
pub struct Runner<'a> {
    ws: &'a Workspace,
    bundles: Vec<Arc<PluginBundle>>,
    collector: Arc<Collector>,
    unsafe_run: bool,
}

/// The limits of an `--unsafe` step: none in practice (a year, and all addressable memory).
const UNSAFE_LIMITS: Limits = Limits {
    memory: u64::MAX,
    timeout: Duration::from_secs(365 * 24 * 3600),
    stack: Limits::DEFAULT_STACK,
};

impl<'a> Runner<'a> {
    /// Reads every plugin's files once (the bytes run are the bytes read here).
    /// `unsafe_run` is `--unsafe`, which the caller has checked the policy allows.
    pub fn new(
        ws: &'a Workspace,
        collector: Arc<Collector>,
        unsafe_run: bool,
    ) -> anyhow::Result<Runner<'a>> {
        let bundles = ws
            .plugins
            .iter()
            .map(|p| PluginBundle::load(&p.manifest.dir).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Runner {
            ws,
            bundles,
            collector,
            unsafe_run,
        })
    }
}

impl StepRunner for Runner<'_> {
    type Extra = Metrics;

    fn run(&self, index: usize, input: serde_json::Value) -> StepOutcome<Metrics> {
        let step = &self.ws.steps[index];
        let plugin = &self.ws.plugins[step.plugin];
        let m = &plugin.manifest;
        if step.tier == Tier::Process {
            return StepOutcome::failed(
                format!(
                    "plugin `{}` needs the process isolation tier, which this build does not provide yet; refusing to run it with less",
                    m.name
                ),
                Metrics::default(),
            );
        }
        let mut host = StepHost::new(
            StepIdentity {
                step: step.decl.id.clone(),
                plugin: m.name.clone(),
            },
            step.grant.clone(),
            self.ws.pipeline.workspace.clone(),
            self.bundles[step.plugin].clone(),
            self.collector.clone(),
        );
        if self.unsafe_run {
            host = host.unsafe_mode(aether_policy::UnsafeMode::acknowledge());
        }
        let host = Arc::new(host);
        let limits = step.grant.limits();
        let limits = if self.unsafe_run {
            UNSAFE_LIMITS
        } else {
            Limits {
                memory: limits.memory.0,
                timeout: limits.timeout,
                stack: Limits::DEFAULT_STACK,
            }
        };
        let spec = StepSpec {
            main: m.main.clone(),
            input,
            context: json!({
                "step": step.decl.id,
                "pipeline": self.ws.pipeline.name,
                "plugin": { "name": m.name, "version": m.version.to_string() },
            }),
            limits,
        };
        let outcome = aether_sandbox::run_step(spec, host.clone());
        let metrics = Metrics {
            duration: outcome.duration,
            peak_memory_bytes: outcome.peak_memory_bytes,
            cpu_ms: outcome.cpu_ms,
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
                    });
                }
                StepOutcome::failed(e.to_string(), metrics)
            }
        }
    }
}

/// Prints one line per step as it starts and finishes (plain lines: a progress display would
/// interleave badly with the steps' own logs).
pub struct Progress<'a> {
    /// The workspace, for step ids.
    pub ws: &'a Workspace,
    /// Whether to print at all (`--output json` keeps stderr for logs only).
    pub enabled: bool,
}

impl Observer<Metrics> for Progress<'_> {
    fn started(&self, index: usize) {
        if self.enabled {
            let _ = writeln!(
                std::io::stderr(),
                "▶ {} started",
                self.ws.steps[index].decl.id
            );
        }
    }

    fn finished(&self, index: usize, record: &StepRecord<Metrics>) {
        if !self.enabled {
            return;
        }
        let id = &self.ws.steps[index].decl.id;
        let ms = record.extra.map_or(0, |m| m.duration.as_millis());
        let line = match (&record.status, &record.error) {
            (aether_pipeline::StepStatus::Succeeded, _) => format!("✔ {id} succeeded in {ms} ms"),
            (aether_pipeline::StepStatus::Failed, e) => {
                format!(
                    "✘ {id} failed after {ms} ms: {}",
                    e.as_ref().map(ToString::to_string).unwrap_or_default()
                )
            }
            (aether_pipeline::StepStatus::Skipped, e) => {
                format!(
                    "- {id} {}",
                    e.as_ref().map(ToString::to_string).unwrap_or_default()
                )
            }
        };
        let _ = writeln!(std::io::stderr(), "{}", terminal_safe(&line));
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
