//! The worker's side: confine, read the step, run it in the engine with a [`Host`] that
//! forwards every call to aether over the socket, send the result, and wait to be killed.
//!
//! Nothing here is trusted by aether: this code runs next to the plugin, and a compromised
//! engine may replace it entirely. It only has to be correct for honest plugins.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aether_policy::Capability;
use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{StepSpec, run_step, run_step_on_this_thread};

use crate::ring::{self, RingPeer};
use crate::wire::{self, FromWorker, ToWorker};
use crate::zygote::SpawnRequest;

/// The largest frame a worker accepts from aether: module sources and file contents, bounded
/// by the address space the worker may use anyway.
fn max_incoming(request: SpawnRequest) -> usize {
    usize::try_from(request.address_space).unwrap_or(usize::MAX)
}

/// The worker's life, in the child the zygote forked. Never returns.
pub(crate) fn worker_main(socket: OwnedFd, ring: Option<OwnedFd>, request: SpawnRequest) -> ! {
    let code = match serve(socket, ring, request) {
        Ok(()) => 0,
        Err(()) => 1,
    };
    std::process::exit(code)
}

fn serve(socket: OwnedFd, ring: Option<OwnedFd>, request: SpawnRequest) -> Result<(), ()> {
    // One descriptor for both directions (`&UnixStream` reads and writes): duplicating it
    // would need `fcntl`, which the zygote's filter does not allow.
    let stream = Arc::new(UnixStream::from(socket));
    // Mapped before confinement; without it every call takes the socket.
    let ring = ring.and_then(|fd| RingPeer::map(fd).ok());
    // Before confinement: the worker's filter refuses `setrlimit`.
    let main_stack = crate::sys::grow_main_stack();
    crate::confine::worker(request).map_err(|_| ())?;
    // Forked ahead of its step, for a step whose engine will not fit the main thread's stack:
    // start the engine thread now, off the step's path (the default limits' stack; a step
    // asking for more gets a thread of its own).
    if request == SpawnRequest::POOLED
        && !on_main_thread(&aether_sandbox::Limits::default(), main_stack)
    {
        let _ = aether_sandbox::warm_engine_thread(&aether_sandbox::Limits::default());
    }
    let max = max_incoming(request);
    let mut inbox = wire::FrameReader::new();
    // Asleep at once when aether does not poll (every CPU has a worker to run).
    let first = if ring.as_ref().is_some_and(RingPeer::broker_sleeps) {
        inbox.read_blocking(&stream, max, || Ok(()))
    } else {
        inbox.read(&stream, max, || Ok(()))
    };
    let ToWorker::Start(start) = first.map_err(|_| ())? else {
        return Err(());
    };
    // From here on, an allocation the address-space limit refuses ends the step as a memory
    // kill instead of a crash.
    crate::oom::arm(&*stream, start.limits.memory.bytes());
    // WebAssembly memories reserve what the ceiling allows, not 4 GiB each: `RLIMIT_AS` holds.
    aether_sandbox::limit_memory_reservations(start.limits.memory.bytes());
    // A pooled worker was forked before its limits were known: its cap follows them now.
    let max = max.min(max_incoming(SpawnRequest {
        address_space: start
            .limits
            .memory
            .bytes()
            .saturating_add(crate::ENGINE_ADDRESS_OVERHEAD),
        cpu_seconds: 0,
    }));
    let input = serde_json::value::RawValue::from_string(start.input).map_err(|_| ())?;
    let context = serde_json::from_str(&start.context).map_err(|_| ())?;
    let host = Arc::new(WorkerHost {
        stream,
        max,
        writer: Mutex::new(()),
        reader: Mutex::new(inbox),
        waiting: Mutex::new(Waiting {
            open: true,
            senders: HashMap::new(),
            early: HashMap::new(),
        }),
        reserved: AtomicU64::new(0),
        next_id: AtomicU64::new(0),
        ring,
        ring_busy: Mutex::new(()),
    });
    let here = on_main_thread(&start.limits, main_stack);
    let spec = StepSpec {
        main: start.main,
        input,
        context,
        limits: start.limits,
        // aether samples a worker from outside, through the kernel.
        sample: false,
    };
    let outcome = if here {
        // No engine thread: this process runs one step and is killed after it (issue 23). A
        // native call that ignores the engine's interrupt is bounded by aether, which kills
        // this process at the deadline.
        run_step_on_this_thread(spec, Arc::clone(&host) as Arc<dyn Host>)
    } else {
        run_step(spec, Arc::clone(&host) as Arc<dyn Host>)
    };
    let done = FromWorker::Done {
        result: outcome
            .result
            .map(|text| Box::<str>::from(text).into_string()),
        cpu: std::time::Duration::from_millis(outcome.cpu_ms),
    };
    host.send(&done).map_err(|_| ())?;
    // aether reads this process's accounting, then kills it: wait for that (the socket closes),
    // asleep: polling here only took turns from aether and the other workers (issue 23).
    let mut reading = host.reader.lock().unwrap_or_else(PoisonError::into_inner);
    while host.read_one(&mut reading, true).is_some() {}
    Ok(())
}

