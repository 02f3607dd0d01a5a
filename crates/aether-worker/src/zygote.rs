//! The zygote: a small, confined, single-threaded process that forks engine workers.
//!
//! aether starts it once per run by executing its own binary (`/proc/self/exe`) with an empty
//! environment, so a worker's memory holds no secret of aether's (no environment, no argument,
//! no file read before): a compromised engine has nothing of aether's to read. The zygote
//! confines itself (`aether_jail::engine::confine_zygote`) before it forks anything; each worker
//! forked from it inherits that confinement and adds its own.
//!
//! Control protocol, over a `SOCK_SEQPACKET` pair: aether sends a [`SpawnRequest`] with the
//! worker's socket attached (`SCM_RIGHTS`); the zygote answers with the worker's pid and a pidfd
//! for it attached, or a negative errno and nothing attached.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::{Pid, PidfdFlags};

use crate::sys::{self, Forked};
use crate::{ProcessWorker, WorkerError};

/// The hidden first argument that makes the `aether` binary run as the zygote
/// (see [`run_zygote_if_asked`]).
pub const ZYGOTE_ARG: &str = "__aether-zygote";

/// How long aether waits for a new zygote to confine itself and say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one worker is held to, sent with each spawn request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpawnRequest {
    /// `RLIMIT_AS`, bytes.
    pub(crate) address_space: u64,
    /// `RLIMIT_CPU`, whole seconds.
    pub(crate) cpu_seconds: u64,
}

impl SpawnRequest {
    /// What a pooled worker is forked with: no address-space or CPU limit yet. aether lowers
    /// both (soft and hard, `prlimit`) to the step's own before it sends the worker anything.
    pub(crate) const POOLED: SpawnRequest = SpawnRequest {
        address_space: u64::MAX,
        cpu_seconds: u64::MAX,
    };

    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.address_space.to_le_bytes());
        out[8..].copy_from_slice(&self.cpu_seconds.to_le_bytes());
        out
    }

    fn from_bytes(bytes: [u8; 16]) -> SpawnRequest {
        let (a, c) = bytes.split_at(8);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
        SpawnRequest {
            address_space: word(a),
            cpu_seconds: word(c),
        }
    }
}

/// A worker forked, confined and never used: its end of the step socket, and the process
/// (pidfd for kill and for the accounting's liveness check).
pub(crate) struct Spawned {
    pub(crate) socket: UnixStream,
    /// aether's end of the worker's call ring (`None` if it could not be made: every call then
    /// takes the socket).
    pub(crate) ring: Option<crate::ring::Ring>,
    pub(crate) worker: ProcessWorker,
}

/// aether's handle on its zygote. Dropping it kills the zygote (and so, by `PR_SET_PDEATHSIG`,
/// every worker it forked, used or not).
///
/// It keeps a pool of workers forked ahead ([`Zygote::keep_ready`]): a step's critical path is
/// then a hand-over (two `prlimit`s and the step's first message), not a round trip to the
/// zygote and a `fork`. A pooled worker has confined itself before it waits for its step; it
/// runs one step only and is killed after it, as a worker forked on demand.
pub struct Zygote {
    shared: Arc<Shared>,
    /// The zygote process, killed through this when dropped (a pidfd: never another process
    /// that reused its pid after it was reaped). `None` if `pidfd_open` failed: then `child`
    /// is killed.
    pidfd: Option<OwnedFd>,
    /// The zygote's `Child` while no thread waits for it: taken by the reaper thread started
    /// with it ([`Zygote::spawn`]), or when dropped. `None` once taken.
    child: Arc<Mutex<Option<Child>>>,
    filler: Mutex<Option<JoinHandle<()>>>,
    /// Started from the small image (`image`), not aether's own binary.
    small: bool,
    /// The CPUs this process may use ([`Zygote::cpus`]), once asked.
    cpus: OnceLock<usize>,
}

/// Why a zygote did not say it was ready.
enum NotReady {
    /// It said why (a zygote of this build): the process tier cannot run here.
    Failed(WorkerError),
    /// It said something else, nothing, or not in time: it may not be a zygote of this build.
    Foreign(WorkerError),
}

/// What the pool's filler thread shares with the steps.
struct Shared {
    control: Mutex<OwnedFd>,
    pool: Mutex<Pool>,
    /// The worker the zygote forks on its own right after "ready" ([`Zygote::start_with`]),
    /// until its answer is read: the first answer on `control`, read (with `control` locked)
    /// before any other, when a step first wants a worker or before the next request is sent.
    /// aether goes on with the run meanwhile instead of waiting for the zygote's fork.
    first: Mutex<Option<HandedOver>>,
    /// Whether `first` may still hold a worker (read without locking `control`).
    first_pending: std::sync::atomic::AtomicBool,
    /// Signalled when a worker is taken from the pool, or the zygote is dropped.
    wake: Condvar,
    /// Call rings of workers whose steps are over, handed on once those workers are gone.
    retired: crate::ring::Retired,
}

