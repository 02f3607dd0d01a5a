//! aether's side of a worker: send the step, serve its host calls through the step's [`Host`]
//! (the same broker, checks and providers as the thread tier), and end it.
//!
//! Everything a worker sends is hostile until checked. A frame above the cap, a message that
//! does not decode, a call id used twice, more slow calls at once than the sandbox ever makes,
//! a second `Done`, or a closed socket: the worker is killed and its step fails with a clear
//! error; nothing else is affected. At the deadline (plus the sandbox's grace) the worker is
//! killed whatever it is doing. aether never waits on a worker without a deadline.

use std::collections::HashSet;
use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aether_protocol::{Host, HostValue};
use aether_sandbox::{Sampler, StepError, StepOutcome, StepSpec, TIMEOUT_GRACE};

use crate::ring::{Poll, Ring, RingTooLarge};
use crate::wire::{self, FromWorker, Start, ToWorker, WireError};

/// Slow calls (fetch, child processes, accept) a worker may have running at once: what the
/// sandbox itself never exceeds, so more is a protocol violation.
pub use aether_sandbox::MAX_SLOW_CALLS;

/// Extra bytes a frame from the worker may carry beyond the memory ceiling (message framing,
/// paths, headers).
const FRAME_OVERHEAD: u64 = 1024 * 1024;

/// The kernel's accounting of a worker process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Resident memory now (`VmRSS`), bytes.
    pub memory_bytes: u64,
    /// Peak resident memory (`VmHWM`), bytes.
    pub peak_memory_bytes: u64,
    /// User plus system CPU time of all its threads.
    pub cpu: Duration,
}

/// A running worker, as the broker needs it: read its accounting, kill it.
pub trait WorkerProcess {
    /// The kernel's accounting so far (zero when it cannot be read).
    fn accounting(&self) -> Accounting;
    /// Kills the worker (`SIGKILL`) and all its threads. Idempotent.
    fn kill(&self);
}

/// Runs `spec` in the worker at the other end of `socket` and serves its host calls through
/// `host`, until it reports, breaks the protocol, or reaches the deadline; the worker is killed
/// in every case before this returns.
pub fn supervise(
    socket: UnixStream,
    worker: &(dyn WorkerProcess + Sync),
    spec: StepSpec,
    host: Arc<dyn Host>,
) -> StepOutcome {
    supervise_with_ring(socket, None, worker, spec, host)
}

/// As [`supervise`], with the worker's call ring ([`crate::ring`]) if it has one: its quick
/// calls then come through the ring, checked as strictly as frames on the socket (a length
/// above the slot, a body that does not decode, or anything but a quick call kills the worker).
pub fn supervise_with_ring(
    socket: UnixStream,
    ring: Option<Ring>,
    worker: &(dyn WorkerProcess + Sync),
    spec: StepSpec,
    host: Arc<dyn Host>,
) -> StepOutcome {
    let mut ring = ring;
    supervise_lending(socket, ring.as_mut(), worker, spec, host)
}

/// As [`supervise_with_ring`], with the ring lent: the caller keeps it for a later worker once
/// this one is gone ([`crate::ring::Retired`]).
pub(crate) fn supervise_lending(
    socket: UnixStream,
    ring: Option<&mut Ring>,
    worker: &(dyn WorkerProcess + Sync),
    spec: StepSpec,
    host: Arc<dyn Host>,
) -> StepOutcome {
    let started = Instant::now();
    let limits = spec.limits;
    let deadline = aether_policy::deadline_after(started, limits.timeout) + TIMEOUT_GRACE;
    let sample = spec.sample;
    let done = AtomicBool::new(false);
    // A worker that has reported waits for its socket to close, then exits: hold the socket
    // open until its accounting is read (a zombie's `/proc` shows no memory at all).
    let hold_open = socket.try_clone().ok();
    let (result, samples) = std::thread::scope(|scope| {
        // Sampled from outside, through the kernel: the worker's own numbers are not trusted.
        let sampler = sample.then(|| {
            scope.spawn(|| {
                let mut sampler = Sampler::new(started);
                while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                    std::thread::sleep(sampler.due().saturating_duration_since(Instant::now()));
                    let now = worker.accounting();
                    sampler.record(Instant::now(), now.memory_bytes, now.cpu);
                }
                sampler.into_samples()
            })
        });
        let result = serve(socket, ring, spec, &host, deadline);
        done.store(true, Ordering::Relaxed);
        let samples = sampler.and_then(|s| s.join().ok()).unwrap_or_default();
        (result, samples)
    });
    let accounting = worker.accounting();
    worker.kill();
    drop(hold_open);
    let result = result.and_then(|json| {
        // Kept as text, exactly as the worker's `JSON.stringify` wrote it (SPEC §4).
        serde_json::value::RawValue::from_string(json).map_err(|e| StepError::Engine {
            message: format!("the worker's output is not valid JSON: {e}"),
        })
    });
    StepOutcome {
        result,
        peak_memory_bytes: accounting.peak_memory_bytes,
        cpu_ms: accounting.cpu.as_millis().try_into().unwrap_or(u64::MAX),
        duration: started.elapsed(),
        samples,
    }
}

