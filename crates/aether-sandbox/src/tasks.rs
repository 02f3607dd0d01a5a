//! Slow host calls (`fetch`, child processes): made on threads of their own so that the plugin
//! gets a promise at once and its timers and other promises go on meanwhile (SPEC §5: "as
//! Promises, running on the step's thread without blocking the timeout").
//!
//! The engine thread stays the only one that touches JavaScript: a helper thread only makes the
//! [`HostRequest`] through the [`Gate`] and sends the reply back; the engine's event loop settles
//! the promise. At most [`MAX_IN_FLIGHT`] calls run at once; the rest wait in order. A helper
//! thread still running when the step ends finishes on its own: the host bounds every slow call
//! by the step's deadline, and the gate refuses calls once the plugin is stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use aether_host::{HostError, HostRequest, HostValue};
use rquickjs::{Ctx, Function, Promise, Result, Value};

use crate::gate::Gate;

/// Slow calls running at once, per step: enough for a plugin's parallel requests, few enough
/// that `Promise.all` over ten thousand fetches cannot start ten thousand threads.
pub(crate) const MAX_IN_FLIGHT: usize = 8;

type Reply = (u64, std::result::Result<HostValue, HostError>);

/// A finished call: its promise's resolving functions and the host's reply.
pub(crate) struct Done<'js> {
    resolve: Function<'js>,
    reject: Function<'js>,
    reply: std::result::Result<HostValue, HostError>,
}

/// The step's slow calls. Holds JavaScript values: the engine clears it before the context goes.
pub(crate) struct SlowCalls<'js> {
    gate: Arc<Gate>,
    next_id: u64,
    /// Every call whose promise is not settled yet, started or queued.
    waiting: HashMap<u64, (Function<'js>, Function<'js>)>,
    queued: VecDeque<(u64, HostRequest)>,
    in_flight: usize,
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
            queued: VecDeque::new(),
            in_flight: 0,
            tx,
            rx,
        }
    }

    /// Starts `request` (or queues it behind [`MAX_IN_FLIGHT`] others) and returns the promise
    /// the engine loop will settle with its reply.
    pub(crate) fn start(&mut self, ctx: &Ctx<'js>, request: HostRequest) -> Result<Promise<'js>> {
        let (promise, resolve, reject) = Promise::new(ctx)?;
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert(id, (resolve, reject));
        self.queued.push_back((id, request));
        self.launch_queued();
        Ok(promise)
    }

    fn launch_queued(&mut self) {
        while self.in_flight < MAX_IN_FLIGHT {
            let Some((id, request)) = self.queued.pop_front() else {
                return;
            };
            let gate = Arc::clone(&self.gate);
            let tx = self.tx.clone();
            let spawned = std::thread::Builder::new()
                .name("aether-host-call".into())
                .spawn(move || {
                    let _ = tx.send((id, gate.call(request)));
                });
            match spawned {
                Ok(_) => self.in_flight += 1,
                Err(e) => {
                    let failed = HostError::Failed {
                        type_error: false,
                        message: format!("cannot start the host call: {e}"),
                    };
                    let _ = self.tx.send((id, Err(failed)));
                }
            }
        }
    }

    /// Whether some promise still waits for a reply.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The next finished call, waiting for one at most `wait` (`None`: not at all).
    pub(crate) fn next_done(&mut self, wait: Option<Duration>) -> Option<Done<'js>> {
        let (id, reply) = match wait {
            None => self.rx.try_recv().ok()?,
            Some(wait) => match self.rx.recv_timeout(wait) {
                Ok(done) => done,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            },
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        self.launch_queued();
        let (resolve, reject) = self.waiting.remove(&id)?;
        Some(Done {
            resolve,
            reject,
            reply,
        })
    }

    pub(crate) fn clear(&mut self) {
        self.waiting.clear();
        self.queued.clear();
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