/// Workers waiting for a step, and how many more the run needs.
struct Pool {
    ready: VecDeque<Spawned>,
    /// How many workers to hold ready at most (the run's `--jobs`).
    slots: usize,
    /// Process-tier steps of the run not yet started: no worker is forked ahead beyond them,
    /// so that no idle worker outlives the last step's start.
    remaining: usize,
    /// The zygote is being dropped, or forking failed: fork nothing more ahead.
    closed: bool,
    /// The filler is waiting for the zygote to fork a worker, which a step waits for rather
    /// than fork one more (`ready` plus this never exceed `remaining`: no idle worker is left
    /// over).
    in_flight: bool,
    /// The zygote's first worker is forked but its answer not read yet ([`Shared::first`]): it
    /// counts as ready.
    first: bool,
}

impl Pool {
    /// Workers ready or about to be, the first one included while its answer is unread.
    fn held(&self) -> usize {
        self.ready.len() + usize::from(self.first)
    }

    fn wanted(&self) -> bool {
        !self.closed && self.held() < self.slots.min(self.remaining)
    }
}

impl Zygote {
    /// Starts the zygote from aether's own binary and waits until it has confined itself.
    ///
    /// Call it while aether is still single-threaded if possible: the zygote's end of the
    /// control socket is inheritable between its creation and the spawn.
    pub fn start() -> Result<Zygote, WorkerError> {
        let zygote = Zygote::spawn(None)?;
        match zygote.wait_ready() {
            Ok(()) => Ok(zygote),
            // Not a zygote of this build: aether's own binary instead (`image`).
            Err(NotReady::Foreign(_)) if zygote.small => {
                crate::image::reject();
                drop(zygote);
                Zygote::start()
            }
            Err(NotReady::Foreign(e) | NotReady::Failed(e)) => Err(e),
        }
    }

    /// For a run: as [`Zygote::start`], and the zygote forks one pooled worker
    /// ([`Zygote::keep_ready`]) as soon as it has confined itself, without waiting for aether
    /// to ask (the worker's socket and call ring are handed to the zygote when it starts), and
    /// `meanwhile` runs on this thread while the zygote starts (a few milliseconds of its own:
    /// `execve` of aether's binary, the bindings' stub compiled, a network namespace entered).
    /// Work the run needs anyway comes off its critical path (issue 23). Call it only when
    /// the run has at least one process-tier step: the worker is idle until a step takes it,
    /// or killed with the zygote.
    pub fn start_with(meanwhile: impl FnOnce()) -> Result<Zygote, WorkerError> {
        Zygote::begin()?.ready(meanwhile)
    }

    /// The first half of [`Zygote::start_with`]: starts the zygote (with its first worker's
    /// descriptors) and returns at once; [`StartingZygote::ready`] waits for it. A run can
    /// start its zygote as soon as it knows it needs one, and go on validating meanwhile.
    ///
    /// The zygote dies (`PR_SET_PDEATHSIG`) when the thread calling this exits: call it from
    /// the thread that runs the steps (the main thread).
    pub fn begin() -> Result<StartingZygote, WorkerError> {
        let setup =
            |what: &'static str| move |e: std::io::Error| WorkerError::Setup { what, source: e };
        let first = FirstWorker::new().map_err(setup("a worker process"))?;
        let zygote = Zygote::spawn(Some(&first))?;
        Ok(StartingZygote {
            zygote,
            first: first.handed_over(),
        })
    }