fn protocol_error(what: &str) -> StepError {
    StepError::Engine {
        message: format!("the worker process {what}; it was killed"),
    }
}

fn wire_error(error: &WireError) -> StepError {
    match error {
        WireError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            protocol_error("ended without a result (it crashed or was killed)")
        }
        other => protocol_error(&format!("sent {other}")),
    }
}

fn serve(
    socket: UnixStream,
    ring: Option<&mut Ring>,
    spec: StepSpec,
    host: &Arc<dyn Host>,
    deadline: Instant,
) -> Result<String, StepError> {
    let max = usize::try_from(spec.limits.memory.bytes().saturating_add(FRAME_OVERHEAD))
        .unwrap_or(usize::MAX);
    let memory = usize::try_from(spec.limits.memory.bytes()).unwrap_or(usize::MAX);
    let setup = |e: io::Error| StepError::Engine {
        message: format!("cannot talk to the worker process: {e}"),
    };
    let timeout = || StepError::Timeout {
        limit: spec.limits.timeout,
    };
    // A worker that stops reading cannot hold a reply (and so the broker) past the deadline.
    socket
        .set_write_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .map_err(setup)?;
    let writer = Arc::new(Writer {
        socket,
        whole_frame: Mutex::new(()),
    });
    let start = ToWorker::Start(Start {
        main: spec.main,
        input: spec.input.get().to_owned(),
        context: spec.context.to_string(),
        limits: spec.limits,
    });
    writer.send(&start).map_err(setup)?;

    // Read on this thread, directly (no reader thread: one thread switch less per call).
    let mut reader = wire::FrameReader::new();
    let mut seen = HashSet::new();
    let slow = Arc::new(AtomicUsize::new(0));
    let mut ring = ring;
    loop {
        // Checked first: a worker that always has a message ready must not outrun it.
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(timeout());
        }
        // The next message: a frame already buffered, else a request in the ring (polled for a
        // short while), else whatever the socket brings (a frame, or the doorbell of a request
        // posted to the ring while this thread sleeps).
        let next = match ring.as_mut() {
            Some(ring) if !reader.has_buffered() => next_from_ring(ring)?,
            _ => Next::Socket,
        };
        let (message, through_ring) = match next {
            Next::Ring(body) => {
                RING_FRAMES.fetch_add(1, Ordering::Relaxed);
                (
                    wire::decode::<FromWorker>(&body).map_err(|e| wire_error(&e))?,
                    true,
                )
            }
            Next::Socket => {
                // The deadline bounds a read only when it blocks: set then, not for every frame.
                let until_deadline = || {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    if wait.is_zero() {
                        return Err(io::Error::from(io::ErrorKind::TimedOut));
                    }
                    writer.socket.set_read_timeout(Some(wait))
                };
                let read = match ring.as_ref() {
                    // The ring was just polled: block at once.
                    Some(_) => {
                        reader.read_blocking::<FromWorker>(&writer.socket, max, until_deadline)
                    }
                    None => reader.read::<FromWorker>(&writer.socket, max, until_deadline),
                };
                if let Some(ring) = ring.as_ref() {
                    ring.awake();
                }
                let message = match read {
                    Ok(message) => message,
                    // A frame cut by the deadline is not finished either: the step is over.
                    Err(WireError::Io(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        return Err(timeout());
                    }
                    Err(error) => return Err(wire_error(&error)),
                };
                SOCKET_FRAMES.fetch_add(1, Ordering::Relaxed);
                (message, false)
            }
        };
        match message {
            FromWorker::Doorbell if !through_ring => {}
            FromWorker::Done { result, .. } if !through_ring => return result,
            FromWorker::Call { id, request } => {
                if !seen.insert(id) {
                    return Err(protocol_error(&format!("reused the call id {id}")));
                }
                if request.is_slow() {
                    if through_ring {
                        // Served synchronously, it would hold this thread past the deadline.
                        return Err(protocol_error(
                            "sent a slow host call through the call ring",
                        ));
                    }
                    if slow.fetch_add(1, Ordering::SeqCst) >= MAX_SLOW_CALLS {
                        return Err(protocol_error(&format!(
                            "made more than {MAX_SLOW_CALLS} slow host calls at once"
                        )));
                    }
                    let (host, writer, slow) =
                        (Arc::clone(host), Arc::clone(&writer), Arc::clone(&slow));
                    std::thread::Builder::new()
                        .name("aether-worker-call".into())
                        .spawn(move || {
                            let reply = host.call_guarded(request);
                            let reserved = host.reserved_bytes();
                            slow.fetch_sub(1, Ordering::SeqCst);
                            let _ = writer.send(&ToWorker::Reply {
                                id,
                                reply,
                                reserved,
                                compiled: None,
                            });
                        })
                        .map_err(setup)?;
                } else {
                    let reply = host.call_guarded(request);
                    let reserved = host.reserved_bytes();
                    let compiled = compiled_module(&reply, memory, deadline);
                    let reply = ToWorker::Reply {
                        id,
                        reply,
                        reserved,
                        compiled,
                    };
                    let sent = match ring.as_ref().filter(|_| through_ring) {
                        Some(ring) => reply_through_ring(ring, &writer, &reply),
                        None => writer.send(&reply),
                    };
                    if sent.is_err() {
                        return Err(protocol_error("stopped reading its replies"));
                    }
                }
            }
            FromWorker::Doorbell | FromWorker::Done { .. } => {
                return Err(protocol_error(
                    "sent a message other than a quick host call through the call ring",
                ));
            }
        }
    }
}

