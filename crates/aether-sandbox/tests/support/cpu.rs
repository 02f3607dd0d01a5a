//! The CPU clock the engine's speed tests (`engine_interp`, `engine_calls`, `engine_props`)
//! time their loops with: a ratio of two loops on one thread's CPU time is steadier on a loaded
//! machine than wall time.

/// This thread's CPU time in milliseconds (std has no per-thread CPU clock).
#[allow(
    unsafe_code,
    reason = "clock_gettime of the thread CPU clock; std has no safe equivalent"
)]
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock id is a constant of the platform.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}
