//! The process isolation tier (SPEC §6): each step's engine runs in a worker process of its own
//! that the kernel confines, and reaches capabilities only by messages to aether, which checks
//! and performs them with the same broker as the thread tier.
//!
//! - [`Zygote`]: one small confined process per run, started from aether's own binary with an
//!   empty environment, that forks workers (about the cost of a `fork`, no `exec`);
//! - the worker: confined further, runs `aether_sandbox::run_step` with a host that forwards
//!   every call over its socket ([`wire`]);
//! - [`supervisor::supervise`]: aether's side, which serves the calls, enforces the protocol and the
//!   deadline, reads the kernel's accounting and kills the worker.
//!
//! What it must never do: trust a byte a worker sends, wait on a worker without a deadline, or
//! let a worker outlive its step or aether.
#![deny(missing_docs)]

mod confine;
mod image;
pub mod oom;
pub mod ring;
pub mod supervisor;
mod sys;
pub mod wire;
mod worker;
mod zygote;

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_protocol::Host;
use aether_sandbox::{StepError, StepOutcome, StepSpec};

pub use image::{
    BUILD_ID, BUILD_ID_SECTION, IMAGE_NAME, ZygoteImage, image_build_id, zygote_image,
};
pub use oom::Allocator;
pub use supervisor::{Accounting, WorkerProcess};
use zygote::Spawned;
pub use zygote::{StartingZygote, ZYGOTE_ARG, Zygote, image_main, run_zygote_if_asked};

/// Address space a worker may map beyond its memory ceiling: aether's binary and libraries,
/// thread stacks (the engine thread reserves 48 MiB: 4 times the JavaScript stack) and glibc's per-thread malloc
/// arenas (64 MiB of reserved address space each). `RLIMIT_AS` is a backstop: the engine's
/// metering allocator enforces the ceiling itself, to the byte.
pub const ENGINE_ADDRESS_OVERHEAD: u64 = 1024 * 1024 * 1024;

/// Why the process tier could not run a step.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// This machine cannot confine workers (the message names what is missing).
    #[error("{0}")]
    Unsupported(String),
    /// A system call failed while setting a worker up.
    #[error("cannot start {what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

/// A worker forked by the zygote: killed through its pidfd, accounted through its CPU clock and
/// its `/proc` status file (opened when it is forked, off a step's path, and read once when its
/// step ends).
struct ProcessWorker {
    pid: i32,
    pidfd: OwnedFd,
    status: Option<std::fs::File>,
    /// Its process CPU clock (`clock_getcpuclockid`): the CPU time of all its threads to the
    /// nanosecond, as the thread tier measures its engine thread's, where `/proc/PID/stat`
    /// counts in scheduler ticks (10 ms) and costs an open, reads and a close per worker
    /// (issue 23).
    clock: Option<libc::clockid_t>,
}

impl ProcessWorker {
    fn new(pid: i32, pidfd: OwnedFd) -> ProcessWorker {
        let status = std::fs::File::open(format!("/proc/{pid}/status")).ok();
        let clock = sys::process_cpu_clock(pid);
        // Opened by pid: kept only if the pidfd's process is still alive after, so the file
        // and the clock are that process's (a pid is not reused before its process is gone).
        let alive = self::alive(&pidfd);
        ProcessWorker {
            pid,
            status: status.filter(|_| alive),
            clock: clock.filter(|_| alive),
            pidfd,
        }
    }

    /// The CPU time of all the worker's threads so far; zero if it is gone. Read by pid, so it
    /// counts only if the worker is still alive after the read: its pid named it throughout.
    fn cpu(&self) -> Duration {
        self.clock
            .and_then(sys::clock_time)
            .filter(|_| alive(&self.pidfd))
            .unwrap_or_default()
    }

