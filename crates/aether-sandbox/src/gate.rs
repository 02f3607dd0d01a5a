//! The engine's only way to the host, and the state the supervisor shares with the engine.
//!
//! [`Gate`] forwards [`HostRequest`]s to the step's [`Host`] until it is revoked (the step timed
//! out and its engine thread was abandoned) or the plugin was killed; after every call it
//! re-reads the host's reserved bytes and re-checks the memory ceiling. [`Shared`] holds the kill
//! flag the interrupt handler obeys, the deadline, and the [`Meter`].
//!
//! A gate can be made before its step is known ([`Gate::unarmed`]: the process tier's zygote
//! installs the bindings over one before it forks). Until [`Gate::arm`] gives it the step's host
//! (once), every call fails closed: no host exists to reach.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether_policy::Capability;
use aether_protocol::{Host, HostError, HostRequest, HostValue};

use crate::sys;

/// Why a plugin was stopped. Once set, never cleared: the interrupt handler returns `true` for
/// the rest of the step, so catching the error it raises does not save the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kill {
    Memory = 1,
    Timeout = 2,
}

/// Engine memory accounting: updated by the allocator on every allocation (engine thread only),
/// read by the supervisor at the end.
#[derive(Debug)]
pub(crate) struct Meter {
    /// The step's ceiling: engine heap plus `reserved` (set once more in a worker whose engine
    /// was prepared before its step was known, see [`Meter::set_ceiling`]).
    ceiling: AtomicU64,
    /// Bytes the metering allocator has handed out and not taken back.
    used: AtomicU64,
    /// The host's reserved bytes, as of its last call.
    reserved: AtomicU64,
    /// High-water mark of `used + reserved`.
    peak: AtomicU64,
    /// Set on the first refused allocation.
    exceeded: AtomicBool,
    /// Once `exceeded`: the bytes the engine may still allocate before the next interrupt
    /// check (see [`Meter::admit`]).
    grace: AtomicU64,
}

/// What a killed plugin may still allocate between two interrupt checks: enough for QuickJS to
/// build the uncatchable "interrupted" error that unwinds it (a few hundred bytes), too little to
/// do anything useful. Refilled by the interrupt handler, right before QuickJS throws.
const KILLED_GRACE_BYTES: u64 = 64 * 1024;

impl Meter {
    pub(crate) fn new(ceiling: u64) -> Self {
        Self {
            ceiling: AtomicU64::new(ceiling),
            used: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
            grace: AtomicU64::new(0),
        }
    }

    /// Whether `size` more bytes fit under the ceiling; the first `false` marks the plugin for
    /// killing (see [`Shared::killed`]).
    ///
    /// Once the ceiling was hit, (almost) every allocation is refused, not just those past the
    /// ceiling: a plugin that catches the out-of-memory error and frees its garbage would
    /// otherwise refill its heap again and again (each time a full GC), reaching the interrupt
    /// check that stops it only after many seconds. Only a small grace, refilled at each
    /// interrupt check, lets QuickJS allocate the uncatchable error that ends the plugin.
    pub(crate) fn admit(&self, size: usize) -> bool {
        if self.exceeded.load(Relaxed) {
            let grace = self.grace.load(Relaxed);
            return match grace.checked_sub(size as u64) {
                Some(left) => {
                    self.grace.store(left, Relaxed);
                    true
                }
                None => false,
            };
        }
        let total = self.used.load(Relaxed) + self.reserved.load(Relaxed);
        let fits = total.saturating_add(size as u64) <= self.ceiling.load(Relaxed);
        if !fits {
            self.exceeded.store(true, Relaxed);
        }
        fits
    }

    pub(crate) fn add(&self, size: usize) {
        // Only the engine thread writes `used` and `peak`: load+store is enough.
        let used = self.used.load(Relaxed) + size as u64;
        self.used.store(used, Relaxed);
        self.raise_peak(used + self.reserved.load(Relaxed));
    }

