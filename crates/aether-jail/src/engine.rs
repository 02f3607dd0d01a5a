//! Kernel confinement of the `process` isolation tier (SPEC §6): one **zygote** per run, forked
//! into one **worker** per engine instance.
//!
//! What it enforces:
//! - [`confine_zygote`] leaves the zygote with no filesystem (Landlock, no rule), no network (an
//!   empty network namespace, plus Landlock TCP rules), no capability ever again, no new
//!   privileges, no signal to or abstract socket of any process outside its Landlock domain, no
//!   core dump, no file growth, at most [`ZYGOTE_OPEN_FILES`] descriptors, and a seccomp
//!   allowlist (`policy::ENGINE_SYSCALLS`, zygote column) that kills it for any other system
//!   call. It dies with aether (`PR_SET_PDEATHSIG`).
//! - [`confine_worker`] keeps all of that (inherited through `fork`) and adds the worker's
//!   rlimits and the stricter worker allowlist (worker column): memory, threads, clocks, sleeps,
//!   signals to itself, and reading/writing descriptors it already holds. No `open`, `socket`,
//!   `sendmsg`/`recvmsg`, `execve`, `fork`, `kill`. It dies with the zygote.
//!
//! What it must never do: decide what a plugin may do. A worker reaches capabilities only by
//! messages that aether checks; this module only makes sure it has no other way.
//!
//! Order matters and is fixed: anything that needs a file (`/proc/self/task`, uid maps, the time
//! zone) happens before Landlock; anything that needs a capability (`unshare`, securebits)
//! happens before capabilities are dropped; seccomp comes last.
//!
//! # Limitations
//! - `PR_SET_PDEATHSIG` fires when the *thread* that spawned the zygote exits, not the process:
//!   aether must spawn the zygote from a thread that lives as long as the run (the main thread).
//!   Between the zygote's start and its `prctl`, aether's death is caught by comparing the
//!   parent pid read just before and just after; a death before the first read goes unnoticed
//!   here (the zygote then reads EOF on its control socket).
//! - `RLIMIT_AS` counts reserved address space, not memory: each glibc malloc arena reserves
//!   64 MiB, each thread stack 8 MiB (2 MiB for std threads), and the worker inherits the
//!   zygote's mappings. aether's own memory ceiling stays the precise limit.
//! - `RLIMIT_NPROC` is not set: it is not enforced for root, and a worker cannot fork anyway.
//! - `RLIMIT_FSIZE` is 0: the zygote and workers are killed (`SIGXFSZ`) if they write to a
//!   regular file, including an inherited stderr redirected to a file. Give them pipes.
//! - Library calls that open files kill a worker: `std::thread::available_parallelism` (reads
//!   cgroup files), `pthread_setname_np` on *another* thread, `getpwnam`, locale loading. Only
//!   the time zone is preloaded ([`confine_zygote`] calls `tzset`).
//! - `UnixStream::try_clone` (`fcntl`) kills a worker: share `&UnixStream` between threads.
//! - x86_64 only: the tables name x86_64 system calls.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use seccompiler::BpfProgram;

use crate::policy::{self, Role};
use crate::{Feature, JailError, sys};

/// The zygote's `RLIMIT_NOFILE`, soft and hard. Without capabilities it cannot be raised, so it
/// is also the most [`WorkerLimits::open_files`] may be. 64 leaves room for a control socket, one
/// socket in flight per spawn request and std's descriptors, and stops a descriptor flood.
pub const ZYGOTE_OPEN_FILES: u64 = 64;

