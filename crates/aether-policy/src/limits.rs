//! The limits a step runs under ([`Limits`]), what a manifest asks for ([`RequestedLimits`]),
//! and the SPEC defaults that fill in what is left out.
//!
//! Values only: nothing here measures or enforces. The engine holds a step to its memory
//! ceiling and the runner to its timeout.

use std::time::Duration;

use crate::size::ByteSize;

/// Memory ceiling when the manifest sets none (SPEC §2): 256 MiB. It covers the engine heap,
/// the overlay, captured child output and the serialized output (SPEC §6), not aether's own
/// memory. Lowered to the policy's `max_memory` when that is smaller.
pub const DEFAULT_MEMORY: ByteSize = ByteSize::mib(256);
/// Timeout when the manifest sets none (SPEC §2): 30 s of wall-clock time for the whole step.
/// Lowered to the policy's `max_timeout` when that is smaller.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Policy `max_memory` when left out (SPEC §3): 4 GiB.
pub const DEFAULT_MAX_MEMORY: ByteSize = ByteSize::gib(4);
/// Policy `max_timeout` when left out (SPEC §3): 1 h.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Policy `max_response_bytes` when left out (SPEC §3): 16 MiB per response body, so that one
/// fetch cannot fill the step's memory before the ceiling notices. Headers are not counted.
pub const DEFAULT_MAX_RESPONSE_BYTES: ByteSize = ByteSize::mib(16);

/// Limits written in the manifest; `None` means "use the default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestedLimits {
    /// `limits.memory`.
    pub memory: Option<ByteSize>,
    /// `limits.timeout`.
    pub timeout: Option<Duration>,
}

/// The limits a step runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory ceiling (see [`DEFAULT_MEMORY`] for what it covers).
    pub memory: ByteSize,
    /// Wall-clock timeout of the step.
    pub timeout: Duration,
}
