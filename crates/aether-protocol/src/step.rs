//! A step as it crosses between the runner and the engine: what to run ([`StepSpec`]), under
//! which [`Limits`], and what came of it ([`StepOutcome`], [`StepError`], [`Sample`]).
//!
//! Both isolation tiers use these values: the thread tier passes them by value, the process
//! tier sends the spec's parts and the error over the worker socket (serde, postcard). They
//! hold no behaviour beyond formatting an error as SPEC §6 words it and bounding samples.

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use aether_policy::Limits;

/// What to run: one step's plugin.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The entry module's path relative to the plugin directory (as the manifest's `main`). It is
    /// loaded like every other module, through `HostRequest::LoadModule { specifier: main,
    /// referrer: None }`.
    pub main: String,
    /// The step's input, the first argument of the default export, as JSON text: the engine's
    /// own `JSON.parse` reads it, so numbers and lone-surrogate escapes arrive exactly.
    pub input: Box<RawValue>,
    /// `{ step, pipeline, plugin: { name, version } }`: the second argument of the default export.
    pub context: serde_json::Value,
    /// The step's resource limits (the memory ceiling also counts the bytes the host holds for
    /// the plugin, [`Host::reserved_bytes`](crate::Host::reserved_bytes)).
    pub limits: Limits,
    /// Whether to sample the step's memory and CPU while it runs ([`StepOutcome::samples`],
    /// for `--inspect-security`). Off: no sampling work at all.
    pub sample: bool,
}

/// What came of a step.
#[derive(Debug)]
pub struct StepOutcome {
    /// The default export's result exactly as the engine's `JSON.stringify` wrote it (SPEC §4:
    /// every number keeps its value, lone surrogates stay `\uXXXX` escapes), or why there is
    /// none.
    pub result: Result<Box<RawValue>, StepError>,
    /// The high-water mark of engine heap plus host-reserved bytes over the step: exact at the
    /// allocation granularity (it is updated by the metering allocator on every allocation, using
    /// `malloc_usable_size`, and after every host call), not a periodic sample.
    pub peak_memory_bytes: u64,
    /// CPU time of the engine thread (`CLOCK_THREAD_CPUTIME_ID`), engine set-up included.
    pub cpu_ms: u64,
    /// Wall-clock time of the step's run (`aether_sandbox::run_step`, or the worker's).
    pub duration: Duration,
    /// Memory and CPU over the step's run, when [`StepSpec::sample`] asked for them.
    pub samples: Vec<Sample>,
}

/// One measurement of a running step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Milliseconds since the step started.
    pub t_ms: u64,
    /// Engine heap plus host-reserved bytes (thread tier), or resident memory (process tier).
    pub heap_bytes: u64,
    /// CPU time of the engine so far, in milliseconds.
    pub cpu_ms: u64,
}

/// Collects [`Sample`]s at an interval that adapts to the step's length: every millisecond at
/// first, and each time [`Sampler::MAX_SAMPLES`] are held, every other one is dropped and the
/// interval doubles. A short step is sampled densely, a long one with a bounded count (between
/// half and all of `MAX_SAMPLES`, evenly spread).
#[derive(Debug)]
pub struct Sampler {
    start: Instant,
    interval: Duration,
    next: Instant,
    samples: Vec<Sample>,
}

impl Sampler {
    /// The most samples kept per step.
    pub const MAX_SAMPLES: usize = 256;
    /// The longest interval between samples (an hour-long step still gets one every 10 s).
    pub const MAX_INTERVAL: Duration = Duration::from_secs(10);

    /// A sampler for a step starting at `start`.
    pub fn new(start: Instant) -> Sampler {
        let interval = Duration::from_millis(1);
        Sampler {
            start,
            interval,
            next: start + interval,
            samples: Vec::new(),
        }
    }

    /// When the next sample is due.
    pub fn due(&self) -> Instant {
        self.next
    }