/// What a worker is held to, as rlimits of its own process (each thread counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerLimits {
    /// `RLIMIT_AS`, soft and hard, in bytes: an allocation past it fails (`mmap` returns
    /// `ENOMEM`, so `Vec::try_reserve` returns `Err`), it never touches aether. Counts reserved
    /// address space and the mappings inherited from the zygote (see the module's limitations),
    /// so set it above the engine's heap ceiling. Must be above 0. `u64::MAX` (unlimited) leaves
    /// the limit inherited from the zygote untouched, for a worker forked ahead of its step whose
    /// supervisor lowers it from outside (`prlimit`) before the step starts: a worker that set
    /// it itself could race that and undo it.
    pub address_space: u64,
    /// `RLIMIT_CPU`: CPU time of all the worker's threads together, rounded up to whole seconds
    /// (at least 1 s; the kernel reads 0 as 1 s). Soft and hard are equal, so the kernel sends
    /// `SIGKILL` when it is reached: no `SIGXCPU` that a handler could catch. A backstop: aether's
    /// wall-clock deadline kills the worker first in the normal case. `u64::MAX` seconds, as for
    /// `address_space`, leaves the inherited limit untouched.
    pub cpu: Duration,
    /// `RLIMIT_NOFILE`, soft and hard: the highest descriptor number plus one. At most
    /// [`ZYGOTE_OPEN_FILES`], at least 1.
    pub open_files: u64,
}

impl WorkerLimits {
    /// `cpu` as the whole seconds that `RLIMIT_CPU` takes: rounded up, at least 1.
    fn cpu_seconds(&self) -> u64 {
        let secs = self.cpu.as_secs();
        let rounded = if self.cpu.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        rounded.max(1)
    }
}

/// The zygote's pid, set by a successful [`confine_zygote`]; forked workers inherit it and check
/// it is their parent.
static ZYGOTE: AtomicI32 = AtomicI32::new(0);

/// The worker's own filter (what the worker column narrows of the zygote's, see
/// `policy::worker_narrowing`), compiled by [`confine_zygote`] and inherited by workers, which
/// patch in their pid.
static WORKER_FILTER: OnceLock<BpfProgram> = OnceLock::new();

/// The lowest Landlock ABI the tier needs: ABI 4 for TCP rules, 6 for scopes.
const LANDLOCK_ABI: u32 = 6;

/// Whether this kernel can run the `process` tier: x86_64, Landlock ABI ≥ 6 (filesystem, TCP,
/// scopes), seccomp with `SECCOMP_RET_KILL_PROCESS`, `pidfd_open`, and a network namespace that a
/// forked child can create (with a user namespace when not root). `Ok` guarantees that
/// [`confine_zygote`] will not fail for a missing feature (it can still fail for other reasons,
/// such as an exhausted namespace limit).
///
/// The first call forks one short-lived child to try `unshare` (safe in a multi-threaded
/// process: the child only calls `unshare` and `_exit`); the result is cached.
///
/// # Errors
/// [`JailError::EngineUnsupported`] naming the first missing [`Feature`], whose message says the
/// `process` tier cannot run here.
pub fn engine_support() -> Result<(), JailError> {
    static RESULT: OnceLock<Result<(), (Feature, String)>> = OnceLock::new();
    RESULT
        .get_or_init(probe)
        .clone()
        .map_err(|(feature, reason)| JailError::EngineUnsupported { feature, reason })
}

fn probe() -> Result<(), (Feature, String)> {
    check_architecture()?;
    check_landlock(sys::landlock_abi())?;
    check_seccomp()?;
    check_pidfd()?;
    let flags = match sys::effective_ids().0 {
        0 => libc::CLONE_NEWNET,
        _ => libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
    };
    sys::probe_unshare(flags)
        .map_err(|e| (Feature::NetworkNamespace, format!("unshare failed: {e}")))
}

fn check_architecture() -> Result<(), (Feature, String)> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        Err((
            Feature::Architecture,
            format!("this is {}", std::env::consts::ARCH),
        ))
    }
}

fn check_pidfd() -> Result<(), (Feature, String)> {
    let own = rustix::process::getpid();
    rustix::process::pidfd_open(own, rustix::process::PidfdFlags::empty())
        .map(drop)
        .map_err(|e| (Feature::Pidfd, format!("pidfd_open failed: {e}")))
}