    /// Lowers the worker's `RLIMIT_AS` and `RLIMIT_CPU` (soft and hard) to `request`'s, from
    /// aether's side (a worker cannot raise them back). `Err` if the worker is gone.
    fn hold_to(&self, request: zygote::SpawnRequest) -> std::io::Result<()> {
        use rustix::process::{Resource, Rlimit, prlimit};
        let pid = rustix::process::Pid::from_raw(self.pid).ok_or(rustix::io::Errno::SRCH)?;
        let limit = |value: u64| Rlimit {
            current: Some(value),
            maximum: Some(value),
        };
        // Alive before and after: the pid named this worker all along.
        if !alive(&self.pidfd) {
            return Err(rustix::io::Errno::SRCH.into());
        }
        prlimit(Some(pid), Resource::As, limit(request.address_space))?;
        prlimit(Some(pid), Resource::Cpu, limit(request.cpu_seconds.max(1)))?;
        if !alive(&self.pidfd) {
            return Err(rustix::io::Errno::SRCH.into());
        }
        Ok(())
    }

    /// Kills a worker that never ran a step.
    fn kill_now(&self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
    }
}

/// Whether the process behind `pidfd` has not exited yet.
fn alive(pidfd: &OwnedFd) -> bool {
    use std::os::fd::AsFd;
    sys::alive(pidfd.as_fd())
}

/// Reads all of `file` from its start (a `/proc` file is generated anew by each read from 0),
/// or opens `/proc/PID/NAME` if it was not opened ahead.
fn read_proc(file: Option<&std::fs::File>, pid: i32, name: &str) -> String {
    use std::os::unix::fs::FileExt;
    let Some(file) = file else {
        return std::fs::read_to_string(format!("/proc/{pid}/{name}")).unwrap_or_default();
    };
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    buf.resize(len * 2, 0);
                }
            }
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).unwrap_or_default()
}

impl WorkerProcess for ProcessWorker {
    fn accounting(&self) -> Accounting {
        let status = read_proc(self.status.as_ref(), self.pid, "status");
        let kib = |field: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Accounting {
            memory_bytes: kib("VmRSS:") * 1024,
            peak_memory_bytes: kib("VmHWM:") * 1024,
            cpu: self.cpu(),
        }
    }

    fn kill(&self) {
        self.kill_now();
    }
}

/// Runs one step in a fresh worker of `zygote`, serving its host calls through `host`.
///
/// The worker is held to the step's memory ceiling (plus [`ENGINE_ADDRESS_OVERHEAD`] of
/// address space) and its timeout, killed at the deadline (plus the sandbox's grace), and
/// never reused. Never panics; every failure is the step's error.
pub fn run_in_worker(zygote: &Zygote, spec: StepSpec, host: Arc<dyn Host>) -> StepOutcome {
    let started = Instant::now();
    let limits = spec.limits;
    let request = zygote::SpawnRequest {
        address_space: limits
            .memory
            .bytes()
            .saturating_add(ENGINE_ADDRESS_OVERHEAD),
        cpu_seconds: limits.timeout.as_secs().saturating_add(2),
    };
    match zygote.take(request) {
        Ok(spawned) => {
            let Spawned {
                socket,
                mut ring,
                worker,
            } = spawned;
            let outcome = supervisor::supervise_lending(socket, ring.as_mut(), &worker, spec, host);
            // Killed by now: its ring is handed on once it is gone, never before.
            if let Some(ring) = ring {
                zygote.retire(ring, worker.pidfd);
            }
            outcome
        }
        Err(e) => StepOutcome {
            result: Err(StepError::Engine {
                message: e.to_string(),
            }),
            peak_memory_bytes: 0,
            cpu_ms: 0,
            duration: started.elapsed(),
            samples: Vec::new(),
        },
    }
}

/// Whether this machine can run the process tier (`aether check` says so, issue 23): `Ok`, or
/// what is missing and what the kernel has, as one phrase ("Landlock scopes (ABI 6, Linux
/// 6.12) is missing (the kernel's Landlock ABI is 4, 6 is needed)"). The same checks as the
/// zygote's own confinement; the first call forks one short-lived child to try a network
/// namespace, and the answer is kept for the life of the process.
pub fn process_tier_support() -> Result<(), String> {
    match aether_jail::engine::engine_support() {
        Ok(()) => Ok(()),
        Err(aether_jail::JailError::EngineUnsupported { feature, reason }) => {
            Err(format!("{feature} is missing ({reason})"))
        }
        Err(other) => Err(other.to_string()),
    }
}
