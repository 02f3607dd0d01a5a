//! Builds, in the parent, the Landlock ruleset and seccomp programs that a child applies to
//! itself before `exec`.
//!
//! Enforces: deny by default. Only the system directories needed to load and run programs (never
//! all of `/etc`, never `/proc` or `/sys`) plus the [`Confinement`]'s own paths are reachable; the
//! syscalls listed in [`seccomp_filters`] fail. Must never widen a grant to make a program work.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use crate::{Confinement, JailError};

/// The Landlock ABI whose access rights this crate handles (tested on a kernel with ABI 7, whose
/// additions are audit flags only). A newer right is never handled implicitly.
const ABI_HANDLED: ABI = ABI::V6;

/// Read and execute, recursively: what a dynamic program needs from its system directories.
const SYSTEM_DIRS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.conf.d",
];
/// Read only: the loader's cache and configuration, and the time zone. Not `/etc` as a whole:
/// as root the child could otherwise read `/etc/shadow`.
const SYSTEM_FILES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
];

/// The Landlock ruleset for a child, as a file descriptor to pass to `landlock_restrict_self`;
/// `None` when the kernel has no Landlock (the caller has already accepted that weakening).
///
/// `program` is granted read+execute so that programs outside the system directories can run.
pub(crate) fn landlock_ruleset(
    confinement: &Confinement,
    program: &Path,
) -> Result<Option<OwnedFd>, JailError> {
    let setup = |source: landlock::RulesetError| JailError::Setup {
        step: "landlock ruleset",
        source: io::Error::other(source),
    };
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let exec = read | AccessFs::Execute;
    let write = AccessFs::from_all(ABI_HANDLED) & !AccessFs::Execute;

    // Best effort here, because the caller has already decided (from the kernel's ABI) which
    // missing rights are acceptable; a kernel without some right simply does not enforce it.
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_HANDLED))
        .map_err(setup)?;
    if !confinement.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(ABI_HANDLED))
            .map_err(setup)?;
    }
    let mut created = ruleset
        .scope(Scope::from_all(ABI_HANDLED))
        .map_err(setup)?
        .create()
        .map_err(setup)?;

    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>, bool)> = Vec::new();
    let system = SYSTEM_DIRS
        .iter()
        .map(|p| (p, exec))
        .chain(SYSTEM_FILES.iter().map(|p| (p, read)));
    for (path, access) in system {
        rules.push((PathBuf::from(path), access, false));
    }
    rules.push((
        PathBuf::from("/dev/null"),
        read | AccessFs::WriteFile,
        false,
    ));
    rules.push((program.to_path_buf(), exec, true));
    rules.extend(confinement.read.iter().map(|p| (p.clone(), read, true)));
    rules.extend(confinement.write.iter().map(|p| (p.clone(), write, true)));

    for (path, access, required) in rules {
        let fd = match PathFd::new(&path) {
            Ok(fd) => fd,
            // A system path this distribution does not have: nothing to grant.
            Err(_) if !required => continue,
            Err(e) => {
                return Err(JailError::GrantPath {
                    path,
                    source: io::Error::other(e),
                });
            }
        };
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(ABI_HANDLED)
        };
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(setup)?;
    }
    Ok(created.into())
}

/// Namespace flags refused in `clone`'s flags: a new user namespace gives the child a full set of
/// capabilities inside it (the step of most unprivileged kernel exploits and of `unshare -Ur`),
/// and the others need it.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

// The tree tests these flags in the low half of `clone`'s first argument (`engine_filter`'s
// blocks cast their union to `u32`): a flag above bit 31 would be dropped there unseen.
const _: () = {
    let mut i = 0;
    while i < NAMESPACE_FLAGS.len() {
        assert!(NAMESPACE_FLAGS[i] <= u32::MAX as u64);
        i += 1;
    }
};

/// System calls that fail with `EPERM` whatever their arguments, and why.
const DENIED: &[i64] = &[
    // Reading or writing another process's memory: Node CVE-2024-36137-style escapes through a
    // helper process, and debugging aether itself.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_process_madvise,
    // Replacing or extending the kernel.
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    // Changing the file system view (Landlock rules are about the view at restrict time),
    // including the new mount API and file handles ("shocker" container escape).
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    // Landlock does not cover chmod, and a uid-0 child owns every root file: it could make
    // `/etc/shadow` world-readable or set the setuid bit on a system binary. `fchmod` on a
    // descriptor stays allowed: opening it passed Landlock. (`chmod +x` by path fails, too.)
    libc::SYS_chmod,
    libc::SYS_fchmodat,
    libc::SYS_fchmodat2,
    // Namespaces: see NAMESPACE_FLAGS.
    libc::SYS_setns,
    libc::SYS_unshare,
    // Large kernel attack surfaces that a command-line tool does not need.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // io_uring performs its operations outside the syscall path, so seccomp cannot see them.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Leaving the process group that the timeout kills (the cgroup catches them too, but the
    // cgroup may be missing when weaker confinement was accepted).
    libc::SYS_setsid,
    libc::SYS_setpgid,
];

/// The seccomp programs for a child: `[errno filter, raw filter]`.
///
/// Not denied: `personality` (programs query it with 0xffffffff; the flags that matter need
/// capabilities the child does not have), `utimensat` (`touch` needs it; only timestamps).
pub(crate) fn seccomp_filters(network: bool) -> Result<Vec<BpfProgram>, JailError> {
    let setup = |e: seccompiler::BackendError| JailError::Setup {
        step: "seccomp filter",
        source: io::Error::other(e),
    };
    let condition = |arg, op, value| SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value);
    let rule = |conditions: Vec<Result<SeccompCondition, _>>| {
        SeccompRule::new(conditions.into_iter().collect::<Result<_, _>>()?)
    };

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let c = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            );
            rule(vec![c])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup)?;
    rules.insert(libc::SYS_clone, clone);

    // `socket`: without network, none at all; with it, only IPv4/IPv6 and never raw (raw and
    // packet sockets forge traffic). Not even AF_UNIX: Landlock before ABI 9 cannot stop a
    // `connect` to a pathname socket outside the grants, and as root that reaches
    // `/var/run/docker.sock` or the D-Bus system bus (root-equivalent). `socketpair` stays for
    // local plumbing, stream only: a datagram `sendto` could name a socket path.
    let socket = if network {
        vec![
            rule(vec![
                condition(0, SeccompCmpOp::Ne, libc::AF_INET as u64),
                condition(0, SeccompCmpOp::Ne, libc::AF_INET6 as u64),
            ]),
            rule(vec![condition(
                1,
                SeccompCmpOp::MaskedEq(0xf),
                libc::SOCK_RAW as u64,
            )]),
        ]
    } else {
        Vec::new()
    };
    rules.insert(
        libc::SYS_socket,
        socket
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );
    // AF_UNIX turns SOCK_RAW into SOCK_DGRAM.
    let datagram = [libc::SOCK_DGRAM, libc::SOCK_RAW]
        .map(|kind| rule(vec![condition(1, SeccompCmpOp::MaskedEq(0xf), kind as u64)]));
    rules.insert(
        libc::SYS_socketpair,
        datagram
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );

    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().map_err(setup)?,
    )
    .map_err(setup)?;
    let errno: BpfProgram = filter.try_into().map_err(setup)?;
    Ok(vec![errno, raw_filter()])
}

