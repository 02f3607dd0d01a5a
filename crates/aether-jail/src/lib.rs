//! Runs one child program confined by the kernel: the layer beneath `aether.process.run`; and,
//! in [`engine`], confines the `process` isolation tier's zygote and engine workers (SPEC §6).
//!
//! What a child gets, whatever it does:
//! - exactly the environment it is given, nothing inherited from aether;
//! - **Landlock**: read+execute on the system directories that programs load from (`/usr`,
//!   `/bin`, `/lib*`, the loader's files in `/etc`, a few `/dev` nodes), plus the
//!   [`Confinement`]'s `read` and `write` paths; nothing else (not `/etc/shadow`, `/proc`,
//!   `/sys`); no TCP bind/connect without `network`; no signals to, nor abstract sockets of,
//!   processes outside its own domain (aether included);
//! - **seccomp**: no ptrace, mounts, namespaces, kernel modules, bpf, io_uring, `setsid` or
//!   `setpgid`, path-based `chmod`, no socket at all without `network` and only TCP/UDP over
//!   IPv4/IPv6 with it (not even `AF_UNIX`: see below), stream `socketpair`s only
//!   (`policy.rs` lists each syscall and why);
//! - **no_new_privs**, and when aether runs as root, no capabilities (`SECBIT_NOROOT`);
//! - **rlimits**: address space, file size, no core dumps, open files;
//! - **a pids cgroup** limiting its whole tree, which is killed entirely when [`run`] returns.
//!   No process started by the child outlives [`run`].
//!
//! Kernel features required, and the [`Feature`] reported when missing: Landlock ABI ≥ 5 for the
//! full filesystem rules, ≥ 4 for TCP rules, ≥ 6 for scopes (Linux 6.12); seccomp with
//! `SECCOMP_RET_ERRNO`; a pids controller, cgroup v1 or v2 (v2 only where aether's own cgroup may
//! have sub-cgroups). When one is missing, [`run`] refuses unless the caller accepted weaker
//! confinement ([`Confinement::accept_weaker`]), and then reports it in [`Exit::weakened`]: this
//! crate never runs a child less confined than asked without saying so.
//!
//! If aether itself is killed, `PR_SET_PDEATHSIG` kills the direct child; the rest of the tree is
//! killed by the next aether's first [`run`], which removes cgroups left by dead aethers.
//!
//! # Limitations
//! - Memory limits are per process (`RLIMIT_AS`): a tree may hold `memory × max_processes`.
//! - Landlock does not govern `stat` (existence of paths outside the grants is visible),
//!   timestamps (`utimensat`) or `user.*` extended attributes.
//! - Some programs fail by design: `chmod` by path, `setsid`, UNIX sockets, user namespaces.
//! - The child keeps aether's uid; as root its capabilities are dropped, but it still owns
//!   root's files for the checks that Landlock and seccomp do not cover.
//! - Under cgroup v1, members are killed by pid after listing them; v2 uses `cgroup.kill`.
//!
//! This crate must never decide what a plugin may do: it knows nothing of grants. `aether-host`
//! translates a grant into a [`Confinement`].
#![deny(missing_docs)]

mod cgroup;
pub mod engine;
mod policy;
mod sys;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use aether_policy::{CheckedCommand, CheckedPath, WorkspaceDir};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, fcntl_setfl};
use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};

pub use cgroup::{CgroupVersion, PidsCgroup};

/// What a child may reach. Deny by default: `Confinement::default()` reads nothing beyond the
/// system directories, writes nothing, has no network, and its `memory` and `max_processes` are
/// 0 (so must be set: a child cannot even `exec` with 0 bytes of address space).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confinement {
    /// Files and directories readable (recursively), as Landlock read_file and read_dir. Each
    /// must exist.
    pub read: Vec<PathBuf>,
    /// Files and directories readable, writable, and where entries may be created and removed
    /// (recursively). Not executable. Each must exist.
    pub write: Vec<PathBuf>,
    /// `false`: no TCP bind or connect (Landlock) and no `socket` call at all (seccomp, so no
    /// UDP either). `true`: TCP and UDP over IPv4/IPv6 allowed, to any address; raw, packet,
    /// netlink and UNIX sockets never. Stream `socketpair`s are always allowed.
    pub network: bool,
    /// `RLIMIT_AS` and `RLIMIT_FSIZE`, in bytes, for the child and each descendant separately
    /// (not a total for the tree).
    pub memory: u64,
    /// The most tasks the child's whole tree may hold at once (`pids.max`); fork bombs stop there.
    pub max_processes: u32,
    /// When the kernel lacks a [`Feature`], run anyway and list it in [`Exit::weakened`], instead
    /// of refusing with [`JailError::Unsupported`]. The policy setting behind it is
    /// `[process] accept_weaker_confinement = true`.
    pub accept_weaker: bool,
}