    pub(crate) fn sub(&self, size: usize) {
        let used = self.used.load(Relaxed).saturating_sub(size as u64);
        self.used.store(used, Relaxed);
    }

    fn raise_peak(&self, total: u64) {
        if total > self.peak.load(Relaxed) {
            self.peak.store(total, Relaxed);
        }
    }

    /// Records the host's reserved bytes; `false` if engine heap plus reserve is now past the
    /// ceiling.
    fn set_reserved(&self, reserved: u64) -> bool {
        self.reserved.store(reserved, Relaxed);
        let total = self.used.load(Relaxed).saturating_add(reserved);
        self.raise_peak(total);
        if total > self.ceiling.load(Relaxed) {
            self.exceeded.store(true, Relaxed);
            return false;
        }
        true
    }

    /// Called by the interrupt handler when it stops a killed plugin; see [`Meter::admit`].
    pub(crate) fn refill_grace(&self) {
        self.grace.store(KILLED_GRACE_BYTES, Relaxed);
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    /// Engine heap plus host-reserved bytes right now.
    pub(crate) fn current(&self) -> u64 {
        self.used.load(Relaxed) + self.reserved.load(Relaxed)
    }

    pub(crate) fn ceiling(&self) -> u64 {
        self.ceiling.load(Relaxed)
    }

    /// Holds a meter made without a ceiling (an engine prepared before its step was known) to
    /// the step's: what it counted so far stays counted.
    pub(crate) fn set_ceiling(&self, ceiling: u64) {
        self.ceiling.store(ceiling, Relaxed);
        if self.current() > ceiling {
            self.exceeded.store(true, Relaxed);
        }
    }
}

/// State shared by the supervisor, the engine thread and its interrupt handler.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The step's deadline; unset until the step is known (a sandbox prepared before it).
    deadline: OnceLock<Instant>,
    /// `performance`'s time origin: when the step's sandbox was made or armed, as an instant and
    /// in milliseconds after the Unix epoch.
    origin: OnceLock<(Instant, f64)>,
    kill: AtomicU8,
    pub(crate) meter: Arc<Meter>,
    /// The engine thread's CPU clock id (`-1` until known), so that the supervisor can read it
    /// when it abandons the thread.
    engine_clock: AtomicI64,
    /// That clock's reading when the step began on the thread, in nanoseconds: engine threads
    /// are reused, so their clock also holds earlier steps' time.
    engine_clock_start: AtomicU64,
}

impl Shared {
    pub(crate) fn new(deadline: Instant, memory: u64) -> Self {
        Self::with_meter(deadline, Arc::new(Meter::new(memory)))
    }

    /// The same over an existing meter (that of a prepared engine).
    pub(crate) fn with_meter(deadline: Instant, meter: Arc<Meter>) -> Self {
        let shared = Self::unarmed(meter);
        let _ = shared.arm(deadline);
        shared
    }

    /// State for a sandbox prepared before its step: no deadline until [`Shared::arm`].
    pub(crate) fn unarmed(meter: Arc<Meter>) -> Self {
        Self {
            deadline: OnceLock::new(),
            origin: OnceLock::new(),
            kill: AtomicU8::new(0),
            meter,
            engine_clock: AtomicI64::new(-1),
            engine_clock_start: AtomicU64::new(0),
        }
    }

    /// Sets the step's deadline and the time origin (now); `false` if they were set already.
    pub(crate) fn arm(&self, deadline: Instant) -> bool {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        self.deadline.set(deadline).is_ok() && self.origin.set((Instant::now(), origin_ms)).is_ok()
    }

    /// `performance`'s time origin (see [`Shared::arm`]); now, if the step is not known yet.
    pub(crate) fn origin(&self) -> (Instant, f64) {
        *self.origin.get_or_init(|| {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            (Instant::now(), ms)
        })
    }

    /// Marks the plugin as stopped; the first reason wins.
    pub(crate) fn kill(&self, why: Kill) {
        let _ = self.kill.compare_exchange(0, why as u8, Relaxed, Relaxed);
    }

