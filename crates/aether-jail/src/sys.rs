//! Every `unsafe` line of the crate: the code that runs in the child between `fork` and `exec`,
//! and two read-only kernel probes.
//!
//! After `fork` in a multi-threaded parent only async-signal-safe calls are allowed, so the hook
//! below makes raw system calls on values prepared by the parent (file descriptors, BPF
//! programs, numbers): it never allocates, locks, opens a file or formats a message. Nothing
//! here decides policy: `policy.rs` and `cgroup.rs` build what this module applies.
#![allow(
    unsafe_code,
    reason = "pre_exec hook and raw system calls (landlock, seccomp, prctl, setrlimit)"
)]

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// `SECBIT_NOROOT | SECBIT_NOROOT_LOCKED` (linux/securebits.h): uid 0 gains no capabilities at
/// `execve`, and the bit cannot be cleared again.
const NOROOT_LOCKED: libc::c_ulong = (1 << 0) | (1 << 1);
/// `LANDLOCK_CREATE_RULESET_VERSION` (linux/landlock.h).
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
/// `CLOSE_RANGE_CLOEXEC` (linux/close_range.h).
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Everything the child applies to itself before `exec`, prepared by the parent.
pub(crate) struct Hook {
    /// Write end of the child's `cgroup.procs`, joined first so every later fork is counted.
    pub(crate) cgroup_procs: Option<RawFd>,
    /// aether's pid: if it dies, the child gets SIGKILL (`PR_SET_PDEATHSIG`, tied to the thread
    /// that spawned it, which `run` keeps alive until the child is reaped).
    pub(crate) parent: libc::pid_t,
    /// `(resource, limit)` pairs, applied as both soft and hard limit.
    pub(crate) rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// Set `SECBIT_NOROOT`: when aether runs as root, the child's `execve` grants no capability.
    pub(crate) drop_root: bool,
    /// A Landlock ruleset to enforce with `landlock_restrict_self`.
    pub(crate) landlock: Option<RawFd>,
    /// Compiled seccomp programs, installed in order (the last installed runs first).
    pub(crate) filters: Vec<seccompiler::BpfProgram>,
}

/// Makes `command` confine its child with `hook` between `fork` and `exec`.
///
/// The caller keeps the file descriptors named in `hook` open until `spawn` returns.
pub(crate) fn install(command: &mut Command, hook: Hook) {
    let apply = move || -> io::Result<()> {
        if let Some(fd) = hook.cgroup_procs {
            // SAFETY: `fd` is open (the parent holds it until spawn returns) and the buffer is a
            // one-byte static string.
            if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: prctl and getppid with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) })?;
        // SAFETY: as above. aether died before the prctl: the signal will never come.
        if unsafe { libc::getppid() } != hook.parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        for &(resource, value) in &hook.rlimits {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: `limit` is a valid rlimit living across the call.
            check(unsafe { libc::setrlimit(resource, &limit) })?;
        }
        if hook.drop_root {
            // SAFETY: prctl with integer arguments only.
            check(unsafe { libc::prctl(libc::PR_SET_SECUREBITS, NOROOT_LOCKED, 0, 0, 0) })?;
        }
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
        if let Some(fd) = hook.landlock {
            // SAFETY: `fd` is an open Landlock ruleset; flags 0.
            check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) } as i32)?;
        }
        for filter in &hook.filters {
            let program = libc::sock_fprog {
                len: u16::try_from(filter.len())
                    .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
                // Same `repr(C)` layout: seccompiler mirrors linux/filter.h.
                filter: filter.as_ptr().cast::<libc::sock_filter>().cast_mut(),
            };
            // SAFETY: `program` points into `filter`, which outlives the call; the kernel copies
            // it and does not keep the pointer.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &program,
                )
            };
            check(rc as i32)?;
        }
        // Descriptors leaked without O_CLOEXEC by other code in aether close at `exec`. Not
        // closed here: std's own exec-error pipe must survive a failed `exec`. Kernels before 5.11
        // lack close_range; the result is deliberately ignored there.
        // SAFETY: integer arguments only.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        };
        Ok(())
    };
    // SAFETY: `apply` only makes async-signal-safe system calls on data moved into it; it does
    // not allocate (the error paths build `io::Error` from an errno, which does not allocate).
    unsafe { command.pre_exec(apply) };
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The running kernel's Landlock ABI version, 0 when Landlock is absent or disabled.
pub(crate) fn landlock_abi() -> u32 {
    // SAFETY: the documented version query: null attribute pointer, size 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(rc).unwrap_or(0)
}

/// Whether seccomp filters can return an errno (the action every rule of this crate uses).
pub(crate) fn seccomp_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through the pointer, which is valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action,
        )
    };
    rc == 0
}

/// Whether aether runs with effective uid 0 (then the child's capabilities must be dropped).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() == 0 }
}
