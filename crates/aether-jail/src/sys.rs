//! Every `unsafe` line of the crate: the code that runs in the child between `fork` and `exec`,
//! the system calls with which the engine zygote and workers confine themselves (see
//! `engine.rs`), and read-only kernel probes.
//!
//! After `fork` in a multi-threaded parent only async-signal-safe calls are allowed, so the hook
//! below makes raw system calls on values prepared by the parent (file descriptors, BPF
//! programs, numbers): it never allocates, locks, opens a file or formats a message. Nothing
//! here decides policy: `policy.rs` and `cgroup.rs` build what this module applies.
#![allow(
    unsafe_code,
    reason = "pre_exec hook and raw system calls (landlock, seccomp, prctl, setrlimit, capset)"
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
    /// The working directory, open (the parent holds it until spawn returns): entered with
    /// `fchdir`, so the path is not resolved again after it was opened.
    pub(crate) cwd: RawFd,
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
        // SAFETY: fchdir with an open descriptor only.
        check(unsafe { libc::fchdir(hook.cwd) })?;
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
    seccomp_action_available(libc::SECCOMP_RET_ERRNO)
}

/// Whether the kernel's seccomp knows `action` (`SECCOMP_RET_*`).
pub(crate) fn seccomp_action_available(action: u32) -> bool {
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

// ---- The engine zygote and workers (engine.rs). These run in single-threaded processes that
// may allocate; they are ordinary functions, not pre_exec hooks.

/// `SECBIT_NOROOT | _LOCKED`, `SECBIT_NO_SETUID_FIXUP | _LOCKED`, `SECBIT_KEEP_CAPS_LOCKED`
/// (with `SECBIT_KEEP_CAPS` clear) and `SECBIT_NO_CAP_AMBIENT_RAISE | _LOCKED`
/// (linux/securebits.h): no capability is ever regained, by uid 0, by `execve`, by a uid change
/// or through the ambient set, and none of this can be undone.
const ENGINE_SECUREBITS: libc::c_ulong = (1 << 0) // NOROOT
    | (1 << 1) // NOROOT_LOCKED
    | (1 << 2) // NO_SETUID_FIXUP
    | (1 << 3) // NO_SETUID_FIXUP_LOCKED
    | (1 << 5) // KEEP_CAPS_LOCKED
    | (1 << 6) // NO_CAP_AMBIENT_RAISE
    | (1 << 7); // NO_CAP_AMBIENT_RAISE_LOCKED
/// `_LINUX_CAPABILITY_VERSION_3` (linux/capability.h): 64-bit sets, two `CapData` words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `PR_SET_PDEATHSIG(SIGKILL)`: the calling process is killed when the thread that forked it
/// exits.
pub(crate) fn set_parent_death_kill() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) })
}

/// The parent's pid (`getppid`, which cannot fail).
pub(crate) fn parent_pid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getppid() }
}

/// The caller's pid (`getpid`, which cannot fail).
pub(crate) fn own_pid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getpid() }
}

/// The effective uid and gid.
pub(crate) fn effective_ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: no arguments, cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// `unshare(flags)`. `CLONE_NEWUSER` requires a single-threaded caller (the kernel checks).
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare with namespace flags only; it does not touch memory of this process
    // (CLONE_FILES/CLONE_FS/CLONE_VM are never passed, see the callers).
    check(unsafe { libc::unshare(flags) })
}

/// `setns(fd, nstype)`: moves the calling thread into the namespace `fd` refers to.
pub(crate) fn setns(fd: std::os::fd::BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns with a descriptor this process holds open and a namespace type; it changes
    // only the calling thread's namespaces, no memory.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) })
}

/// Whether a child forked now could `unshare(flags)`: forks, lets the child try and `_exit` with
/// the result, and reaps it. Safe to call from a multi-threaded process: the child only makes two
/// async-signal-safe system calls. Returns the child's errno on failure.
pub(crate) fn probe_unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: in the child only `unshare` and `_exit` run (async-signal-safe, no allocation, no
    // lock), so forking a multi-threaded process is sound; the parent reaps the child below.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; `__errno_location` is async-signal-safe.
        unsafe {
            let code = if libc::unshare(flags) == 0 {
                0
            } else {
                *libc::__errno_location() & 0x7f
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child, `status` a valid out pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, errno) => Err(io::Error::from_raw_os_error(errno)),
        _ => Err(io::Error::other("the probe child was killed")),
    }
}

/// Sets one rlimit.
pub(crate) fn set_rlimit(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit living across the call.
    check(unsafe { libc::setrlimit(resource, &limit) })
}