    /// Why the plugin was stopped, if it was; notices a passed deadline and an exceeded memory
    /// ceiling. Cheap enough for the interrupt handler (an `Instant::now()` and two loads).
    pub(crate) fn killed(&self) -> Option<Kill> {
        match self.kill.load(Relaxed) {
            1 => return Some(Kill::Memory),
            2 => return Some(Kill::Timeout),
            _ => {}
        }
        if self.meter.exceeded.load(Relaxed) {
            self.kill(Kill::Memory);
        } else if self.deadline.get().is_some_and(|d| Instant::now() >= *d) {
            self.kill(Kill::Timeout);
        } else {
            return None;
        }
        self.killed()
    }

    /// The step's deadline; now if it is not set yet (nothing may wait before the step).
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline.get().copied().unwrap_or_else(Instant::now)
    }

    pub(crate) fn set_engine_clock(&self, clock: Option<libc::clockid_t>) {
        if let Some(clock) = clock {
            let start = sys::cpu_time(clock).unwrap_or_default().as_nanos();
            self.engine_clock_start
                .store(u64::try_from(start).unwrap_or(u64::MAX), Relaxed);
            // Release, with the Acquire below: a reader that sees the clock sees its baseline
            // (else it could subtract 0 and count earlier steps' time on the thread).
            self.engine_clock.store(i64::from(clock), Release);
        }
    }

    /// The CPU time the engine thread spent on this step so far, read from another thread.
    pub(crate) fn engine_cpu(&self) -> Option<Duration> {
        let clock = libc::clockid_t::try_from(self.engine_clock.load(Acquire)).ok()?;
        if clock == -1 {
            return None;
        }
        let start = Duration::from_nanos(self.engine_clock_start.load(Relaxed));
        Some(sys::cpu_time(clock)?.saturating_sub(start))
    }
}

/// Where a gate's calls go.
enum HostSlot {
    /// Made before its step (the process tier's zygote): no host yet, every call fails closed.
    Unarmed,
    /// The step's host.
    Armed(Arc<dyn Host>),
    /// Revoked: the supervisor dropped its claim and the abandoned engine thread can no longer
    /// reach the host. Never armed again.
    Revoked,
}

/// The engine's handle on the host. Cheap to clone through `Arc`.
pub(crate) struct Gate {
    host: Mutex<HostSlot>,
    pub(crate) shared: Arc<Shared>,
}

impl Gate {
    pub(crate) fn new(host: Arc<dyn Host>, shared: Arc<Shared>) -> Self {
        Self {
            host: Mutex::new(HostSlot::Armed(host)),
            shared,
        }
    }

    /// A gate whose host is set later, once, by [`Gate::arm`]; until then every call fails
    /// closed (see [`Gate::call`]).
    pub(crate) fn unarmed(shared: Arc<Shared>) -> Self {
        Self {
            host: Mutex::new(HostSlot::Unarmed),
            shared,
        }
    }

