//! Inbound HTTP for `aether.listen` (SPEC §5): aether binds, accepts, parses and answers; the
//! plugin only ever sees parsed requests and hands back a status, headers and a body.
//!
//! A listener is bound only with a [`CheckedListen`] (the grant's witness). One thread per
//! listener accepts connections; one thread per connection reads a single HTTP/1.1 request with
//! `httparse` under [`InboundLimits`] (head size, body size, time to send each, open
//! connections, queued requests), queues it for the plugin's `accept()`, waits for the
//! plugin's `respond()` and writes the response with `Connection: close`. What the limits or
//! the parser refuse is answered here (400, 408, 411, 413, 431, 503) and never reaches the
//! plugin. A request still unanswered when its listener closes or its step ends gets a 503.
//!
//! Every request a listener received is an event before its step ends (issue 15): a refused
//! one is recorded when it is refused (before the lingering close), one still being sent when
//! its listener closes is answered 503 and recorded as cut off, and `Listeners::end` waits
//! (at most [`END_GRACE`]) for the connection threads that still owe their request's event.
//!
//! What it must never do: hand a socket or a file descriptor to the plugin, bind an address
//! without a witness, keep a listener open past its step (`StepHost::end`), or let one slow
//! client hold up the others or the step.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use aether_policy::{Capability, CheckedListen, Decision};

use crate::events::{Event, Inbound, Recorder, Traffic};
use crate::gateway::{FetchError, Framing, check_headers};
use crate::protocol::HostError;

mod accept;
mod limits;
mod parse;

use accept::{accept_loop, cut_off, error_response, frame, status_line};
pub use limits::{END_GRACE, InboundLimits, MAX_RESPONSE_BODY_BYTES};
use parse::Request;

/// A parsed request and the way back to its connection's thread.
struct Incoming {
    request: Request,
    reply: SyncSender<Vec<u8>>,
}

/// A request handed to the plugin, waiting for its `respond()`.
struct Held {
    local: SocketAddr,
    peer: SocketAddr,
    method: String,
    path: String,
    bytes_received: u64,
    reply: SyncSender<Vec<u8>>,
}

/// Who the events are about, and where they go.
#[derive(Clone)]
pub(crate) struct Tap {
    pub(crate) recorder: Arc<dyn Recorder>,
    pub(crate) step: String,
    pub(crate) plugin: String,
}

/// What one exchange amounted to, for its event.
struct Exchange<'a> {
    local: SocketAddr,
    peer: SocketAddr,
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes_sent: u64,
    bytes_received: u64,
    reason: String,
}

/// The most of a client's method or request target an event keeps, in bytes (then `…`).
/// Events stay in aether's memory for the run's report, one per request a client sends:
/// uncapped, each could hold twice the 64 KiB head. The plugin still gets the whole target.
pub const MAX_EVENT_TEXT_BYTES: usize = 1024;

