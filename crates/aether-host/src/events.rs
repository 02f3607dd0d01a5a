//! Capability events: one record for every use of a capability, allowed or not (SPEC §8
//! `events.jsonl`). The broker emits them; a [`Recorder`] collects them for the report.

use std::borrow::Cow;
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

/// The most of an event's `target` kept, in bytes (then a mark and the full length).
///
/// Targets are plugin-controlled (paths, URLs, variable names, specifiers, commands): uncapped,
/// a plugin calling `aether.env.get` with a 1 MiB name 3,000 times made aether hold gigabytes
/// and write as much to `events.jsonl` (issue 16). The plugin still gets its whole target in
/// the error it sees.
pub const MAX_TARGET_BYTES: usize = 1024;

/// The most of an event's `reason` kept, in bytes: a denial's reason repeats the target and
/// lists the grant.
pub const MAX_REASON_BYTES: usize = 4096;

pub use aether_protocol::cap_text;

/// The most of one `console.*` message printed, in bytes.
pub const MAX_LOG_MESSAGE_BYTES: usize = 64 * 1024;

/// The most of a step's log printed, in bytes; past it the step's further messages are dropped
/// (one line says so). Logs go to aether's stderr, which an operator may keep in a file: a
/// plugin logging in a loop for its whole timeout must not fill a disk.
pub const MAX_LOG_BYTES_PER_STEP: u64 = 16 * 1024 * 1024;

/// Replaces `text` by its capped form when it is too long.
fn cap_in_place(text: &mut String, max: usize) {
    if let Cow::Owned(capped) = cap_text(text, max) {
        *text = capped;
    }
}

impl Event {
    /// The bytes the event occupies in memory: its own size and its texts.
    pub fn size_bytes(&self) -> u64 {
        let inbound = self
            .traffic
            .as_ref()
            .and_then(|t| t.inbound.as_ref())
            .map_or(0, |i| i.method.len() + i.path.len());
        (std::mem::size_of::<Event>()
            + std::mem::size_of::<Traffic>()
            + self.step.len()
            + self.plugin.len()
            + self.target.len()
            + self.reason.len()
            + inbound) as u64
    }

    /// The event with every plugin-controlled text capped: `target` to [`MAX_TARGET_BYTES`],
    /// `reason` to [`MAX_REASON_BYTES`], an inbound request's method and path to
    /// [`MAX_TARGET_BYTES`]. Whatever keeps or writes events applies it first, so that an
    /// event's size does not depend on the plugin.
    pub fn bounded(mut self) -> Event {
        cap_in_place(&mut self.target, MAX_TARGET_BYTES);
        cap_in_place(&mut self.reason, MAX_REASON_BYTES);
        if let Some(inbound) = self.traffic.as_mut().and_then(|t| t.inbound.as_mut()) {
            cap_in_place(&mut inbound.method, MAX_TARGET_BYTES);
            cap_in_place(&mut inbound.path, MAX_TARGET_BYTES);
        }
        self
    }
}

/// Where events and step logs go. Implementations must be cheap and never block for long:
/// they are called on the plugin's thread.
///
/// Events arrive as made, with plugin-controlled texts as long as the plugin made them: a
/// recorder that keeps or writes them applies [`Event::bounded`] first.
pub trait Recorder: Send + Sync {
    /// Records one event.
    fn record(&self, event: Event);
    /// A line of the step's log (`console.*`), already formatted.
    fn log(&self, step: &str, level: &str, message: &str);
    /// The bytes this recorder holds in memory for `step`'s events (for a report written when
    /// the run ends). They count toward the step's memory ceiling. Default: none held.
    fn held_bytes(&self, step: &str) -> u64 {
        let _ = step;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary_with_its_length() {
        assert_eq!(cap_text("abc", 3), "abc");
        assert_eq!(cap_text("abcd", 3), "abc… (4 bytes in all)");
        // `é` is two bytes: a cut inside it moves back before it.
        assert_eq!(cap_text("aéb", 2), "a… (4 bytes in all)");
        let huge = "x".repeat(1 << 20);
        assert!(cap_text(&huge, MAX_TARGET_BYTES).len() < MAX_TARGET_BYTES + 32);
    }
}
