//! The call ring: a small region of shared memory (a sealed `memfd` mapped by aether and by one
//! worker) that carries a worker's quick host calls and their replies without a system call
//! when both sides are awake (issue 23).
//!
//! Layout (one per worker, [`SIZE`] bytes): a line of words the worker writes, a line of words
//! aether writes, then one request slot and one reply slot of [`SLOT`] bytes each. A synchronous
//! call is one request and one reply, so one slot per direction is enough; the worker serializes
//! its callers. Each message is a `postcard` body exactly as on the socket ([`crate::wire`]):
//!
//! - the worker writes a request's body into the request slot, its length into `request_len`,
//!   then bumps `request_seq` (release). If aether said it is asleep (`broker_asleep`), the
//!   worker sends a [`FromWorker::Doorbell`](crate::wire::FromWorker::Doorbell) frame on the
//!   socket to wake it;
//! - aether sees `request_seq` change (acquire), copies the body out of shared memory into a
//!   private buffer, and only then decodes it. It writes the reply into the reply slot (or, when
//!   the reply does not fit, sends it on the socket and writes [`ON_SOCKET`] as its length),
//!   then bumps `reply_seq`, and wakes the worker with `FUTEX_WAKE` on `reply_seq` if the worker
//!   said it is asleep (`worker_asleep`).
//!
//! Both sides poll the other's sequence word for a short, bounded time and then sleep: aether
//! in a read of the socket (which also reports the worker's death and is bounded by the step's
//! deadline), the worker in `FUTEX_WAIT` on `reply_seq`. Before it sleeps each side sets its
//! `asleep` word and, after a full fence, looks at the other's sequence word once more: either
//! the sleeper sees the message or the sender sees the sleeper, so no wake-up is lost.
//!
//! # Security
//! The worker can write any byte of the region at any time, including while aether reads it.
//! aether therefore reads each word once, bounds the length by [`SLOT`] before it copies, copies
//! the body into memory of its own before decoding it, and never follows anything in the region
//! as a pointer or an index beyond the slot. The region is sealed (`F_SEAL_SHRINK`,
//! `F_SEAL_GROW`, `F_SEAL_SEAL`) before the worker gets it: the worker cannot shrink the file under
//! aether's mapping (which would fault aether on its next access). The `asleep` words are only
//! hints: a worker that lies about them delays only its own step, which still ends at its
//! deadline. So is `broker_sleeps` (aether does not poll: the worker then waits asleep at once),
//! which only the worker reads.
#![allow(
    unsafe_code,
    reason = "mapping the shared region, copying bytes in and out of it, and futex wait/wake on one of its words"
)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

/// Bytes of one slot: the largest message body the ring carries. Larger ones (module sources
/// with their bytecode, big file contents) go on the socket as before. The pages of a slot are
/// only touched as far as messages reach, so a large slot costs no memory until used.
pub const SLOT: usize = 64 * 1024;

/// Written as a reply's length by aether when the reply did not fit the slot and was sent on the
/// socket instead.
pub const ON_SOCKET: u32 = u32::MAX;

/// The worker's words: `request_seq`, `request_len`, `worker_asleep`, `socket_seq`.
const WORKER_LINE: usize = 0;
/// aether's words: `reply_seq`, `reply_len`, `broker_asleep`, `broker_sleeps`.
const BROKER_LINE: usize = 64;
const REQUEST_SLOT: usize = 128;
const REPLY_SLOT: usize = REQUEST_SLOT + SLOT;

/// Bytes of the region: the two lines of words and the two slots, in whole pages.
pub const SIZE: usize = (REPLY_SLOT + SLOT).div_ceil(4096) * 4096;

/// Words by their byte offset.
const REQUEST_SEQ: usize = WORKER_LINE;
const REQUEST_LEN: usize = WORKER_LINE + 4;
const WORKER_ASLEEP: usize = WORKER_LINE + 8;
const SOCKET_SEQ: usize = WORKER_LINE + 12;
const REPLY_SEQ: usize = BROKER_LINE;
const REPLY_LEN: usize = BROKER_LINE + 4;
const BROKER_ASLEEP: usize = BROKER_LINE + 8;
/// Non-zero while aether does not poll ([`set_broker_polls`]): a worker waiting for a reply then
/// sleeps at once instead of polling (issue 23). Only a hint, read by the worker alone.
const BROKER_SLEEPS: usize = BROKER_LINE + 12;