/// A hand-written program for what seccompiler cannot express: x32 system calls (numbers with
/// bit 30 set, same audit arch, would bypass every rule above) fail with `EPERM`, and `clone3`
/// fails with `ENOSYS`, because its flags sit in memory where seccomp cannot read them; libc then
/// falls back to `clone`, which the other program filters.
fn raw_filter() -> BpfProgram {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let stmt = |code: u32, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt, jf| seccompiler::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 4), // seccomp_data.arch
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, 0), // seccomp_data.nr
        jump(BPF_JMP | BPF_JGE | BPF_K, 0x4000_0000, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone3 as u32, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

// ---- The engine zygote and workers (the `process` isolation tier, engine.rs).

/// Denies the calling process every filesystem right the kernel's Landlock knows (no rule, so
/// no path at all), TCP bind and connect, signals to and abstract UNIX sockets of processes
/// outside its domain; inherited by every process it forks. Fails unless the kernel enforces all
/// of it (`CompatLevel::HardRequirement`): ABI ≥ 6 is needed.
pub(crate) fn engine_landlock(kernel_abi: u32) -> Result<(), JailError> {
    let abi = ABI::from(i32::try_from(kernel_abi).unwrap_or(i32::MAX));
    let fail = |source: landlock::RulesetError| JailError::Engine {
        role: "zygote",
        step: "landlock",
        source: io::Error::other(source),
    };
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(fail)?
        .scope(Scope::from_all(abi))
        .map_err(fail)?
        .create()
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    if status.ruleset != landlock::RulesetStatus::FullyEnforced {
        return Err(JailError::Engine {
            role: "zygote",
            step: "landlock",
            source: io::Error::other(format!("ruleset not fully enforced: {status:?}")),
        });
    }
    Ok(())
}

/// Which process a filter is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The zygote: its filter also bounds every worker, whose own filter stacks on top.
    Zygote,
    /// A worker (the plugin's engine): its whole allowlist, which the zygote's filter and
    /// `worker_narrowing` enforce together (the tests compare them).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the reference the narrowing filter is tested against"
        )
    )]
    Worker,
}

impl Role {
    /// The role's column of `entry`.
    fn args(self, entry: &Entry) -> Args {
        match self {
            Role::Zygote => entry.zygote,
            Role::Worker => entry.worker,
        }
    }

    /// The role's name in errors.
    fn name(self) -> &'static str {
        match self {
            Role::Zygote => "zygote",
            Role::Worker => "worker",
        }
    }
}