/// What the main thread has already used of its stack, at most, when a step starts: the
/// zygote's frames, the worker's and the step's message.
const MAIN_STACK_USED: u64 = 1024 * 1024;

/// Whether a step held to `limits` runs its engine on the main thread, whose stack may grow to
/// `main_stack` bytes: when the engine's stack fits below what is already used.
fn on_main_thread(limits: &aether_sandbox::Limits, main_stack: u64) -> bool {
    let needed = u64::try_from(aether_sandbox::engine_stack(limits)).unwrap_or(u64::MAX);
    needed.saturating_add(MAIN_STACK_USED) <= main_stack
}

struct Waiting {
    open: bool,
    senders: HashMap<u64, SyncSender<Result<HostValue, HostError>>>,
    /// Replies read from the socket before their caller waited there: a ring call whose reply
    /// did not fit the ring registers only once the ring says so.
    early: HashMap<u64, Result<HostValue, HostError>>,
}

/// A [`Host`] that forwards each call to aether and waits for its reply. Calls may come from
/// several threads at once (the sandbox makes slow calls on helper threads).
///
/// There is no reader thread: a caller waiting for its reply reads the socket itself when no
/// other caller is reading (leader/follower), handing other callers' replies to their channels.
/// A synchronous call, the common case, thus costs one round trip and no thread switch.
struct WorkerHost {
    stream: Arc<UnixStream>,
    max: usize,
    /// Serializes whole frames on the shared socket.
    writer: Mutex<()>,
    /// Held by the caller currently reading the socket, with what it has received.
    reader: Mutex<wire::FrameReader>,
    waiting: Mutex<Waiting>,
    reserved: AtomicU64,
    next_id: AtomicU64,
    /// The call ring, if aether set one up: quick calls go through it, one at a time.
    ring: Option<RingPeer>,
    /// Held by the caller whose request is in the ring.
    ring_busy: Mutex<()>,
}

/// What a call gets once aether has closed the socket: it ended the step.
fn closed() -> HostError {
    HostError::LimitExceeded {
        capability: Capability::LimitTimeout,
        message: "the step's time is up".into(),
    }
}

/// How long a caller waits for another reader to hand it its reply before it checks whether it
/// should read itself.
const FOLLOWER_POLL: Duration = Duration::from_millis(1);