/// How long a side polls the other's sequence word before it sleeps: a quick host call's work
/// is a few microseconds, a sleep and wake-up costs tens.
pub const SPIN: Duration = Duration::from_micros(50);

/// Of [`SPIN`], how long a side polls without giving up its CPU when the peer answered that fast
/// last time (then, or else at once, it yields between polls, so that on a busy machine the peer
/// it waits for can run).
const HOT_SPIN: Duration = Duration::from_micros(5);

/// Whether aether's side polls the ring at all before it sleeps on the socket ([`Ring::spin`]).
static BROKER_POLLS: AtomicBool = AtomicBool::new(true);

/// Sets whether aether polls its rings before sleeping: not when the run keeps at least as many
/// steps going as the machine has CPUs (issue 23). Each CPU then has a worker to run, and a
/// supervisor polling for 50 µs, even yielding, only takes turns from them and adds a context
/// switch per poll; sleeping on the socket at once costs one wake-up per message instead.
pub fn set_broker_polls(polls: bool) {
    BROKER_POLLS.store(polls, Ordering::Relaxed);
}

/// One mapping of the region, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    base: NonNull<u8>,
}

// SAFETY: the mapping is plain shared memory; every access goes through atomics or raw copies
// made by one thread at a time (the owners serialize them), never through Rust references to
// the slots.
unsafe impl Send for Mapping {}
// SAFETY: as above; the words are only reached as `AtomicU32`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps all [`SIZE`] bytes of `fd`, shared, read and write.
    fn new(fd: &OwnedFd) -> io::Result<Mapping> {
        // SAFETY: a new shared mapping of a descriptor we hold, at an address the kernel picks;
        // no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(base.cast::<u8>())
            .map(|base| Mapping { base })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))
    }

    /// The word at byte `offset` (a multiple of 4 below [`REQUEST_SLOT`]).
    fn word(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset.is_multiple_of(4) && offset < REQUEST_SLOT);
        // SAFETY: the offset is in the mapping (which lives as long as `self`) and 4-aligned (the
        // mapping is page-aligned); `AtomicU32` has the layout of `u32` and any bits are valid.
        unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// Copies `len` (at most [`SLOT`]) bytes of the slot at `slot` into a new buffer. The peer
    /// may change them meanwhile: the copy is then some mix of old and new bytes, nothing worse.
    fn copy_out(&self, slot: usize, len: usize) -> Vec<u8> {
        let len = len.min(SLOT);
        let mut out = vec![0u8; len];
        // SAFETY: `slot + len` is within the mapping; `out` is ours and does not overlap it. The
        // source is shared memory another process may write: any bytes are valid `u8`s, and
        // they are only read here, into a private buffer, before anything looks at them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(slot), out.as_mut_ptr(), len);
        }
        out
    }

    /// Copies `bytes` (at most [`SLOT`]) into the slot at `slot`.
    fn copy_in(&self, slot: usize, bytes: &[u8]) {
        let len = bytes.len().min(SLOT);
        // SAFETY: `slot + len` is within the mapping and does not overlap `bytes`, which is
        // private memory; writing bytes into shared memory cannot break any invariant here.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(slot), len);
        }
    }
}

impl Mapping {
    /// Writes zeros over `len` bytes from byte `start` (clamped to the region).
    fn zero(&self, start: usize, len: usize) {
        let start = start.min(SIZE);
        let len = len.min(SIZE - start);
        // SAFETY: `start + len` is within the mapping; zero bytes are valid for shared memory
        // that is only ever read as bytes and atomics.
        unsafe {
            std::ptr::write_bytes(self.base.as_ptr().add(start), 0, len);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Mapping::new` with this size and is unmapped once;
        // nothing borrows from it any more (the borrows are tied to `self`).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), SIZE);
        }
    }
}

/// `FUTEX_WAIT` on `word` while it holds `expected`, for at most `timeout`: a shared (not
/// process-private) futex, since the word is in memory shared with another process.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let time = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word` is a valid, aligned 4-byte word for the duration of the call; the kernel
    // only reads it and `time`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const time,
        );
    }
}

/// `FUTEX_WAKE` of one waiter on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned 4-byte word; the kernel does not write memory here.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