    /// Starts the zygote process (handing it `first`'s descriptors, if any); not yet ready.
    fn spawn(first: Option<&FirstWorker>) -> Result<Zygote, WorkerError> {
        let setup =
            |what: &'static str| move |e: std::io::Error| WorkerError::Setup { what, source: e };
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| setup("the control socket")(e.into()))?;
        rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty())
            .map_err(|e| setup("the control socket")(e.into()))?;
        // The small image if there is one aether trusts, else aether's own binary (`image`).
        let (program, small) = crate::image::program();
        let mut command = Command::new(program);
        if small {
            std::os::unix::process::CommandExt::arg0(&mut command, crate::image::IMAGE_NAME);
        }
        command.arg(ZYGOTE_ARG).arg(theirs.as_raw_fd().to_string());
        // The first worker's descriptors, inheritable for the spawn only (the same window as
        // the control socket's).
        let inherited = match first {
            Some(first) => first
                .inheritable()
                .map_err(setup("a worker process"))?
                .to_vec(),
            None => Vec::new(),
        };
        for fd in &inherited {
            command.arg(fd.to_string());
        }
        let child = match command
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(_) if small => {
                crate::image::reject();
                return Zygote::spawn(first);
            }
            Err(e) => return Err(setup("the zygote process")(e)),
        };
        drop(theirs);
        // Killed through a pidfd, and reaped by a thread that waits for it from now on: when
        // the run ends, killing it is one system call, and reaping it (the kernel tears down
        // its image and network namespace, about 0.5 ms) and starting a thread for that are off
        // the report's path (issue 23). Without the thread it is reaped when dropped.
        let pidfd = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .and_then(|pid| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok());
        let child = Arc::new(Mutex::new(Some(child)));
        if pidfd.is_some() {
            let theirs = Arc::clone(&child);
            // Not joined: it ends when the zygote does (aether exiting first ends it too).
            let _ = std::thread::Builder::new()
                .name("aether-reap".into())
                .spawn(move || reap(&theirs));
        }
        let zygote = Zygote {
            shared: Arc::new(Shared {
                control: Mutex::new(ours),
                pool: Mutex::new(Pool {
                    ready: VecDeque::new(),
                    slots: 0,
                    remaining: 0,
                    closed: false,
                    in_flight: false,
                    first: false,
                }),
                first: Mutex::new(None),
                first_pending: std::sync::atomic::AtomicBool::new(false),
                wake: Condvar::new(),
                retired: crate::ring::Retired::default(),
            }),
            pidfd,
            child,
            filler: Mutex::new(None),
            small,
            cpus: OnceLock::new(),
        };
        Ok(zygote)
    }

    /// Holds the worker the zygote forks at once ([`Zygote::start_with`]) right after "ready",
    /// as pooled but for its answer, read when a step first wants a worker
    /// ([`Shared::settle_first`]): the run goes on while the zygote forks it (issue 23).
    fn expect_first(&self, first: HandedOver) {
        *self
            .shared
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(first);
        self.shared.pool().first = true;
        self.shared
            .first_pending
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn wait_ready(&self) -> Result<(), NotReady> {
        self.read_ready().map_err(NotReady::Failed)?
    }

    /// Reads the zygote's first message: `Ok` of what it says, `Err` if the control socket
    /// failed.
    fn read_ready(&self) -> Result<Result<(), NotReady>, WorkerError> {
        let control = self
            .shared
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rustix::net::sockopt::set_socket_timeout(
            &*control,
            rustix::net::sockopt::Timeout::Recv,
            Some(READY_TIMEOUT),
        )
        .map_err(|e| WorkerError::Setup {
            what: "the control socket",
            source: e.into(),
        })?;
        let mut buf = [0u8; 1024];
        let n = rustix::io::read(&*control, &mut buf).unwrap_or(0);
        rustix::net::sockopt::set_socket_timeout(
            &*control,
            rustix::net::sockopt::Timeout::Recv,
            None,
        )
        .map_err(|e| WorkerError::Setup {
            what: "the control socket",
            source: e.into(),
        })?;
        Ok(match crate::image::answer(&buf[..n]) {
            crate::image::Answer::Ready => Ok(()),
            crate::image::Answer::Failed(why) => {
                Err(NotReady::Failed(WorkerError::Unsupported(why.into_owned())))
            }
            crate::image::Answer::Foreign if n == 0 => Err(NotReady::Foreign(
                WorkerError::Unsupported("the zygote process ended before it was ready".into()),
            )),
            crate::image::Answer::Foreign => Err(NotReady::Foreign(WorkerError::Unsupported(
                "the zygote process gave an invalid answer".into(),
            ))),
        })
    }

    /// Keeps up to `slots` workers forked and confined ahead of need, for a run that will start
    /// `steps` more process-tier steps: never more than those steps still need, so a run of one
    /// step forks one worker. Forking happens on a thread of its own, off the steps' path.
    /// Calling it again replaces both numbers.
    pub fn keep_ready(&self, slots: usize, steps: usize) {
        // Every CPU busy with a worker: aether's side of the rings sleeps instead of polling.
        crate::ring::set_broker_polls(slots.min(steps) < self.cpus());
        {
            let mut pool = self.shared.pool();
            pool.slots = slots;
            pool.remaining = steps;
            // No filler if the run will never want another fork (the workers pooled already,
            // such as the one `start_with` forks, cover its steps).
            if pool.closed || pool.remaining <= pool.held() {
                return;
            }
        }
        self.shared.wake.notify_all();
        let mut filler = self.filler.lock().unwrap_or_else(PoisonError::into_inner);
        if filler.is_some() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        // No thread, no pool: each step then forks its own worker, as before.
        *filler = std::thread::Builder::new()
            .name("aether-pool".into())
            .spawn(move || shared.fill())
            .ok();
    }

    /// The CPUs this process may use (`available_parallelism`: the affinity mask and the
    /// cgroup's CPU quota, a few files read), asked once per zygote: [`StartingZygote::ready`]
    /// asks while the zygote starts, so that [`Zygote::keep_ready`] reads no file between "ready"
    /// and the first step's `Start` (issue 23).
    fn cpus(&self) -> usize {
        *self
            .cpus
            .get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Whether [`Zygote::cpus`] has been asked (tests).
    #[doc(hidden)]
    pub fn knows_its_cpus(&self) -> bool {
        self.cpus.get().is_some()
    }

    /// A worker for one step held to `request`: one from the pool if there is one (its limits
    /// lowered to `request` first), else one forked now.
    pub(crate) fn take(&self, request: SpawnRequest) -> Result<Spawned, WorkerError> {
        if self
            .shared
            .first_pending
            .load(std::sync::atomic::Ordering::Acquire)
        {
            let control = self
                .shared
                .control
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.settle_first(&control);
        }
        let pooled = {
            let mut pool = self.shared.pool();
            pool.remaining = pool.remaining.saturating_sub(1);
            loop {
                if let Some(spawned) = pool.ready.pop_front() {
                    break Some(spawned);
                }
                if !pool.in_flight {
                    break None;
                }
                pool = self
                    .shared
                    .wake
                    .wait(pool)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        self.shared.wake.notify_all();
        if let Some(spawned) = pooled {
            if spawned.worker.hold_to(request).is_ok() {
                return Ok(spawned);
            }
            // Gone, or its limits could not be set: never used, killed now.
            spawned.worker.kill_now();
        }
        self.shared.spawn(request)
    }
}

impl Zygote {
    /// Keeps the call ring of a worker whose step is over, with that worker's pidfd: a later
    /// worker gets it once this one is gone ([`crate::ring::Retired`]).
    pub(crate) fn retire(&self, ring: crate::ring::Ring, pidfd: OwnedFd) {
        self.shared.retired.retire(ring, pidfd);
    }
}

impl Shared {
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the answer for the zygote's first worker if it is still unread, and pools the
    /// worker; `control` is the locked control socket, so that no other answer is read before
    /// it. A zygote that could not fork it answers an errno: no worker is pooled then, and a
    /// step forks its own (and reports the error). Any other failure (no answer in time, an
    /// invalid one, the zygote gone) leaves no way to pair a later answer with its request (a
    /// late answer would be taken for the next one's): the control socket is shut down and the
    /// pool closed, so that every later fork fails and the zygote ends.
    fn settle_first(&self, control: &OwnedFd) {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(first) = first else {
            return;
        };
        self.first_pending
            .store(false, std::sync::atomic::Ordering::Release);
        let answer = with_timeout(control, || Shared::answer(control, first.ours, first.ring));
        let mut pool = self.pool();
        pool.first = false;
        match answer {
            Ok(spawned) if !pool.closed => pool.ready.push_back(spawned),
            Ok(spawned) => spawned.worker.kill_now(),
            Err(WorkerError::Setup { .. }) => {}
            Err(_) => {
                pool.closed = true;
                let _ = rustix::net::shutdown(control, rustix::net::Shutdown::Both);
            }
        }
        drop(pool);
        self.wake.notify_all();
    }

    /// The filler thread: forks pooled workers while the pool wants them; stops for good when
    /// the zygote is dropped or cannot fork (steps then fork their own and report the error).
    fn fill(&self) {
        loop {
            {
                let mut pool = self.pool();
                while !pool.closed && !pool.wanted() {
                    pool = self.wake.wait(pool).unwrap_or_else(PoisonError::into_inner);
                }
                if pool.closed {
                    return;
                }
                pool.in_flight = true;
            }
            let spawned = self.spawn(SpawnRequest::POOLED);
            let mut pool = self.pool();
            pool.in_flight = false;
            let go_on = match spawned {
                Ok(spawned) if !pool.closed => {
                    pool.ready.push_back(spawned);
                    true
                }
                Ok(spawned) => {
                    spawned.worker.kill_now();
                    false
                }
                Err(_) => {
                    pool.closed = true;
                    false
                }
            };
            drop(pool);
            // A step may be waiting for this worker.
            self.wake.notify_all();
            if !go_on {
                return;
            }
        }
    }

    /// Forks one worker held to `request`.
    fn spawn(&self, request: SpawnRequest) -> Result<Spawned, WorkerError> {
        let spawn_error = |e: rustix::io::Errno| WorkerError::Setup {
            what: "a worker process",
            source: e.into(),
        };
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(spawn_error)?;
        // The call ring's region, handed over with the socket (issue 23): one whose worker is
        // gone, zeroed, else a new one. aether keeps its descriptor, to hand it on again.
        let ring = self
            .retired
            .take()
            .or_else(|| crate::ring::Ring::new().ok());
        let mut fds = vec![theirs.as_fd()];
        fds.extend(ring.as_ref().and_then(|r| r.fd()).map(AsFd::as_fd));
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        // The first worker's answer comes before this request's.
        self.settle_first(&control);
        send_with_fds(&control, &request.to_bytes(), &fds).map_err(spawn_error)?;
        drop(fds);
        drop(theirs);
        Shared::answer(&control, ours, ring)
    }

    /// Reads the zygote's answer to one spawn (the worker's pid with a pidfd, or an errno) on
    /// `control`, for the worker whose socket's other end is `ours`. Anything but an answer (no
    /// answer in time, a failed read, an invalid answer) shuts the control socket down: a late
    /// answer could no longer be paired with its request, and a retired ring is handed on by the
    /// pidfd of the answer it came with (review of i23-step14), so every later fork fails instead.
    fn answer(
        control: &OwnedFd,
        ours: OwnedFd,
        ring: Option<crate::ring::Ring>,
    ) -> Result<Spawned, WorkerError> {
        let spawn_error = |e: rustix::io::Errno| WorkerError::Setup {
            what: "a worker process",
            source: e.into(),
        };
        let desync = || {
            let _ = rustix::net::shutdown(control, rustix::net::Shutdown::Both);
        };
        let mut answer = [0u8; 4];
        let (n, mut pidfd) = recv_with_fds(control, &mut answer).map_err(|e| {
            desync();
            if e == rustix::io::Errno::AGAIN {
                // The ready timeout ran out (the first worker's answer only).
                WorkerError::Unsupported("the zygote process did not answer".into())
            } else {
                spawn_error(e)
            }
        })?;
        let pidfd = (!pidfd.is_empty()).then(|| pidfd.swap_remove(0));
        let pid = i32::from_le_bytes(answer);
        match (n, pidfd) {
            (4, Some(pidfd)) if pid > 0 => Ok(Spawned {
                socket: UnixStream::from(ours),
                ring,
                worker: ProcessWorker::new(pid, pidfd),
            }),
            (4, _) if pid < 0 => Err(spawn_error(rustix::io::Errno::from_raw_os_error(-pid))),
            _ => {
                desync();
                Err(WorkerError::Unsupported(
                    "the zygote process gave an invalid answer or ended".into(),
                ))
            }
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        let idle = {
            let mut pool = self.shared.pool();
            pool.closed = true;
            std::mem::take(&mut pool.ready)
        };
        self.shared.wake.notify_all();
        for spawned in idle {
            spawned.worker.kill_now();
        }
        // Killed: it forks nothing more, and its workers die with it (`PR_SET_PDEATHSIG`). The
        // reaper thread started with it reaps it; without one, it is reaped here.
        if let Some(pidfd) = &self.pidfd {
            let _ = rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL);
        }
        let child = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            if self.pidfd.is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // The filler is waiting on the pool, or on the zygote's answer, which the kill ends; it
        // then sees the pool closed and returns, killing a worker it was just handed (one the
        // zygote forked before it died dies with it anyway). Not joined: waking it is a thread
        // switch that a loaded machine can delay by milliseconds, on the run's last path.
        drop(
            self.filler
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

/// A zygote started by [`Zygote::begin`], not yet known to be ready. Dropping it kills it.
pub struct StartingZygote {
    zygote: Zygote,
    first: HandedOver,
}

impl StartingZygote {
    /// Runs `meanwhile`, then waits until the zygote has confined itself, and holds the worker it
    /// forks at once for the first step that wants one (without waiting for the fork):
    /// [`Zygote::start_with`]'s second half, with its errors.
    pub fn ready(self, meanwhile: impl FnOnce()) -> Result<Zygote, WorkerError> {
        let StartingZygote { zygote, first } = self;
        meanwhile();
        // Asked while the zygote starts, not after "ready" (`keep_ready` wants it next).
        zygote.cpus();
        match zygote.wait_ready() {
            Ok(()) => {}
            // Not a zygote of this build: aether's own binary instead (`image`), with a first
            // worker of its own (this one's descriptors went to the zygote just killed).
            Err(NotReady::Foreign(_)) if zygote.small => {
                crate::image::reject();
                drop(zygote);
                return Zygote::begin()?.ready_now();
            }
            Err(NotReady::Foreign(e) | NotReady::Failed(e)) => return Err(e),
        }
        zygote.expect_first(first);
        Ok(zygote)
    }
}

impl StartingZygote {
    /// [`StartingZygote::ready`] with nothing to run meanwhile (a second start, from aether's
    /// own binary: it cannot fall back again).
    fn ready_now(self) -> Result<Zygote, WorkerError> {
        self.ready(|| {})
    }
}

impl std::fmt::Debug for StartingZygote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartingZygote").finish_non_exhaustive()
    }
}

/// The first worker's descriptors ([`Zygote::start_with`]): made before the zygote starts, and
/// the zygote's ends passed to it on its command line (inheritable for the spawn only), as its
/// control socket is.
struct FirstWorker {
    /// aether's end of the worker's socket.
    ours: OwnedFd,
    /// The worker's end, for the zygote.
    theirs: OwnedFd,
    /// The worker's call ring (`None` if it could not be made: every call takes the socket).
    ring: Option<crate::ring::Ring>,
}

/// A first worker's descriptors once the zygote has its own copies.
struct HandedOver {
    ours: OwnedFd,
    ring: Option<crate::ring::Ring>,
}

impl FirstWorker {
    fn new() -> std::io::Result<FirstWorker> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(FirstWorker {
            ours,
            theirs,
            ring: crate::ring::Ring::new().ok(),
        })
    }

    /// Makes the zygote's ends inheritable and returns their numbers as the zygote takes them:
    /// the socket, then the ring (`-1`: none).
    fn inheritable(&self) -> std::io::Result<[i32; 2]> {
        rustix::io::fcntl_setfd(&self.theirs, rustix::io::FdFlags::empty())?;
        let ring = match self.ring.as_ref().and_then(|r| r.fd()) {
            Some(fd) => {
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
                fd.as_raw_fd()
            }
            None => -1,
        };
        Ok([self.theirs.as_raw_fd(), ring])
    }

    /// Closes this process's copies of the zygote's ends.
    fn handed_over(self) -> HandedOver {
        let FirstWorker {
            ours,
            theirs,
            mut ring,
        } = self;
        drop(theirs);
        if let Some(ring) = ring.as_mut() {
            ring.close_fd();
        }
        HandedOver { ours, ring }
    }
}

/// Runs `f` with [`READY_TIMEOUT`] on reads of `control`, then clears it.
fn with_timeout<T>(
    control: &OwnedFd,
    f: impl FnOnce() -> Result<T, WorkerError>,
) -> Result<T, WorkerError> {
    let set = |timeout| {
        rustix::net::sockopt::set_socket_timeout(
            control,
            rustix::net::sockopt::Timeout::Recv,
            timeout,
        )
        .map_err(|e| WorkerError::Setup {
            what: "the control socket",
            source: e.into(),
        })
    };
    set(Some(READY_TIMEOUT))?;
    let result = f();
    set(None)?;
    result
}

/// Waits for the killed zygote in `slot`, if it is still there.
fn reap(slot: &Mutex<Option<Child>>) {
    let child = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(mut child) = child {
        let _ = child.wait();
    }
}

/// The most descriptors one control message carries: a worker's socket and its ring.
const MAX_FDS: usize = 2;

fn send_with_fd(
    socket: &OwnedFd,
    bytes: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> rustix::io::Result<()> {
    send_with_fds(socket, bytes, &[fd])
}

fn send_with_fds(
    socket: &OwnedFd,
    bytes: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> rustix::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Receives one message into `buf`, and the descriptors attached to it (at most [`MAX_FDS`];
/// any more are closed).
fn recv_with_fds(socket: &OwnedFd, buf: &mut [u8]) -> rustix::io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut kept = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                // Keep the first few; any extra descriptor is closed as it drops.
                if kept.len() < MAX_FDS {
                    kept.push(fd);
                }
            }
        }
    }
    Ok((received.bytes, kept))
}

/// The `main` of the `aether-zygote` image (a C `main`, without Rust's runtime start-up): ignores
/// `SIGPIPE` as that start-up would, then runs the zygote ([`run_zygote_if_asked`]), which
/// never returns; started otherwise, says what the binary is and returns exit code 2.
pub fn image_main() -> i32 {
    sys::ignore_broken_pipes();
    sys::set_name(c"aether-zygote");
    run_zygote_if_asked();
    eprintln!(
        "error: {} is started by aether for its process tier, not by hand; run `aether`",
        crate::image::IMAGE_NAME
    );
    2
}

/// Runs the zygote if this process was started as one (its first argument is [`ZYGOTE_ARG`]),
/// and never returns then; returns at once otherwise. Call it first thing in `main`.
pub fn run_zygote_if_asked() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(ZYGOTE_ARG)) {
        return;
    }
    let mut fd = || {
        args.next()
            .and_then(|a| a.to_str().and_then(|s| s.parse::<i32>().ok()))
            .unwrap_or(-1)
    };
    let (control, socket, ring) = (fd(), fd(), fd());
    // The first worker's socket and ring ([`Zygote::start_with`]), when given.
    let first = sys::inherited_fd(socket)
        .ok()
        .map(|socket| (socket, sys::inherited_fd(ring).ok()));
    let code = match sys::inherited_fd(control) {
        Ok(control) => zygote(control, first),
        Err(_) => 2,
    };
    std::process::exit(code)
}

