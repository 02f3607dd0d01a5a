//! The accepting thread of a listener and the thread of each connection: accept, read the
//! request (`super::parse`), queue it for the plugin, write its answer framed by aether, and
//! record every request as an event; refusals are answered here with a lingering close.
//!
//! What it must never do: hand the socket to the plugin, let one slow client hold up the
//! others, or leave a request unrecorded.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::limits::{InboundLimits, LINGER_BYTES, LINGER_TIME};
use super::parse::{ReadOutcome, read_request};
use super::{Exchange, Incoming, Listener, Owed, Progress, Sent, Tap, Writes};

/// `HTTP/1.1 200 OK\r\n`.
pub(super) fn status_line(status: u16) -> Vec<u8> {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP/1.1 {status} {reason}\r\n").into_bytes()
}

/// Completes a response head with its framing (`Content-Length`, `Connection: close`) and
/// appends the body when it is sent.
pub(super) fn frame(mut head: Vec<u8>, status: u16, body: &[u8], send_body: bool) -> Vec<u8> {
    // RFC 9110 §8.6: no Content-Length in a 204.
    if status != 204 {
        head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    if send_body {
        head.extend_from_slice(body);
    }
    head
}

/// A plain-text response aether sends itself, and its body's length.
pub(super) fn error_response(status: u16, text: &str) -> (Vec<u8>, u64) {
    let mut head = status_line(status);
    head.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
    (
        frame(head, status, text.as_bytes(), true),
        text.len() as u64,
    )
}

/// Counts a listener's open connections; the slot is given back when this drops.
pub(super) struct Slot(pub(super) Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The accepting thread: waits for a connection or the wake-up, and gives each connection a
/// thread of its own. Owns the socket, which closes when this returns.
pub(super) fn accept_loop(
    socket: &TcpListener,
    woken: &UnixStream,
    listener: &Arc<Listener>,
    tap: &Tap,
    writes: &Arc<Writes>,
    limits: InboundLimits,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let mut fds = [
            PollFd::new(socket, PollFlags::IN),
            PollFd::new(woken, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
        if !fds[1].revents().is_empty() || listener.queue().closed {
            return;
        }
        let (stream, peer) = match socket.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            // ECONNABORTED, EMFILE and the like: this connection is lost, the listener is not.
            // Out of descriptors, the socket stays readable with the connection still queued:
            // retrying at once would burn a core until one is freed.
            Err(_) => {
                back_off(woken);
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            let slot = Slot(Arc::clone(&open));
            refuse(
                stream,
                listener.local,
                peer,
                tap,
                "too many open connections",
            );
            drop(slot);
            continue;
        }
        let slot = Slot(Arc::clone(&open));
        // Taken here, before the thread exists: the listener's close joins this thread, so
        // the step's end sees every connection's duty.
        let owed = Owed::new(&writes.owed);
        let (l, t, w) = (Arc::clone(listener), tap.clone(), Arc::clone(writes));
        let _ = std::thread::Builder::new()
            .name("aether-inbound".into())
            .spawn(move || {
                let _slot = slot;
                serve(stream, peer, &l, &t, &w, limits, owed);
            });
    }
}

/// How long the accepting thread waits after a failed `accept` (EMFILE, ENFILE, ENOBUFS...)
/// before trying again.
pub(super) const ACCEPT_BACK_OFF: Duration = Duration::from_millis(50);

/// Waits [`ACCEPT_BACK_OFF`], or less if the listener is closed meanwhile (`woken` readable).
pub(super) fn back_off(woken: &UnixStream) {
    let mut fds = [PollFd::new(woken, PollFlags::IN)];
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(ACCEPT_BACK_OFF.subsec_nanos()),
    };
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}

/// Answers a connection 503 without reading it, and records it.
pub(super) fn refuse(stream: TcpStream, local: SocketAddr, peer: SocketAddr, tap: &Tap, why: &str) {
    let (message, bytes) = error_response(503, "too many connections\n");
    // Non-blocking: the accepting thread must not wait on this client.
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(&message);
    let _ = stream.shutdown(Shutdown::Both);
    tap.exchange(Exchange {
        local,
        peer,
        method: "",
        path: "",
        status: 503,
        bytes_sent: bytes,
        bytes_received: 0,
        reason: why.to_owned(),
    });
}

/// Answers 503 to a connection whose client was still sending its request when its listener
/// closed, records it (if the client sent anything: a connection that sent nothing is not a
/// request) and cuts it off. Never blocks: the 503 is written only if the socket's buffer
/// takes it at once. The connection's own thread, blocked reading, then wakes and leaves.
pub(super) fn cut_off(
    stream: &TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    sent: &Sent,
    tap: &Tap,
    why: &str,
) {
    use rustix::net::{RecvFlags, SendFlags};
    // Bytes the kernel holds that the thread has not read yet count as sent.
    let mut probe = [0u8; 1];
    let waiting = matches!(
        rustix::net::recv(stream, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    );
    if sent.any || waiting {
        let (message, bytes) = error_response(503, "the server is closing\n");
        let _ = rustix::net::send(stream, &message, SendFlags::DONTWAIT | SendFlags::NOSIGNAL);
        tap.exchange(Exchange {
            local,
            peer,
            method: &sent.method,
            path: &sent.path,
            status: 503,
            bytes_sent: bytes,
            bytes_received: sent.body,
            reason: why.to_owned(),
        });
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// One connection's thread: reads the request, queues it for the plugin, writes the answer.
/// `owed` is released once the request's event is recorded or handed on, before any
/// lingering or waiting for the plugin.
pub(super) fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: &Listener,
    tap: &Tap,
    writes: &Writes,
    limits: InboundLimits,
    owed: Owed,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let progress = Arc::new(Progress::default());
    let Some(connection) = listener.reading(&stream, peer, &progress) else {
        // The listener closed between the accept and now: whatever the client sent already
        // is a request cut off, like one the close found being read.
        cut_off(
            &stream,
            listener.local,
            peer,
            &Sent::default(),
            tap,
            "the listener closed while the client was sending its request",
        );
        return;
    };
    let outcome = read_request(&mut stream, peer, &limits, &progress);
    if listener.queue().reading.remove(&connection).is_none() {
        // The listener closed while the client was still sending: its close answered,
        // recorded and cut off the connection.
        return;
    }
    let request = match outcome {
        ReadOutcome::Request(request) => request,
        ReadOutcome::Refused(refusal) => {
            let (message, bytes) = error_response(refusal.status, &format!("{}\n", refusal.reason));
            let _ = stream.write_all(&message);
            // Recorded now, not after the lingering close (up to `LINGER_TIME`), by which
            // time the step and the run may have ended (issue 15).
            tap.exchange(Exchange {
                local: listener.local,
                peer,
                method: &refusal.method,
                path: &refusal.path,
                status: refusal.status,
                bytes_sent: bytes,
                bytes_received: refusal.body,
                reason: refusal.reason,
            });
            drop(owed);
            linger(&mut stream);
            return;
        }
        ReadOutcome::Silent => return,
    };
    let (reply, answer): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = mpsc::sync_channel(1);
    if let Err(refused) = listener.push(Incoming { request, reply }, limits.max_queued) {
        let (incoming, closed) = *refused;
        let (text, reason) = if closed {
            (
                "the server is closing\n",
                "the listener closed before the plugin accepted the request",
            )
        } else {
            (
                "too many requests waiting\n",
                "too many requests waiting for the plugin",
            )
        };
        let (message, bytes) = error_response(503, text);
        let _ = stream.write_all(&message);
        let r = &incoming.request;
        tap.exchange(Exchange {
            local: listener.local,
            peer,
            method: &r.method,
            path: &r.path,
            status: 503,
            bytes_sent: bytes,
            bytes_received: r.body.len() as u64,
            reason: reason.to_owned(),
        });
        drop(owed);
        linger(&mut stream);
        return;
    }
    // Queued: whoever answers it (`respond`, the listener's close, the step's end) records it.
    drop(owed);
    // Whoever drops the sender without an answer (never: `respond`, `close` and `end` all
    // answer) leaves the client a closed connection.
    if let Ok(message) = answer.recv() {
        let deadline = aether_policy::deadline_after(Instant::now(), limits.write_timeout);
        if write_by(&mut stream, &message, deadline).is_ok() {
            let _ = stream.shutdown(Shutdown::Write);
        } else {
            // Reset rather than close: a closed socket would go on sending what the kernel
            // still buffers, for a client that has shown it barely reads.
            let _ = rustix::net::sockopt::set_socket_linger(&stream, Some(Duration::ZERO));
        }
        let len = message.len();
        drop(message);
        writes.done(len);
    }
}

/// Writes `message` whole by `deadline`. A socket's write timeout bounds each `write` call
/// only: a client that reads a trickle at a time (slowhttptest's slow-read mode) lets every
/// call make a little progress, and would hold the connection, its thread and the response
/// as long as it likes.
pub(super) fn write_by(
    stream: &mut TcpStream,
    message: &[u8],
    deadline: Instant,
) -> io::Result<()> {
    let mut rest = message;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// After an error response: stop writing, and read (and drop) what the client still sends for
/// a little while, so that it sees the response rather than a reset.
pub(super) fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER_TIME;
    let mut buf = [0u8; 8192];
    let mut total = 0;
    while total < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}