/// Polls `ready` for up to [`SPIN`]: without giving up the CPU for the first [`HOT_SPIN`] if
/// `hot`, then yielding it between polls (so that on a busy machine the peer it waits for can
/// run). The time it took, if `ready` came to hold.
fn spin_until(mut ready: impl FnMut() -> bool, hot: bool) -> Option<Duration> {
    let started = Instant::now();
    let hot = if hot { HOT_SPIN } else { Duration::ZERO };
    loop {
        for _ in 0..32 {
            if ready() {
                return Some(started.elapsed());
            }
            std::hint::spin_loop();
        }
        let spent = started.elapsed();
        if spent >= SPIN {
            return None;
        }
        if spent >= hot {
            std::thread::yield_now();
        }
    }
}

/// Whether the next poll should start hot: the last message came within [`HOT_SPIN`], so the
/// peer is running on another CPU. Otherwise (a loaded machine, or a peer with long work between
/// messages) spinning without yielding would only burn the CPU the peer may need.
fn stays_hot(took: Option<Duration>) -> bool {
    took.is_some_and(|t| t < HOT_SPIN)
}

/// aether's end of a worker's call ring.
#[derive(Debug)]
pub struct Ring {
    map: Mapping,
    /// The sealed `memfd`: kept while aether may hand the ring on ([`Retired`]); `None` once
    /// closed ([`Ring::close_fd`]).
    fd: Option<OwnedFd>,
    /// The last `request_seq` served.
    seen: u32,
    /// The last `socket_seq` acted on.
    socket_seen: u32,
    /// Whether the next poll starts hot ([`stays_hot`]).
    hot: bool,
}

/// Rings whose workers' steps are over, kept for later workers (issue 23): a new ring costs
/// aether a `memfd_create`, `ftruncate`, seals, `mmap`, fresh pages, `munmap` (with a TLB
/// shoot-down across its threads) and `close`.
///
/// # Security
/// A ring is handed on only once the worker that mapped it is gone: its pidfd, kept with it,
/// polls readable, which it does once every thread of the process has exited (none can run
/// again, and its address space is gone: nothing maps the region but aether; a worker cannot
/// share its memory with another process: its filter kills it for `clone` of a process). It is
/// zeroed before it is handed on ([`Ring::recycle`]). A ring whose worker still lives is never
/// taken; one that cannot be zeroed is dropped.
#[derive(Debug, Default)]
pub(crate) struct Retired {
    rings: std::sync::Mutex<std::collections::VecDeque<(Ring, OwnedFd)>>,
}

/// The most rings [`Retired`] keeps: about the workers alive at once (`--jobs` running, as many
/// pooled), any more are unmapped.
const RETIRED_MAX: usize = 8;

impl Retired {
    /// Keeps `ring`, last mapped by the worker behind `pidfd`, for a later worker.
    pub(crate) fn retire(&self, ring: Ring, pidfd: OwnedFd) {
        if ring.fd.is_none() {
            return;
        }
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        if rings.len() >= RETIRED_MAX {
            rings.pop_front();
        }
        rings.push_back((ring, pidfd));
    }

    /// A ring whose worker is gone, zeroed; `None` if every kept ring's worker still lives.
    pub(crate) fn take(&self) -> Option<Ring> {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let gone = rings
            .iter()
            .position(|(_, pidfd)| crate::sys::exited(std::os::fd::AsFd::as_fd(pidfd)))?;
        let (mut ring, _pidfd) = rings.remove(gone)?;
        drop(rings);
        ring.recycle().ok().map(|()| ring)
    }
}

/// What [`Ring::poll`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// The body of a new request, copied out of the ring (not yet decoded).
    Request(Vec<u8>),
    /// The worker says it sent a frame on the socket.
    Socket,
    /// Nothing new.
    Idle,
}

/// A request slot whose length is above [`SLOT`]: a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message of {len} bytes in the call ring, above its slot of {SLOT}")]
pub struct RingTooLarge {
    /// The length the worker wrote.
    pub len: u32,
}