impl WorkerHost {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, message: &FromWorker) -> std::io::Result<()> {
        let _whole_frame = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        wire::write_frame(&mut &*self.stream, message)?;
        if let Some(ring) = &self.ring {
            ring.socket_sent();
        }
        Ok(())
    }

    /// Takes a reply the socket or the ring brought: its bytes held and, for a module, the
    /// bytecode aether compiled.
    fn take_reply(
        &self,
        reserved: u64,
        reply: &Result<HostValue, HostError>,
        compiled: Option<aether_sandbox::CompiledModule>,
    ) {
        self.reserved.store(reserved, Ordering::Relaxed);
        if let (Some(compiled), Ok(HostValue::Module { name, source, .. })) = (compiled, reply) {
            // From aether's own process, over this worker's private socket or ring: the one
            // source of bytecode a worker trusts (see the function's `# Security`).
            aether_sandbox::install_compiled_module_unchecked(name, source, compiled);
        }
    }

    /// Makes call `id` through the ring if it is free and the message fits; `None` if it did not
    /// (the caller then uses the socket), else the reply, or `Err(())` when the reply comes on
    /// the socket.
    fn call_through_ring(
        &self,
        id: u64,
        message: &FromWorker,
    ) -> Option<Result<Result<HostValue, HostError>, ()>> {
        let ring = self.ring.as_ref()?;
        let _busy = self.ring_busy.try_lock().ok()?;
        let body = postcard::to_stdvec(message).ok()?;
        let len = u32::try_from(body.len())
            .ok()
            .filter(|_| body.len() <= ring::SLOT)?;
        if ring.post(&body, len) {
            let _whole_frame = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            if wire::write_frame(&mut &*self.stream, &FromWorker::Doorbell).is_err() {
                return Some(Ok(Err(closed())));
            }
        }
        let reply = match ring.wait_reply(Duration::MAX) {
            Some(ring::Reply::Body(body)) => body,
            Some(ring::Reply::OnSocket) => return Some(Err(())),
            None => return Some(Ok(Err(closed()))),
        };
        Some(Ok(match wire::decode::<ToWorker>(&reply) {
            Ok(ToWorker::Reply {
                id: answered,
                reply,
                reserved,
                compiled,
            }) if answered == id => {
                self.take_reply(reserved, &reply, compiled);
                reply
            }
            _ => Err(closed()),
        }))
    }

    /// Reads one reply and hands it to its caller; `None` once the socket is closed or broken
    /// (then every waiting caller gets [`closed`]).
    /// Reads one frame from aether: at once asleep if `blocking`, else polling first.
    fn read_one(&self, inbox: &mut wire::FrameReader, blocking: bool) -> Option<()> {
        let frame = if blocking {
            inbox.read_blocking(&self.stream, self.max, || Ok(()))
        } else {
            inbox.read(&self.stream, self.max, || Ok(()))
        };
        match frame {
            Ok(ToWorker::Reply {
                id,
                reply,
                reserved,
                compiled,
            }) => {
                self.take_reply(reserved, &reply, compiled);
                let mut waiting = self.waiting();
                match waiting.senders.remove(&id) {
                    Some(sender) => {
                        let _ = sender.send(reply);
                    }
                    None => {
                        waiting.early.insert(id, reply);
                    }
                }
                Some(())
            }
            Ok(ToWorker::Start(_)) | Err(_) => {
                let mut waiting = self.waiting();
                waiting.open = false;
                waiting.senders.clear();
                waiting.early.clear();
                None
            }
        }
    }
}

impl Host for WorkerHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = FromWorker::Call { id, request };
        if !matches!(&message, FromWorker::Call { request, .. } if request.is_slow()) {
            if !self.waiting().open {
                return Err(closed());
            }
            match self.call_through_ring(id, &message) {
                Some(Ok(reply)) => return reply,
                // Too large for the slot: the reply comes on the socket.
                Some(Err(())) => return self.await_on_socket(id, None),
                None => {}
            }
        }
        self.await_on_socket(id, Some(&message))
    }

    fn reserved_bytes(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}

impl WorkerHost {
    /// Sends `message` (call `id`) on the socket unless it was sent already, and waits for its
    /// reply there.
    fn await_on_socket(
        &self,
        id: u64,
        message: Option<&FromWorker>,
    ) -> Result<HostValue, HostError> {
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut waiting = self.waiting();
            if !waiting.open {
                return Err(closed());
            }
            // A reply another reader took before this call was waiting for it.
            if let Some(reply) = waiting.early.remove(&id) {
                return reply;
            }
            waiting.senders.insert(id, tx);
        }
        if let Some(message) = message
            && self.send(message).is_err()
        {
            self.waiting().senders.remove(&id);
            return Err(closed());
        }
        loop {
            match rx.try_recv() {
                Ok(reply) => return reply,
                Err(TryRecvError::Disconnected) => return Err(closed()),
                Err(TryRecvError::Empty) => {}
            }
            match self.reader.try_lock() {
                Ok(mut reading) => {
                    // Leader: read until this call's reply has been handed over.
                    loop {
                        match rx.try_recv() {
                            Ok(reply) => return reply,
                            Err(TryRecvError::Disconnected) => return Err(closed()),
                            Err(TryRecvError::Empty) => {}
                        }
                        // Asleep at once when aether does not poll either: every CPU has a
                        // worker to run.
                        let blocking = self.ring.as_ref().is_some_and(RingPeer::broker_sleeps);
                        if self.read_one(&mut reading, blocking).is_none() {
                            return rx.try_recv().unwrap_or_else(|_| Err(closed()));
                        }
                    }
                }
                Err(_) => match rx.recv_timeout(FOLLOWER_POLL) {
                    Ok(reply) => return reply,
                    Err(RecvTimeoutError::Disconnected) => return Err(closed()),
                    Err(RecvTimeoutError::Timeout) => {}
                },
            }
        }
    }
}