/// Frames served so far by every broker of this process, by transport: evidence for tests and
/// diagnostics that quick calls take the ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Messages read from call rings.
    pub ring: u64,
    /// Frames read from sockets (doorbells included).
    pub socket: u64,
}

static RING_FRAMES: AtomicU64 = AtomicU64::new(0);
static SOCKET_FRAMES: AtomicU64 = AtomicU64::new(0);

/// The counts of messages every broker of this process has read, by transport, since it
/// started.
pub fn frame_counts() -> FrameCounts {
    FrameCounts {
        ring: RING_FRAMES.load(Ordering::Relaxed),
        socket: SOCKET_FRAMES.load(Ordering::Relaxed),
    }
}

/// Where the broker's next message is.
enum Next {
    /// A request's body, copied out of the ring.
    Ring(Vec<u8>),
    /// On the socket (the ring says so, or it has nothing and the broker sleeps on the socket).
    Socket,
}

/// Polls the ring for a short while; if nothing comes, says the broker sleeps (left set until
/// the socket read returns: [`Ring::awake`]).
fn next_from_ring(ring: &mut Ring) -> Result<Next, StepError> {
    let too_large = |e: RingTooLarge| protocol_error(&format!("sent {e}"));
    match ring.spin().map_err(too_large)? {
        Poll::Request(body) => return Ok(Next::Ring(body)),
        Poll::Socket | Poll::Idle => {}
    }
    match ring.sleep().map_err(too_large)? {
        Poll::Request(body) => {
            ring.awake();
            Ok(Next::Ring(body))
        }
        Poll::Socket | Poll::Idle => Ok(Next::Socket),
    }
}

/// Sends `reply` through the ring, or on the socket if it does not fit (the ring then says so).
fn reply_through_ring(ring: &Ring, writer: &Writer, reply: &ToWorker) -> io::Result<()> {
    let body = postcard::to_stdvec(reply).map_err(io::Error::other)?;
    if body.len() <= crate::ring::SLOT {
        ring.reply(Some(&body));
        return Ok(());
    }
    // The ring says "on the socket" first: the worker waits in the ring until then, and a frame
    // larger than the socket's buffer would block this write until the worker reads it.
    ring.reply(None);
    writer.send(reply)
}

/// The bytecode of the ES module `reply` serves, from this process's cache (compiled into it
/// first if need be: every worker of the run that loads the same module gets the same bytes,
/// compiled once), with the compiler's heap held to `memory`. `None` for any other reply, and
/// if compiling is not done by `deadline`: this thread is the step's supervisor and must not
/// overrun it, so the worker then compiles the source itself (and is killed at its deadline
/// as always); the compile finishes on its own thread and is kept for the next worker.
fn compiled_module(
    reply: &Result<HostValue, aether_protocol::HostError>,
    memory: usize,
    deadline: Instant,
) -> Option<aether_sandbox::CompiledModule> {
    let Ok(HostValue::Module {
        name,
        source,
        kind: aether_policy::ModuleKind::Esm,
        ..
    }) = reply
    else {
        return None;
    };
    if let Some(kept) = aether_sandbox::kept_module(name, source) {
        return Some(kept);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (name, source) = (name.clone(), source.clone());
    std::thread::Builder::new()
        .name("aether-compile".into())
        .spawn(move || {
            let _ = tx.send(aether_sandbox::compile_module(&name, &source, memory));
        })
        .ok()?;
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .ok()
        .flatten()
}

/// The broker's end of the socket, written whole frame by whole frame from several threads.
struct Writer {
    socket: UnixStream,
    whole_frame: Mutex<()>,
}

impl Writer {
    fn send(&self, message: &ToWorker) -> io::Result<()> {
        let _frame = self
            .whole_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        wire::write_frame(&mut &self.socket, message)
    }
}
