//! Runs a validated workspace: each step's plugin in a sandbox of its own, behind a broker that
//! checks every host call against the step's grant; the overlay is committed only when the step
//! succeeded.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::events::{
    Event, MAX_LOG_BYTES_PER_STEP, MAX_LOG_MESSAGE_BYTES, Recorder, cap_text,
};
use aether_host::gateway::Proxies;
use aether_pipeline::{Observer, StepOutcome, StepRecord, StepRunner};
use aether_policy::{ByteSize, Capability, Decision, Limits, Tier};
use aether_sandbox::StepSpec;
use aether_worker::Zygote;
use serde_json::json;

use crate::events::Subscriber;
use crate::inspect::AuditLog;
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

/// Distinct events a run keeps in memory for its report and summary, allowed uses and
/// violations each (a flood of allowed uses cannot push the violations out of the report).
/// Every event is still streamed to `events.jsonl` (with `--inspect-security`) and counted;
/// past this many distinct ones of a kind, further events are kept as one record per step,
/// capability and decision. So a plugin calling `aether.env.get` in a loop, or with a new name
/// each time, cannot grow aether's own memory (which no plugin ceiling covers) without bound.
pub const MAX_KEPT_EVENTS: usize = 20_000;

/// An event as a run keeps it: the first of its kind, and how many more came (the same but for
/// their time, or past [`MAX_KEPT_EVENTS`] of the same step, capability and decision).
#[derive(Debug, Clone)]
pub struct Kept {
    /// The first event.
    pub event: Event,
    /// How many more it stands for.
    pub repeats: u64,
    /// Whether it is the record past [`MAX_KEPT_EVENTS`], standing for events whose targets
    /// were not kept.
    pub targets_omitted: bool,
}

/// The events kept so far, with their indexes.
#[derive(Default)]
struct Held {
    kept: Vec<Kept>,
    /// How many of `kept` are distinct events, allowed uses and violations.
    distinct: [usize; 2],
    /// Events without traffic by the hash of what makes them the same ([`same`]), to their
    /// places in `kept`.
    by_hash: HashMap<u64, Vec<usize>>,
    /// Past the limit: each step, capability and decision's one record.
    overflow: HashMap<(String, Capability, Decision), usize>,
    /// Per step id, the bytes of its events in `kept`: charged to its memory ceiling
    /// ([`Recorder::held_bytes`]).
    bytes: HashMap<String, u64>,
}

/// Whether two events count as one (an HTTP exchange never does: its figures differ).
fn same(a: &Event, b: &Event) -> bool {
    a.traffic.is_none()
        && b.traffic.is_none()
        && a.step == b.step
        && a.capability == b.capability
        && a.decision == b.decision
        && a.target == b.target
        && a.reason == b.reason
}

impl Held {
    fn add(&mut self, event: Event) {
        let hash = event.traffic.is_none().then(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (
                &event.step,
                event.capability,
                event.decision,
                &event.target,
                &event.reason,
            )
                .hash(&mut h);
            h.finish()
        });
        if let Some(hash) = hash {
            let places = self
                .by_hash
                .get(&hash)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if let Some(&at) = places
                .iter()
                .find(|&&at| same(&self.kept[at].event, &event))
            {
                self.kept[at].repeats = self.kept[at].repeats.saturating_add(1);
                return;
            }
        }
        let kind = usize::from(event.decision.is_violation());
        if self.distinct[kind] < MAX_KEPT_EVENTS {
            self.distinct[kind] += 1;
            *self.bytes.entry(event.step.clone()).or_default() += event.size_bytes();
            if let Some(hash) = hash {
                self.by_hash.entry(hash).or_default().push(self.kept.len());
            }
            self.kept.push(Kept {
                event,
                repeats: 0,
                targets_omitted: false,
            });
            return;
        }
        let group = (event.step.clone(), event.capability, event.decision);
        if let Some(&at) = self.overflow.get(&group) {
            self.kept[at].repeats = self.kept[at].repeats.saturating_add(1);
            return;
        }
        self.overflow.insert(group, self.kept.len());
        let event = Event {
            target: "(other targets)".into(),
            reason: format!(
                "the run kept {MAX_KEPT_EVENTS} distinct events of this kind in memory; the rest of this \
                 step's are counted here, and each is in events.jsonl with --inspect-security"
            ),
            traffic: None,
            ..event
        };
        self.kept.push(Kept {
            event,
            repeats: 0,
            targets_omitted: true,
        });
    }
}

