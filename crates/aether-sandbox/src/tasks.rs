//! Slow host calls (`fetch`, child processes): made on threads of their own so that the plugin
//! gets a promise at once and its timers and other promises go on meanwhile (SPEC §5: "as
//! Promises, running on the step's thread without blocking the timeout").
//!
//! The engine thread stays the only one that touches JavaScript: a helper thread only makes the
//! [`HostRequest`] through the [`Gate`] and sends the reply back; the engine's event loop settles
//! the promise. At most [`MAX_IN_FLIGHT`] fetches and child processes, and [`MAX_ACCEPTS`]
//! `accept()`s, run at once; the rest wait in order in their lane. A helper
//! thread still running when the step ends finishes on its own: the host bounds every slow call
//! by the step's deadline, and the gate refuses calls once the plugin is stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use aether_protocol::{HostError, HostRequest, HostValue};
use rquickjs::{Ctx, Function, Promise, Result, Value};

use crate::gate::Gate;

/// Fetches and child processes running at once, per step: enough for a plugin's parallel
/// requests, few enough that `Promise.all` over ten thousand fetches cannot start ten thousand
/// threads.
pub(crate) const MAX_IN_FLIGHT: usize = 8;

/// `accept()`s waiting at once, per step: in a lane of their own, because they wait on clients
/// rather than work, so that pending accepts never hold back a fetch (or each other, up to this
/// many listeners).
pub(crate) const MAX_ACCEPTS: usize = 16;

/// Every slow call a step may have running at once, both lanes together: the process tier's
/// broker takes more as a protocol violation.
pub const MAX_SLOW_CALLS: usize = MAX_IN_FLIGHT + MAX_ACCEPTS;

/// The lanes' limits: fetches and child processes, then accepts.
const LANES: [usize; 2] = [MAX_IN_FLIGHT, MAX_ACCEPTS];

fn lane(request: &HostRequest) -> usize {
    usize::from(matches!(request, HostRequest::Accept { .. }))
}

/// What a pending call costs besides its request: the map entries and the promise's record.
const CALL_OVERHEAD: usize = 128;

type Reply = (u64, usize, std::result::Result<HostValue, HostError>);

/// A finished call: its promise's resolving functions and the host's reply.
pub(crate) struct Done<'js> {
    resolve: Function<'js>,
    reject: Function<'js>,
    reply: std::result::Result<HostValue, HostError>,
}

/// The step's slow calls. Holds JavaScript values: the engine clears it before the context goes.
///
/// Each call counts toward the plugin's memory ceiling until its promise is settled: its
/// request (a fetch body, a child's stdin) is held here, out of the engine's heap, while it
/// waits its turn in a lane. Before, `fetch` with a large body in a loop that never awaited
/// queued copies of it without bound (issue 16).
pub(crate) struct SlowCalls<'js> {
    gate: Arc<Gate>,
    next_id: u64,
    /// Every call whose promise is not settled yet, started or queued, with the bytes it is
    /// charged.
    waiting: HashMap<u64, (Function<'js>, Function<'js>, usize)>,
    /// Per lane ([`LANES`]): calls not started yet, and calls running.
    queued: [VecDeque<(u64, HostRequest)>; 2],
    in_flight: [usize; 2],
    tx: Sender<Reply>,
    rx: Receiver<Reply>,
}

