//! Engine threads, kept warm between steps. Starting a thread and first touching its stack and
//! its allocator arena costs about 60 µs here, a fifth of a trivial sandbox: a thread that has
//! run a step waits a while for the next one instead of exiting.
//!
//! Only the OS thread is reused, never an engine: every step still gets a fresh runtime and
//! context, created and dropped on the thread within its job. A thread runs one job at a time;
//! a job that was abandoned (a timed-out step in a long native call) keeps its thread until it
//! returns, and only then is the thread idle again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// A step to run on an engine thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Idle threads kept at most (more exit when their job ends): enough for `--jobs` on a large
/// machine, few enough that their stacks and arenas stay a small part of aether's memory.
const MAX_IDLE: usize = 64;

/// How long an idle thread waits for a job before it exits.
const IDLE_FOR: Duration = Duration::from_secs(5);

/// An idle thread: which one, where to send its next job, and its stack size.
struct Idle {
    id: u64,
    jobs: Sender<Job>,
    stack: usize,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

fn idle() -> std::sync::MutexGuard<'static, Vec<Idle>> {
    IDLE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `job` on an idle engine thread with at least `stack` bytes of stack, or on a new one.
/// Errors only when no thread could be started.
pub(crate) fn spawn(stack: usize, mut job: Job) -> std::io::Result<()> {
    loop {
        let found = {
            let mut idle = idle();
            let at = idle.iter().rposition(|t| t.stack >= stack);
            at.map(|i| idle.swap_remove(i))
        };
        let Some(thread) = found else { break };
        // Only a thread that died (it cannot: jobs catch their panics) gives the job back.
        match thread.jobs.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    let (jobs, next) = mpsc::channel();
    std::thread::Builder::new()
        .name("aether-engine".into())
        .stack_size(stack)
        .spawn(move || serve(job, jobs, &next, stack))?;
    Ok(())
}

/// An engine thread's life: its first job, then each job it is given while idle.
fn serve(first: Job, jobs: Sender<Job>, next: &Receiver<Job>, stack: usize) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut job = first;
    loop {
        job();
        {
            let mut idle = idle();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(Idle {
                id,
                jobs: jobs.clone(),
                stack,
            });
        }
        job = match next.recv_timeout(IDLE_FOR) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = idle();
                if let Some(at) = idle.iter().position(|t| t.id == id) {
                    idle.swap_remove(at);
                    return;
                }
                // Taken from the list just now: its job is on its way.
                drop(idle);
                match next.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
    }
}