/// Drops every capability for good: locked securebits (see [`ENGINE_SECUREBITS`]), an empty
/// bounding set, an empty ambient set, and empty effective, permitted and inheritable sets; then
/// reads them back and fails unless all are empty. Needs `CAP_SETPCAP` for the first two steps
/// when the caller holds any capability (root, or inside a fresh user namespace); a caller that
/// holds none has nothing to drop, and the securebits then stay as they were (the kernel refuses
/// without `CAP_SETPCAP`), which is harmless: no_new_privs already stops every gain at `execve`.
/// Applies to the calling thread only.
pub(crate) fn drop_capabilities() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for capget's version 3 layout (two data words).
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } as i32)?;
    let holds_any = data.iter().any(|d| d.effective | d.permitted != 0);
    if holds_any {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_SECUREBITS, ENGINE_SECUREBITS, 0, 0, 0) })?;
        drop_bounding_set(|option, cap| {
            // SAFETY: prctl with integer arguments only.
            check(unsafe { libc::prctl(option, cap, 0, 0, 0) })
        })?;
    }
    // SAFETY: prctl with integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })?;
    let empty = [CapData::default(); 2];
    header.version = CAPABILITY_VERSION_3;
    header.pid = 0;
    // SAFETY: header and data are valid for capset's version 3 layout; the kernel only reads.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, empty.as_ptr()) } as i32)?;
    let mut after = [CapData::default(); 2];
    // SAFETY: as for the first capget.
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header, after.as_mut_ptr()) } as i32)?;
    if after
        .iter()
        .any(|d| d.effective | d.permitted | d.inheritable != 0)
    {
        return Err(io::Error::other("capabilities remain after capset"));
    }
    Ok(())
}

/// Drops capabilities 0, 1, 2... from the bounding set through `prctl` (the system call, or a
/// test's stand-in) until the kernel refuses one with `EINVAL`: the first number past the last
/// capability it knows, so every capability it knows has been dropped. One `PR_CAPBSET_DROP`
/// per capability and one past the end (42 on Linux 6.18), not a `PR_CAPBSET_READ` before each
/// (83 then, issue 23): dropping a capability already out of the set succeeds, so reading it
/// first decided nothing. Any other refusal, or `EINVAL` for capability 0 (which every kernel
/// knows), is an error.
fn drop_bounding_set(
    mut prctl: impl FnMut(libc::c_int, libc::c_ulong) -> io::Result<()>,
) -> io::Result<()> {
    // The bounding set is 64 bits wide: a kernel that knows all 64 ends the loop without EINVAL.
    for cap in 0..64 {
        match prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(()) => {}
            Err(e) if cap > 0 && e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`: `execve` can never grant privileges again (inherited, irrevocable).
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

/// Installs one seccomp program on every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`):
/// a thread started earlier by mistake is confined too, or the call fails.
pub(crate) fn install_filter(filter: &seccompiler::BpfProgram) -> io::Result<()> {
    let program = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        // Same `repr(C)` layout: seccompiler mirrors linux/filter.h.
        filter: filter.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `program` points into `filter`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &program,
        )
    };
    match rc {
        0 => Ok(()),
        // TSYNC: the id of a thread that could not be synchronized.
        tid if tid > 0 => Err(io::Error::other(format!(
            "thread {tid} could not take the filter"
        ))),
        _ => Err(io::Error::last_os_error()),
    }
}

unsafe extern "C" {
    /// glibc's `tzset` (not declared by the libc crate for Linux).
    fn tzset();
}

/// Loads what glibc would otherwise open a file for on first use, while files can still be
/// opened: the time zone (`/etc/localtime`, read by `localtime_r`, which QuickJS's `Date` calls).
/// Forked workers inherit the loaded state.
pub(crate) fn prime_libc() {
    // SAFETY: tzset takes no arguments; the process is single-threaded, so no other thread reads
    // the time zone state while it is written.
    unsafe { tzset() };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that knows capabilities `0..=last` and answers `refusal` for `refused`.
    fn kernel(
        last: libc::c_ulong,
        refused: Option<(libc::c_ulong, i32)>,
        calls: &mut Vec<(libc::c_int, libc::c_ulong)>,
    ) -> io::Result<()> {
        drop_bounding_set(|option, cap| {
            calls.push((option, cap));
            match refused {
                Some((at, errno)) if at == cap => Err(io::Error::from_raw_os_error(errno)),
                _ if cap > last => Err(io::Error::from_raw_os_error(libc::EINVAL)),
                _ => Ok(()),
            }
        })
    }

    /// issue 23: one drop per capability the kernel knows and one past the end, no read.
    #[test]
    fn the_bounding_set_is_dropped_without_reading_it() {
        let mut calls = Vec::new();
        kernel(40, None, &mut calls).expect("dropped");
        let expected: Vec<_> = (0..=41).map(|cap| (libc::PR_CAPBSET_DROP, cap)).collect();
        assert_eq!(calls, expected);

        // A kernel that knows all 64: every one dropped, no EINVAL needed.
        calls.clear();
        kernel(63, None, &mut calls).expect("dropped");
        assert_eq!(calls.len(), 64);
    }

    /// A refusal other than the end is an error, and so is an end before any capability.
    #[test]
    fn a_refused_drop_is_an_error() {
        let mut calls = Vec::new();
        let e = kernel(40, Some((5, libc::EPERM)), &mut calls).expect_err("refused");
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert_eq!(calls.len(), 6);

        calls.clear();
        let e = kernel(40, Some((0, libc::EINVAL)), &mut calls).expect_err("no capability");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
