//! The only crate that runs plugin JavaScript (the "thread" isolation tier).
//!
//! [`run_step`] runs one step's plugin in a fresh QuickJS runtime and context on a dedicated
//! thread, under the step's [`Limits`], and supervises it from the calling thread.
//!
//! What it enforces:
//! - **No capability on the engine side.** Every file, environment or module access is a
//!   [`HostRequest`](aether_host::HostRequest) handed to the [`Host`]; this crate never touches
//!   the filesystem, the environment or the network itself. The engine code does not know how the
//!   host is implemented (a direct call here, a socket in the process tier later).
//! - **Memory**: every engine allocation goes through a metering allocator that refuses to grow
//!   past `limits.memory - host.reserved_bytes()`; the first refusal stops the plugin for good,
//!   even if it catches the out-of-memory error.
//! - **Time**: an interrupt handler stops JavaScript at the deadline (loops, regular expressions,
//!   promise loops); the supervisor returns [`StepError::Timeout`] at the deadline plus
//!   [`TIMEOUT_GRACE`] whatever the engine thread is doing, abandoning it if a native call
//!   ignores the interrupt, and revoking its access to the host.
//! - **Isolation**: nothing is shared between steps: each gets its own runtime, heap and globals.
//!
//! What it must never do: perform a capability itself, expose a host object to JavaScript other
//! than through the frozen `aether` bindings, or let a plugin outlive its step's host access.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod bindings;
mod cjs;
mod compiled;
mod encoding;
mod engine;
mod errors;
mod gate;
mod intl;
mod lazy;
mod loader;
mod pool;
mod streams;
mod subtle;
mod sys;
mod tasks;
mod wasm;
mod web;

pub use compiled::{
    CompileCache, CompileStats, CompiledModule, MAX_CACHED_BYTES, compile_module, compile_stats,
    engine_build, install_compiled_module_unchecked, kept_module, set_bytecode_store_unchecked,
    set_compile_cache,
};
pub use tasks::MAX_SLOW_CALLS;
pub use wasm::limit_memory_reservations;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aether_host::Host;
use serde_json::value::RawValue;

use crate::gate::{Gate, Kill, Shared};

/// How long the supervisor waits past the deadline for the engine thread to report on its own
/// before it abandons it. The interrupt handler normally stops JavaScript within about 1 ms of
/// the deadline; this grace only absorbs scheduling jitter, and keeps a timed-out step within
/// SPEC §6's 100 ms of its deadline.
pub const TIMEOUT_GRACE: Duration = Duration::from_millis(50);

/// The engine thread's native stack. It must hold [`Limits::stack`] of JavaScript stack plus the
/// Rust and C frames around it; the memory is only reserved address space until touched.
const ENGINE_THREAD_MIN_STACK: usize = 8 * 1024 * 1024;

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
    /// The step's resource limits.
    pub limits: Limits,
    /// Whether to sample the step's memory and CPU while it runs ([`StepOutcome::samples`],
    /// for `--inspect-security`). Off: no sampling work at all.
    pub sample: bool,
}

/// A step's resource limits (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The memory ceiling in bytes: the engine's heap (every QuickJS allocation, including the
    /// runtime itself, about 200 KiB before the plugin runs) plus the bytes the host holds for the
    /// plugin ([`Host::reserved_bytes`], e.g. the overlay). Not covered: transient Rust buffers
    /// during a single host call, and the engine thread's native stack. Default 256 MiB.
    pub memory: u64,
    /// Wall-clock time from [`run_step`]'s call to the step's result, engine start-up included.
    /// Default 30 s.
    pub timeout: Duration,
    /// The JavaScript stack ceiling in bytes (QuickJS `set_max_stack_size`, measured on the
    /// engine thread's native stack, where QuickJS keeps its JavaScript frames): deeper recursion
    /// throws a catchable `RangeError` ("Maximum call stack size exceeded") instead of
    /// overflowing the native stack. Default 12 MiB, so that simple recursion goes at least as
    /// deep as in Node 20 with its default `--stack-size` (see [`Limits::DEFAULT_STACK`]). The
    /// engine thread's native stack is sized from it (4 times it, at least 8 MiB: headroom for
    /// the Rust and C frames of host calls made at the deepest point). Not counted in
    /// [`Limits::memory`]: it is reserved address space, touched only as deep as the plugin
    /// recurses.
    pub stack: usize,
}

impl Limits {
    /// 256 MiB.
    pub const DEFAULT_MEMORY: u64 = 256 * 1024 * 1024;
    /// 30 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// 12 MiB. Measured (issue 15) with `function f(n){return n===0?0:1+f(n-1)}`: Node 20.20
    /// (default stack, 984 KiB) allows about 10,500 frames on a cold first call and 15,700 once
    /// the function is optimized; aether about 18,700 in a release build and 21,200 in the dev
    /// profile, in both tiers. `JSON.parse` of arrays nested 100,000 deep works in both. Past
    /// the ceiling: a catchable `RangeError`. QuickJS's own default (1 MiB, about 1,800 frames)
    /// broke recursive parsers that work in Node. `docs/isolation-tiers.md` has the table.
    pub const DEFAULT_STACK: usize = 12 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: Self::DEFAULT_MEMORY,
            timeout: Self::DEFAULT_TIMEOUT,
            stack: Self::DEFAULT_STACK,
        }
    }
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
    /// Wall-clock time of [`run_step`].
    pub duration: Duration,
    /// Memory and CPU over the step's run, when [`StepSpec::sample`] asked for them.
    pub samples: Vec<Sample>,
}

