//! Events out: what a run or a plugin call hands its host while it goes.
//!
//! A [`Subscriber`] receives every capability event and violation (the records of
//! `events.jsonl`), every line a plugin logs, step progress and warnings. Its methods are
//! called from the threads that run steps, possibly at once, and must not block for long: a
//! step waits while its event is handed over. Every method has an empty default, so a host
//! implements only what it wants.
//!
//! Text a plugin controls (log lines, event targets and reasons) reaches a subscriber as the
//! plugin wrote it: escape it with [`crate::escape_untrusted`] before it reaches a terminal or
//! HTML.

use std::sync::mpsc;

use aether_host::events::Event;
use aether_pipeline::StepRecord;

use crate::runner::Metrics;

/// Receives a run's or a call's events as they happen.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts violations.
/// #[derive(Default)]
/// struct Violations(AtomicU64);
///
/// impl aether::Subscriber for Violations {
///     fn event(&self, event: &aether::Event) {
///         if event.decision.is_violation() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// # let _ = Violations::default();
/// ```
pub trait Subscriber: Send + Sync {
    /// A capability use or violation, exactly as it is written to `events.jsonl` (its text
    /// already bounded in size). Called once per event, repeats included.
    fn event(&self, event: &Event) {
        let _ = event;
    }

    /// One line a plugin logged (`console.log` and friends): `level` is `log`, `info`, `warn`,
    /// `error` or `debug`. At most 1 MiB of log per step is handed over
    /// (`aether_host::events::MAX_LOG_BYTES_PER_STEP`); then [`Subscriber::log_dropped`].
    fn log(&self, step: &str, level: &str, line: &str) {
        let _ = (step, level, line);
    }

    /// `step` logged more than its 1 MiB: its further log output is dropped (called once).
    fn log_dropped(&self, step: &str) {
        let _ = step;
    }

    /// Step `index` (id `step`) is about to run (pipeline runs only).
    fn step_started(&self, index: usize, step: &str) {
        let _ = (index, step);
    }

    /// Step `index` (id `step`) reached its final state (pipeline runs only; exactly once).
    fn step_finished(&self, index: usize, step: &str, record: &StepRecord<Metrics>) {
        let _ = (index, step, record);
    }

    /// Something the run could not do as asked and went on without (a pipeline run, before
    /// its first step).
    fn warning(&self, warning: &Warning) {
        let _ = warning;
    }
}

/// A subscriber that ignores everything.
impl Subscriber for () {}

/// What a run went on without.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// The run is unsafe ([`crate::RunOptions::unsafe_run`]): no checks, no limits.
    #[error(
        "--unsafe: no permission checks, no memory or time limits, no execution windows; plugins run with aether's full authority (would-be violations are still recorded)"
    )]
    Unsafe,
    /// `AETHER_COMPILE_CACHE` could not be followed as given (the message says why).
    #[error("{0}")]
    CompileCache(String),
}

/// One thing a run hands a channel subscriber ([`ChannelSubscriber`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunEvent {
    /// [`Subscriber::event`].
    Event(Box<Event>),
    /// [`Subscriber::log`].
    Log {
        /// The step's id.
        step: String,
        /// `log`, `info`, `warn`, `error` or `debug`.
        level: String,
        /// The line, as the plugin wrote it.
        line: String,
    },
    /// [`Subscriber::step_started`].
    StepStarted {
        /// The step's index in the pipeline.
        index: usize,
        /// The step's id.
        step: String,
    },
    /// [`Subscriber::step_finished`].
    StepFinished {
        /// The step's index in the pipeline.
        index: usize,
        /// The step's id.
        step: String,
        /// How it ended.
        status: aether_pipeline::StepStatus,
    },
    /// [`Subscriber::warning`].
    Warning(Warning),
}

