//! A worker's last word when its address-space limit refuses an allocation outside the engine.
//!
//! The engine's metering allocator holds a plugin to its ceiling to the byte, but Rust code
//! in the worker (host replies being decoded, the engine's own bookkeeping) allocates from the
//! system allocator, which the worker's `RLIMIT_AS` backstops. When that limit refuses an
//! allocation, Rust would abort and aether would only see a worker that "ended without a
//! result". [`Allocator`], installed as the global allocator of aether's binary, instead sends
//! the step's result — a memory limit error — over the worker's socket and exits, so the step
//! is reported as the `limit.memory` kill it is (issue 16). In aether's own process it is the
//! system allocator, plus one branch on a failed allocation.
#![allow(
    unsafe_code,
    reason = "a GlobalAlloc implementation and raw writes from inside a failed allocation"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use aether_sandbox::StepError;

use crate::wire::{self, FromWorker};

/// The system allocator, which in an armed worker turns a refused allocation into the step's
/// memory-limit result. Install it with `#[global_allocator]` in the binary that runs workers.
pub struct Allocator;

/// The worker's socket once armed (`-1`: not a worker, or not yet).
static SOCKET: AtomicI32 = AtomicI32::new(-1);
/// The frame to send: prepared when armed, since nothing may be allocated when it is needed.
static FRAME: OnceLock<Vec<u8>> = OnceLock::new();

/// Arms this process as a worker: from now on a refused allocation sends a memory-limit result for a step
/// whose ceiling is `limit` over `socket`, then exits.
pub fn arm(socket: &impl AsRawFd, limit: u64) {
    let done = FromWorker::Done {
        result: Err(StepError::Memory { limit }),
        cpu: std::time::Duration::ZERO,
    };
    let mut frame = Vec::new();
    if wire::write_frame(&mut frame, &done).is_ok() && FRAME.set(frame).is_ok() {
        SOCKET.store(socket.as_raw_fd(), Ordering::SeqCst);
    }
}

/// Called with an allocation the system refused: in an armed worker, never returns.
fn refused() {
    let fd = SOCKET.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    if let Some(frame) = FRAME.get() {
        // SAFETY: `fd` is the worker's socket, open for the worker's whole life (it is only
        // closed when the process exits).
        let socket = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut rest: &[u8] = frame;
        while !rest.is_empty() {
            match rustix::io::write(socket, rest) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest = &rest[n..],
            }
        }
    }
    // SAFETY: `_exit` ends the process at once, without running anything that could allocate.
    unsafe { libc::_exit(3) }
}

// SAFETY: every method delegates to `System` and only adds a call to `refused` on failure.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            refused();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            refused();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            refused();
        }
        p
    }
}