/// The zygote's life: confine, say ready, fork the first worker if aether handed over its
/// descriptors at the start, then fork a worker per request until aether closes the control
/// socket.
fn zygote(mut control: OwnedFd, first: Option<(OwnedFd, Option<OwnedFd>)>) -> i32 {
    // The network namespace made on a thread of its own (as root) while this thread compiles
    // the stub and makes the engine below; confinement joins the thread and enters it, and
    // the zygote is single-threaded again before it confines itself or forks (issue 23).
    let network = aether_jail::engine::prepare_network_namespace();
    // Every worker's runtime and context with the built-ins and the bindings, made once here:
    // a worker only sets its step's limits (issue 23). The bindings' stub is compiled in that
    // context itself, not into bytecode in a runtime of its own first: no worker loads it again.
    // The rest of the bindings' bytecode serves only plugins that use the lazy globals; compiling
    // it all here took most of a one-step run's time (the zygote says it is ready only after). It
    // is compiled before the second worker is forked ([`PREPARE_REST_AT`]).
    aether_sandbox::prepare_engine();
    debug_assert!(
        !aether_sandbox::stub_bytecode_compiled(),
        "the zygote compiled the bindings' stub into bytecode before its first worker"
    );
    sys::trim_heap();
    // What every worker would otherwise detect again after its fork (issue 23).
    aether_sandbox::detect_cpu_features();
    // Fewer page-table entries copied per fork: the RELRO segment from a sealed memfd, installed
    // before the second worker (issue 23). As it was if preparing fails; the zygote ends if
    // the mapping over the segment fails.
    let mut relro = sys::SharedRelro::prepare();
    // A worker runs one step: compiling its modules into a cache of its own would gain
    // nothing. aether compiles them once in its own process and sends the bytecode with each
    // module (compile once, issue 19); a worker loads only that.
    aether_sandbox::set_compile_cache(aether_sandbox::CompileCache::Installed);
    // Confinement first, then SIGCHLD ignored (workers are reaped by the kernel).
    let confined = crate::confine::zygote(network).and_then(|()| {
        sys::ignore_children().map_err(|e| format!("the process tier cannot start: {e}"))
    });
    if let Err(message) = confined {
        let _ = rustix::io::write(&control, &crate::image::message(&message));
        return 1;
    }
    if rustix::io::write(&control, &crate::image::message("ready")).is_err() {
        return 1;
    }
    let mut requests = 0usize;
    // Forked at once, as if aether had asked for it (its answer follows "ready").
    if let Some((socket, ring)) = first {
        requests = 1;
        match fork_worker(control, socket, ring, SpawnRequest::POOLED) {
            Ok(kept) => control = kept,
            Err(()) => return 1,
        }
    }
    loop {
        let mut request = [0u8; 16];
        let (n, mut fds) = match recv_with_fds(&control, &mut request) {
            Ok((0, _)) | Err(_) => return 0,
            Ok(received) => received,
        };
        let ring = (fds.len() > 1).then(|| fds.swap_remove(1));
        let socket = (!fds.is_empty()).then(|| fds.swap_remove(0));
        requests = requests.saturating_add(1);
        if requests == PREPARE_REST_AT {
            prepare_rest();
            // A failed mapping over the segment may have left a hole where the constants were:
            // end here (every later step's worker fails) rather than fault on the next read.
            if relro.take().is_some_and(|relro| relro.install().is_err()) {
                return 1;
            }
        }
        let (16, Some(socket)) = (n, socket) else {
            let _ = rustix::io::write(&control, &(-libc::EINVAL).to_le_bytes());
            continue;
        };
        let request = SpawnRequest::from_bytes(request);
        match fork_worker(control, socket, ring, request) {
            Ok(kept) => control = kept,
            Err(()) => return 1,
        }
    }
}

