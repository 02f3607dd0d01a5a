//! Capability events: one record for every use of a capability, allowed or not (SPEC §8
//! `events.jsonl`). The broker emits them; a [`Recorder`] collects them for the report.

use std::net::SocketAddr;
use std::time::SystemTime;

use aether_policy::{Capability, Decision};

/// One use of a capability and what aether decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened.
    pub time: SystemTime,
    /// The step's id.
    pub step: String,
    /// The plugin's name.
    pub plugin: String,
    /// The capability used.
    pub capability: Capability,
    /// The path, URL, variable, command or specifier, as the plugin gave it.
    pub target: String,
    /// The decision.
    pub decision: Decision,
    /// Why (empty for an allowed use).
    pub reason: String,
    /// For a `network` event of a request that was sent: what went over the wire.
    pub traffic: Option<Traffic>,
}

/// One HTTP exchange: a request the gateway sent for a plugin, or (with `inbound`) a request a
/// plugin's listener received. Bytes are counted from the step's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// The checked address connected to; for an inbound request, the listening address.
    pub address: SocketAddr,
    /// The status the server answered (inbound: the status the client got).
    pub status: u16,
    /// Body bytes the step sent: the request's, or (inbound) the response's.
    pub bytes_sent: u64,
    /// Body bytes the step received: the response's (0 for a redirect hop, whose body is not
    /// read), or (inbound) the request's.
    pub bytes_received: u64,
    /// For a request a listener received: who sent it and what it asked for. `None` for a
    /// request the gateway sent.
    pub inbound: Option<Inbound>,
}

/// The client's side of a request a plugin's listener received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The client's address.
    pub peer: SocketAddr,
    /// The request's method (empty when the head could not be read).
    pub method: String,
    /// The request's target, as sent (empty when the head could not be read).
    pub path: String,
}

/// Where events and step logs go. Implementations must be cheap and never block for long:
/// they are called on the plugin's thread.
pub trait Recorder: Send + Sync {
    /// Records one event.
    fn record(&self, event: Event);
    /// A line of the step's log (`console.*`), already formatted.
    fn log(&self, step: &str, level: &str, message: &str);
}