/// One measurement of a running step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Compiles, once per process, what every sandbox reuses (the bytecode of the JavaScript half
/// of the bindings). Optional: the first step does it otherwise. A process that forks
/// sandboxes (the process tier's zygote) calls it before forking, so that no worker repeats it.
pub fn prepare() {
    bindings::prepare();
}

/// Starts an engine thread for a later step held to `limits` and leaves it idle (it exits
/// after a while unused): a process that runs one step later (a process-tier worker forked
/// ahead of its step) pays the thread's start and first stack touch before the step instead of
/// in it. Errors only when no thread could be started.
pub fn warm_engine_thread(limits: &Limits) -> std::io::Result<()> {
    let stack = ENGINE_THREAD_MIN_STACK.max(limits.stack.saturating_mul(4));
    pool::spawn(stack, Box::new(|| {}))
}

/// Runs one step's plugin in a fresh engine on an engine thread of its own (a warm thread is
/// reused once its previous step is over; an engine never is) and waits for it, at most until
/// the deadline plus [`TIMEOUT_GRACE`].
///
/// Blocking. Never panics on plugin behaviour. On timeout the engine thread is abandoned if it
/// does not stop by itself (a long native call ignores the interrupt handler): its host access
/// is revoked at once (the host `Arc` is dropped by the supervisor and every later call fails),
/// its interrupt handler stops it as soon as it returns to JavaScript, and its memory is freed
/// when it ends. The process tier (a later issue) kills such a worker outright instead.
pub fn run_step(spec: StepSpec, host: Arc<dyn Host + 'static>) -> StepOutcome {
    let start = Instant::now();
    let limits = spec.limits;
    let spec_sample = spec.sample;
    let deadline = aether_policy::deadline_after(start, limits.timeout);
    let shared = Arc::new(Shared::new(deadline, limits.memory));
    let gate = Arc::new(Gate::new(host, Arc::clone(&shared)));

    let (tx, rx) = mpsc::sync_channel(1);
    let thread_gate = Arc::clone(&gate);
    let stack = ENGINE_THREAD_MIN_STACK.max(limits.stack.saturating_mul(4));
    let job = Box::new(move || {
        let on_panic = tx.clone();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine::run(spec, thread_gate, tx);
        }));
        if let Err(panic) = ran {
            let message = aether_host::panic_message(panic.as_ref())
                .unwrap_or_else(|| "the engine thread panicked".into());
            let _ = on_panic.try_send(engine::Report {
                result: Err(StepError::Engine { message }),
                cpu: Duration::ZERO,
            });
        }
    });
    if let Err(e) = pool::spawn(stack, job) {
        return StepOutcome {
            result: Err(StepError::Engine {
                message: format!("cannot start the engine thread: {e}"),
            }),
            peak_memory_bytes: 0,
            cpu_ms: 0,
            duration: start.elapsed(),
            samples: Vec::new(),
        };
    }

    let mut sampler = spec_sample.then(|| Sampler::new(start));
    let received = wait_for_report(&rx, deadline + TIMEOUT_GRACE, sampler.as_mut(), &shared);
    let samples = sampler.map(Sampler::into_samples).unwrap_or_default();
    match received {
        Ok(report) => {
            // The engine thread reports before tearing its runtime down (freeing a large heap
            // can take a while); it is left to finish that on its own.
            StepOutcome {
                result: report.result,
                peak_memory_bytes: shared.meter.peak(),
                cpu_ms: report.cpu.as_millis().try_into().unwrap_or(u64::MAX),
                duration: start.elapsed(),
                samples,
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            shared.kill(Kill::Timeout);
            gate.revoke();
            let cpu = shared
                .engine_cpu()
                .unwrap_or_else(|| start.elapsed())
                .as_millis();
            StepOutcome {
                result: Err(StepError::Timeout {
                    limit: limits.timeout,
                }),
                peak_memory_bytes: shared.meter.peak(),
                cpu_ms: cpu.try_into().unwrap_or(u64::MAX),
                duration: start.elapsed(),
                samples,
            }
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The job was dropped unrun (its thread is gone): panics are reported above.
            gate.revoke();
            let message = "the engine thread ended without a result".to_owned();
            StepOutcome {
                result: Err(StepError::Engine { message }),
                peak_memory_bytes: shared.meter.peak(),
                cpu_ms: 0,
                duration: start.elapsed(),
                samples,
            }
        }
    }
}

/// Waits for the engine's report until `end`, taking samples on the way when asked.
fn wait_for_report(
    rx: &mpsc::Receiver<engine::Report>,
    end: Instant,
    mut sampler: Option<&mut Sampler>,
    shared: &Shared,
) -> Result<engine::Report, mpsc::RecvTimeoutError> {
    loop {
        let now = Instant::now();
        let until = sampler.as_ref().map_or(end, |s| s.due().min(end));
        match rx.recv_timeout(until.saturating_duration_since(now)) {
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < end => {
                if let Some(sampler) = sampler.as_mut() {
                    let cpu = shared.engine_cpu().unwrap_or_default();
                    sampler.record(Instant::now(), shared.meter.current(), cpu);
                }
            }
            other => return other,
        }
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