/// One child to run.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// The program: a witness of `Grant::check_command` (absolute, never looked up in
    /// `PATH`), so that no child runs a program no check saw.
    ///
    /// ```compile_fail,E0308
    /// # fn spec(s: aether_jail::ChildSpec) -> aether_jail::ChildSpec {
    /// aether_jail::ChildSpec { program: std::path::PathBuf::from("/bin/sh"), ..s }
    /// # }
    /// ```
    pub program: CheckedCommand,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// The complete environment: nothing of aether's is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory: the workspace, or a directory a read check returned, never a
    /// bare path (see [`WorkingDir`]).
    ///
    /// ```compile_fail,E0308
    /// # fn spec(s: aether_jail::ChildSpec) -> aether_jail::ChildSpec {
    /// aether_jail::ChildSpec { cwd: std::path::PathBuf::from("/etc"), ..s }
    /// # }
    /// ```
    pub cwd: WorkingDir,
    /// Bytes fed to standard input, which is then closed.
    pub stdin: Vec<u8>,
    /// When the child's whole tree is killed (then [`Exit::timed_out`]).
    pub deadline: Instant,
    /// The most bytes of stdout and stderr together that are kept; beyond it the tree is killed
    /// and [`run`] returns [`JailError::OutputLimit`].
    pub max_output: usize,
    /// What the child may reach.
    pub confinement: Confinement,
}

/// The working directory, opened before `fork` and entered in the child with `fchdir`
/// (`sys::Hook::cwd`). A [`WorkingDir::Checked`] one is opened with no symlink in any
/// component (`openat2(RESOLVE_NO_SYMLINKS)`, as `aether-host` opens every checked path): a
/// directory swapped for a symlink between the check and the spawn is refused, not followed
/// (the check-then-use race of CVE-2022-21658). The operator's workspace may be reached through
/// symlinks, as the operator named it.
fn open_working_dir(cwd: &WorkingDir) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(match cwd {
        WorkingDir::Workspace(w) => rustix::fs::open(w.path(), flags, Mode::empty())?,
        WorkingDir::Checked(c) => rustix::fs::openat2(
            CWD,
            c.real(),
            flags,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )?,
    })
}

/// Where a child starts (SPEC §5: "their working directory is the workspace unless `cwd`
/// names another"). Both variants hold witnesses, so a working directory cannot be made from a
/// path no check saw:
///
/// ```compile_fail,E0308
/// let cwd = aether_jail::WorkingDir::Checked(std::path::PathBuf::from("/etc"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkingDir {
    /// The step's workspace, which the operator chose: the default.
    Workspace(WorkspaceDir),
    /// The `cwd` the plugin named, as `Grant::check_read` returned it (or its `--unsafe`
    /// override): a directory the plugin may read.
    Checked(CheckedPath),
}

impl WorkingDir {
    /// The directory's path (the checked real path for [`WorkingDir::Checked`]).
    pub fn path(&self) -> &Path {
        match self {
            WorkingDir::Workspace(w) => w.path(),
            WorkingDir::Checked(c) => c.real(),
        }
    }
}

/// How a child ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    /// The signal that killed it, such as `"SIGKILL"`.
    pub signal: Option<&'static str>,
    /// Everything written to stdout, at most `max_output` bytes with stderr.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Killed at the deadline (then `code: None, signal: Some("SIGKILL")`).
    pub timed_out: bool,
    /// Confinement the kernel could not provide, accepted by [`Confinement::accept_weaker`].
    pub weakened: Vec<Feature>,
}