/// `text`, cut to at most [`MAX_EVENT_TEXT_BYTES`] on a character boundary and marked `…`.
fn capped(text: &str) -> String {
    if text.len() <= MAX_EVENT_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_EVENT_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Tap {
    /// Records one request a listener received, however it was answered, with the client's
    /// method and target capped ([`MAX_EVENT_TEXT_BYTES`]).
    fn exchange(&self, x: Exchange<'_>) {
        let path = capped(x.path);
        self.recorder.record(Event {
            time: SystemTime::now(),
            step: self.step.clone(),
            plugin: self.plugin.clone(),
            capability: Capability::Network,
            target: format!("http://{}{path}", x.local),
            decision: Decision::Allowed,
            reason: x.reason,
            traffic: Some(Traffic {
                address: x.local,
                status: x.status,
                bytes_sent: x.bytes_sent,
                bytes_received: x.bytes_received,
                inbound: Some(Inbound {
                    peer: x.peer,
                    method: capped(x.method),
                    path,
                }),
            }),
        });
    }
}

/// A bound listener: its queue of parsed requests and its accepting thread.
struct Listener {
    local: SocketAddr,
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Dropped to wake the accepting thread (its end of the pair then reads end-of-file).
    waker: Mutex<Option<UnixStream>>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct Queue {
    requests: VecDeque<Incoming>,
    closed: bool,
    /// Connections still sending their request, by a connection number: answered 503,
    /// recorded and shut down when the listener closes, so that no half-sent request outlives
    /// its step or goes unrecorded.
    reading: HashMap<u64, Reading>,
    next_connection: u64,
}

/// A connection still sending its request, as the listener's close sees it.
struct Reading {
    stream: TcpStream,
    peer: SocketAddr,
    progress: Arc<Progress>,
}

/// How far a connection's request got, written by its thread as it reads: what the event of
/// a request cut off at its listener's close says.
#[derive(Default)]
struct Progress {
    inner: Mutex<Sent>,
}

#[derive(Default, Clone)]
struct Sent {
    /// The client sent at least one byte (a connection that sent nothing is not a request).
    any: bool,
    /// The method and target, once the head was read.
    method: String,
    path: String,
    /// Body bytes read so far.
    body: u64,
}

impl Progress {
    fn update(&self, f: impl FnOnce(&mut Sent)) {
        f(&mut lock(&self.inner));
    }

    fn get(&self) -> Sent {
        lock(&self.inner).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listener {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// Queues `incoming` for the plugin; gives it back if the queue is full or closed (`true`:
    /// closed).
    fn push(&self, incoming: Incoming, max: usize) -> Result<(), Box<(Incoming, bool)>> {
        let mut q = self.queue();
        if q.closed || q.requests.len() >= max {
            let closed = q.closed;
            return Err(Box::new((incoming, closed)));
        }
        q.requests.push_back(incoming);
        self.ready.notify_one();
        Ok(())
    }

    /// Registers a connection that is reading its request; `None` once the listener is closed
    /// (or the stream cannot be shared), and the caller then deals with the connection itself.
    fn reading(
        &self,
        stream: &TcpStream,
        peer: SocketAddr,
        progress: &Arc<Progress>,
    ) -> Option<u64> {
        let copy = stream.try_clone().ok()?;
        let mut q = self.queue();
        if q.closed {
            return None;
        }
        let n = q.next_connection;
        q.next_connection += 1;
        q.reading.insert(
            n,
            Reading {
                stream: copy,
                peer,
                progress: Arc::clone(progress),
            },
        );
        Some(n)
    }

    /// Stops accepting, answers 503 to the connections still sending their request, records
    /// them (`why`) and cuts them off, releases the address (the socket is closed when this
    /// returns), and returns the requests the plugin never accepted.
    fn close(&self, tap: &Tap, why: &str) -> Vec<Incoming> {
        let (drained, reading): (Vec<Incoming>, Vec<Reading>) = {
            let mut q = self.queue();
            q.closed = true;
            let reading = q.reading.drain().map(|(_, r)| r).collect();
            (q.requests.drain(..).collect(), reading)
        };
        for r in reading {
            cut_off(&r.stream, self.local, r.peer, &r.progress.get(), tap, why);
        }
        self.ready.notify_all();
        drop(lock(&self.waker).take());
        if let Some(acceptor) = lock(&self.acceptor).take() {
            // The accepting thread owns the socket: once it is joined, the port is free.
            let _ = acceptor.join();
        }
        drained
    }
}

/// A count of pending things that the end of a step waits for, at most until a deadline.
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Pending {
    fn add(&self) {
        *lock(&self.count) += 1;
    }

    fn done(&self) {
        let mut count = lock(&self.count);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.idle.notify_all();
        }
    }

    /// Waits until nothing is pending, or `deadline`.
    fn wait(&self, deadline: Instant) {
        let mut count = lock(&self.count);
        while *count > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            count = self
                .idle
                .wait_timeout(count, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A connection thread's duty to see its request recorded: held from the connection's accept
/// until its event is recorded or handed on (to the queue, whose requests are recorded when
/// answered, or to the listener's close, which records the connections it cuts off).
/// [`Listeners::end`] waits for every one to be released.
struct Owed(Arc<Pending>);

impl Owed {
    fn new(pending: &Arc<Pending>) -> Owed {
        pending.add();
        Owed(Arc::clone(pending))
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Responses handed to connection threads and not yet written: [`Listeners::end`] waits for
/// them (at most [`END_GRACE`]), so that a response the plugin gave is delivered even when
/// its step, or aether, ends right after. Their bytes count toward the plugin's memory
/// ceiling until written ([`Listeners::reserved_bytes`]).
#[derive(Default)]
struct Writes {
    pending: Pending,
    /// Bytes of the responses in `pending`.
    bytes: AtomicUsize,
    /// Connection threads that still owe their request's event ([`Owed`]).
    owed: Arc<Pending>,
}

impl Writes {
    /// Hands `message` to a connection's thread, counting it until that thread has written it.
    fn deliver(&self, reply: &SyncSender<Vec<u8>>, message: Vec<u8>) {
        let len = message.len();
        self.pending.add();
        self.bytes.fetch_add(len, Ordering::SeqCst);
        if reply.try_send(message).is_err() {
            // The connection's thread is gone: nothing will be written.
            self.done(len);
        }
    }

    /// A response of `len` bytes is written, or never will be.
    fn done(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::SeqCst);
        self.pending.done();
    }

    /// Waits until every connection thread has recorded (or handed on) its request's event,
    /// then until every delivered response is written, or `deadline`.
    fn wait(&self, deadline: Instant) {
        self.owed.wait(deadline);
        self.pending.wait(deadline);
    }
}

/// A non-blocking listening socket on exactly `addr`. `SO_REUSEADDR`: the port can be bound
/// again as soon as this closes, whatever connections are left in `TIME_WAIT`. `IPV6_V6ONLY`
/// on an IPv6 address: Linux otherwise makes `[::]` dual-stack, and a grant of `[::]:8080`
/// would also serve IPv4 clients, as `0.0.0.0:8080` would, without saying so.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, 128)?;
    Ok(TcpListener::from(fd))
}

/// A step's listeners and the requests its plugin holds. Everything closes with
/// [`Listeners::end`] (or when this is dropped).
pub(crate) struct Listeners {
    limits: InboundLimits,
    tap: Tap,
    state: Mutex<Registry>,
    writes: Arc<Writes>,
}

#[derive(Default)]
struct Registry {
    /// The next request id.
    next_id: u64,
    /// How many listeners the step made: ids `0..listeners_made`. A listener leaves the map
    /// when closed, so that a listen/close loop does not grow it; an id below this that is not
    /// in the map is a closed listener.
    listeners_made: u64,
    listeners: HashMap<u64, Arc<Listener>>,
    held: HashMap<u64, Held>,
    ended: bool,
}

/// What `accept()` gives the plugin.
pub(crate) struct Accepted {
    /// The id its `respond()` names.
    pub(crate) id: u64,
    /// The listening address.
    pub(crate) local: SocketAddr,
    /// The request.
    pub(crate) request: Request,
}

fn failed(message: String) -> HostError {
    HostError::Failed {
        type_error: false,
        message,
    }
}

fn type_error(message: String) -> HostError {
    HostError::Failed {
        type_error: true,
        message,
    }
}

impl Listeners {
    /// No listener yet; events go to `tap`.
    pub(crate) fn new(tap: Tap, limits: InboundLimits) -> Listeners {
        Listeners {
            limits,
            tap,
            state: Mutex::new(Registry::default()),
            writes: Arc::new(Writes::default()),
        }
    }

    /// Holds later listeners' clients to `limits`.
    pub(crate) fn limits(&mut self, limits: InboundLimits) {
        self.limits = limits;
    }

    fn state(&self) -> MutexGuard<'_, Registry> {
        lock(&self.state)
    }

    /// Binds `addr` and starts accepting on it; returns the listener's id.
    pub(crate) fn listen(&self, addr: &CheckedListen) -> Result<u64, HostError> {
        let addr = addr.addr();
        if self.state().ended {
            return Err(failed(format!(
                "cannot listen on {addr}: the step has ended"
            )));
        }
        let socket = bind(addr).map_err(|e| failed(format!("cannot listen on {addr}: {e}")))?;
        let local = socket.local_addr().unwrap_or(addr);
        let (waker, woken) =
            UnixStream::pair().map_err(|e| failed(format!("cannot listen on {addr}: {e}")))?;
        let listener = Arc::new(Listener {
            local,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            waker: Mutex::new(Some(waker)),
            acceptor: Mutex::new(None),
        });
        let (l, tap, limits) = (Arc::clone(&listener), self.tap.clone(), self.limits);
        let writes = Arc::clone(&self.writes);
        let acceptor = std::thread::Builder::new()
            .name("aether-listen".into())
            .spawn(move || accept_loop(&socket, &woken, &l, &tap, &writes, limits))
            .map_err(|e| failed(format!("cannot listen on {addr}: {e}")))?;
        *lock(&listener.acceptor) = Some(acceptor);
        let mut state = self.state();
        if state.ended {
            // `end` ran meanwhile: it did not see this listener.
            drop(state);
            listener.close(
                &self.tap,
                "the step ended while the client was sending its request",
            );
            return Err(failed(format!(
                "cannot listen on {addr}: the step has ended"
            )));
        }
        let id = state.listeners_made;
        state.listeners_made += 1;
        state.listeners.insert(id, listener);
        Ok(id)
    }

    /// The next request on listener `id`, waiting until one comes, the listener closes, or
    /// `deadline`; `None` once it is closed (or at the deadline).
    pub(crate) fn accept(&self, id: u64, deadline: Instant) -> Result<Option<Accepted>, HostError> {
        let listener = {
            let state = self.state();
            match state.listeners.get(&id) {
                Some(listener) => Arc::clone(listener),
                None if id < state.listeners_made => return Ok(None),
                None => return Err(type_error(format!("no listener with id {id}"))),
            }
        };
        let incoming = {
            let mut q = listener.queue();
            loop {
                if let Some(incoming) = q.requests.pop_front() {
                    break incoming;
                }
                let now = Instant::now();
                if q.closed || now >= deadline {
                    return Ok(None);
                }
                q = listener
                    .ready
                    .wait_timeout(q, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let mut state = self.state();
        let request = incoming.request;
        if state.ended {
            drop(state);
            self.unavailable(
                listener.local,
                &request,
                incoming.reply,
                "the step ended before the plugin accepted the request",
            );
            return Ok(None);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.held.insert(
            id,
            Held {
                local: listener.local,
                peer: request.peer,
                method: request.method.clone(),
                path: request.path.clone(),
                bytes_received: request.body.len() as u64,
                reply: incoming.reply,
            },
        );
        Ok(Some(Accepted {
            id,
            local: listener.local,
            request,
        }))
    }

    /// Answers request `id`: validates the status and headers (as the gateway validates a
    /// request's), frames the response and hands it to the connection's thread.
    pub(crate) fn respond(
        &self,
        id: u64,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        if !(200..=599).contains(&status) {
            return Err(type_error(format!(
                "respond: the status must be an integer from 200 to 599, got {status}"
            )));
        }
        let map = check_headers(headers, Framing::Response).map_err(|e| match e {
            FetchError::Type(m) => type_error(format!("respond: {m}")),
            other => type_error(format!("respond: {other}")),
        })?;
        if body.len() > MAX_RESPONSE_BODY_BYTES {
            return Err(type_error(format!(
                "respond: the body is {} bytes, more than the limit of {MAX_RESPONSE_BODY_BYTES}",
                body.len()
            )));
        }
        if matches!(status, 204 | 304) && !body.is_empty() {
            return Err(type_error(format!(
                "respond: a {status} response cannot have a body"
            )));
        }
        let held = self.state().held.remove(&id).ok_or_else(|| {
            type_error("respond: this request has already been answered".to_owned())
        })?;
        let mut head = status_line(status);
        for (name, value) in &map {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let send_body = held.method != "HEAD" && !matches!(status, 204 | 304);
        let message = frame(head, status, body, send_body);
        self.writes.deliver(&held.reply, message);
        self.tap.exchange(Exchange {
            local: held.local,
            peer: held.peer,
            method: &held.method,
            path: &held.path,
            status,
            bytes_sent: if send_body { body.len() as u64 } else { 0 },
            bytes_received: held.bytes_received,
            reason: String::new(),
        });
        Ok(())
    }

    /// Closes listener `id` (`server.close()`): no new connection is accepted and the port
    /// is free when this returns; requests not accepted yet get a 503. Closing twice is fine,
    /// and `accept` on a closed listener gives `None`.
    pub(crate) fn close(&self, id: u64) {
        let listener = self.state().listeners.remove(&id);
        if let Some(listener) = listener {
            self.close_listener(
                &listener,
                "the listener closed while the client was sending its request",
                "the listener closed before the plugin accepted the request",
            );
        }
    }

    /// Closes `listener`: connections still sending are cut off and recorded (`cut`), requests
    /// never accepted are answered 503 and recorded (`why`).
    fn close_listener(&self, listener: &Listener, cut: &str, why: &str) {
        for incoming in listener.close(&self.tap, cut) {
            self.unavailable(listener.local, &incoming.request, incoming.reply, why);
        }
    }

    /// Ends the step's listening: closes every listener (their ports are free when this
    /// returns), answers with a 503 every request the plugin did not answer and every client
    /// still sending one, records each, and waits until every connection's event is recorded
    /// and the responses handed out are written (at most [`END_GRACE`] in all). Later `listen`
    /// calls fail. Idempotent.
    pub(crate) fn end(&self) {
        let (listeners, held) = {
            let mut state = self.state();
            state.ended = true;
            let listeners: Vec<Arc<Listener>> = state.listeners.drain().map(|(_, l)| l).collect();
            let held: Vec<Held> = state.held.drain().map(|(_, h)| h).collect();
            (listeners, held)
        };
        for listener in &listeners {
            self.close_listener(
                listener,
                "the step ended while the client was sending its request",
                "the step ended before the plugin accepted the request",
            );
        }
        for h in held {
            let message = error_response(503, "the step ended before it answered\n");
            let bytes = message.1;
            self.writes.deliver(&h.reply, message.0);
            self.tap.exchange(Exchange {
                local: h.local,
                peer: h.peer,
                method: &h.method,
                path: &h.path,
                status: 503,
                bytes_sent: bytes,
                bytes_received: h.bytes_received,
                reason: "the step ended before the plugin responded".to_owned(),
            });
        }
        self.writes
            .wait(aether_policy::deadline_after(Instant::now(), END_GRACE));
    }

    /// Bytes of the responses the plugin gave that are not written yet: held by aether for
    /// the plugin, they count toward its memory ceiling (see [`crate::Host::reserved_bytes`]).
    pub(crate) fn reserved_bytes(&self) -> u64 {
        self.writes.bytes.load(Ordering::SeqCst) as u64
    }

    /// Answers a request the plugin will never see with a 503, and records it.
    fn unavailable(
        &self,
        local: SocketAddr,
        request: &Request,
        reply: SyncSender<Vec<u8>>,
        why: &str,
    ) {
        let (message, bytes) = error_response(503, "the server is closing\n");
        self.writes.deliver(&reply, message);
        self.tap.exchange(Exchange {
            local,
            peer: request.peer,
            method: &request.method,
            path: &request.path,
            status: 503,
            bytes_sent: bytes,
            bytes_received: request.body.len() as u64,
            reason: why.to_owned(),
        });
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Nothing;

    impl Recorder for Nothing {
        fn record(&self, _: Event) {}
        fn log(&self, _: &str, _: &str, _: &str) {}
    }

    /// Listeners of step `s` recording to `recorder`, a free loopback address, and a grant to
    /// listen on it.
    fn granted_listeners(
        recorder: Arc<dyn Recorder>,
    ) -> (Listeners, SocketAddr, aether_policy::Grant) {
        let listeners = Listeners::new(
            Tap {
                recorder,
                step: "s".into(),
                plugin: "p".into(),
            },
            InboundLimits::default(),
        );
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = probe.local_addr().expect("addr");
        drop(probe);
        let permissions = aether_policy::Permissions {
            listen: aether_policy::ListenAddr::new(addr).into_iter().collect(),
            ..aether_policy::Permissions::default()
        };
        let grant = aether_policy::Grant::new(
            permissions,
            None,
            &aether_policy::RequestedLimits::default(),
        )
        .expect("grant");
        (listeners, addr, grant)
    }

    /// A plugin opening and closing listeners in a loop does not grow aether's registry (the
    /// reviewer's finding: closed listeners used to stay in it), and a closed listener still
    /// accepts nothing rather than being unknown.
    #[test]
    fn closed_listeners_leave_the_registry() {
        let (listeners, addr, grant) = granted_listeners(Arc::new(Nothing));
        let checked = grant.check_listen(addr).expect("granted");
        let mut first = None;
        for _ in 0..50 {
            let id = listeners.listen(&checked).expect("listen");
            first.get_or_insert(id);
            listeners.close(id);
        }
        assert!(listeners.state().listeners.is_empty());
        let soon = Instant::now() + Duration::from_secs(1);
        let first = first.expect("a listener");
        assert!(matches!(listeners.accept(first, soon), Ok(None)));
        assert!(
            listeners.accept(1000, soon).is_err(),
            "an id never given out"
        );
        listeners.end();
    }

    #[derive(Default)]
    struct Collect(Mutex<Vec<Event>>);

    impl Recorder for Collect {
        fn record(&self, event: Event) {
            lock(&self.0).push(event);
        }
        fn log(&self, _: &str, _: &str, _: &str) {}
    }

    /// Before, a refused request was recorded only after the lingering close (up to 2 s after
    /// its answer), and a request still being sent when the step ended was cut off without an
    /// event: both could be missing when the step's end returned, and the run's trail with it.
    /// Now both are events when `end` returns, and the half-sent client got a 503.
    // See: issue 15, "What is wrong" 9.
    #[test]
    fn issue_15_refused_and_half_sent_requests_are_events_when_the_step_ends() {
        use std::io::{Read, Write};
        let recorder = Arc::new(Collect::default());
        let (listeners, addr, grant) =
            granted_listeners(Arc::clone(&recorder) as Arc<dyn Recorder>);
        listeners
            .listen(&grant.check_listen(addr).expect("granted"))
            .expect("listen");
        // Two Host headers: 400. The client reads the answer and keeps its side open.
        let mut malformed = TcpStream::connect(addr).expect("connect");
        malformed
            .write_all(b"GET /m HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            .expect("write");
        let mut answer = [0u8; 12];
        malformed.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 400");
        let mut half = TcpStream::connect(addr).expect("connect");
        half.write_all(b"POST /half HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            .expect("write");
        std::thread::sleep(Duration::from_millis(100));
        listeners.end();
        let events = lock(&recorder.0).clone();
        let of = |client: &TcpStream| -> Vec<(u16, String)> {
            let peer = client.local_addr().expect("addr");
            events
                .iter()
                .filter_map(|e| e.traffic.as_ref())
                .filter(|t| t.inbound.as_ref().map(|i| i.peer) == Some(peer))
                .map(|t| {
                    (
                        t.status,
                        t.inbound
                            .as_ref()
                            .map(|i| i.path.clone())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        };
        assert_eq!(of(&malformed), [(400, "/m".to_owned())], "{events:#?}");
        let cut = of(&half);
        assert_eq!(cut.len(), 1, "{events:#?}");
        assert_eq!(cut[0].0, 503);
        half.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut answer = [0u8; 12];
        half.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 503");
    }

    /// A grant of `[::]:P` serves IPv6 only: without `IPV6_V6ONLY`, Linux's dual-stack socket
    /// also took IPv4 clients, which only a grant of `0.0.0.0:P` may.
    #[test]
    fn an_ipv6_wildcard_is_not_an_ipv4_one() {
        let probe = std::net::TcpListener::bind("[::1]:0").expect("bind [::1]");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        let socket = bind(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port))).expect("bind");
        assert!(std::net::TcpStream::connect(("::1", port)).is_ok());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "[::]:{port} accepted an IPv4 client"
        );
        drop(socket);
    }
}