fn check_landlock(abi: u32) -> Result<(), (Feature, String)> {
    let feature = match abi {
        0 => Feature::LandlockFs,
        1..4 => Feature::LandlockNet,
        4..LANDLOCK_ABI => Feature::LandlockScopes,
        _ => return Ok(()),
    };
    let reason = match abi {
        0 => "Landlock is absent or disabled (see `lsm=` on the kernel command line)".to_owned(),
        _ => format!("the kernel's Landlock ABI is {abi}, {LANDLOCK_ABI} is needed"),
    };
    Err((feature, reason))
}

fn check_seccomp() -> Result<(), (Feature, String)> {
    let kill = sys::seccomp_action_available(libc::SECCOMP_RET_KILL_PROCESS);
    if kill && sys::seccomp_available() {
        Ok(())
    } else {
        Err((
            Feature::Seccomp,
            "seccomp filters cannot kill a process (SECCOMP_RET_KILL_PROCESS, Linux 4.14)"
                .to_owned(),
        ))
    }
}

fn unsupported((feature, reason): (Feature, String)) -> JailError {
    JailError::EngineUnsupported { feature, reason }
}

/// Confines the calling process as the engine zygote, for good. Call it once, right after the
/// zygote starts; the process MUST be single-threaded (checked: `/proc/self/task` must list one
/// thread, else [`JailError::NotSingleThreaded`] and nothing is changed).
///
/// On `Ok`, the process and everything it forks afterwards:
/// - is killed by `SIGKILL` when the thread that spawned it exits (`PR_SET_PDEATHSIG`, checked
///   against the parent pid read just before, else [`JailError::ParentGone`]);
/// - is in a new network namespace with nothing in it but a down loopback (as root:
///   `CLONE_NEWNET`; otherwise, or if that is refused, in a new user namespace too, mapping only
///   its own uid and gid);
/// - has `RLIMIT_CORE` 0, `RLIMIT_FSIZE` 0, `RLIMIT_NOFILE` [`ZYGOTE_OPEN_FILES`];
/// - has no capability in any set (effective, permitted, inheritable, ambient, bounding) and the
///   locked securebits `NOROOT`, `NO_SETUID_FIXUP`, `KEEP_CAPS_LOCKED`, `NO_CAP_AMBIENT_RAISE`;
/// - has no_new_privs;
/// - is in a Landlock domain handling every filesystem right of the kernel's ABI with no rule
///   (no path can be opened, created, removed, executed...), TCP bind and connect with no rule,
///   and the signal and abstract-socket scopes;
/// - runs under the zygote seccomp allowlist, which kills the process (`SIGSYS`) for any other
///   system call, another architecture or an x32 call, and makes `clone3` fail with `ENOSYS`.
///
/// The time zone is loaded first (`tzset`) so that `localtime_r` never needs a file later.
///
/// # Errors
/// [`JailError::EngineUnsupported`] when the kernel lacks a feature (see [`engine_support`]; it
/// need not be called first: everything it checks is checked here, the network namespace by
/// entering it),
/// [`JailError::NotSingleThreaded`], [`JailError::ParentGone`], [`JailError::WrongProcess`] when
/// called twice, [`JailError::Engine`] when a step fails. After an error other than
/// `NotSingleThreaded`/`WrongProcess`/`EngineUnsupported`, the process may be partly confined
/// and must exit.
pub fn confine_zygote() -> Result<(), JailError> {
    confine_zygote_with(None)
}

/// A network namespace being made on a thread of the zygote while the zygote starts
/// ([`prepare_network_namespace`]), for [`confine_zygote_with`] to enter.
#[derive(Debug)]
pub struct PreparedNetwork {
    thread: std::thread::JoinHandle<std::io::Result<std::os::fd::OwnedFd>>,
}

