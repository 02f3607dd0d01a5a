//! The only crate that runs plugin JavaScript (the "thread" isolation tier).
//!
//! [`run_step`] runs one step's plugin in a fresh QuickJS runtime and context on a dedicated
//! thread, under the step's [`Limits`], and supervises it from the calling thread.
//!
//! What it enforces:
//! - **No capability on the engine side.** Every file, environment or module access is a
//!   [`HostRequest`](aether_protocol::HostRequest) handed to the [`Host`]; this crate never touches
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

pub use aether_protocol::{Limits, Sample, Sampler, StepError, StepOutcome, StepSpec};

use aether_protocol::Host;

use crate::gate::{Gate, Kill, Shared};

/// How long the supervisor waits past the deadline for the engine thread to report on its own
/// before it abandons it. The interrupt handler normally stops JavaScript within about 1 ms of
/// the deadline; this grace only absorbs scheduling jitter, and keeps a timed-out step within
/// SPEC §6's 100 ms of its deadline.
pub const TIMEOUT_GRACE: Duration = Duration::from_millis(50);

/// The engine thread's native stack. It must hold [`Limits::stack`] of JavaScript stack plus the
/// Rust and C frames around it; the memory is only reserved address space until touched.
const ENGINE_THREAD_MIN_STACK: usize = 8 * 1024 * 1024;

/// [`Limits::stack`] in bytes, for QuickJS (saturating: a ceiling above the address space is
/// no ceiling).
pub(crate) fn js_stack(limits: &Limits) -> usize {
    usize::try_from(limits.stack.bytes()).unwrap_or(usize::MAX)
}

/// The engine thread's native stack for `limits`: 4 times the JavaScript stack, at least
/// [`ENGINE_THREAD_MIN_STACK`].
fn engine_thread_stack(limits: &Limits) -> usize {
    ENGINE_THREAD_MIN_STACK.max(js_stack(limits).saturating_mul(4))
}

/// Compiles, once per process, what every sandbox reuses (the bytecode of the JavaScript half
/// of the bindings). Optional: the first step does it otherwise. A process that forks
/// sandboxes calls it (or [`prepare_part`]) before forking, so that no child repeats it.
pub fn prepare() {
    let mut part = 0;
    while prepare_part(part) {
        part += 1;
    }
}

/// Compiles, once per process, part `part` of what [`prepare`] compiles, and returns whether
/// there was such a part (`false` from the first index past the last). Part 0 is what every
/// sandbox evaluates; the others (the lazy globals' scripts: the prelude, the web globals,
/// streams, `Intl`, WebAssembly) only serve plugins that use them, in that order. A process
/// that forks sandboxes can compile part 0 before its first fork and the rest before a later
/// one (the process tier's zygote: before its second): a sandbox that needs a part not compiled
/// yet compiles it itself, as in a process that never called this.
pub fn prepare_part(part: usize) -> bool {
    bindings::prepare_part(part)
}

/// Starts an engine thread for a later step held to `limits` and leaves it idle (it exits
/// after a while unused): a process that runs one step later (a process-tier worker forked
/// ahead of its step) pays the thread's start and first stack touch before the step instead of
/// in it. Errors only when no thread could be started.
pub fn warm_engine_thread(limits: &Limits) -> std::io::Result<()> {
    pool::spawn(engine_thread_stack(limits), Box::new(|| {}))
}

/// The native stack an engine for `limits` runs on ([`run_step`] gives its thread this much): 4
/// times [`Limits::stack`], at least 8 MiB. A caller of [`run_step_on_this_thread`] must have
/// this much stack left below its frame.
pub fn engine_stack(limits: &Limits) -> usize {
    engine_thread_stack(limits)
}

