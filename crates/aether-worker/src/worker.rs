//! The worker's side: confine, read the step, run it in the engine with a [`Host`] that
//! forwards every call to aether over the socket, send the result, and wait to be killed.
//!
//! Nothing here is trusted by aether: this code runs next to the plugin, and a compromised
//! engine may replace it entirely. It only has to be correct for honest plugins.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use aether_host::{Host, HostError, HostRequest, HostValue};
use aether_policy::Capability;
use aether_sandbox::{StepSpec, run_step};

use crate::wire::{self, FromWorker, ToWorker};
use crate::zygote::SpawnRequest;

/// The largest frame a worker accepts from aether: module sources and file contents, bounded
/// by the address space the worker may use anyway.
fn max_incoming(request: SpawnRequest) -> usize {
    usize::try_from(request.address_space).unwrap_or(usize::MAX)
}

/// The worker's life, in the child the zygote forked. Never returns.
pub(crate) fn worker_main(socket: OwnedFd, request: SpawnRequest) -> ! {
    let code = match serve(socket, request) {
        Ok(()) => 0,
        Err(()) => 1,
    };
    std::process::exit(code)
}

fn serve(socket: OwnedFd, request: SpawnRequest) -> Result<(), ()> {
    // One descriptor for both directions (`&UnixStream` reads and writes): duplicating it
    // would need `fcntl`, which the zygote's filter does not allow.
    let stream = Arc::new(UnixStream::from(socket));
    crate::confine::worker(request).map_err(|_| ())?;
    let max = max_incoming(request);
    let ToWorker::Start(start) = wire::read_frame(&mut &*stream, max).map_err(|_| ())? else {
        return Err(());
    };
    let input = serde_json::from_str(&start.input).map_err(|_| ())?;
    let context = serde_json::from_str(&start.context).map_err(|_| ())?;
    let host = Arc::new(WorkerHost {
        writer: Mutex::new(()),
        stream: Arc::clone(&stream),
        waiting: Mutex::new(Waiting {
            open: true,
            senders: HashMap::new(),
        }),
        reserved: AtomicU64::new(0),
        next_id: AtomicU64::new(0),
    });
    let replies = Arc::clone(&host);
    std::thread::Builder::new()
        .name("aether-worker-replies".into())
        .spawn(move || {
            while let Ok(ToWorker::Reply {
                id,
                reply,
                reserved,
            }) = wire::read_frame(&mut &*stream, max)
            {
                replies.deliver(id, reply, reserved);
            }
            replies.disconnect();
        })
        .map_err(|_| ())?;

    let outcome = run_step(
        StepSpec {
            main: start.main,
            input,
            context,
            limits: start.limits,
        },
        Arc::clone(&host) as Arc<dyn Host>,
    );
    let done = FromWorker::Done {
        result: outcome.result.map(|value| value.to_string()),
        cpu: std::time::Duration::from_millis(outcome.cpu_ms),
    };
    host.send(&done).map_err(|_| ())?;
    // aether reads this process's accounting, then kills it: wait for that.
    host.wait_disconnected();
    Ok(())
}

struct Waiting {
    open: bool,
    senders: HashMap<u64, SyncSender<Result<HostValue, HostError>>>,
}

/// A [`Host`] that forwards each call to aether and waits for its reply. Calls may come from
/// several threads at once (the sandbox makes slow calls on helper threads).
struct WorkerHost {
    /// Serializes whole frames on the shared socket.
    writer: Mutex<()>,
    stream: Arc<UnixStream>,
    waiting: Mutex<Waiting>,
    reserved: AtomicU64,
    next_id: AtomicU64,
}

/// What a call gets once aether has closed the socket: it ended the step.
fn closed() -> HostError {
    HostError::LimitExceeded {
        capability: Capability::LimitTimeout,
        message: "the step's time is up".into(),
    }
}

impl WorkerHost {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, message: &FromWorker) -> std::io::Result<()> {
        let _whole_frame = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        wire::write_frame(&mut &*self.stream, message)
    }

    fn deliver(&self, id: u64, reply: Result<HostValue, HostError>, reserved: u64) {
        self.reserved.store(reserved, Ordering::Relaxed);
        if let Some(sender) = self.waiting().senders.remove(&id) {
            let _ = sender.send(reply);
        }
    }

    fn disconnect(&self) {
        let mut waiting = self.waiting();
        waiting.open = false;
        waiting.senders.clear();
    }

    fn wait_disconnected(&self) {
        // The reply thread ends (and drops its senders) when aether closes the socket; until
        // then, sleep: aether kills this process as soon as it has read its accounting.
        while self.waiting().open {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Host for WorkerHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut waiting = self.waiting();
            if !waiting.open {
                return Err(closed());
            }
            waiting.senders.insert(id, tx);
        }
        if self.send(&FromWorker::Call { id, request }).is_err() {
            self.waiting().senders.remove(&id);
            return Err(closed());
        }
        rx.recv().unwrap_or_else(|_| Err(closed()))
    }

    fn reserved_bytes(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}