/// Forks one worker held to `request` on `socket` (and `ring`), and answers aether on
/// `control`: the worker's pid with a pidfd for it, or a negative errno. Returns `control` to
/// the zygote (the worker closes its copy); `Err` when the answer cannot be sent (aether is
/// gone: the zygote ends).
fn fork_worker(
    control: OwnedFd,
    socket: OwnedFd,
    ring: Option<OwnedFd>,
    request: SpawnRequest,
) -> Result<OwnedFd, ()> {
    match sys::fork() {
        Ok(Forked::Child) => {
            drop(control);
            crate::worker::worker_main(socket, ring, request);
        }
        Ok(Forked::Parent(pid)) => {
            drop(socket);
            drop(ring);
            let answer = Pid::from_raw(pid)
                .ok_or(rustix::io::Errno::SRCH)
                .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()));
            let sent = match answer {
                Ok(pidfd) => send_with_fd(&control, &pid.to_le_bytes(), pidfd.as_fd()),
                Err(e) => {
                    rustix::io::write(&control, &(-e.raw_os_error()).to_le_bytes()).map(|_| ())
                }
            };
            sent.map(|()| control).map_err(|_| ())
        }
        Err(e) => {
            let errno = -e.raw_os_error().unwrap_or(libc::EAGAIN);
            rustix::io::write(&control, &errno.to_le_bytes())
                .map(|_| control)
                .map_err(|_| ())
        }
    }
}