/// A kernel feature the confinement relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Feature {
    /// Landlock filesystem rules for every right of ABI 5 (ioctl on devices included).
    #[error("Landlock filesystem rules (ABI 5, Linux 6.10)")]
    LandlockFs,
    /// Landlock TCP bind/connect rules (ABI 4), needed when the child has no network.
    #[error("Landlock network rules (ABI 4, Linux 6.7)")]
    LandlockNet,
    /// Landlock signal and abstract-socket scoping (ABI 6): without it the child can signal aether.
    #[error("Landlock scopes (ABI 6, Linux 6.12)")]
    LandlockScopes,
    /// seccomp filters returning an errno.
    #[error("seccomp filters")]
    Seccomp,
    /// A pids cgroup (v1, or v2 where aether may create sub-cgroups).
    #[error("a pids cgroup")]
    PidsLimit,
    /// An empty network namespace for the engine zygote: `unshare(CLONE_NEWNET)`, with a user
    /// namespace when aether lacks `CAP_SYS_ADMIN`.
    #[error(
        "network namespaces (unshare CLONE_NEWNET, or CLONE_NEWUSER|CLONE_NEWNET when not root)"
    )]
    NetworkNamespace,
    /// `pidfd_open` (Linux 5.3), with which the zygote hands aether a handle on each worker.
    #[error("pidfd_open (Linux 5.3)")]
    Pidfd,
    /// The engine's seccomp tables name x86_64 system calls only.
    #[error("the x86_64 architecture (the engine's system call tables are written for it)")]
    Architecture,
}

/// What the running kernel offers, from [`probe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version, 0 when Landlock is absent or disabled.
    pub landlock_abi: u32,
    /// Whether seccomp filters can return an errno.
    pub seccomp: bool,
    /// aether's own pids cgroup, if any (creating a child cgroup beneath it may still fail).
    pub pids: Option<PidsCgroup>,
}

impl Support {
    /// The features missing to confine a child as `confinement` asks.
    pub fn missing(&self, confinement: &Confinement) -> Vec<Feature> {
        let mut missing = Vec::new();
        let abi = self.landlock_abi;
        missing.extend((abi < 5).then_some(Feature::LandlockFs));
        missing.extend((abi < 4 && !confinement.network).then_some(Feature::LandlockNet));
        missing.extend((abi < 6).then_some(Feature::LandlockScopes));
        missing.extend((!self.seccomp).then_some(Feature::Seccomp));
        missing.extend(self.pids.is_none().then_some(Feature::PidsLimit));
        missing
    }
}

/// Asks the running kernel what it offers. Cheap (two system calls and two `/proc` reads).
pub fn probe() -> Support {
    Support {
        landlock_abi: sys::landlock_abi(),
        seccomp: cfg!(target_arch = "x86_64") && sys::seccomp_available(),
        pids: cgroup::find(),
    }
}