    /// Gives an unarmed gate its step's host; `false` (and nothing changed) if it had one
    /// already or was revoked: a gate serves one step's host, never another's.
    pub(crate) fn arm(&self, host: Arc<dyn Host>) -> bool {
        let mut slot = self.host.lock().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*slot, HostSlot::Unarmed) {
            return false;
        }
        *slot = HostSlot::Armed(host);
        true
    }

    /// Cuts the engine off the host for good. A call already in progress finishes.
    pub(crate) fn revoke(&self) {
        *self.host.lock().unwrap_or_else(PoisonError::into_inner) = HostSlot::Revoked;
    }

    /// Forwards one request, unless the gate is not armed yet, the plugin was stopped or the
    /// gate revoked. A `LimitExceeded` reply stops the plugin. After the call, the host's
    /// reserved bytes lower the engine's ceiling.
    pub(crate) fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        let host = match &*self.host.lock().unwrap_or_else(PoisonError::into_inner) {
            HostSlot::Armed(host) => Some(Arc::clone(host)),
            HostSlot::Unarmed => return Err(unarmed_error()),
            HostSlot::Revoked => None,
        };
        if let Some(kill) = self.shared.killed() {
            return Err(self.limit_error(kill));
        }
        let Some(host) = host else {
            return Err(self.limit_error(Kill::Timeout));
        };
        let reply = host.call_guarded(request);
        if !self.shared.meter.set_reserved(host.reserved_bytes()) {
            self.shared.kill(Kill::Memory);
        }
        if let Err(HostError::LimitExceeded { capability, .. }) = &reply {
            self.shared.kill(match capability {
                Capability::LimitTimeout => Kill::Timeout,
                _ => Kill::Memory,
            });
        }
        reply
    }

    fn limit_error(&self, kill: Kill) -> HostError {
        let (capability, message) = match kill {
            Kill::Memory => (
                Capability::LimitMemory,
                crate::StepError::Memory {
                    limit: self.shared.meter.ceiling(),
                }
                .to_string(),
            ),
            Kill::Timeout => (Capability::LimitTimeout, "the step's time is up".to_owned()),
        };
        HostError::LimitExceeded {
            capability,
            message,
        }
    }
}

/// What a call through a gate that has no step's host yet gets: no capability.
fn unarmed_error() -> HostError {
    HostError::Failed {
        type_error: false,
        message: "this sandbox has no host access before its step starts".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its calls and answers each with its own name.
    struct Named(&'static str, AtomicUsize);

    impl Host for Named {
        fn call(&self, _: HostRequest) -> Result<HostValue, HostError> {
            self.1.fetch_add(1, Relaxed);
            Ok(HostValue::Text {
                value: Some(self.0.to_owned()),
            })
        }
    }

    fn env_get() -> HostRequest {
        HostRequest::EnvGet { name: "X".into() }
    }

    /// A gate made before its step (the zygote's prepared bindings hold one) reaches no host
    /// until armed, then only the host it was armed with: arming it again (another step's host)
    /// is refused, and so is arming it after it was revoked.
    #[test]
    fn issue_23_a_prepared_gate_fails_closed_and_serves_one_steps_host() {
        let shared = Arc::new(Shared::unarmed(Arc::new(Meter::new(u64::MAX))));
        let gate = Gate::unarmed(Arc::clone(&shared));
        assert!(matches!(
            gate.call(env_get()),
            Err(HostError::Failed {
                type_error: false,
                ..
            })
        ));
        // No deadline yet: not a timeout, and nothing waits.
        assert_eq!(shared.killed(), None);

        let first = Arc::new(Named("first", AtomicUsize::new(0)));
        let second = Arc::new(Named("second", AtomicUsize::new(0)));
        assert!(shared.arm(Instant::now() + Duration::from_secs(60)));
        assert!(!shared.arm(Instant::now() + Duration::from_secs(600)));
        assert!(gate.arm(Arc::clone(&first) as Arc<dyn Host>));
        assert!(!gate.arm(Arc::clone(&second) as Arc<dyn Host>));
        assert!(matches!(
            gate.call(env_get()),
            Ok(HostValue::Text { value: Some(name) }) if name == "first"
        ));
        gate.revoke();
        assert!(!gate.arm(Arc::clone(&second) as Arc<dyn Host>));
        assert!(matches!(
            gate.call(env_get()),
            Err(HostError::LimitExceeded { .. })
        ));
        assert_eq!(first.1.load(Relaxed), 1);
        assert_eq!(second.1.load(Relaxed), 0);
    }

    /// A ceiling set below what a prepared engine already holds stops the step at once.
    #[test]
    fn issue_23_a_ceiling_below_the_prepared_bytes_is_exceeded_at_once() {
        let meter = Meter::new(u64::MAX);
        meter.add(4096);
        meter.set_ceiling(1024);
        assert!(meter.exceeded.load(Relaxed));
    }
}