/// Collects events (streaming them to the audit log, with `--inspect-security`), and hands
/// every event and step log line to a [`Subscriber`].
pub struct Collector {
    events: Mutex<Held>,
    /// Bytes of log each step has printed ([`MAX_LOG_BYTES_PER_STEP`]).
    logged: Mutex<HashMap<String, u64>>,
    subscriber: Arc<dyn Subscriber>,
    audit: Option<Arc<AuditLog>>,
}

impl Collector {
    /// A collector handing events and step logs to `subscriber` and appending every event to
    /// `audit`.
    pub fn new(subscriber: Arc<dyn Subscriber>, audit: Option<Arc<AuditLog>>) -> Collector {
        Collector {
            events: Mutex::new(Held::default()),
            logged: Mutex::new(HashMap::new()),
            subscriber,
            audit,
        }
    }

    /// The events kept so far, in the order they first came.
    pub fn events(&self) -> Vec<Kept> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kept
            .clone()
    }
}

impl Recorder for Collector {
    fn record(&self, event: Event) {
        // Kept and written at a size that does not depend on the plugin (issue 16).
        let event = event.bounded();
        if let Some(audit) = &self.audit {
            audit.append(&event);
        }
        self.subscriber.event(&event);
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(event);
    }

    fn held_bytes(&self, step: &str) -> u64 {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
            .get(step)
            .copied()
            .unwrap_or(0)
    }

    fn log(&self, step: &str, level: &str, message: &str) {
        let message = cap_text(message, MAX_LOG_MESSAGE_BYTES);
        {
            let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
            let bytes = logged.entry(step.to_owned()).or_default();
            let before = *bytes;
            *bytes = bytes.saturating_add(message.len() as u64);
            if before >= MAX_LOG_BYTES_PER_STEP {
                return;
            }
            if *bytes > MAX_LOG_BYTES_PER_STEP {
                self.subscriber.log_dropped(step);
                return;
            }
        }
        for line in message.lines() {
            self.subscriber.log(step, level, line);
        }
    }
}

/// The [`StepRunner`] of a pipeline run.
pub struct Runner<'a> {
    ws: &'a Workspace,
    collector: Arc<Collector>,
    options: RunnerOptions<'a>,
    started: std::time::Instant,
}

/// How a run's steps go, besides their workspace.
pub struct RunnerOptions<'a> {
    /// `--unsafe`, which the caller has checked the policy allows.
    pub unsafe_run: bool,
    /// The operator's proxies, for every step's `fetch`.
    pub proxies: Proxies,
    /// Forks the workers of process-tier steps (which fail without it).
    pub zygote: Option<&'a Zygote>,
    /// Sample each step's memory and CPU (`--inspect-security`).
    pub sample: bool,
    /// "Now" for the execution windows checked when each step starts: the clock of the
    /// run-start check (`jiff::Timestamp::now`, the system's real-time clock) in `aether run`;
    /// tests give a fixed instant. A value, not an environment variable, so that no release
    /// binary reads security-relevant time from anywhere else.
    pub clock: &'a (dyn Fn() -> jiff::Timestamp + Sync),
    /// The values of the secrets the run's steps use, read once when the run starts.
    pub secrets: aether_host::secrets::SecretValues,
    /// Set when the run is cancelled: steps not yet started fail without running.
    pub cancelled: Arc<AtomicBool>,
}