/// How a system call's arguments are restricted for one [`Role`]. Everything not listed in
/// [`ENGINE_SYSCALLS`] for a role kills the process (`SECCOMP_RET_KILL_PROCESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Args {
    /// Not allowed: the process is killed.
    No,
    /// Allowed with any arguments.
    Any,
    /// `clone` creating a thread: `CLONE_THREAD` set, no namespace flag.
    Thread,
    /// `clone` with no namespace flag (a thread or a process).
    NoNamespace,
    /// `prctl` with one of these options.
    Prctl(&'static [libc::c_int]),
    /// Argument 0 is the worker's own pid (`tgkill` to itself).
    OwnPid,
    /// Argument 0 is 0: the calling process (`prlimit64`).
    SelfOnly,
    /// Argument 4 (an address pointer) is NULL (`sendto`/`recvfrom` on a connected socket).
    NoAddress,
    /// `mmap`/`mprotect` with `prot` (argument 2) not both `PROT_WRITE` and `PROT_EXEC`.
    NotWriteExec,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` with no flag but `SECCOMP_FILTER_FLAG_TSYNC`.
    AddFilter,
    /// `fcntl(fd, F_GETFD)`: reads the close-on-exec flag, nothing else.
    GetFd,
    /// `futex` with one of [`FUTEX_OPS`] (private or shared, either clock): no priority-
    /// inheritance operation, the futex code with the longest record of kernel exploits.
    Futex,
}

/// The `futex` operations the engine processes use: glibc's and std's locks, condition
/// variables and thread joins, and the call ring's wait and wake on a word shared with aether
/// (issue 23). Refused, among others: `FUTEX_LOCK_PI`, `FUTEX_UNLOCK_PI`, `FUTEX_TRYLOCK_PI`,
/// `FUTEX_WAIT_REQUEUE_PI`, `FUTEX_CMP_REQUEUE_PI`, `FUTEX_LOCK_PI2` (CVE-2014-3153 was one).
const FUTEX_OPS: &[libc::c_int] = &[
    libc::FUTEX_WAIT,
    libc::FUTEX_WAKE,
    libc::FUTEX_REQUEUE,
    libc::FUTEX_CMP_REQUEUE,
    libc::FUTEX_WAKE_OP,
    libc::FUTEX_WAIT_BITSET,
    libc::FUTEX_WAKE_BITSET,
];

/// One row of [`ENGINE_SYSCALLS`].
#[derive(Debug)]
pub(crate) struct Entry {
    /// The x86_64 system call number.
    pub(crate) nr: i64,
    /// What the zygote may do (and, as its filter stays underneath, the most any worker may).
    pub(crate) zygote: Args,
    /// What a worker may do.
    pub(crate) worker: Args,
    /// Why it is allowed.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "documentation, checked by the table's tests")
    )]
    pub(crate) why: &'static str,
}

const fn entry(nr: i64, zygote: Args, worker: Args, why: &'static str) -> Entry {
    Entry {
        nr,
        zygote,
        worker,
        why,
    }
}

use Args::{
    AddFilter, Any, Futex, GetFd, No, NoAddress, NoNamespace, NotWriteExec, OwnPid, Prctl,
    SelfOnly, Thread,
};
use libc::{
    F_GETFD, PR_SET_NAME, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, SYS_brk, SYS_clock_getres,
    SYS_clock_gettime, SYS_clock_nanosleep, SYS_clone, SYS_clone3, SYS_close, SYS_close_range,
    SYS_exit, SYS_exit_group, SYS_fcntl, SYS_futex, SYS_getpid, SYS_getppid, SYS_getrandom,
    SYS_getrlimit, SYS_getrusage, SYS_gettid, SYS_madvise, SYS_mmap, SYS_mprotect, SYS_mremap,
    SYS_munmap, SYS_nanosleep, SYS_pidfd_open, SYS_prctl, SYS_prlimit64, SYS_read, SYS_readv,
    SYS_recvfrom, SYS_recvmsg, SYS_restart_syscall, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigprocmask,
    SYS_rt_sigreturn, SYS_sched_getaffinity, SYS_sched_yield, SYS_seccomp, SYS_sendmsg, SYS_sendto,
    SYS_set_robust_list, SYS_setrlimit, SYS_shutdown, SYS_sigaltstack, SYS_tgkill, SYS_wait4,
    SYS_waitid, SYS_write, SYS_writev,
};

/// Every system call the engine processes may make; all others kill the process. The worker
/// column is what the engine, its threads, std and glibc need; the zygote column adds what
/// receiving requests, forking and confining a worker need. Absent on purpose, among others: every
/// `open`/`openat`/`openat2`/`creat`/`stat`, `socket`/`socketpair`/`connect`/`bind`/`accept`,
/// `execve`/`execveat`, `fork`/`vfork`, `ptrace`, `kill`/`tkill`/`pidfd_send_signal`,
/// `unshare`/`setns`/`mount`, `bpf`, `io_uring_*`, `userfaultfd`, `perf_event_open`,
/// `process_vm_*`, `keyctl`, `ioctl`, `fcntl`, `dup*`, `pkey_mprotect`, `membarrier` (neither
/// glibc 2.36 nor std call it).
#[rustfmt::skip]
pub(crate) const ENGINE_SYSCALLS: &[Entry] = &[
    //    system call           zygote         worker         why
    // Memory: the QuickJS heap, malloc arenas, thread stacks and their guard pages.
    entry(SYS_brk,               Any,          Any,          "malloc's main heap"),
    entry(SYS_mmap,              NotWriteExec, NotWriteExec, "malloc, thread stacks; never W+X (QuickJS has no JIT)"),
    entry(SYS_munmap,            Any,          Any,          "free, thread exit"),
    entry(SYS_mprotect,          NotWriteExec, NotWriteExec, "stack guard pages, malloc arenas; never W+X"),
    entry(SYS_mremap,            Any,          Any,          "realloc of large blocks"),
    entry(SYS_madvise,           Any,          Any,          "free returns pages (MADV_DONTNEED)"),
    // Threads and their synchronisation (std::thread, mpsc, Mutex, Condvar).
    entry(SYS_clone,             NoNamespace,  Thread,       "pthread_create; the zygote also forks workers"),
    entry(SYS_clone3,            Any,          Any,          "never reached: the prefix answers ENOSYS, glibc falls back to clone"),
    entry(SYS_futex,             Futex,        Futex,        "Mutex, Condvar, channels, thread join, the call ring"),
    entry(SYS_set_robust_list,   Any,          Any,          "glibc, at thread start and in a forked child"),
    entry(SYS_rseq,              Any,          Any,          "glibc registers restartable sequences per thread"),
    entry(SYS_sched_yield,       Any,          Any,          "spin loops in locks and channels"),
    entry(SYS_sched_getaffinity, Any,          Any,          "pthread_getattr_np, malloc's arena count"),
    entry(SYS_exit,              Any,          Any,          "a thread ends"),
    entry(SYS_exit_group,        Any,          Any,          "the process ends"),
    entry(SYS_prctl,             Prctl(&[PR_SET_NAME, PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS]),
                                 Prctl(&[PR_SET_NAME]),  "thread names; the zygote's worker setup"),
    entry(SYS_getpid,            Any,          Any,          "abort and raise (tgkill's first argument)"),
    entry(SYS_gettid,            Any,          Any,          "thread ids, raise"),
    // Time: Instant, SystemTime, CPU clocks of threads, sleeps and timed waits.
    entry(SYS_clock_gettime,     Any,          Any,          "CPU-time clocks (the vDSO serves the others)"),
    entry(SYS_clock_getres,      Any,          Any,          "clock resolution"),
    entry(SYS_clock_nanosleep,   Any,          Any,          "thread::sleep"),
    entry(SYS_nanosleep,         Any,          Any,          "thread::sleep on older glibc"),
    entry(SYS_restart_syscall,   Any,          Any,          "a sleep resumed after a signal"),
    entry(SYS_getrusage,         Any,          Any,          "the engine's own CPU and memory use"),
    entry(SYS_getrandom,         Any,          Any,          "HashMap seeds, Math.random"),
    // Signals: std's stack-overflow handler and abort on panic.
    entry(SYS_rt_sigaction,      Any,          Any,          "std's SIGSEGV handler, abort"),
    entry(SYS_rt_sigprocmask,    Any,          Any,          "pthread_create, abort"),
    entry(SYS_rt_sigreturn,      Any,          Any,          "return from a signal handler"),
    entry(SYS_sigaltstack,       Any,          Any,          "std's per-thread signal stack"),
    entry(SYS_tgkill,            Any,          OwnPid,       "abort raises SIGABRT on itself; the zygote is held to its Landlock domain"),
    // The inherited socket to aether (the only descriptor a worker has).
    entry(SYS_read,              Any,          Any,          "the socket"),
    entry(SYS_write,             Any,          Any,          "the socket, stderr"),
    entry(SYS_readv,             Any,          Any,          "vectored socket reads"),
    entry(SYS_writev,            Any,          Any,          "vectored socket writes"),
    entry(SYS_recvfrom,          NoAddress,    NoAddress,    "std's UnixStream::read is recv(2)"),
    entry(SYS_sendto,            NoAddress,    NoAddress,    "send(2) with MSG_NOSIGNAL"),
    entry(SYS_shutdown,          Any,          Any,          "end the socket"),
    entry(SYS_close,             Any,          Any,          "close the socket"),
    entry(SYS_fcntl,             GetFd,        GetFd,        "std's OwnedFd::drop asserts the fd is open (debug builds)"),
    // The zygote only.
    entry(SYS_recvmsg,           Any,          No,           "spawn requests with a socket (SCM_RIGHTS)"),
    entry(SYS_sendmsg,           Any,          No,           "the worker's pid and pidfd back to aether"),
    entry(SYS_pidfd_open,        Any,          No,           "a pidfd on each new worker"),
    entry(SYS_wait4,             Any,          No,           "reap workers when SIGCHLD is not ignored"),
    entry(SYS_waitid,            Any,          No,           "reap workers when SIGCHLD is not ignored"),
    entry(SYS_close_range,       Any,          No,           "close what a worker must not inherit"),
    entry(SYS_getppid,           Any,          No,           "confine_worker checks its parent after PR_SET_PDEATHSIG"),
    entry(SYS_prlimit64,         SelfOnly,     No,           "confine_worker's rlimits (glibc's setrlimit); never another process's"),
    entry(SYS_setrlimit,         Any,          No,           "rlimits of the caller only"),
    entry(SYS_getrlimit,         Any,          No,           "rlimits of the caller only"),
    entry(SYS_seccomp,           AddFilter,    No,           "confine_worker stacks the worker filter"),
];

/// The seccomp program for `role`. `pid` is the worker's own pid (for `tgkill`); ignored for the
/// zygote.
///
/// One program, because each one installed costs the kernel a translation, a JIT compilation and
/// an action-cache computation (about half of a worker's confinement time with two). It kills a
/// system call of any architecture but x86_64, answers `clone3` with `ENOSYS` (its flags are in
/// memory, beyond seccomp's reach; glibc then falls back to `clone`) and every way of opening a
/// file ([`OPENS`]) with `EACCES`, allows what [`ENGINE_SYSCALLS`] allows for `role`, and kills
/// the process (`SECCOMP_RET_KILL_PROCESS`) for anything else, x32 numbers included (bit 30
/// set: never in the table).
///
/// The number is decided by a balanced tree of `JGE` tests over the ranges of numbers that share
/// a decision, not by one test per row as seccompiler's chain did (issue 23). When a filter is
/// installed, the kernel translates it to eBPF and JIT-compiles it, which costs about 1 µs per
/// instruction on the CI machine (the zygote's chain: 363 instructions, 0.34 ms on its
/// critical path; the tree: 108, 0.1 ms); ranges (one test for consecutive numbers with one
/// decision) and one block per distinct argument condition keep it short. The kernel's action
/// cache (`seccomp_cache_prepare_bitmap`) emulates it once per number, about log2 of the
/// ranges tests each instead of up to one per row. Layout: the architecture check and the
/// load of the number; the tree (each test jumps forward to a subtree, a block or a return);
/// the blocks; the returns. Jumps are forward only and every path ends in a return (the
/// kernel's `bpf_check_classic` rules); a program whose jumps would not fit is an error.
pub(crate) fn engine_filter(role: Role, pid: i32) -> Result<BpfProgram, JailError> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let kill = To::Return(libc::SECCOMP_RET_KILL_PROCESS);
    // Each listed number's decision; the opens and clone3 first (they are never rows).
    let mut decisions: BTreeMap<u32, To> = BTreeMap::new();
    for nr in OPENS {
        decisions.insert(nr as u32, To::Return(errno(libc::EACCES)));
    }
    decisions.insert(libc::SYS_clone3 as u32, To::Return(errno(libc::ENOSYS)));
    for entry in ENGINE_SYSCALLS {
        let to = match role.args(entry) {
            // No option at all: nothing to allow.
            No | Prctl(&[]) => kill,
            Any => To::Return(libc::SECCOMP_RET_ALLOW),
            condition => To::Block(condition),
        };
        decisions.entry(entry.nr as u32).or_insert(to);
    }
    // Ranges covering every 32-bit number from 0, in order, each starting where the decision
    // changes; a number not listed is killed.
    let mut ranges: Vec<(u32, To)> = Vec::new();
    let mut push = |start: u32, to: To| {
        if ranges.last().is_none_or(|&(_, last)| last != to) {
            ranges.push((start, to));
        }
    };
    let mut next = Some(0u32);
    for (&nr, &to) in &decisions {
        if let Some(gap) = next.filter(|&n| n < nr) {
            push(gap, kill);
        }
        push(nr, to);
        next = nr.checked_add(1);
    }
    if let Some(n) = next {
        push(n, kill);
    }

    let mut program = vec![
        Pending::stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH),
        Pending::jump(BPF_JEQ, AUDIT_ARCH_X86_64, To::Next, kill),
        Pending::stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR),
    ];
    let start = program.len();
    let root = tree(&ranges, &mut program);
    if root != To::At(start) {
        // One range only: the number decides nothing.
        program.push(Pending::jump(BPF_JEQ, 0, root, root));
    }
    // One block per distinct condition, in the order the tree names them.
    let mut blocks: Vec<(Args, usize)> = Vec::new();
    for &(_, to) in &ranges {
        if let To::Block(args) = to
            && blocks.iter().all(|&(b, _)| b != args)
        {
            blocks.push((args, program.len()));
            program.extend(block(args, pid));
        }
    }
    let mut returns: Vec<(u32, usize)> = Vec::new();
    let mut at = program.len();
    for pending in &program {
        for to in [pending.jt, pending.jf] {
            if let To::Return(action) = to
                && returns.iter().all(|&(r, _)| r != action)
            {
                returns.push((action, at));
                at += 1;
            }
        }
    }
    let too_far = || JailError::Engine {
        role: role.name(),
        step: "seccomp filter",
        source: io::Error::other("the allowlist is too long for its jumps"),
    };
    let target = |to: To, here: usize| match to {
        To::Next => Some(here + 1),
        To::At(index) => Some(index),
        To::Block(args) => blocks.iter().find(|&&(b, _)| b == args).map(|&(_, i)| i),
        To::Return(action) => returns.iter().find(|&&(r, _)| r == action).map(|&(_, i)| i),
    };
    let offset = |to: To, here: usize| {
        target(to, here)
            .and_then(|t| t.checked_sub(here + 1))
            .and_then(|o| u8::try_from(o).ok())
            .ok_or_else(too_far)
    };
    let mut resolved = Vec::with_capacity(at);
    for (here, pending) in program.iter().enumerate() {
        resolved.push(seccompiler::sock_filter {
            code: pending.code as u16,
            jt: offset(pending.jt, here)?,
            jf: offset(pending.jf, here)?,
            k: pending.k,
        });
    }
    resolved.extend(returns.iter().map(|&(action, _)| seccompiler::sock_filter {
        code: (BPF_RET | BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: action,
    }));
    Ok(resolved)
}

/// `seccomp_data.arch` for x86_64 (linux/audit.h: `EM_X86_64`, 64-bit, little-endian).
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// Offsets in `struct seccomp_data`: the system call number, the architecture, and the low and
/// high 32 bits of an argument (little-endian).
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const fn arg_low(index: u32) -> u32 {
    16 + 8 * index
}
const fn arg_high(index: u32) -> u32 {
    arg_low(index) + 4
}

/// `SECCOMP_RET_ERRNO` with `code`.
fn errno(code: libc::c_int) -> u32 {
    libc::SECCOMP_RET_ERRNO | code as u32
}

/// Where a jump of [`engine_filter`]'s program goes, resolved once its layout is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum To {
    /// The next instruction.
    Next,
    /// The instruction at this index.
    At(usize),
    /// The block that checks this condition on the arguments.
    Block(Args),
    /// The shared return of this action.
    Return(u32),
}

/// One instruction of [`engine_filter`]'s program before its jumps are resolved.
struct Pending {
    code: u32,
    k: u32,
    jt: To,
    jf: To,
}

impl Pending {
    fn stmt(code: u32, k: u32) -> Self {
        Pending {
            code,
            k,
            jt: To::Next,
            jf: To::Next,
        }
    }

    /// A conditional jump (`BPF_JMP | op | BPF_K`).
    fn jump(op: u32, k: u32, jt: To, jf: To) -> Self {
        Pending {
            code: libc::BPF_JMP | op | libc::BPF_K,
            k,
            jt,
            jf,
        }
    }
}

/// Appends the tests that send the accumulator (a system call number) to the decision of its
/// range, `ranges` being sorted by start and covering every number from the first start on;
/// returns where a jump reaches the decision (the root test, or the decision itself for one
/// range). Balanced: each test splits the ranges in halves, so any number is decided after
/// about log2 of their count tests.
fn tree(ranges: &[(u32, To)], program: &mut Vec<Pending>) -> To {
    match ranges {
        [] => To::Return(libc::SECCOMP_RET_KILL_PROCESS),
        [(_, to)] => *to,
        _ => {
            let here = program.len();
            let middle = ranges.len() / 2;
            program.push(Pending::jump(
                libc::BPF_JGE,
                ranges[middle].0,
                To::Next,
                To::Next,
            ));
            let below = tree(&ranges[..middle], program);
            let above = tree(&ranges[middle..], program);
            program[here].jf = below;
            program[here].jt = above;
            To::At(here)
        }
    }
}

/// The block that allows a call whose arguments meet `args` and kills it otherwise: the same
/// conditions as the seccompiler rules the tests compare it with (32-bit tests on `int`
/// arguments, whose upper half the kernel may leave unset; both halves of `sendto`'s address
/// and of `seccomp`'s flags).
fn block(args: Args, pid: i32) -> Vec<Pending> {
    use libc::{BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JSET, BPF_K, BPF_LD, BPF_W};
    let allow = To::Return(libc::SECCOMP_RET_ALLOW);
    let kill = To::Return(libc::SECCOMP_RET_KILL_PROCESS);
    let load = |offset| Pending::stmt(BPF_LD | BPF_W | BPF_ABS, offset);
    let and = |mask| Pending::stmt(BPF_ALU | BPF_AND | BPF_K, mask);
    // Allowed when the accumulator equals one of `values`; killed for none.
    let one_of = |values: &[u32]| -> Vec<Pending> {
        if values.is_empty() {
            return vec![Pending::jump(BPF_JEQ, 0, kill, kill)];
        }
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let last = i + 1 == values.len();
                Pending::jump(BPF_JEQ, v, allow, if last { kill } else { To::Next })
            })
            .collect()
    };
    let namespaces = NAMESPACE_FLAGS.iter().fold(0, |all, flag| all | flag) as u32;
    let mut block = Vec::new();
    match args {
        // Never a block: decided by the number alone.
        No | Any => block.push(Pending::jump(BPF_JEQ, 0, kill, kill)),
        Thread => {
            let thread = libc::CLONE_THREAD as u32;
            block.extend([load(arg_low(0)), and(namespaces | thread)]);
            block.extend(one_of(&[thread]));
        }
        NoNamespace => block.extend([
            load(arg_low(0)),
            Pending::jump(BPF_JSET, namespaces, kill, allow),
        ]),
        Prctl(options) => {
            block.push(load(arg_low(0)));
            let values: Vec<u32> = options.iter().map(|&o| o as u32).collect();
            block.extend(one_of(&values));
        }
        OwnPid => {
            block.push(load(arg_low(0)));
            block.extend(one_of(&[pid as u32]));
        }
        SelfOnly => {
            block.push(load(arg_low(0)));
            block.extend(one_of(&[0]));
        }
        NoAddress => {
            block.extend([load(arg_high(4)), Pending::jump(BPF_JEQ, 0, To::Next, kill)]);
            block.push(load(arg_low(4)));
            block.extend(one_of(&[0]));
        }
        // Killed only with both bits: not exec, or not write.
        NotWriteExec => {
            let both = (libc::PROT_WRITE | libc::PROT_EXEC) as u32;
            block.extend([
                load(arg_low(2)),
                and(both),
                Pending::jump(BPF_JEQ, both, kill, allow),
            ]);
        }
        GetFd => {
            block.push(load(arg_low(1)));
            block.extend(one_of(&[F_GETFD as u32]));
        }
        // The kernel's own command mask: every bit but the private and clock flags.
        Futex => {
            let flags = (libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u32;
            block.extend([load(arg_low(1)), and(!flags)]);
            let ops: Vec<u32> = FUTEX_OPS.iter().map(|&op| op as u32).collect();
            block.extend(one_of(&ops));
        }
        // SECCOMP_SET_MODE_FILTER, and no flag in either half of argument 1 but TSYNC.
        AddFilter => block.extend([
            load(arg_low(0)),
            Pending::jump(BPF_JEQ, libc::SECCOMP_SET_MODE_FILTER, To::Next, kill),
            load(arg_high(1)),
            Pending::jump(BPF_JEQ, 0, To::Next, kill),
            load(arg_low(1)),
            Pending::jump(
                BPF_JSET,
                !(libc::SECCOMP_FILTER_FLAG_TSYNC as u32),
                kill,
                allow,
            ),
        ]),
    }
    block
}

/// What a worker's own filter adds to the zygote's, which every worker inherits (issue 23): the
/// rows of [`ENGINE_SYSCALLS`] where the worker column is stricter than the zygote's, and
/// nothing else. Inherited and stacked, the two decide every system call as the worker's whole
/// allowlist ([`engine_filter`] with [`Role::Worker`]) would (the tests check it call by call),
/// for a fraction of the instructions the kernel translates, JIT-compiles and runs per worker.
///
/// The kernel runs every filter of a process and keeps the strictest answer, so each row here
/// only needs the worker's condition: the zygote's own (the architecture, x32 numbers, namespace
/// flags of `clone`, `futex` operations, no `W|X` mapping...) still holds underneath, and kills
/// whatever it kills whatever this filter answers. A row whose two columns differ in a way this
/// does not know how to narrow is an error, never a silently weaker filter.
///
/// Layout, as short as the rows allow (the kernel's translation and JIT per worker grow with
/// it): load the number; one test per row, jumping forward to the shared kill for a row the
/// worker may never call, or to that row's block for a conditional one; allow anything else
/// (by this filter: the zygote's allowlist decides it). Each block loads argument 0 (its low
/// 32 bits: every condition here is on an `int` or on flags that fit there) and jumps to the
/// shared allow or kill at the end.
pub(crate) fn worker_narrowing(pid: i32) -> Result<BpfProgram, JailError> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const ARG0_LOW: u32 = 16;
    let stmt = |code: u32, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let unknown = |e: &Entry| JailError::Engine {
        role: "worker",
        step: "seccomp filter",
        source: io::Error::other(format!(
            "system call {}: no way to narrow {:?} to {:?}",
            e.nr, e.zygote, e.worker
        )),
    };
    // Per conditional row: the tests on argument 0, in order, each allowing the call when it
    // holds; when none holds, the block kills.
    let mut kills = Vec::new();
    let mut blocks: Vec<(i64, Vec<(u32, u32)>)> = Vec::new();
    for e in ENGINE_SYSCALLS {
        if e.worker == e.zygote {
            continue;
        }
        match (e.zygote, e.worker) {
            (_, No) => kills.push(e.nr),
            (NoNamespace, Thread) => blocks.push((
                e.nr,
                vec![(BPF_JMP | BPF_JSET | BPF_K, libc::CLONE_THREAD as u32)],
            )),
            (Prctl(zygote), Prctl(worker)) if worker.iter().all(|o| zygote.contains(o)) => {
                if worker.is_empty() {
                    kills.push(e.nr);
                    continue;
                }
                blocks.push((
                    e.nr,
                    worker
                        .iter()
                        .map(|&o| (BPF_JMP | BPF_JEQ | BPF_K, o as u32))
                        .collect(),
                ));
            }
            (Any, OwnPid) => blocks.push((e.nr, vec![(BPF_JMP | BPF_JEQ | BPF_K, pid as u32)])),
            _ => return Err(unknown(e)),
        }
    }
    let too_far = || JailError::Engine {
        role: "worker",
        step: "seccomp filter",
        source: io::Error::other("the narrowing filter is too long for its jumps"),
    };
    let offset = |from: usize, to: usize| u8::try_from(to - from - 1).map_err(|_| too_far());
    // Positions: the load, the tests, the allow for other numbers, the blocks, allow, kill.
    let tests = kills.len() + blocks.len();
    let mut block_at = Vec::with_capacity(blocks.len());
    let mut at = 1 + tests + 1;
    for (_, conditions) in &blocks {
        block_at.push(at);
        at += 1 + conditions.len();
    }
    let (allow_at, kill_at) = (at, at + 1);
    let mut program = vec![stmt(BPF_LD | BPF_W | BPF_ABS, 0)]; // seccomp_data.nr
    for &nr in &kills {
        let here = program.len();
        program.push(seccompiler::sock_filter {
            code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
            jt: offset(here, kill_at)?,
            jf: 0,
            k: nr as u32,
        });
    }
    for ((nr, _), &target) in blocks.iter().zip(&block_at) {
        let here = program.len();
        program.push(seccompiler::sock_filter {
            code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
            jt: offset(here, target)?,
            jf: 0,
            k: *nr as u32,
        });
    }
    program.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW));
    for (_, conditions) in &blocks {
        program.push(stmt(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW));
        for (i, &(code, k)) in conditions.iter().enumerate() {
            let here = program.len();
            program.push(seccompiler::sock_filter {
                code: code as u16,
                jt: offset(here, allow_at)?,
                // The last test falls to the kill; the others to the next test.
                jf: if i + 1 == conditions.len() {
                    offset(here, kill_at)?
                } else {
                    0
                },
                k,
            });
        }
    }
    program.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS));
    debug_assert_eq!(program.len(), kill_at + 1);
    Ok(program)
}

/// Stands for the worker's pid in [`worker_filter_template`]: above the kernel's `PID_MAX_LIMIT`
/// (2^22), so it is never a pid, and no other constant of the table has this value.
const PID_PLACEHOLDER: i32 = 0x7fff_fff0;

/// The worker's filter with a placeholder for its pid: compiled once in the zygote, so that each
/// worker only patches it ([`with_pid`]) instead of compiling after `fork` (about 40 µs there,
/// mostly copy-on-write faults).
pub(crate) fn worker_filter_template() -> Result<BpfProgram, JailError> {
    worker_narrowing(PID_PLACEHOLDER)
}

/// `template` with the worker's own pid in place of the placeholder, which must occur exactly
/// once (in the `tgkill` rule).
pub(crate) fn with_pid(template: &BpfProgram, pid: i32) -> Result<BpfProgram, JailError> {
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let mut program = template.clone();
    let mut patched = 0;
    for instruction in &mut program {
        if instruction.code == jeq && instruction.k == PID_PLACEHOLDER as u32 {
            instruction.k = pid as u32;
            patched += 1;
        }
    }
    if patched != 1 {
        return Err(JailError::Engine {
            role: "worker",
            step: "seccomp filter",
            source: io::Error::other(format!("the pid placeholder occurs {patched} times")),
        });
    }
    Ok(program)
}

/// Every way of opening a file: answered `EACCES` by [`engine_filter`], never allowed.
///
/// Opening is refused, not killed, because libc opens files behind the engine's back and copes
/// with a refusal: glibc's malloc reads `/proc/sys/vm/overcommit_memory` when it trims a
/// thread's heap (a plugin that allocates and frees a lot would otherwise be killed at random).
/// Landlock would refuse the open as well.
const OPENS: [i64; 5] = [
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
    libc::SYS_open_by_handle_at,
];

#[cfg(test)]
mod engine_tests {
    use super::*;
    use proptest::strategy::Strategy;

    /// seccompiler's chain of one test per row after [`clone3_prefix`]: `engine_filter` until
    /// session 13, kept as the reference the tree is compared with call by call.
    fn seccompiler_filter(role: Role, pid: i32) -> Result<BpfProgram, JailError> {
        let role_name = match role {
            Role::Zygote => "zygote",
            Role::Worker => "worker",
        };
        let fail = |e: seccompiler::BackendError| JailError::Engine {
            role: role_name,
            step: "seccomp filter",
            source: io::Error::other(e),
        };
        // Dword for `int` arguments (the kernel may leave garbage in the upper half), qword otherwise.
        let dword = |arg, op, value| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(fail)
        };
        let qword = |arg, op, value| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(fail)
        };
        let one = |c: SeccompCondition| SeccompRule::new(vec![c]).map_err(fail);
        let namespaces = NAMESPACE_FLAGS.iter().fold(0, |all, flag| all | flag);
        let thread = libc::CLONE_THREAD as u64;

        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for entry in ENGINE_SYSCALLS {
            let args = match role {
                Role::Zygote => entry.zygote,
                Role::Worker => entry.worker,
            };
            let list = match args {
                No => continue,
                Any => Vec::new(),
                Thread => vec![one(qword(
                    0,
                    SeccompCmpOp::MaskedEq(namespaces | thread),
                    thread,
                )?)?],
                NoNamespace => vec![one(qword(0, SeccompCmpOp::MaskedEq(namespaces), 0)?)?],
                Prctl(options) => options
                    .iter()
                    .map(|&o| one(dword(0, SeccompCmpOp::Eq, o as u64)?))
                    .collect::<Result<_, _>>()?,
                OwnPid => vec![one(dword(0, SeccompCmpOp::Eq, pid as u64)?)?],
                SelfOnly => vec![one(dword(0, SeccompCmpOp::Eq, 0)?)?],
                NoAddress => vec![one(qword(4, SeccompCmpOp::Eq, 0)?)?],
                // Rules are alternatives: not exec, or not write.
                NotWriteExec => [libc::PROT_EXEC, libc::PROT_WRITE]
                    .iter()
                    .map(|&bit| one(dword(2, SeccompCmpOp::MaskedEq(bit as u64), 0)?))
                    .collect::<Result<_, _>>()?,
                GetFd => vec![one(dword(1, SeccompCmpOp::Eq, F_GETFD as u64)?)?],
                // The kernel's own command mask: every bit but the private and clock flags.
                Futex => FUTEX_OPS
                    .iter()
                    .map(|&op| {
                        let flags = libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME;
                        let mask = u64::from(!(flags as u32));
                        one(dword(1, SeccompCmpOp::MaskedEq(mask), op as u64)?)
                    })
                    .collect::<Result<_, _>>()?,
                AddFilter => vec![
                    SeccompRule::new(vec![
                        dword(
                            0,
                            SeccompCmpOp::Eq,
                            u64::from(libc::SECCOMP_SET_MODE_FILTER),
                        )?,
                        qword(
                            1,
                            SeccompCmpOp::MaskedEq(!libc::SECCOMP_FILTER_FLAG_TSYNC),
                            0,
                        )?,
                    ])
                    .map_err(fail)?,
                ],
            };
            rules.insert(entry.nr, list);
        }
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            std::env::consts::ARCH.try_into().map_err(fail)?,
        )
        .map_err(fail)?;
        let allowlist: BpfProgram = filter.try_into().map_err(fail)?;
        let mut program = clone3_prefix();
        program.extend(allowlist);
        Ok(program)
    }

    /// The prefix of [`seccompiler_filter`]: kills a system call of any architecture but x86_64,
    /// answers `clone3` with `ENOSYS` and every way of opening a file ([`OPENS`]) with `EACCES`;
    /// falls through to the next instruction for everything else.
    fn clone3_prefix() -> BpfProgram {
        use libc::{BPF_ABS, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
        let stmt = |code: u32, k: u32| seccompiler::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let jump = |k: u32, jt, jf| seccompiler::sock_filter {
            code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
            jt,
            jf,
            k,
        };
        let mut program = vec![
            stmt(BPF_LD | BPF_W | BPF_ABS, 4), // seccomp_data.arch
            jump(AUDIT_ARCH_X86_64, 1, 0),
            stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
            stmt(BPF_LD | BPF_W | BPF_ABS, 0), // seccomp_data.nr
            jump(libc::SYS_clone3 as u32, 0, 1),
            stmt(
                BPF_RET | BPF_K,
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            ),
        ];
        // Each test jumps to the EACCES return after the remaining tests and the skip over it.
        for (i, nr) in OPENS.iter().enumerate() {
            program.push(jump(*nr as u32, (OPENS.len() - i) as u8, 0));
        }
        program.push(stmt(BPF_JMP | BPF_JA, 1));
        program.push(stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EACCES as u32,
        ));
        program
    }

    fn allowed(role: Role, nr: i64) -> bool {
        ENGINE_SYSCALLS.iter().any(|e| {
            e.nr == nr
                && match role {
                    Role::Zygote => e.zygote != No,
                    Role::Worker => e.worker != No,
                }
        })
    }

    #[test]
    fn the_table_has_one_row_per_syscall_and_a_reason() {
        let mut seen = std::collections::BTreeSet::new();
        for e in ENGINE_SYSCALLS {
            assert!(seen.insert(e.nr), "syscall {} listed twice", e.nr);
            assert!(!e.why.is_empty());
        }
    }

    /// Filters stack: a worker call the zygote's filter refuses would kill the worker.
    #[test]
    fn the_zygote_allows_everything_a_worker_may_do() {
        for e in ENGINE_SYSCALLS {
            let ok = match (e.worker, e.zygote) {
                (No, _) => true,
                (_, Any) => true,
                (Thread, NoNamespace) => true,
                (Prctl(w), Prctl(z)) => w.iter().all(|o| z.contains(o)),
                (w, z) => w == z,
            };
            assert!(
                ok,
                "syscall {}: worker {:?} not within zygote {:?}",
                e.nr, e.worker, e.zygote
            );
        }
    }

    #[test]
    fn escapes_are_absent_from_both_tables() {
        let never = [
            libc::SYS_openat2,
            libc::SYS_creat,
            libc::SYS_socket,
            libc::SYS_socketpair,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_accept,
            libc::SYS_accept4,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_ptrace,
            libc::SYS_kill,
            libc::SYS_tkill,
            libc::SYS_pidfd_send_signal,
            libc::SYS_pidfd_getfd,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_mount,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_userfaultfd,
            libc::SYS_perf_event_open,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_keyctl,
            libc::SYS_ioctl,
            libc::SYS_pkey_mprotect,
        ];
        for nr in never {
            assert!(!allowed(Role::Zygote, nr), "zygote allows {nr}");
            assert!(!allowed(Role::Worker, nr), "worker allows {nr}");
        }
        for nr in [
            libc::SYS_recvmsg,
            libc::SYS_sendmsg,
            libc::SYS_seccomp,
            libc::SYS_prlimit64,
        ] {
            assert!(allowed(Role::Zygote, nr) && !allowed(Role::Worker, nr));
        }
    }

    /// The opens are answered before the allowlist's rows, which never list them, and `clone3`
    /// is answered `ENOSYS`, whatever the arguments.
    #[test]
    fn every_open_is_refused_with_eacces_and_clone3_with_enosys() {
        for role in [Role::Zygote, Role::Worker] {
            let filter = engine_filter(role, 1234).expect("compiles");
            for args in [[0; 6], [1; 6], [u64::MAX; 6]] {
                for nr in OPENS {
                    assert!(!allowed(Role::Zygote, nr) && !allowed(Role::Worker, nr));
                    let action = interpret(&filter, nr, X86_64, args);
                    assert_eq!(
                        action,
                        libc::SECCOMP_RET_ERRNO | libc::EACCES as u32,
                        "{nr}"
                    );
                }
                let action = interpret(&filter, libc::SYS_clone3, X86_64, args);
                assert_eq!(action, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
            }
        }
    }

    /// Runs a classic BPF `program` on one `seccomp_data` (only the instructions these filters
    /// use; anything else fails the test).
    fn interpret(program: &BpfProgram, nr: i64, arch: u32, args: [u64; 6]) -> u32 {
        trace(program, nr, arch, args).0
    }

    /// How many instructions `program` runs on `nr` (x86_64, arguments 0) before it returns or
    /// loads an argument: what the kernel's action cache emulates per number when the filter is
    /// installed (`seccomp_cache_prepare_bitmap`).
    fn steps_to_decide(program: &BpfProgram, nr: i64) -> usize {
        trace(program, nr, X86_64, [0; 6]).1
    }

    /// [`interpret`]'s action, and the instructions run before the first load of an argument
    /// (all of them when there is none).
    fn trace(program: &BpfProgram, nr: i64, arch: u32, args: [u64; 6]) -> (u32, usize) {
        use libc::{
            BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K,
            BPF_LD, BPF_RET, BPF_W,
        };
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        let (mut steps, mut on_arguments) = (0usize, false);
        loop {
            let i = &program[pc];
            let code = u32::from(i.code);
            pc += 1;
            on_arguments |= code == BPF_LD | BPF_W | BPF_ABS && i.k >= 16;
            if !on_arguments {
                steps += 1;
            }
            let cond = |taken: bool| {
                if taken {
                    usize::from(i.jt)
                } else {
                    usize::from(i.jf)
                }
            };
            match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let at = i.k as usize;
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
                }
                c if c == BPF_ALU | BPF_AND | BPF_K => acc &= i.k,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += cond(acc == i.k),
                c if c == BPF_JMP | BPF_JGT | BPF_K => pc += cond(acc > i.k),
                c if c == BPF_JMP | BPF_JGE | BPF_K => pc += cond(acc >= i.k),
                c if c == BPF_JMP | BPF_JSET | BPF_K => pc += cond(acc & i.k != 0),
                c if c == BPF_RET | BPF_K => return (i.k, steps),
                other => panic!("instruction {other:#x} at {} not interpreted", pc - 1),
            }
        }
    }

    /// What the kernel returns for filters stacked: the strictest action (kill, then errno,
    /// then allow, for the actions these filters use).
    fn strictest(a: u32, b: u32) -> u32 {
        let rank = |r: u32| match r & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_KILL_PROCESS => 0,
            libc::SECCOMP_RET_ERRNO => 1,
            libc::SECCOMP_RET_ALLOW => 2,
            other => panic!("unexpected action {other:#x}"),
        };
        if rank(a) <= rank(b) { a } else { b }
    }

    /// The per-worker filter stacked on the inherited zygote filter decides every system call
    /// number (and x32 numbers, and another architecture), with arguments that exercise each
    /// condition of the table, exactly as the worker's whole allowlist does (issue 23: a worker
    /// no longer installs that whole allowlist).
    #[test]
    fn issue_23_the_narrowing_filter_on_the_zygote_filter_is_the_worker_allowlist() {
        let pid = 4321;
        let zygote = engine_filter(Role::Zygote, 0).expect("zygote filter");
        let whole = engine_filter(Role::Worker, pid).expect("worker filter");
        let narrowing =
            with_pid(&worker_filter_template().expect("template"), pid).expect("one placeholder");
        assert_eq!(narrowing, worker_narrowing(pid).expect("narrowing"));
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        let words: Vec<u64> = [
            0,
            1,
            pid as u64,
            pid as u64 | 1 << 32,
            4322,
            thread,
            libc::SIGCHLD as u64,
            thread | libc::CLONE_NEWNET as u64,
            thread | 1 << 40,
            libc::SECCOMP_SET_MODE_FILTER.into(),
            libc::F_GETFD as u64,
            (libc::PROT_READ | libc::PROT_WRITE) as u64,
            (libc::PROT_WRITE | libc::PROT_EXEC) as u64,
            libc::FUTEX_LOCK_PI as u64,
            (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as u64,
            u64::MAX,
        ]
        .into_iter()
        .chain(0..=60u64)
        .collect();
        let mut checked = 0;
        for nr in (0..=470).chain((0..=470).map(|n| n | 0x4000_0000)) {
            for arch in [X86_64, 183 | 0x8000_0000 | 0x4000_0000] {
                for (a, w) in words.iter().enumerate() {
                    // Argument 0 and, shifted, the one each condition reads (1, 2 or 4).
                    let other = words[(a + 3) % words.len()];
                    let address = if a % 2 == 0 { 0 } else { *w };
                    let args = [*w, *w, *w, other, address, other];
                    let stacked = strictest(
                        interpret(&narrowing, nr, arch, args),
                        interpret(&zygote, nr, arch, args),
                    );
                    let alone = interpret(&whole, nr, arch, args);
                    assert_eq!(
                        stacked, alone,
                        "nr {nr:#x} arch {arch:#x} args {args:x?}: stacked {stacked:#x}, whole {alone:#x}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
        // Far shorter than the whole allowlist the kernel used to translate per worker (a
        // chain then), and still several times shorter than it as a tree.
        let chain = seccompiler_filter(Role::Worker, pid).expect("chain");
        assert!(
            narrowing.len() * 4 < chain.len() && narrowing.len() * 3 < whole.len(),
            "{} vs {} and {}",
            narrowing.len(),
            chain.len(),
            whole.len()
        );
    }

    /// The worker's own filter is one test per row that narrows the zygote's, the blocks of the
    /// conditional rows, and one shared allow and kill: no architecture check and no return per
    /// row (the kernel translates and JIT-compiles it for every worker, issue 23).
    #[test]
    fn issue_23_the_narrowing_filter_is_one_test_per_row() {
        let rows: Vec<&Entry> = ENGINE_SYSCALLS
            .iter()
            .filter(|e| e.worker != e.zygote)
            .collect();
        let blocks: usize = rows
            .iter()
            .map(|e| match e.worker {
                No => 0,
                Prctl(options) => 1 + options.len(),
                _ => 2,
            })
            .sum();
        let narrowing = worker_narrowing(4321).expect("narrowing");
        // The load of the number, the tests, the allow for other numbers, the blocks, and the
        // allow and kill they jump to.
        assert_eq!(narrowing.len(), 1 + rows.len() + 1 + blocks + 2);
        let kills = narrowing
            .iter()
            .filter(|i| u32::from(i.code) == libc::BPF_RET | libc::BPF_K)
            .filter(|i| i.k == libc::SECCOMP_RET_KILL_PROCESS)
            .count();
        assert_eq!(kills, 1);
    }

    /// What the kernel's `bpf_check_classic` and `seccomp_check_filter` require: at most 4096
    /// instructions, forward jumps inside the program, a return last; and the architecture is
    /// checked first.
    #[test]
    fn both_filters_compile_within_the_kernel_limit() {
        for role in [Role::Zygote, Role::Worker] {
            let filter = engine_filter(role, 1234).expect("compiles");
            assert!(filter.len() <= 4096);
            for (at, i) in filter.iter().enumerate() {
                let code = u32::from(i.code);
                if code & 0x07 == libc::BPF_JMP {
                    let furthest = usize::from(i.jt.max(i.jf));
                    assert!(at + 1 + furthest < filter.len(), "{role:?}: jump at {at}");
                }
            }
            let last = filter.last().expect("an instruction");
            assert_eq!(u32::from(last.code), libc::BPF_RET | libc::BPF_K);
            assert_eq!(
                (filter[0].code, filter[0].k),
                ((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 4)
            );
            assert_eq!(filter[1].k, X86_64);
        }
    }

    const X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const I386: u32 = 3 | 0x4000_0000;
    const AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

    /// The 32-bit words the argument tests of `programs` compare with or mask by (an
    /// instruction after a load from the arguments, up to the next load), and their
    /// neighbours: values on both sides of every condition.
    fn argument_words(programs: &[&BpfProgram]) -> Vec<u32> {
        use libc::{BPF_ABS, BPF_ALU, BPF_JMP, BPF_LD, BPF_W};
        let mut words =
            std::collections::BTreeSet::from([0, 1, 2, 0x7fff_ffff, 0x8000_0000, u32::MAX]);
        for program in programs {
            let mut on_argument = false;
            for i in program.iter() {
                let code = u32::from(i.code);
                if code == BPF_LD | BPF_W | BPF_ABS {
                    on_argument = i.k >= 16;
                } else if on_argument && (code & 0x07 == BPF_JMP || code & 0x07 == BPF_ALU) {
                    let k = i.k;
                    words.extend([
                        k,
                        k.wrapping_add(1),
                        k.wrapping_sub(1),
                        !k,
                        k ^ 1,
                        k ^ 0x80,
                        k ^ 0x100,
                        k ^ 0x8000_0000,
                    ]);
                }
            }
        }
        words.into_iter().collect()
    }

    /// issue 23: the tree decides every system call number (0 to 600, their x32 twins, the ends
    /// of the 32-bit range, another architecture) and every argument condition exactly as
    /// seccompiler's chain of one test per row did, for both roles: each argument in turn set to
    /// values on both sides of each condition (in both halves), over bases of zeros and ones.
    #[test]
    fn issue_23_the_tree_decides_every_call_as_the_seccompiler_chain() {
        let pid = 4321;
        for role in [Role::Zygote, Role::Worker] {
            let tree = engine_filter(role, pid).expect("tree");
            let chain = seccompiler_filter(role, pid).expect("chain");
            let words = argument_words(&[&tree, &chain]);
            let values: Vec<u64> = words
                .iter()
                .flat_map(|&w| [0u64, 1, 0xffff_ffff].map(|high| high << 32 | u64::from(w)))
                .collect();
            let listed: Vec<u32> = ENGINE_SYSCALLS
                .iter()
                .map(|e| e.nr)
                .chain(OPENS)
                .chain([libc::SYS_clone3])
                .map(|nr| nr as u32)
                .collect();
            let mut checked = 0usize;
            let mut check = |nr: u32, arch: u32, args: [u64; 6]| {
                let (new, old) = (
                    interpret(&tree, i64::from(nr), arch, args),
                    interpret(&chain, i64::from(nr), arch, args),
                );
                assert_eq!(
                    new, old,
                    "{role:?}: nr {nr:#x} arch {arch:#x} args {args:x?}: tree {new:#x}, chain {old:#x}"
                );
                checked += 1;
            };
            let bases = [[0u64; 6], [1u64; 6], [u64::MAX; 6]];
            for &nr in &listed {
                for base in bases {
                    for position in 0..6 {
                        for &value in &values {
                            let mut args = base;
                            args[position] = value;
                            check(nr, X86_64, args);
                        }
                    }
                }
            }
            let numbers = (0..=600u32)
                .chain((0..=600).map(|n| n | 0x4000_0000))
                .chain([0x3fff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, u32::MAX]);
            for nr in numbers {
                for arch in [X86_64, I386, AARCH64, 0, u32::MAX] {
                    for base in bases {
                        check(nr, arch, base);
                    }
                    for &value in values.iter().step_by(7) {
                        check(nr, arch, [value; 6]);
                    }
                }
            }
            assert!(checked > 100_000, "{checked}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// issue 23: random calls, random arguments, both roles: the tree and seccompiler's
        /// chain agree.
        #[test]
        fn issue_23_the_tree_and_the_chain_agree_on_random_calls(
            nr in proptest::prop_oneof![
                4 => 0u32..=600,
                1 => (0u32..=600).prop_map(|n| n | 0x4000_0000),
                1 => proptest::prelude::any::<u32>(),
            ],
            arch in proptest::prop_oneof![
                8 => proptest::strategy::Just(X86_64),
                1 => proptest::strategy::Just(I386),
                1 => proptest::prelude::any::<u32>(),
            ],
            args in proptest::array::uniform6(proptest::prop_oneof![
                proptest::prelude::any::<u64>(),
                (0u64..64),
                proptest::prelude::any::<u32>().prop_map(u64::from),
            ]),
            pid in 1i32..4_194_304,
            worker in proptest::prelude::any::<bool>(),
        ) {
            let role = if worker { Role::Worker } else { Role::Zygote };
            let tree = engine_filter(role, pid).expect("tree");
            let chain = seccompiler_filter(role, pid).expect("chain");
            proptest::prop_assert_eq!(
                interpret(&tree, i64::from(nr), arch, args),
                interpret(&chain, i64::from(nr), arch, args)
            );
        }
    }

    /// issue 23: the kernel's action cache emulates the program once per system call number
    /// (and translation and JIT grow with its length). The tree decides every number within
    /// a few tests, where seccompiler's chain took up to one test per row (about 190
    /// instructions for the last numbers), and the program is less than half the chain.
    #[test]
    fn issue_23_every_number_is_decided_within_a_few_tests() {
        for role in [Role::Zygote, Role::Worker] {
            let tree = engine_filter(role, 4321).expect("tree");
            let chain = seccompiler_filter(role, 4321).expect("chain");
            let longest = (0..=600i64)
                .chain((0..=600).map(|n| n | 0x4000_0000))
                .map(|nr| steps_to_decide(&tree, nr))
                .max();
            // The architecture check, the load, a tree over at most 128 ranges, the return.
            assert!(
                longest.is_some_and(|n| n <= 3 + 7 + 1),
                "{role:?}: {longest:?}"
            );
            assert!(
                tree.len() * 2 < chain.len(),
                "{role:?}: {} vs {}",
                tree.len(),
                chain.len()
            );
        }
    }
}