impl<'js> SlowCalls<'js> {
    pub(crate) fn new(gate: &Arc<Gate>) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            gate: Arc::clone(gate),
            next_id: 0,
            waiting: HashMap::new(),
            queued: Default::default(),
            in_flight: [0; 2],
            tx,
            rx,
        }
    }

    /// Starts `request` (or queues it behind [`MAX_IN_FLIGHT`] others) and returns the promise
    /// the engine loop will settle with its reply.
    pub(crate) fn start(&mut self, ctx: &Ctx<'js>, request: HostRequest) -> Result<Promise<'js>> {
        let charge = std::mem::size_of::<HostRequest>()
            + request.payload_bytes()
            + std::mem::size_of::<(u64, (Function<'js>, Function<'js>, usize))>()
            + CALL_OVERHEAD;
        let meter = &self.gate.shared.meter;
        if !meter.admit(charge) {
            return Err(rquickjs::Exception::throw_internal(ctx, "out of memory"));
        }
        meter.add(charge);
        let (promise, resolve, reject) = Promise::new(ctx)?;
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert(id, (resolve, reject, charge));
        let lane = lane(&request);
        self.queued[lane].push_back((id, request));
        self.launch_queued(lane);
        Ok(promise)
    }

    fn launch_queued(&mut self, lane: usize) {
        while self.in_flight[lane] < LANES[lane] {
            let Some((id, request)) = self.queued[lane].pop_front() else {
                return;
            };
            let gate = Arc::clone(&self.gate);
            let tx = self.tx.clone();
            let spawned = std::thread::Builder::new()
                .name("aether-host-call".into())
                .spawn(move || {
                    let _ = tx.send((id, lane, gate.call(request)));
                });
            match spawned {
                Ok(_) => self.in_flight[lane] += 1,
                Err(e) => {
                    let failed = HostError::Failed {
                        type_error: false,
                        message: format!("cannot start the host call: {e}"),
                    };
                    // Counted as running: its reply is already on its way.
                    self.in_flight[lane] += 1;
                    let _ = self.tx.send((id, lane, Err(failed)));
                }
            }
        }
    }

    /// The id the next call will get: the calls a piece of code starts are those between the
    /// marks taken before and after it (an `AbortSignal`'s `fetch`, web.rs).
    pub(crate) fn mark(&self) -> u64 {
        self.next_id
    }

    /// Abandons the calls with ids in `from..to` whose promises are not settled yet: a queued
    /// one is never made; a running one's reply is dropped when it comes (its helper thread
    /// keeps its lane until then, so aborting cannot start more host calls at once than
    /// [`MAX_IN_FLIGHT`]). Their promises never settle; their bytes are given back now.
    pub(crate) fn abandon(&mut self, from: u64, to: u64) {
        let abandoned = |id: u64| (from..to).contains(&id);
        for lane in &mut self.queued {
            lane.retain(|(id, _)| !abandoned(*id));
        }
        let meter = &self.gate.shared.meter;
        self.waiting.retain(|id, (_, _, charge)| {
            let keep = !abandoned(*id);
            if !keep {
                meter.sub(*charge);
            }
            keep
        });
    }

    /// Whether some promise still waits for a reply.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The next finished call, waiting for one at most `wait` (`None`: not at all).
    pub(crate) fn next_done(&mut self, wait: Option<Duration>) -> Option<Done<'js>> {
        let (id, lane, reply) = match wait {
            None => self.rx.try_recv().ok()?,
            Some(wait) => match self.rx.recv_timeout(wait) {
                Ok(done) => done,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            },
        };
        self.in_flight[lane] = self.in_flight[lane].saturating_sub(1);
        self.launch_queued(lane);
        let (resolve, reject, charge) = self.waiting.remove(&id)?;
        self.gate.shared.meter.sub(charge);
        Some(Done {
            resolve,
            reject,
            reply,
        })
    }

    pub(crate) fn clear(&mut self) {
        for (_, (_, _, charge)) in self.waiting.drain() {
            self.gate.shared.meter.sub(charge);
        }
        self.queued.iter_mut().for_each(VecDeque::clear);
    }
}

impl<'js> Done<'js> {
    /// Settles the promise: resolved with the reply as a JavaScript value, or rejected with the
    /// host error as the JavaScript error SPEC §5 names.
    pub(crate) fn settle(self, ctx: &Ctx<'js>) -> Result<()> {
        match self.reply {
            Ok(value) => {
                let value = crate::bindings::host_value(ctx, value)?;
                self.resolve.call::<_, Value>((value,))?;
            }
            Err(error) => {
                let error = crate::errors::host_error_value(ctx, error)?;
                self.reject.call::<_, Value>((error,))?;
            }
        }
        Ok(())
    }
}