/// The error of a step that did not start because its run was cancelled.
pub const CANCELLED: &str = "the run was cancelled before this step started";

/// The limits of an `--unsafe` step: none in practice (a year, and all addressable memory).
const UNSAFE_LIMITS: Limits = Limits {
    memory: ByteSize(u64::MAX),
    timeout: Duration::from_secs(365 * 24 * 3600),
    stack: Limits::DEFAULT_STACK,
};

impl<'a> Runner<'a> {
    /// A runner of `ws`'s steps, running the plugin files read (and analyzed) when the
    /// workspace was loaded. The run's clock (steps' start offsets) starts now.
    pub fn new(
        ws: &'a Workspace,
        collector: Arc<Collector>,
        options: RunnerOptions<'a>,
    ) -> Runner<'a> {
        Runner {
            ws,
            collector,
            options,
            started: std::time::Instant::now(),
        }
    }
}

impl Runner<'_> {
    /// SPEC §3: a plugin's execution window is checked again when its step starts, since an
    /// earlier (untrusted) step chooses how long it runs. Outside every window that applies, the
    /// step fails before its plugin runs, with the run-start message (the plugin and the next
    /// time it may run), and a `window` violation (`denied`) is recorded. `--unsafe` runs have
    /// no execution windows, at the run's start or a step's.
    fn check_window(&self, index: usize) -> Result<(), String> {
        if self.options.unsafe_run {
            return Ok(());
        }
        let step = &self.ws.steps[index];
        let plugin = &self.ws.plugins[step.plugin];
        let name = &plugin.manifest.name;
        let now = (self.options.clock)();
        aether_policy::check_windows(&self.ws.windows, name, plugin.risk, now).map_err(|refusal| {
            let message = refusal.to_string();
            self.collector.record(Event {
                time: std::time::SystemTime::now(),
                step: step.decl.id.clone(),
                plugin: name.clone(),
                capability: Capability::Window,
                target: name.clone(),
                decision: Decision::Denied,
                reason: message.clone(),
                traffic: None,
            });
            message
        })
    }
}

impl StepRunner for Runner<'_> {
    type Extra = Metrics;

    fn run(&self, index: usize, input: aether_pipeline::JsonText) -> StepOutcome<Metrics> {
        let step = &self.ws.steps[index];
        let plugin = &self.ws.plugins[step.plugin];
        let m = &plugin.manifest;
        if self.options.cancelled.load(Ordering::SeqCst) {
            return StepOutcome::failed(
                CANCELLED,
                Metrics {
                    start: self.started.elapsed(),
                    ..Metrics::default()
                },
            );
        }
        if let Err(message) = self.check_window(index) {
            return StepOutcome::failed(
                message,
                Metrics {
                    start: self.started.elapsed(),
                    ..Metrics::default()
                },
            );
        }
        let limits = if self.options.unsafe_run {
            UNSAFE_LIMITS
        } else {
            step.grant.limits()
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
        .proxies(self.options.proxies.clone())
        .secrets(self.options.secrets.clone());
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
                // A TypeScript module's frames point at its `.ts` line (SPEC §5).
                StepOutcome::failed(host.map_positions(&e.to_string()), metrics)
            }
        }
    }
}

/// Forwards the scheduler's progress to a run's [`Subscriber`].
pub struct Notify<'a> {
    /// The workspace, for step ids.
    pub ws: &'a Workspace,
    /// Where to send it.
    pub subscriber: &'a dyn Subscriber,
}

impl Observer<Metrics> for Notify<'_> {
    fn started(&self, index: usize) {
        self.subscriber
            .step_started(index, &self.ws.steps[index].decl.id);
    }

    fn finished(&self, index: usize, record: &StepRecord<Metrics>) {
        self.subscriber
            .step_finished(index, &self.ws.steps[index].decl.id, record);
    }
}

