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

/// One HTTP exchange the gateway made for a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// The checked address connected to.
    pub address: SocketAddr,
    /// The status the server answered.
    pub status: u16,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received (0 for a redirect hop, whose body is not read).
    pub bytes_received: u64,
}

/// Where events and step logs go. Implementations must be cheap and never block for long:
/// they are called on the plugin's thread.
pub trait Recorder: Send + Sync {
    /// Records one event.
    fn record(&self, event: Event);
    /// A line of the step's log (`console.*`), already formatted.
    fn log(&self, step: &str, level: &str, message: &str);
}