/// A [`Subscriber`] sending everything down a channel, for a host that reads events on
/// another thread. Sending never blocks (the channel is unbounded); a closed receiver drops
/// the events.
///
/// ```
/// let (subscriber, events) = aether::ChannelSubscriber::new();
/// aether::Subscriber::log(&subscriber, "fetch", "info", "hello");
/// assert!(matches!(events.recv(), Ok(aether::RunEvent::Log { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSubscriber(mpsc::Sender<RunEvent>);

impl ChannelSubscriber {
    /// A subscriber and the receiving end of its channel.
    pub fn new() -> (ChannelSubscriber, mpsc::Receiver<RunEvent>) {
        let (tx, rx) = mpsc::channel();
        (ChannelSubscriber(tx), rx)
    }

    fn send(&self, event: RunEvent) {
        let _ = self.0.send(event);
    }
}

impl Subscriber for ChannelSubscriber {
    fn event(&self, event: &Event) {
        self.send(RunEvent::Event(Box::new(event.clone())));
    }

    fn log(&self, step: &str, level: &str, line: &str) {
        self.send(RunEvent::Log {
            step: step.to_owned(),
            level: level.to_owned(),
            line: line.to_owned(),
        });
    }

    fn step_started(&self, index: usize, step: &str) {
        self.send(RunEvent::StepStarted {
            index,
            step: step.to_owned(),
        });
    }

    fn step_finished(&self, index: usize, step: &str, record: &StepRecord<Metrics>) {
        self.send(RunEvent::StepFinished {
            index,
            step: step.to_owned(),
            status: record.status,
        });
    }

    fn warning(&self, warning: &Warning) {
        self.send(RunEvent::Warning(warning.clone()));
    }
}

/// A [`Subscriber`] emitting everything as [`tracing`] events (feature `tracing`), target
/// `aether`: violations at `WARN`, allowed uses at `DEBUG`, plugin logs at the level the
/// plugin chose (`log` and `info` at `INFO`), progress at `INFO`, warnings at `WARN`. Fields are
/// structured (`step`, `plugin`, `capability`, `decision`, `event_target`, `reason`); text a plugin
/// controls is recorded as it wrote it, for the host's own formatter to escape.
///
/// ```
/// let sandbox = aether::Sandbox::builder()
///     .subscriber(std::sync::Arc::new(aether::TracingSubscriber))
///     .build()?;
/// # let _ = sandbox;
/// # Ok::<(), aether::BuildError>(())
/// ```
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSubscriber;

#[cfg(feature = "tracing")]
impl Subscriber for TracingSubscriber {
    fn event(&self, event: &Event) {
        let (capability, decision) = (event.capability.to_string(), event.decision.to_string());
        if event.decision.is_violation() {
            tracing::warn!(target: "aether", step = %event.step, plugin = %event.plugin,
                capability = %capability, decision = %decision, event_target = %event.target,
                reason = %event.reason, "violation");
        } else {
            tracing::debug!(target: "aether", step = %event.step, plugin = %event.plugin,
                capability = %capability, decision = %decision, event_target = %event.target,
                "capability used");
        }
    }

    fn log(&self, step: &str, level: &str, line: &str) {
        match level {
            "error" => tracing::error!(target: "aether::plugin", step, "{line}"),
            "warn" => tracing::warn!(target: "aether::plugin", step, "{line}"),
            "debug" => tracing::debug!(target: "aether::plugin", step, "{line}"),
            _ => tracing::info!(target: "aether::plugin", step, "{line}"),
        }
    }

    fn log_dropped(&self, step: &str) {
        tracing::warn!(target: "aether::plugin", step, "the step logged more than 1 MiB: its further log output is dropped");
    }

    fn step_started(&self, index: usize, step: &str) {
        tracing::info!(target: "aether", index, step, "step started");
    }

    fn step_finished(&self, index: usize, step: &str, record: &StepRecord<Metrics>) {
        tracing::info!(target: "aether", index, step, status = record.status.as_str(),
            error = ?record.error.as_ref().map(ToString::to_string), "step finished");
    }

    fn warning(&self, warning: &Warning) {
        tracing::warn!(target: "aether", "{warning}");
    }
}