impl Ring {
    /// A new region (a sealed `memfd` of [`SIZE`] bytes, zeroed) mapped into this process.
    ///
    /// # Errors
    /// The system call that failed (`memfd_create`, `ftruncate`, sealing, `mmap`).
    pub fn new() -> io::Result<Ring> {
        // SAFETY: a NUL-terminated name and flags; returns a new descriptor or -1.
        let raw = unsafe {
            libc::memfd_create(
                c"aether-ring".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by memfd_create and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        rustix::fs::ftruncate(&fd, SIZE as u64)?;
        rustix::fs::fcntl_add_seals(
            &fd,
            rustix::fs::SealFlags::SHRINK
                | rustix::fs::SealFlags::GROW
                | rustix::fs::SealFlags::SEAL,
        )?;
        let map = Mapping::new(&fd)?;
        map.word(BROKER_SLEEPS).store(
            u32::from(!BROKER_POLLS.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(Ring {
            map,
            fd: Some(fd),
            seen: 0,
            socket_seen: 0,
            hot: true,
        })
    }

    /// The descriptor to hand to a worker (`None` after [`Ring::close_fd`]).
    pub fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// Closes aether's copy of the descriptor once the worker has its own.
    pub fn close_fd(&mut self) {
        self.fd = None;
    }

    /// Makes this ring as a new one for the next worker, once the worker it served is gone
    /// ([`Retired`]): every byte of the region that holds data is zeroed (found with
    /// `SEEK_DATA`/`SEEK_HOLE` on its `memfd`, so pages never touched stay unallocated), so
    /// nothing of the previous step, and nothing its worker wrote anywhere in the region,
    /// reaches the next one. `Err` if the descriptor was closed or cannot be searched: the
    /// ring is then not reused.
    fn recycle(&mut self) -> io::Result<()> {
        use rustix::fs::SeekFrom;
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        let mut at = 0u64;
        while at < SIZE as u64 {
            let data = match rustix::fs::seek(fd, SeekFrom::Data(at)) {
                Ok(data) => data,
                Err(rustix::io::Errno::NXIO) => break,
                Err(e) => return Err(e.into()),
            };
            let hole = rustix::fs::seek(fd, SeekFrom::Hole(data))?;
            let start = usize::try_from(data).unwrap_or(SIZE);
            let end = usize::try_from(hole).unwrap_or(SIZE).min(SIZE);
            self.map.zero(start, end.saturating_sub(start));
            at = hole.max(data.saturating_add(1));
        }
        self.seen = 0;
        self.socket_seen = 0;
        self.hot = true;
        self.map.word(BROKER_SLEEPS).store(
            u32::from(!BROKER_POLLS.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// A second mapping of the same region, as the worker maps it: for tests that play the
    /// worker in this process.
    ///
    /// # Errors
    /// The descriptor was closed ([`Ring::close_fd`]) or `mmap` failed.
    pub fn peer(&self) -> io::Result<RingPeer> {
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        let map = Mapping::new(fd)?;
        let last_reply = AtomicU32::new(map.word(REPLY_SEQ).load(Ordering::Acquire));
        Ok(RingPeer {
            map,
            last_reply,
            hot: AtomicBool::new(true),
        })
    }

    /// Looks once for a new request, then for the worker's socket hint.
    ///
    /// # Errors
    /// The worker wrote a length above [`SLOT`].
    pub fn poll(&mut self) -> Result<Poll, RingTooLarge> {
        let seq = self.map.word(REQUEST_SEQ).load(Ordering::Acquire);
        if seq != self.seen {
            self.seen = seq;
            let len = self.map.word(REQUEST_LEN).load(Ordering::Relaxed);
            let size = usize::try_from(len).unwrap_or(usize::MAX);
            if size > SLOT {
                return Err(RingTooLarge { len });
            }
            return Ok(Poll::Request(self.map.copy_out(REQUEST_SLOT, size)));
        }
        let socket = self.map.word(SOCKET_SEQ).load(Ordering::Relaxed);
        if socket != self.socket_seen {
            self.socket_seen = socket;
            return Ok(Poll::Socket);
        }
        Ok(Poll::Idle)
    }

    /// Polls for up to [`SPIN`] (once only when aether does not poll, [`set_broker_polls`]);
    /// [`Poll::Idle`] if nothing came.
    ///
    /// # Errors
    /// As [`Ring::poll`].
    pub fn spin(&mut self) -> Result<Poll, RingTooLarge> {
        let polls = BROKER_POLLS.load(Ordering::Relaxed);
        self.map
            .word(BROKER_SLEEPS)
            .store(u32::from(!polls), Ordering::Relaxed);
        if !polls {
            return self.poll();
        }
        let mut found = Ok(Poll::Idle);
        let hot = self.hot;
        let took = spin_until(
            || {
                found = self.poll();
                !matches!(found, Ok(Poll::Idle))
            },
            hot,
        );
        self.hot = stays_hot(took);
        found
    }

    /// Says aether is about to sleep on the socket, then looks once more for a request: `Idle`
    /// means the worker will ring the doorbell for its next one. Call [`Ring::awake`] after.
    ///
    /// # Errors
    /// As [`Ring::poll`].
    pub fn sleep(&mut self) -> Result<Poll, RingTooLarge> {
        self.map.word(BROKER_ASLEEP).store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.poll()
    }

    /// Says aether is polling again.
    pub fn awake(&self) {
        self.map.word(BROKER_ASLEEP).store(0, Ordering::Relaxed);
    }

    /// Publishes a reply: `Some(body)` (at most [`SLOT`] bytes) in the reply slot, or `None` for
    /// one sent on the socket. Wakes the worker if it sleeps.
    pub fn reply(&self, body: Option<&[u8]>) {
        let len = match body {
            Some(body) if body.len() <= SLOT => {
                self.map.copy_in(REPLY_SLOT, body);
                u32::try_from(body.len()).unwrap_or(ON_SOCKET)
            }
            _ => ON_SOCKET,
        };
        self.map.word(REPLY_LEN).store(len, Ordering::Relaxed);
        let seq = self.map.word(REPLY_SEQ);
        seq.fetch_add(1, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.map.word(WORKER_ASLEEP).load(Ordering::Relaxed) != 0 {
            futex_wake(seq);
        }
    }
}

/// The worker's end of the ring (also what a test uses to play a hostile worker).
#[derive(Debug)]
pub struct RingPeer {
    map: Mapping,
    /// The `reply_seq` of the last reply taken.
    last_reply: AtomicU32,
    /// Whether the next wait starts hot ([`stays_hot`]).
    hot: AtomicBool,
}

/// What the worker finds when its reply comes.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The reply's body, copied out of the ring.
    Body(Vec<u8>),
    /// The reply was too large for the slot and was sent on the socket.
    OnSocket,
}

impl RingPeer {
    /// Maps the region aether handed over as `fd` (then closes `fd`).
    ///
    /// # Errors
    /// `mmap` failed.
    pub fn map(fd: OwnedFd) -> io::Result<RingPeer> {
        let map = Mapping::new(&fd)?;
        let last_reply = AtomicU32::new(map.word(REPLY_SEQ).load(Ordering::Acquire));
        Ok(RingPeer {
            map,
            last_reply,
            hot: AtomicBool::new(true),
        })
    }

    /// Writes a request: `body` into the slot (at most [`SLOT`] bytes), `len` as its length (a
    /// hostile worker may lie), then bumps the sequence. `true` if aether sleeps and must be
    /// woken with a doorbell frame.
    pub fn post(&self, body: &[u8], len: u32) -> bool {
        self.map.copy_in(REQUEST_SLOT, body);
        self.map.word(REQUEST_LEN).store(len, Ordering::Relaxed);
        self.map.word(REQUEST_SEQ).fetch_add(1, Ordering::Release);
        fence(Ordering::SeqCst);
        self.map.word(BROKER_ASLEEP).load(Ordering::Relaxed) != 0
    }

    /// Says a frame was sent on the socket (a hint that spares aether a poll of the socket).
    pub fn socket_sent(&self) {
        self.map.word(SOCKET_SEQ).fetch_add(1, Ordering::Release);
    }

    /// Whether aether says it does not poll (every CPU has a worker): a reply is then waited
    /// for asleep.
    pub fn broker_sleeps(&self) -> bool {
        self.map.word(BROKER_SLEEPS).load(Ordering::Relaxed) != 0
    }

    /// Whether aether says it sleeps on the socket.
    pub fn broker_asleep(&self) -> bool {
        self.map.word(BROKER_ASLEEP).load(Ordering::SeqCst) != 0
    }

    /// Waits for the reply to the last request: polls, then sleeps on the futex. `None` if
    /// `timeout` passes first. One caller at a time (the worker serializes its callers).
    pub fn wait_reply(&self, timeout: Duration) -> Option<Reply> {
        let started = Instant::now();
        let seq = self.map.word(REPLY_SEQ);
        let last = self.last_reply.load(Ordering::Relaxed);
        let took = if self.broker_sleeps() {
            // aether sleeps on the socket: every CPU has a worker, and polling here would only
            // take turns from aether, which has to run to answer.
            (seq.load(Ordering::Acquire) != last).then_some(Duration::ZERO)
        } else {
            let took = spin_until(
                || seq.load(Ordering::Acquire) != last,
                self.hot.load(Ordering::Relaxed),
            );
            self.hot.store(stays_hot(took), Ordering::Relaxed);
            took
        };
        if took.is_none() {
            let asleep = self.map.word(WORKER_ASLEEP);
            loop {
                asleep.store(1, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                if seq.load(Ordering::Acquire) != last {
                    break;
                }
                let left = timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    asleep.store(0, Ordering::Relaxed);
                    return None;
                }
                futex_wait(seq, last, left.min(Duration::from_secs(1)));
            }
            asleep.store(0, Ordering::Relaxed);
        }
        self.last_reply
            .store(seq.load(Ordering::Acquire), Ordering::Relaxed);
        let len = self.map.word(REPLY_LEN).load(Ordering::Relaxed);
        if len == ON_SOCKET {
            return Some(Reply::OnSocket);
        }
        let len = usize::try_from(len).unwrap_or(SLOT);
        Some(Reply::Body(self.map.copy_out(REPLY_SLOT, len)))
    }

    /// Writes `byte` at `offset` of the request slot (a hostile worker scribbling while aether
    /// reads; offsets past the slot are ignored).
    pub fn scribble(&self, offset: usize, byte: u8) {
        if offset < SLOT {
            self.map.copy_in(REQUEST_SLOT + offset, &[byte]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See: issue 23 ("rings reused between workers only once the previous worker is
    /// certainly gone"): a ring kept with a live process's pidfd is never taken; once that
    /// process is gone it is, zeroed: every byte its worker wrote, anywhere in the region.
    #[test]
    fn issue_23_a_ring_is_handed_on_only_once_its_worker_is_gone_and_zeroed() {
        let mut ring = Ring::new().expect("ring");
        let peer = ring.peer().expect("peer");
        // Every other page, so that the zeroing walks data and holes in turn (review of
        // i23-step14), and the last byte.
        for offset in (0..SIZE)
            .step_by(2 * 4096)
            .chain([1, SIZE - 1, REQUEST_SLOT + 17])
        {
            peer.map.copy_in(offset, &[0xA5]);
        }
        // aether's own state of the old worker's protocol, which the next must not inherit.
        ring.seen = 7;
        ring.socket_seen = 3;
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("sleep");
        let pid =
            rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
        let pidfd =
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd");
        let retired = Retired::default();
        retired.retire(ring, pidfd);
        assert!(
            retired.take().is_none(),
            "a ring whose process still lives was handed on"
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
        let again = retired.take().expect("the ring of a process that is gone");
        let fd = again.fd().expect("its descriptor");
        let mut bytes = vec![0u8; SIZE];
        rustix::io::pread(fd, &mut bytes, 0).expect("read");
        // Every byte but the `broker_sleeps` hint, which recycling sets from this process's
        // polling (another test of this binary may have turned it off meanwhile).
        let left: Vec<usize> = (0..SIZE)
            .filter(|&i| bytes[i] != 0 && !(BROKER_SLEEPS..BROKER_SLEEPS + 4).contains(&i))
            .collect();
        assert!(
            left.is_empty(),
            "a byte of the previous worker reached the next one: {left:?} of {SIZE}"
        );
        assert_eq!(
            (again.seen, again.socket_seen),
            (0, 0),
            "the sequence seen is reset"
        );
        assert!(retired.take().is_none());
    }

    /// See: issue 23 ("per step in a fan-out"): when every CPU has a worker, aether sleeps on
    /// the socket instead of polling, and says so in the ring, so that a worker waiting for a
    /// reply (or for its `Start`, or to be killed) sleeps too instead of taking turns from the
    /// aether that has to answer it (4,300 to 6,400 `sched_yield` per 500-step run on `main`).
    #[test]
    fn issue_23_the_ring_tells_the_worker_whether_aether_polls() {
        set_broker_polls(false);
        let mut ring = Ring::new().expect("ring");
        let peer = ring.peer().expect("second mapping");
        assert!(
            peer.broker_sleeps(),
            "a ring made while aether does not poll"
        );
        set_broker_polls(true);
        assert!(matches!(ring.spin(), Ok(Poll::Idle)));
        assert!(!peer.broker_sleeps(), "aether polls again");
        set_broker_polls(false);
        assert!(matches!(ring.spin(), Ok(Poll::Idle)));
        assert!(peer.broker_sleeps(), "aether stopped polling");
        // With nothing posted, a wait for a reply sleeps on the futex and times out.
        assert!(peer.wait_reply(Duration::from_millis(20)).is_none());
        set_broker_polls(true);
    }
}