/// The spawn request before which the zygote compiles the rest of the bindings' bytecode
/// ([`aether_sandbox::prepare_part`] 1 and on): the second. A run of one process-tier step never
/// pays for it (its worker compiles what its plugin uses, as the thread tier does); in a longer
/// run every worker but the first inherits it instead of compiling it each. All at once and
/// before a fork: compiling between forks made the zygote copy, page by page, the heap it still
/// shared with the workers just forked (13 % more page faults in a 200-step fan-out).
const PREPARE_REST_AT: usize = 2;

/// Compiles the rest of the bindings' bytecode, then returns the compilers' free heap pages.
fn prepare_rest() {
    off_main_heap(|| {
        let mut part = 1;
        while aether_sandbox::prepare_part(part) {
            part += 1;
        }
    });
    sys::trim_heap();
}

/// Runs `work` on a thread of its own and waits for it to end, so that what it allocates, and
/// above all what it frees, stays in that thread's malloc arena instead of malloc's main heap.
/// A worker allocates from the main heap (its engine runs on the main thread): a free chunk
/// left there by the zygote is one the worker reuses, writing its header into a page it shares
/// with the zygote (a copy on write) instead of a fresh page at the heap's top (issue 23). On
/// this thread if no thread can be started. The zygote is single-threaded again when this
/// returns: the thread has ended, and forks happen only after.
fn off_main_heap(work: impl FnOnce() + Send) {
    let mut work = Some(work);
    let stack = aether_sandbox::engine_stack(&aether_sandbox::Limits::default());
    let ran = std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("aether-prepare".into())
            .stack_size(stack)
            .spawn_scoped(scope, || {
                if let Some(work) = work.take() {
                    work();
                }
            });
        thread.is_ok_and(|thread| thread.join().is_ok())
    });
    if !ran && let Some(work) = work.take() {
        work();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zygote that does not answer for its first worker in time leaves the control socket
    /// unusable for pairing answers with requests: it is shut down (the zygote reads its end and
    /// exits) and nothing more is forked ahead, instead of a late answer being read as the
    /// next request's (a worker's pidfd paired with another worker's socket).
    #[test]
    fn issue_23_a_first_worker_without_an_answer_shuts_the_control_socket() {
        let (ours, zygotes) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair");
        let (first, _worker_end) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair");
        let shared = Shared {
            control: Mutex::new(ours),
            pool: Mutex::new(Pool {
                ready: VecDeque::new(),
                slots: 1,
                remaining: 1,
                closed: false,
                in_flight: false,
                first: true,
            }),
            first: Mutex::new(Some(HandedOver {
                ours: first,
                ring: None,
            })),
            first_pending: std::sync::atomic::AtomicBool::new(true),
            wake: Condvar::new(),
            retired: crate::ring::Retired::default(),
        };
        // The zygote's end stays open and silent: the read times out (READY_TIMEOUT).
        {
            let control = shared.control.lock().expect("control");
            shared.settle_first(&control);
        }
        assert!(shared.pool().closed);
        assert!(!shared.pool().first);
        // The zygote sees the end of its control socket (it exits on it)...
        rustix::net::sockopt::set_socket_timeout(
            &zygotes,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_secs(1)),
        )
        .expect("timeout");
        let mut buf = [0u8; 8];
        assert_eq!(rustix::io::read(&zygotes, &mut buf), Ok(0));
        // ...and a later fork fails at once instead of reading a late answer as its own.
        assert!(shared.spawn(SpawnRequest::POOLED).is_err());
    }
}