/// Why a child could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// The kernel lacks a feature and weaker confinement was not accepted.
    #[error(
        "cannot confine child process: the kernel lacks {feature} ({reason})\n\nhint: set \
         `[process] accept_weaker_confinement = true` in aether-policy.toml to run children \
         with weaker confinement"
    )]
    Unsupported {
        /// The missing feature.
        feature: Feature,
        /// What the probe or setup found.
        reason: String,
    },
    /// [`Children::kill_all`] was called: the step has ended and starts no more children.
    #[error("child process refused: the step has ended")]
    Ended,
    /// stdout and stderr together exceeded `max_output`; the tree was killed.
    #[error("child process output exceeded {limit} bytes")]
    OutputLimit {
        /// The `max_output` that was exceeded.
        limit: usize,
    },
    /// The spec itself is unusable.
    #[error("invalid child spec: `{field}` {reason}")]
    InvalidSpec {
        /// The `ChildSpec` field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The working directory cannot be entered: it does not exist, is not a directory, or (a
    /// [`WorkingDir::Checked`] one) a symlink appeared in its path after it was checked.
    #[error("cannot enter `{}` as a child's working directory: {source}", path.display())]
    WorkingDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be opened.
        source: io::Error,
    },
    /// A path to grant cannot be opened.
    #[error("cannot grant `{}` to a child process: {source}", path.display())]
    GrantPath {
        /// The path from `Confinement::read` or `write` (or the program).
        path: PathBuf,
        /// Why it cannot be opened.
        source: io::Error,
    },
    /// Preparing or supervising the child failed.
    #[error("child process {step} failed: {source}")]
    Setup {
        /// What was being done.
        step: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The `process` isolation tier cannot run on this machine ([`engine::engine_support`]).
    #[error(
        "the `process` isolation tier cannot run on this machine: {feature} is missing \
         ({reason})\n\nhint: only if you accept weaker isolation (the engine then runs inside \
         aether's own process, isolated by the engine alone), set `[isolation] default = \
         \"thread\"` and `high_risk = \"thread\"` in aether-policy.toml"
    )]
    EngineUnsupported {
        /// The missing feature.
        feature: Feature,
        /// What the probe found.
        reason: String,
    },
    /// [`engine::confine_zygote`] was called in a process with more than one thread: the
    /// capabilities, Landlock domain and namespaces it sets apply to the calling thread only.
    #[error(
        "cannot confine the engine zygote: the process has {threads} threads, it must have one"
    )]
    NotSingleThreaded {
        /// How many threads `/proc/self/task` listed.
        threads: usize,
    },
    /// The process that must outlive this one (aether for the zygote, the zygote for a worker)
    /// exited before `PR_SET_PDEATHSIG` was in place, so its death would go unnoticed.
    #[error("cannot confine the engine {role}: its parent (pid {parent}) has already exited")]
    ParentGone {
        /// `"zygote"` or `"worker"`.
        role: &'static str,
        /// The pid the parent had.
        parent: i32,
    },
    /// A confinement function was called in the wrong process: [`engine::confine_zygote`] twice,
    /// or [`engine::confine_worker`] outside a child of a confined zygote.
    #[error("cannot confine the engine {role}: {reason}")]
    WrongProcess {
        /// `"zygote"` or `"worker"`.
        role: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A [`engine::WorkerLimits`] field is unusable.
    #[error("invalid engine worker limit: `{field}` {reason}")]
    InvalidLimits {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A confinement step of the engine zygote or a worker failed; the process is then partly
    /// confined and must exit.
    #[error("cannot confine the engine {role}: {step} failed: {source}")]
    Engine {
        /// `"zygote"` or `"worker"`.
        role: &'static str,
        /// What was being done.
        step: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The program could not be started (missing, not executable, or denied by the confinement).
    #[error("cannot start `{}`: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error from `fork`/`exec` or from applying the confinement.
        source: io::Error,
    },
}

/// Every live child of one step. [`Children::kill_all`] kills each one's whole tree, waits
/// for every [`run`] in progress to finish, and makes later [`run`] calls fail with
/// [`JailError::Ended`].
#[derive(Debug, Default)]
pub struct Children {
    inner: Mutex<Registry>,
    /// Signalled when a [`run`] finishes.
    finished: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct Registry {
    ended: bool,
    next: u64,
    live: Vec<(u64, Arc<Tree>)>,
    /// [`run`] calls between their start and their return: one may be spawning a child that
    /// `kill_all` cannot see yet.
    in_progress: usize,
}

/// How long [`Children::kill_all`] waits for runs in progress: they kill their own tree as soon
/// as they register it, so this only bounds a pathological case (a task stuck in the kernel).
const KILL_ALL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Counts a [`run`] in progress until dropped.
struct InProgress<'a>(&'a Children);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        let mut registry = self.0.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registry.in_progress -= 1;
        self.0.finished.notify_all();
    }
}

impl Children {
    /// An empty, open set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Kills every live child's tree (returning once their cgroups are empty) and refuses new
    /// children from now on. Running [`run`] calls return the killed child's [`Exit`].
    pub fn kill_all(&self) {
        let mut registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registry.ended = true;
        for (_, tree) in &registry.live {
            tree.kill();
        }
        // A run may be between its start and its registration, spawning a child: it sees
        // `ended` when it registers and kills its tree. Wait for that, so that no process of the
        // step outlives this call (aether may exit right after it).
        let deadline = std::time::Instant::now() + KILL_ALL_WAIT;
        while registry.in_progress > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            registry = self
                .finished
                .wait_timeout(registry, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Counts a [`run`] in progress, or refuses it once the step has ended.
    fn start(&self) -> Result<InProgress<'_>, JailError> {
        let mut registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if registry.ended {
            return Err(JailError::Ended);
        }
        registry.in_progress += 1;
        Ok(InProgress(self))
    }

    fn register(&self, tree: &Arc<Tree>) -> Result<Registration<'_>, JailError> {
        let mut registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if registry.ended {
            return Err(JailError::Ended);
        }
        let id = registry.next;
        registry.next += 1;
        registry.live.push((id, Arc::clone(tree)));
        Ok(Registration { children: self, id })
    }
}

