//! The caps on what clients may send a plugin's listener ([`InboundLimits`]) and the fixed
//! bounds of the inbound side: every value documented with what it covers and why.

use std::time::Duration;

/// Caps on what clients may send a plugin's listener. Every field has a default (see
/// [`InboundLimits::default`]) chosen to match what common servers accept; a client beyond one
/// gets an error response and its connection closed, and the plugin never sees its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Request line and headers together, at most (default 64 KiB, the gateway's
    /// [`crate::gateway::MAX_RESPONSE_HEADER_BYTES`]; nginx allows 4 × 8 KiB): above it, 431.
    /// Also at most 100 header fields.
    pub max_head_bytes: usize,
    /// Request body, at most (default 1 MiB, nginx's `client_max_body_size`): a larger
    /// `Content-Length` is answered 413 before any of the body is read. The body is held in
    /// aether until the plugin accepts the request, then in the plugin's heap.
    pub max_body_bytes: usize,
    /// Time a client has to send the whole head, from its connection (default 10 s): a client
    /// that trickles bytes (slowloris) is answered 408 and cut off then. A connection that
    /// sent nothing in that time is closed silently.
    pub head_timeout: Duration,
    /// Time a client has to send the whole body, once the head is in (default 30 s): 408.
    pub body_timeout: Duration,
    /// Time to write a whole response (default 10 s), however slowly the client reads it:
    /// past it the connection is reset, so that a slow reader cannot hold a connection thread
    /// and up to [`MAX_RESPONSE_BODY_BYTES`] of aether's memory after the step ends.
    pub write_timeout: Duration,
    /// Connections a listener has open at once (default 32): one more is answered 503 and
    /// closed at once. Bounds the threads and buffers clients can make aether hold.
    pub max_connections: usize,
    /// Requests a listener holds for a plugin that has not accepted them yet (default 16):
    /// one more is answered 503. Requests the plugin accepted but has not answered do not
    /// count here; they count as open connections.
    pub max_queued: usize,
}

impl Default for InboundLimits {
    fn default() -> InboundLimits {
        InboundLimits {
            max_head_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_connections: 32,
            max_queued: 16,
        }
    }
}

/// Header fields a request may have, at most: above it, 431 (nginx and hyper allow about 100).
pub(super) const MAX_HEADER_FIELDS: usize = 100;

/// The largest response body a plugin may send: 16 MiB, like a `fetch` request body (the
/// body is already in the plugin's heap, under its memory ceiling; this bounds the copy).
pub const MAX_RESPONSE_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long the end of a step waits, in all, for the events its connection threads still owe
/// (a refusal being recorded, a cut-off connection's thread noticing it) and then for the
/// responses its plugin gave to be written: 2 s. Once the listeners are closed every such
/// thread has nothing left to wait for, so the events come within microseconds unless the
/// machine is overloaded; a normal response is in the socket's buffer at once, and a client
/// that does not read holds the step's end no longer than this (its connection thread goes on
/// until the write timeout). An event that misses the bound still reaches the recorder, late.
pub const END_GRACE: Duration = Duration::from_secs(2);

/// Bytes read and dropped after an error response, so that the client reads the response
/// instead of a reset caused by its unread request body (a "lingering close", as nginx does),
/// and for how long at most.
pub(super) const LINGER_BYTES: usize = 256 * 1024;

pub(super) const LINGER_TIME: Duration = Duration::from_secs(2);