/// Violations counted by capability and decision, for the end-of-run summary.
pub fn violation_counts(events: &[Kept]) -> BTreeMap<(Capability, Decision), u64> {
    let mut counts = BTreeMap::new();
    for k in events.iter().filter(|k| k.event.decision.is_violation()) {
        *counts
            .entry((k.event.capability, k.event.decision))
            .or_insert(0) += k.repeats + 1;
    }
    counts
}

#[cfg(test)]
mod window_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn event(step: &str, target: &str, decision: Decision) -> Event {
        Event {
            time: std::time::SystemTime::now(),
            step: step.into(),
            plugin: "p".into(),
            capability: Capability::Env,
            target: target.into(),
            decision,
            reason: String::new(),
            traffic: None,
        }
    }

    /// A plugin reading one variable in a loop (or being refused it) costs aether one record.
    #[test]
    fn repeated_events_are_kept_once_and_counted() {
        let mut held = Held::default();
        for _ in 0..100_000 {
            held.add(event("s", "HOME", Decision::Allowed));
            held.add(event("s", "SECRET", Decision::Denied));
        }
        held.add(event("t", "SECRET", Decision::Denied));
        assert_eq!(held.kept.len(), 3);
        assert_eq!(held.kept[0].repeats, 99_999);
        let counts = violation_counts(&held.kept);
        assert_eq!(counts[&(Capability::Env, Decision::Denied)], 100_001);
    }

    /// A plugin asking for a new name each time: past the limit, one record per step,
    /// capability and decision counts the rest, and no count is lost.
    #[test]
    fn distinct_events_past_the_limit_are_counted_not_kept() {
        let mut held = Held::default();
        let n = MAX_KEPT_EVENTS + 5_000;
        for i in 0..n {
            held.add(event("s", &format!("VAR_{i}"), Decision::Denied));
        }
        held.add(event("s", "OTHER", Decision::Allowed));
        assert_eq!(held.kept.len(), MAX_KEPT_EVENTS + 2);
        assert_eq!(held.kept[MAX_KEPT_EVENTS].event.target, "(other targets)");
        assert!(held.kept[MAX_KEPT_EVENTS].targets_omitted);
        assert!(!held.kept[0].targets_omitted);
        let counts = violation_counts(&held.kept);
        assert_eq!(counts[&(Capability::Env, Decision::Denied)], n as u64);
        let all: u64 = held.kept.iter().map(|k| k.repeats + 1).sum();
        assert_eq!(all, n as u64 + 1);
    }

    /// A plugin flooding distinct allowed uses first cannot push its later violations out of
    /// the report: each kind has its own room.
    #[test]
    fn violations_keep_their_room_after_a_flood_of_allowed_uses() {
        let mut held = Held::default();
        for i in 0..MAX_KEPT_EVENTS + 10 {
            held.add(event("s", &format!("OK_{i}"), Decision::Allowed));
        }
        held.add(event("s", "SECRET", Decision::Denied));
        let denied = held
            .kept
            .iter()
            .find(|k| k.event.decision == Decision::Denied)
            .expect("the violation was kept");
        assert_eq!(denied.event.target, "SECRET");
        assert!(!denied.targets_omitted);
    }

    /// HTTP exchanges are never merged: their addresses, statuses and bytes differ.
    #[test]
    fn exchanges_are_kept_each() {
        let mut held = Held::default();
        let traffic = aether_host::events::Traffic {
            address: "127.0.0.1:80".parse().unwrap(),
            status: 200,
            bytes_sent: 0,
            bytes_received: 2,
            inbound: None,
        };
        for _ in 0..3 {
            held.add(Event {
                capability: Capability::Network,
                traffic: Some(traffic.clone()),
                ..event("s", "http://a/", Decision::Allowed)
            });
        }
        assert_eq!(held.kept.len(), 3);
    }
}