/// Removes a child from [`Children`]; dropped before the child is reaped, so that `kill_all`
/// never signals a process group whose id may have been reused.
struct Registration<'a> {
    children: &'a Children,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut registry = self
            .children
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        registry.live.retain(|(id, _)| *id != self.id);
    }
}

/// A child's process group and cgroup. Valid while the child is not reaped.
#[derive(Debug)]
struct Tree {
    pgid: Pid,
    cgroup: Option<cgroup::Cgroup>,
}

impl Tree {
    fn kill(&self) {
        let _ = kill_process_group(self.pgid, Signal::KILL);
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill();
        }
    }
}

/// Runs `spec` confined and waits until it exits, its deadline passes, its output exceeds
/// `max_output`, or `children` is killed; then kills whatever remains of its tree.
///
/// Blocking: call it from a helper thread. Refuses with [`JailError::Unsupported`] when the kernel
/// lacks a [`Feature`] unless [`Confinement::accept_weaker`].
pub fn run(spec: &ChildSpec, children: &Children) -> Result<Exit, JailError> {
    let _in_progress = children.start()?;
    if !spec.program.path().is_absolute() {
        return Err(JailError::InvalidSpec {
            field: "program",
            reason: "must be an absolute path",
        });
    }
    if !spec.cwd.path().is_absolute() {
        return Err(JailError::InvalidSpec {
            field: "cwd",
            reason: "must be an absolute path",
        });
    }
    let confinement = &spec.confinement;
    // Kernel features and mounts do not change under a running aether; a cgroup that vanished
    // shows up as a creation failure below.
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    let support = SUPPORT.get_or_init(probe);
    let mut weakened = support.missing(confinement);
    let refuse = |feature, reason: String| {
        if confinement.accept_weaker {
            Ok(())
        } else {
            Err(JailError::Unsupported { feature, reason })
        }
    };
    if let Some(&feature) = weakened.first() {
        let reason = match feature {
            Feature::Seccomp => "seccomp filters are unavailable".to_owned(),
            Feature::PidsLimit => "no pids cgroup controller is mounted".to_owned(),
            _ => format!("the kernel's Landlock ABI is {}", support.landlock_abi),
        };
        refuse(feature, reason)?;
    }

    // Everything that allocates or opens files happens here, before fork.
    let cgroup = match &support.pids {
        Some(base) => match cgroup::Cgroup::create(base, confinement.max_processes) {
            Ok(cgroup) => Some(cgroup),
            Err(e) => {
                refuse(
                    Feature::PidsLimit,
                    format!("cannot create a cgroup in `{}`: {e}", base.path.display()),
                )?;
                weakened.push(Feature::PidsLimit);
                None
            }
        },
        None => None,
    };
    let landlock = match support.landlock_abi {
        0 => None,
        _ => policy::landlock_ruleset(confinement, spec.program.path())?,
    };
    let filters = if support.seccomp {
        policy::seccomp_filters(confinement.network)?
    } else {
        Vec::new()
    };
    let cwd = open_working_dir(&spec.cwd).map_err(|source| JailError::WorkingDir {
        path: spec.cwd.path().to_path_buf(),
        source,
    })?;
    let memory = confinement.memory;
    let hook = sys::Hook {
        cwd: cwd.as_raw_fd(),
        cgroup_procs: cgroup.as_ref().map(cgroup::Cgroup::procs_fd),
        parent: rustix::process::getpid().as_raw_nonzero().get(),
        rlimits: vec![
            (libc::RLIMIT_AS, memory),
            (libc::RLIMIT_FSIZE, memory),
            (libc::RLIMIT_CORE, 0),
            (libc::RLIMIT_NOFILE, 1024),
            // Only enforced for non-root; the cgroup is the real limit.
            (libc::RLIMIT_NPROC, u64::from(confinement.max_processes)),
        ],
        drop_root: sys::is_root(),
        landlock: landlock.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
        filters,
    };

    let mut command = Command::new(spec.program.path());
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    sys::install(&mut command, hook);
    let mut child = command.spawn().map_err(|source| JailError::Spawn {
        program: spec.program.path().to_path_buf(),
        source,
    })?;
    drop(landlock);
    drop(cwd);

    let tree = Arc::new(Tree {
        pgid: Pid::from_child(&child),
        cgroup,
    });
    let outcome = match children.register(&tree) {
        Ok(registration) => {
            let outcome = supervise(&mut child, spec, &tree);
            tree.kill();
            drop(registration);
            outcome
        }
        Err(e) => {
            tree.kill();
            Err(e)
        }
    };
    let status = child.wait();
    drop(tree); // removes the cgroup, now that nothing is left in it
    let (stdout, stderr, timed_out) = outcome?;
    let status = status.map_err(|source| JailError::Setup {
        step: "wait",
        source,
    })?;
    let (code, signal) = match timed_out {
        true => (None, Some("SIGKILL")),
        false => (status.code(), status.signal().map(signal_name)),
    };
    Ok(Exit {
        code,
        signal,
        stdout,
        stderr,
        timed_out,
        weakened,
    })
}