/// Runs one step's plugin like [`run_step`], but on the calling thread, and leaves the engine's
/// memory allocated: for a process that runs one step and is then killed (a process-tier
/// worker), where a thread of its own (its stack, its allocator arena, the switches to and from
/// it) and freeing a heap the process's end frees anyway cost more than a trivial step.
///
/// Every limit holds as in [`run_step`] for the plugin's JavaScript: memory through the metering
/// allocator, the deadline through the interrupt handler. What it cannot do is abandon a native
/// call that ignores the interrupt: the caller's own supervisor must bound the step (aether kills
/// a worker at its deadline). The calling thread's stack must hold [`engine_stack`] bytes below
/// the current frame.
pub fn run_step_on_this_thread(spec: StepSpec, host: Arc<dyn Host + 'static>) -> StepOutcome {
    let start = Instant::now();
    let limits = spec.limits;
    let deadline = aether_policy::deadline_after(start, limits.timeout);
    let prepared = engine::take_prepared();
    let (shared, gate) = match &prepared {
        Some(prepared) => {
            // The bindings were installed before the step over this gate: it gets the step's
            // ceiling, deadline and host now, once (a binding called before this failed closed).
            prepared.meter.set_ceiling(limits.memory.bytes());
            let gate = Arc::clone(&prepared.gate);
            if !(gate.shared.arm(deadline) && gate.arm(host)) {
                return StepOutcome {
                    result: Err(StepError::Engine {
                        message: "the prepared sandbox already served a step".to_owned(),
                    }),
                    peak_memory_bytes: prepared.meter.peak(),
                    cpu_ms: 0,
                    duration: start.elapsed(),
                    samples: Vec::new(),
                };
            }
            (Arc::clone(&gate.shared), gate)
        }
        None => {
            let shared = Arc::new(Shared::new(deadline, limits.memory.bytes()));
            let gate = Arc::new(Gate::new(host, Arc::clone(&shared)));
            (shared, gate)
        }
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine::run(
            spec,
            Arc::clone(&gate),
            tx,
            engine::Teardown::Leave,
            prepared,
        );
    }));
    gate.revoke();
    let report = match (ran, rx.try_recv()) {
        (Ok(()), Ok(report)) => report,
        (Err(panic), _) => engine::Report {
            result: Err(StepError::Engine {
                message: aether_protocol::panic_message(panic.as_ref())
                    .unwrap_or_else(|| "the engine panicked".into()),
            }),
            cpu: Duration::ZERO,
        },
        (Ok(()), Err(_)) => engine::Report {
            result: Err(StepError::Engine {
                message: "the engine ended without a result".to_owned(),
            }),
            cpu: Duration::ZERO,
        },
    };
    StepOutcome {
        result: report.result,
        peak_memory_bytes: shared.meter.peak(),
        cpu_ms: report.cpu.as_millis().try_into().unwrap_or(u64::MAX),
        duration: start.elapsed(),
        samples: Vec::new(),
    }
}

/// Makes a runtime and context with the ECMAScript built-ins and the bindings on the calling
/// thread, for the next [`run_step_on_this_thread`] on it, or on the single thread of a process
/// forked from it after this call (the process tier's zygote: every worker starts with its own
/// copy on write of them, and only sets the step's limits, deadline and host). No plugin code
/// runs in them before that step, only the bindings' own; until the step gives them its host,
/// every binding fails closed (no host exists to reach). Their allocations count against that
/// step's memory ceiling, as those of an engine made for the step do. The bindings' stub is
/// compiled in this context itself, unless [`prepare_part`]`(0)` compiled its bytecode before:
/// a process that makes this one engine needs no bytecode copy of it (issue 23). Its bytecode
/// then sits in the engine's own heap, not in the process's copy: about 6 KiB more counted
/// against the step than an engine that loads the process's bytecode.
pub fn prepare_engine() {
    engine::prepare();
}

/// Whether this process has compiled the bindings' stub into bytecode ([`prepare_part`]`(0)`,
/// or an engine made for a step): tests of the process tier's zygote, which should not.
#[doc(hidden)]
pub fn stub_bytecode_compiled() -> bool {
    bindings::stub_bytecode_compiled()
}

/// Runs the CPU-feature detection of the hash and cipher implementations now (SHA-1, SHA-2,
/// AES, GHASH), once for the process: `cpufeatures` keeps each answer in a static, so a process
/// forked after this call (a process-tier worker, from its zygote) inherits the answers instead
/// of running `cpuid` again. Every worker hashes its module's key with SHA-256, and on a virtual
/// machine each `cpuid` traps to the hypervisor (about 11 µs a worker, issue 23). Hashes and
/// keys nothing that is kept.
pub fn detect_cpu_features() {
    use aes_gcm::KeyInit;
    use sha2::Digest;
    let _ = sha1::Sha1::digest([]);
    let _ = sha2::Sha256::digest([]);
    let _ = sha2::Sha512::digest([]);
    let _ = aes_gcm::Aes128Gcm::new(&Default::default());
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
    let shared = Arc::new(Shared::new(deadline, limits.memory.bytes()));
    let gate = Arc::new(Gate::new(host, Arc::clone(&shared)));

    let (tx, rx) = mpsc::sync_channel(1);
    let thread_gate = Arc::clone(&gate);
    let stack = engine_thread_stack(&limits);
    let job = Box::new(move || {
        let on_panic = tx.clone();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine::run(spec, thread_gate, tx, engine::Teardown::Free, None);
        }));
        if let Err(panic) = ran {
            let message = aether_protocol::panic_message(panic.as_ref())
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