/// As root, starts a short-lived thread that makes a new, empty network namespace
/// (`unshare(CLONE_NEWNET)` on that thread only: the kernel allows it in a multi-threaded process)
/// and keeps it by a descriptor of `/proc/thread-self/ns/net`, then ends. Making the namespace
/// (the loopback device, its sysctls and sysfs entries) is about half a millisecond of kernel
/// work that then runs while the zygote starts, on the other CPU; [`confine_zygote_with`] joins
/// the thread and moves the zygote's main thread into that namespace (`setns`, which every worker
/// forked afterwards inherits).
///
/// Returns `None` when not root (a user namespace, needed then, can only be made by a
/// single-threaded process: [`confine_zygote_with`] makes both itself) or when no thread can be
/// started. Call it first thing in the zygote, before it allocates much.
pub fn prepare_network_namespace() -> Option<PreparedNetwork> {
    if !sys::is_root() {
        return None;
    }
    let thread = std::thread::Builder::new()
        .name("aether-netns".into())
        .stack_size(64 << 10)
        .spawn(|| {
            sys::unshare(libc::CLONE_NEWNET)?;
            std::fs::File::open("/proc/thread-self/ns/net").map(std::os::fd::OwnedFd::from)
        })
        .ok()?;
    Some(PreparedNetwork { thread })
}

/// How many times [`confine_zygote_with`] looks again for the prepared namespace's thread to be
/// gone from `/proc/self/task` after joining it (it is listed until the kernel has released it,
/// a few microseconds after the join returns), yielding the CPU between looks.
const THREAD_GONE_TRIES: usize = 1000;

/// [`confine_zygote`], entering the network namespace `network` made meanwhile
/// ([`prepare_network_namespace`]) instead of making one on this thread. Its thread is joined
/// first, and the process must then be single-threaded, as for [`confine_zygote`] (checked the
/// same way, waiting for the joined thread to leave `/proc/self/task`). If the thread could not
/// make or keep the namespace, or `setns` fails, the namespace is made here as without it: the
/// guarantees are [`confine_zygote`]'s in every case.
///
/// # Errors
/// As [`confine_zygote`].
pub fn confine_zygote_with(network: Option<PreparedNetwork>) -> Result<(), JailError> {
    let fail = |step| {
        move |source| JailError::Engine {
            role: "zygote",
            step,
            source,
        }
    };
    if ZYGOTE.load(Ordering::Relaxed) != 0 {
        return Err(JailError::WrongProcess {
            role: "zygote",
            reason: "this process is already confined",
        });
    }
    // What `engine_support` checks, but for its forked child trying `unshare`: the namespace
    // is entered for real below, and a refusal is the same `EngineUnsupported` error. A fork of
    // the zygote's image and a namespace made and torn down cost more than the rest of its
    // confinement.
    check_architecture().map_err(unsupported)?;
    let abi = sys::landlock_abi();
    check_landlock(abi).map_err(unsupported)?;
    check_seccomp().map_err(unsupported)?;
    check_pidfd().map_err(unsupported)?;
    // The prepared namespace's thread has made it (or failed) and ended once joined.
    let joined = network.map(|n| n.thread.join().ok().and_then(Result::ok));
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .map(Iterator::count)
            .map_err(fail("counting threads in /proc/self/task"))
    };
    let mut threads = count()?;
    let mut tries = if joined.is_some() {
        THREAD_GONE_TRIES
    } else {
        0
    };
    let prepared = joined.flatten();
    while threads != 1 && tries > 0 {
        std::thread::yield_now();
        threads = count()?;
        tries -= 1;
    }
    if threads != 1 {
        return Err(JailError::NotSingleThreaded { threads });
    }
    // Compiled before any step, so that a table error leaves the process untouched.
    let filter = policy::engine_filter(Role::Zygote, 0)?;
    let worker_filter = policy::worker_filter_template()?;

    let parent = sys::parent_pid();
    sys::set_parent_death_kill().map_err(fail("PR_SET_PDEATHSIG"))?;
    if sys::parent_pid() != parent {
        return Err(JailError::ParentGone {
            role: "zygote",
            parent,
        });
    }
    sys::prime_libc();
    // The namespace made meanwhile if there is one (it was made by root, as `new_network_namespace`
    // would make it here), else one made now.
    let entered = prepared.is_some_and(|ns| {
        use std::os::fd::AsFd;
        sys::setns(ns.as_fd(), libc::CLONE_NEWNET).is_ok()
    });
    if !entered {
        new_network_namespace()?;
    }
    for (resource, limit) in [
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, 0),
        (libc::RLIMIT_NOFILE, ZYGOTE_OPEN_FILES),
    ] {
        sys::set_rlimit(resource, limit, limit).map_err(fail("setrlimit"))?;
    }
    sys::drop_capabilities().map_err(fail("dropping capabilities"))?;
    sys::set_no_new_privs().map_err(fail("PR_SET_NO_NEW_PRIVS"))?;
    policy::engine_landlock(abi)?;
    sys::install_filter(&filter).map_err(fail("installing the seccomp filter"))?;
    // Single-threaded and never set before (ZYGOTE was 0), so this cannot be taken.
    let _ = WORKER_FILTER.set(worker_filter);
    ZYGOTE.store(sys::own_pid(), Ordering::Relaxed);
    Ok(())
}

