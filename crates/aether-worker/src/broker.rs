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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aether_host::Host;
use aether_sandbox::{StepError, StepOutcome, StepSpec, TIMEOUT_GRACE};

use crate::wire::{self, FromWorker, Start, ToWorker, WireError};

/// Slow calls (fetch, child processes) a worker may have running at once: what the sandbox
/// itself never exceeds (`aether_sandbox`'s in-flight limit), so more is a protocol violation.
pub const MAX_SLOW_CALLS: usize = 8;

/// Extra bytes a frame from the worker may carry beyond the memory ceiling (message framing,
/// paths, headers).
const FRAME_OVERHEAD: u64 = 1024 * 1024;

/// The kernel's accounting of a worker process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
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
    worker: &dyn WorkerProcess,
    spec: StepSpec,
    host: Arc<dyn Host>,
) -> StepOutcome {
    let started = Instant::now();
    let limits = spec.limits;
    let deadline = started + limits.timeout + TIMEOUT_GRACE;
    let result = serve(socket, spec, &host, deadline);
    let accounting = worker.accounting();
    worker.kill();
    let result = result.and_then(|json| {
        serde_json::from_str(&json).map_err(|e| StepError::Engine {
            message: format!("the worker's output is not valid JSON: {e}"),
        })
    });
    StepOutcome {
        result,
        peak_memory_bytes: accounting.peak_memory_bytes,
        cpu_ms: accounting.cpu.as_millis().try_into().unwrap_or(u64::MAX),
        duration: started.elapsed(),
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
    spec: StepSpec,
    host: &Arc<dyn Host>,
    deadline: Instant,
) -> Result<String, StepError> {
    let max =
        usize::try_from(spec.limits.memory.saturating_add(FRAME_OVERHEAD)).unwrap_or(usize::MAX);
    let setup = |e: io::Error| StepError::Engine {
        message: format!("cannot talk to the worker process: {e}"),
    };
    // A worker that stops reading cannot hold a reply (and so the broker) past the deadline.
    socket
        .set_write_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .map_err(setup)?;
    let mut reader = socket.try_clone().map_err(setup)?;
    let writer = Arc::new(Mutex::new(socket));
    let start = ToWorker::Start(Start {
        main: spec.main,
        input: spec.input.to_string(),
        context: spec.context.to_string(),
        limits: spec.limits,
    });
    send(&writer, &start).map_err(setup)?;

    let (tx, rx) = mpsc::sync_channel::<Result<FromWorker, WireError>>(1);
    std::thread::Builder::new()
        .name("aether-worker-reader".into())
        .spawn(move || {
            loop {
                let frame = wire::read_frame(&mut reader, max);
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(setup)?;

    let mut seen = HashSet::new();
    let slow = Arc::new(AtomicUsize::new(0));
    let timeout = || StepError::Timeout {
        limit: spec.limits.timeout,
    };
    loop {
        // Checked first: a worker that always has a message ready must not outrun it.
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(timeout());
        }
        let message = match rx.recv_timeout(wait) {
            Ok(Ok(message)) => message,
            Ok(Err(error)) => return Err(wire_error(&error)),
            Err(RecvTimeoutError::Timeout) => return Err(timeout()),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(protocol_error("closed its connection"));
            }
        };
        match message {
            FromWorker::Done { result, .. } => return result,
            FromWorker::Call { id, request } => {
                if !seen.insert(id) {
                    return Err(protocol_error(&format!("reused the call id {id}")));
                }
                if request.is_slow() {
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
                            let reply = host.call(request);
                            let reserved = host.reserved_bytes();
                            slow.fetch_sub(1, Ordering::SeqCst);
                            let _ = send(
                                &writer,
                                &ToWorker::Reply {
                                    id,
                                    reply,
                                    reserved,
                                },
                            );
                        })
                        .map_err(setup)?;
                } else {
                    let reply = host.call(request);
                    let reserved = host.reserved_bytes();
                    if send(
                        &writer,
                        &ToWorker::Reply {
                            id,
                            reply,
                            reserved,
                        },
                    )
                    .is_err()
                    {
                        return Err(protocol_error("stopped reading its replies"));
                    }
                }
            }
        }
    }
}

fn send(writer: &Mutex<UnixStream>, message: &ToWorker) -> io::Result<()> {
    let mut socket = writer.lock().unwrap_or_else(PoisonError::into_inner);
    wire::write_frame(&mut *socket, message)
}