/// Feeds stdin and collects output until the child exits (then `timed_out = false`) or the
/// deadline passes (`true`). One thread, `poll` on the pipes and a pidfd.
fn supervise(
    child: &mut Child,
    spec: &ChildSpec,
    tree: &Tree,
) -> Result<(Vec<u8>, Vec<u8>, bool), JailError> {
    let io = |step| move |source| JailError::Setup { step, source };
    let pidfd = pidfd_open(Pid::from_child(child), PidfdFlags::empty())
        .map_err(|e| io("pidfd")(e.into()))?;
    let mut stdin = child.stdin.take().filter(|_| !spec.stdin.is_empty());
    let mut pipes = [
        child.stdout.take().map(Source::Out),
        child.stderr.take().map(Source::Err),
    ];
    for fd in stdin
        .iter()
        .map(AsFd::as_fd)
        .chain(pipes.iter().flatten().map(Source::fd))
    {
        fcntl_setfl(fd, OFlags::NONBLOCK).map_err(|e| io("pipe setup")(e.into()))?;
    }
    let (mut out, mut err, mut written, mut total) = (Vec::new(), Vec::new(), 0, 0);
    let mut exited = false;
    let mut buf = vec![0; 64 * 1024];
    while !exited || pipes.iter().any(Option::is_some) {
        let left = spec.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok((out, err, !exited));
        }
        let timeout = Timespec {
            tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: left.subsec_nanos().into(),
        };
        let readable = PollFlags::IN | PollFlags::HUP;
        let mut fds = Vec::with_capacity(4);
        if !exited {
            fds.push(PollFd::new(&pidfd, PollFlags::IN));
        }
        fds.extend(
            pipes
                .iter()
                .flatten()
                .map(|p| PollFd::from_borrowed_fd(p.fd(), readable)),
        );
        if let Some(stdin) = &stdin {
            fds.push(PollFd::from_borrowed_fd(stdin.as_fd(), PollFlags::OUT));
        }
        match poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io("poll")(e.into())),
            Ok(_) => {}
        }
        let child_done = !exited && !fds[0].revents().is_empty();
        drop(fds);
        if let Some(pipe) = &mut stdin {
            match pipe.write(&spec.stdin[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The child closed its stdin (EPIPE): it wants no more.
                Err(_) => written = spec.stdin.len(),
            }
            if written == spec.stdin.len() {
                stdin = None;
            }
        }
        for slot in &mut pipes {
            let Some(pipe) = slot else { continue };
            let sink = match pipe {
                Source::Out(_) => &mut out,
                Source::Err(_) => &mut err,
            };
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => {
                        *slot = None;
                        break;
                    }
                    Ok(n) => {
                        sink.extend_from_slice(&buf[..n]);
                        total += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io("read output")(e)),
                }
                if total > spec.max_output {
                    return Err(JailError::OutputLimit {
                        limit: spec.max_output,
                    });
                }
            }
        }
        if child_done {
            // The child is gone: what it left running dies with it, closing the pipes.
            exited = true;
            stdin = None;
            tree.kill();
        }
    }
    Ok((out, err, false))
}

/// A readable end of the child's stdout or stderr.
enum Source {
    Out(std::process::ChildStdout),
    Err(std::process::ChildStderr),
}

impl Source {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Source::Out(p) => p.as_fd(),
            Source::Err(p) => p.as_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Out(p) => p.read(buf),
            Source::Err(p) => p.read(buf),
        }
    }
}

/// The name of a signal that ends a process, as JavaScript's `child_process` reports it.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "SIGUNKNOWN",
    }
}