/// Enters a new, empty network namespace: as root with `CLONE_NEWNET` alone; otherwise (or when
/// that is refused, as for a root without `CAP_SYS_ADMIN` in a container) together with a new
/// user namespace mapping only the current uid and gid, written now, while `/proc` can still be
/// opened.
fn new_network_namespace() -> Result<(), JailError> {
    let fail = |step| {
        move |source| JailError::Engine {
            role: "zygote",
            step,
            source,
        }
    };
    let (uid, gid) = sys::effective_ids();
    if uid == 0 && sys::unshare(libc::CLONE_NEWNET).is_ok() {
        return Ok(());
    }
    sys::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET).map_err(|e| {
        unsupported((
            Feature::NetworkNamespace,
            format!("unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: {e}"),
        ))
    })?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(fail("writing setgroups"))?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))
        .map_err(fail("writing uid_map"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
        .map_err(fail("writing gid_map"))?;
    Ok(())
}

/// Confines a worker freshly forked by a confined zygote, for good. Call it first thing in the
/// child, before any thread starts (the filter is installed with `SECCOMP_FILTER_FLAG_TSYNC`,
/// so a thread started earlier by mistake is confined too, or this fails).
///
/// On `Ok`, on top of everything inherited from [`confine_zygote`]:
/// - the worker is killed by `SIGKILL` when the zygote exits (`PR_SET_PDEATHSIG`, checked
///   against the zygote's pid, else [`JailError::ParentGone`]);
/// - `RLIMIT_AS` = `address_space`, `RLIMIT_CPU` = `cpu` (whole seconds, soft = hard; either
///   left as inherited when unlimited, `u64::MAX`),
///   `RLIMIT_NOFILE` = `open_files`, `RLIMIT_FSIZE` 0, `RLIMIT_CORE` 0 ([`WorkerLimits`]);
/// - the worker seccomp allowlist holds (the zygote's filter, inherited, with a short filter of
///   the worker's own stacked on it that refuses what only the zygote may do; together they
///   decide every call as the worker's whole allowlist would): memory management, threads (`clone` only with
///   `CLONE_THREAD`), futexes, clocks, sleeps, its own signals (`tgkill` to its own pid only),
///   `prctl(PR_SET_NAME)`, `read`/`write`/`readv`/`writev`/`recv`/`send` without an address,
///   `shutdown`, `close`, `exit`/`exit_group`; anything else kills the process with `SIGSYS`.
///   `mmap`/`mprotect` never get `PROT_WRITE|PROT_EXEC` together. `clone3` fails with `ENOSYS`.
///
/// # Errors
/// [`JailError::WrongProcess`] when this process is not a child of a zygote confined by
/// [`confine_zygote`] (nothing is changed then), [`JailError::InvalidLimits`],
/// [`JailError::ParentGone`], [`JailError::Engine`]; after the last two the worker may be partly
/// confined and must exit.
pub fn confine_worker(limits: &WorkerLimits) -> Result<(), JailError> {
    let fail = |step| {
        move |source| JailError::Engine {
            role: "worker",
            step,
            source,
        }
    };
    let zygote = ZYGOTE.load(Ordering::Relaxed);
    let pid = sys::own_pid();
    let template = WORKER_FILTER.get();
    let Some(template) = template.filter(|_| zygote != 0 && zygote != pid) else {
        return Err(JailError::WrongProcess {
            role: "worker",
            reason: "the caller is not a process forked by a confined zygote",
        });
    };
    if limits.address_space == 0 {
        return Err(JailError::InvalidLimits {
            field: "address_space",
            reason: "must be above 0".to_owned(),
        });
    }
    if !(1..=ZYGOTE_OPEN_FILES).contains(&limits.open_files) {
        return Err(JailError::InvalidLimits {
            field: "open_files",
            reason: format!(
                "is {}, must be 1 to {ZYGOTE_OPEN_FILES} (the zygote's own limit)",
                limits.open_files
            ),
        });
    }
    let filter = policy::with_pid(template, pid)?;

    sys::set_parent_death_kill().map_err(fail("PR_SET_PDEATHSIG"))?;
    if sys::parent_pid() != zygote {
        return Err(JailError::ParentGone {
            role: "worker",
            parent: zygote,
        });
    }
    let cpu = limits.cpu_seconds();
    for (resource, limit) in [
        (libc::RLIMIT_AS, limits.address_space),
        (libc::RLIMIT_CPU, cpu),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_FSIZE, 0),
        (libc::RLIMIT_CORE, 0),
    ] {
        if limit == u64::MAX && matches!(resource, libc::RLIMIT_AS | libc::RLIMIT_CPU) {
            continue;
        }
        sys::set_rlimit(resource, limit, limit).map_err(fail("setrlimit"))?;
    }
    sys::install_filter(&filter).map_err(fail("installing the seccomp filter"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cpu: Duration) -> u64 {
        WorkerLimits {
            address_space: 1,
            cpu,
            open_files: 1,
        }
        .cpu_seconds()
    }

    #[test]
    fn cpu_rounds_up_to_whole_seconds_at_least_one() {
        assert_eq!(cpu(Duration::ZERO), 1);
        assert_eq!(cpu(Duration::from_millis(1)), 1);
        assert_eq!(cpu(Duration::from_secs(1)), 1);
        assert_eq!(cpu(Duration::from_millis(1001)), 2);
        assert_eq!(cpu(Duration::from_secs(10)), 10);
        assert_eq!(cpu(Duration::MAX), u64::MAX);
    }

    #[test]
    fn landlock_abi_below_six_names_what_is_missing() {
        let feature = |abi| check_landlock(abi).err().map(|(f, _)| f);
        assert_eq!(feature(0), Some(Feature::LandlockFs));
        assert_eq!(feature(3), Some(Feature::LandlockNet));
        assert_eq!(feature(5), Some(Feature::LandlockScopes));
        assert_eq!(feature(6), None);
        assert_eq!(feature(7), None);
    }

    #[test]
    fn a_worker_outside_a_zygote_is_refused_before_anything_changes() {
        let limits = WorkerLimits {
            address_space: 1 << 30,
            cpu: Duration::from_secs(1),
            open_files: 16,
        };
        assert!(matches!(
            confine_worker(&limits),
            Err(JailError::WrongProcess { role: "worker", .. })
        ));
    }
}