    /// Records a measurement taken `now`.
    pub fn record(&mut self, now: Instant, heap_bytes: u64, cpu: Duration) {
        self.samples.push(Sample {
            t_ms: millis(now.saturating_duration_since(self.start)),
            heap_bytes,
            cpu_ms: millis(cpu),
        });
        if self.samples.len() >= Self::MAX_SAMPLES {
            let mut index = 0usize;
            self.samples.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.interval = (self.interval * 2).min(Self::MAX_INTERVAL);
        }
        self.next = now + self.interval;
    }

    /// The samples taken.
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Why a step produced no result. `Display` gives the step's error as SPEC §6 words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StepError {
    /// The plugin went past its memory ceiling (in the engine, or the host reported it).
    #[error("memory limit of {} exceeded", format_bytes(*limit))]
    Memory {
        /// The ceiling, in bytes.
        limit: u64,
    },
    /// The plugin went past its timeout.
    #[error("timeout of {} exceeded", format_duration(*limit))]
    Timeout {
        /// The timeout.
        limit: Duration,
    },
    /// The plugin threw (or its promise rejected) with this error.
    #[error("{message}")]
    Thrown {
        /// `String(error)`, followed by the JavaScript stack when there is one.
        message: String,
    },
    /// The default export's result is not JSON-serializable.
    #[error("the step's output is not JSON-serializable: {message}")]
    Output {
        /// Why (the `JSON.stringify` error).
        message: String,
    },
    /// The entry module, or a module it imports statically, failed to load, parse or link; or it
    /// has no default export function.
    #[error("module `{specifier}` failed to load: {message}")]
    Module {
        /// The entry module's path.
        specifier: String,
        /// The error (a `PermissionDenied` for a denied import, a `SyntaxError`, ...).
        message: String,
    },
    /// The engine itself failed (could not start, or a bug).
    #[error("engine error: {message}")]
    Engine {
        /// What failed.
        message: String,
    },
}

/// `256 MiB`, `1 GiB`, `512 KiB`, `1000 bytes`.
fn format_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

/// `1s`, `500ms`, `1.5s`.
fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_keeps_a_bounded_evenly_spread_count() {
        let start = Instant::now();
        let mut sampler = Sampler::new(start);
        let mut now = start;
        for _ in 0..2_000 {
            now = sampler.due();
            sampler.record(now, 1, Duration::ZERO);
        }
        let samples = sampler.into_samples();
        assert!(samples.len() < Sampler::MAX_SAMPLES && samples.len() >= Sampler::MAX_SAMPLES / 2);
        assert!(samples.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        assert!(
            samples.last().map_or(0, |s| s.t_ms) * 2
                >= now.duration_since(start).as_millis() as u64
        );
    }

    /// The grant's limits and the engine's are one type: nothing converts between them, so a
    /// limit added to one cannot be forgotten by the other (issue 20 item 4).
    #[test]
    fn issue_20_limits_exist_once() {
        use std::any::TypeId;
        assert_eq!(
            TypeId::of::<crate::Limits>(),
            TypeId::of::<aether_policy::Limits>()
        );
    }

    /// The limits' serde form is the worker socket's: plain byte counts and a `Duration`,
    /// exactly as before `Limits` was one type (issue 20 item 4).
    #[test]
    fn issue_20_limits_serialise_as_plain_numbers() {
        let limits = Limits::default();
        assert_eq!(
            serde_json::to_value(limits).unwrap(),
            serde_json::json!({
                "memory": 256u64 * 1024 * 1024,
                "timeout": { "secs": 30, "nanos": 0 },
                "stack": 12u64 * 1024 * 1024,
            })
        );
        let back: Limits =
            serde_json::from_str(r#"{"memory":1024,"timeout":{"secs":2,"nanos":0},"stack":4096}"#)
                .unwrap();
        assert_eq!(back.timeout, Duration::from_secs(2));
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            r#"{"memory":1024,"timeout":{"secs":2,"nanos":0},"stack":4096}"#
        );
    }

    #[test]
    fn limit_errors_read_as_spec_section_6() {
        let memory = StepError::Memory {
            limit: 256 * 1024 * 1024,
        };
        assert_eq!(memory.to_string(), "memory limit of 256 MiB exceeded");
        let timeout = StepError::Timeout {
            limit: Duration::from_secs(1),
        };
        assert_eq!(timeout.to_string(), "timeout of 1s exceeded");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }
}
