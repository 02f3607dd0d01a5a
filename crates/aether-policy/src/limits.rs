//! The limits a step runs under ([`Limits`]), what a manifest asks for ([`RequestedLimits`]),
//! and the SPEC defaults that fill in what is left out.
//!
//! Values only: nothing here measures or enforces. The engine holds a step to its memory and
//! stack ceilings and the runner to its timeout. [`Limits`] is the one limits type of the
//! workspace: the grant computes it, the runner caps it, and `aether-protocol` carries it to the
//! engine (its serde form is the worker socket's, see [`Limits`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// JavaScript stack ceiling of every step (no manifest or policy field sets it): 12 MiB, so that
/// simple recursion goes at least as deep as in Node 20 with its default `--stack-size`.
/// Measured (issue 15) with `function f(n){return n===0?0:1+f(n-1)}`: Node 20.20 (default stack,
/// 984 KiB) allows about 10,500 frames on a cold first call and 15,700 once the function is
/// optimized; aether about 18,700 in a release build and 21,200 in the dev profile, in both
/// tiers. `JSON.parse` of arrays nested 100,000 deep works in both. Past the ceiling: a
/// catchable `RangeError`. QuickJS's own default (1 MiB, about 1,800 frames) broke recursive
/// parsers that work in Node. `docs/isolation-tiers.md` has the table.
pub const DEFAULT_STACK: ByteSize = ByteSize::mib(12);

/// The limits a step runs under (SPEC §6): what [`Grant::limits`](crate::Grant::limits) gives a
/// plugin (the manifest's limits, capped by the policy), what an embedding host may lower
/// further, and what the engine enforces.
///
/// The serde form is the worker socket's (postcard) and must stay the same: byte counts are
/// plain numbers (see [`ByteSize`]'s serde form), the timeout a `Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The memory ceiling: the engine's heap (every QuickJS allocation, including the runtime
    /// itself, about 200 KiB before the plugin runs) plus the bytes the host holds for the plugin
    /// (`Host::reserved_bytes` in `aether-protocol`, e.g. the overlay, captured child output and
    /// the serialized output). Not covered: transient Rust buffers during a single host call,
    /// the engine thread's native stack, and aether's own memory. Default [`DEFAULT_MEMORY`].
    pub memory: ByteSize,
    /// Wall-clock time from the engine's start (`aether_sandbox::run_step`) to the step's result,
    /// engine start-up included. Default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// The JavaScript stack ceiling (QuickJS `set_max_stack_size`, measured on the engine
    /// thread's native stack, where QuickJS keeps its JavaScript frames): deeper recursion throws
    /// a catchable `RangeError` ("Maximum call stack size exceeded") instead of overflowing the
    /// native stack. Default [`DEFAULT_STACK`]. The engine thread's native stack is sized from
    /// it (4 times it, at least 8 MiB: headroom for the Rust and C frames of host calls made at
    /// the deepest point). Not counted in [`Limits::memory`]: it is reserved address space,
    /// touched only as deep as the plugin recurses.
    pub stack: ByteSize,
}

impl Limits {
    /// [`DEFAULT_MEMORY`]: 256 MiB.
    pub const DEFAULT_MEMORY: ByteSize = DEFAULT_MEMORY;
    /// [`DEFAULT_TIMEOUT`]: 30 s.
    pub const DEFAULT_TIMEOUT: Duration = DEFAULT_TIMEOUT;
    /// [`DEFAULT_STACK`]: 12 MiB.
    pub const DEFAULT_STACK: ByteSize = DEFAULT_STACK;

    /// These limits lowered to `cap`'s where those are smaller (each limit the smaller of the
    /// two): a ceiling never raises a limit.
    #[must_use]
    pub fn capped(self, cap: Limits) -> Limits {
        Limits {
            memory: self.memory.min(cap.memory),
            timeout: self.timeout.min(cap.timeout),
            stack: self.stack.min(cap.stack),
        }
    }
}

/// The SPEC defaults: 256 MiB, 30 s, and the 12 MiB stack.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY,
            timeout: DEFAULT_TIMEOUT,
            stack: DEFAULT_STACK,
        }
    }
}
