//! The call ring with a real zygote and worker (issue 23 item 2): a step's quick host calls
//! travel through the ring, not as socket frames, and a reply too large for the ring comes on
//! the socket. This binary is its own zygote (`main` runs
//! it when re-executed as one, before anything else), so it has no libtest harness.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec};
use aether_worker::supervisor::frame_counts;
use aether_worker::{Zygote, run_in_worker};

const CALLS: u64 = 2000;
/// Larger than the ring's slot and than a socket's send buffer (`net.core.wmem_default`,
/// 208 KiB): aether must say "on the socket" in the ring before its write can block on a
/// worker that waits there (a 262 KB module, luxon, hung a process-tier step this way).
const BIG: usize = 16 * aether_worker::ring::SLOT;

/// Serves the entry module and `aether.env.get`.
struct LiveHost;

impl Host for LiveHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: format!(
                    "export default () => {{ let n = aether.fs.readText('big.txt').length; for (let k = 0; k < {CALLS}; k++) n += aether.env.get('NAME').length; return n; }};"
                ),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::EnvGet { .. } => Ok(HostValue::Text {
                value: Some("four".into()),
            }),
            // Larger than the ring's slot: the reply takes the socket.
            HostRequest::ReadText { .. } => Ok(HostValue::Text {
                value: Some("x".repeat(BIG)),
            }),
            _ => Ok(HostValue::Unit),
        }
    }
}

/// See: issue 23 ("a transport whose round trip is a few µs: shared-memory ring with futex
/// wake-ups"); the broker's own counts show which transport carried the calls.
fn issue_23_a_real_worker_makes_its_quick_calls_through_the_ring() -> Result<(), String> {
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let before = frame_counts();
    let spec = main_step();
    let outcome = run_in_worker(&zygote, spec, Arc::new(LiveHost));
    let output = outcome.result.map_err(|e| format!("step: {e:?}"))?;
    if output.get() != (4 * CALLS + BIG as u64).to_string() {
        return Err(format!("output {}", output.get()));
    }
    let after = frame_counts();
    let (ring, socket) = (after.ring - before.ring, after.socket - before.socket);
    // Every env.get through the ring; the socket carries the module load, the result, and a
    // doorbell each time the broker had gone to sleep (rare: a call follows the last at once).
    if ring < CALLS || socket > CALLS / 4 {
        return Err(format!("ring {ring}, socket {socket} for {CALLS} calls"));
    }
    println!("ring {ring}, socket {socket} for {CALLS} calls");
    Ok(())
}

/// The processes whose parent is `pid`, from `/proc/PID/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Answers `aether.env.get` with the number of threads of each worker of this process's zygote,
/// counted while the step runs.
struct ThreadCounter;

impl Host for ThreadCounter {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: "export default () => aether.env.get('THREADS');".into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::EnvGet { .. } => {
                let counts: Vec<String> = children(std::process::id())
                    .into_iter()
                    .flat_map(children)
                    .map(|worker| {
                        std::fs::read_dir(format!("/proc/{worker}/task"))
                            .map_or(0, Iterator::count)
                            .to_string()
                    })
                    .collect();
                Ok(HostValue::Text {
                    value: Some(counts.join(",")),
                })
            }
            _ => Ok(HostValue::Unit),
        }
    }
}

/// See: issue 23 ("per step in a fan-out: process tier at most 1.3x the thread tier"): a worker
/// runs its one step on its main thread; an engine thread per worker cost it a 48 MiB stack
/// mapping, a malloc arena grown page by page and the switches between the two threads.
fn issue_23_a_worker_runs_its_step_on_its_main_thread() -> Result<(), String> {
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let spec = main_step();
    let outcome = run_in_worker(&zygote, spec, Arc::new(ThreadCounter));
    let output = outcome.result.map_err(|e| format!("step: {e:?}"))?;
    // Each worker (this step's, and any of the first test's zygote not yet reaped) has one
    // thread.
    let counts = output.get().trim_matches('"');
    if counts.is_empty() || counts.split(',').any(|n| n != "1") {
        return Err(format!("threads per worker: {counts}"));
    }
    Ok(())
}

/// Answers the entry module with a trivial plugin.
struct Trivial;

impl Host for Trivial {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: "export default () => 1;".into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            _ => Ok(HostValue::Unit),
        }
    }
}

/// The size of the `[heap]` mapping of process `pid` in KiB, and its number of threads;
/// `None` if its `/proc` files cannot be read (a confined zygote is not dumpable: only a
/// process allowed to trace it, such as root, reads its maps).
fn heap_and_threads(pid: u32) -> Option<(u64, String)> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let heap = maps.lines().find(|l| l.ends_with("[heap]")).map_or(0, |l| {
        let range = l.split_whitespace().next().unwrap_or("0-0");
        let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
        let at = |x| u64::from_str_radix(x, 16).unwrap_or(0);
        at(b).saturating_sub(at(a)) / 1024
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .to_string();
    Some((heap, threads))
}

/// See: issue 23 ("per step in a fan-out"): the zygote compiles the rest of the bindings on a
/// thread of its own, so that the compilers' freed memory is not left in malloc's main heap,
/// where every worker's engine allocates (each free chunk reused there was a page copied on
/// write); it forks only once that thread has ended. On `main` the zygote's heap was about
/// 1.7 MiB after that compile.
fn issue_23_the_zygote_forks_single_threaded_from_a_small_main_heap() -> Result<(), String> {
    let before = children(std::process::id());
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let pid = children(std::process::id())
        .into_iter()
        .find(|p| !before.contains(p))
        .ok_or("no zygote among this process's children")?;
    // The zygote compiles the rest before its second worker; the third is forked after.
    for _ in 0..3 {
        let spec = main_step();
        let outcome = run_in_worker(&zygote, spec, Arc::new(Trivial));
        let output = outcome.result.map_err(|e| format!("step: {e:?}"))?;
        if output.get() != "1" {
            return Err(format!("output {}", output.get()));
        }
    }
    let Some((heap_kib, threads)) = heap_and_threads(pid) else {
        println!("skipped: the zygote's /proc files cannot be read here");
        return Ok(());
    };
    if threads != "1" {
        return Err(format!("the zygote has {threads} threads"));
    }
    if heap_kib > 1024 {
        return Err(format!("the zygote's main heap is {heap_kib} KiB"));
    }
    println!("zygote: main heap {heap_kib} KiB, {threads} thread");
    Ok(())
}

/// See: issue 23 ("per step in a fan-out"): `fork` copies the page-table entries of every
/// mapping holding anonymous pages, and the zygote's RELRO segment (relocated constants, made
/// read-only by the loader) was half of its anonymous memory: 1.4 MiB copied into every worker's
/// page tables and torn down at its exit. The zygote now maps it privately, read-only, from a
/// sealed `memfd` of the same bytes, whose descriptor it does not keep: after steps ran, that
/// mapping holds no anonymous page (nothing was copied on write) and the zygote holds no
/// descriptor for it. On `main` the segment is anonymous (about 1,430 KiB).
fn issue_23_the_zygotes_relro_is_a_sealed_file_not_anonymous_memory() -> Result<(), String> {
    let before = children(std::process::id());
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let pid = children(std::process::id())
        .into_iter()
        .find(|p| !before.contains(p))
        .ok_or("no zygote among this process's children")?;
    for _ in 0..2 {
        let spec = main_step();
        let outcome = run_in_worker(&zygote, spec, Arc::new(Trivial));
        let output = outcome.result.map_err(|e| format!("step: {e:?}"))?;
        if output.get() != "1" {
            return Err(format!("output {}", output.get()));
        }
    }
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        println!("skipped: the zygote's /proc files cannot be read here");
        return Ok(());
    };
    // Each mapping: its header line, then its fields.
    let mut relro = None;
    let mut current: Option<(String, u64)> = None;
    for line in smaps.lines() {
        if line.starts_with(|c: char| c.is_ascii_hexdigit()) && line.contains(' ') {
            if let Some(done) = current.take()
                && done.0.contains("aether-relro")
            {
                relro = Some(done);
            }
            current = Some((line.to_string(), 0));
        } else if let (Some(rest), Some(mapping)) =
            (line.strip_prefix("Anonymous:"), current.as_mut())
        {
            mapping.1 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
        }
    }
    if let Some(done) = current.take()
        && done.0.contains("aether-relro")
    {
        relro = Some(done);
    }
    let (header, anonymous) = relro.ok_or("the zygote has no mapping of its relro memfd")?;
    if !header.contains(" r--p ") || anonymous != 0 {
        return Err(format!("relro mapping {header}: {anonymous} KiB anonymous"));
    }
    let descriptors = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("fd: {e}"))?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.to_string_lossy().contains("aether-relro"))
        .count();
    if descriptors != 0 {
        return Err(format!("the zygote holds {descriptors} relro descriptors"));
    }
    println!("zygote: {header}");
    Ok(())
}

/// See: issue 23 ("workers ready before they are needed"): the zygote forks its first worker on
/// its own right after "ready", and aether reads that answer only when a step wants a worker.
/// A pool filler's request sent meanwhile must not read the first worker's answer as its own
/// (a worker's socket paired with another's pid and pidfd: the wrong worker killed after a
/// step, the right one left alive). Three steps with two slots: each succeeds, and no worker
/// outlives its step.
fn issue_23_the_first_workers_answer_is_read_before_any_other() -> Result<(), String> {
    let before = children(std::process::id());
    let zygote = Zygote::start_with(|| {}).map_err(|e| format!("zygote: {e}"))?;
    let pid = children(std::process::id())
        .into_iter()
        .find(|p| !before.contains(p))
        .ok_or("no zygote among this process's children")?;
    // The filler asks for a second worker while the first's answer is still unread (given
    // time to, before a step takes the first).
    zygote.keep_ready(2, 3);
    std::thread::sleep(Duration::from_millis(100));
    for step in 0..3 {
        let spec = main_step();
        let outcome = run_in_worker(&zygote, spec, Arc::new(Trivial));
        let output = outcome.result.map_err(|e| format!("step {step}: {e:?}"))?;
        if output.get() != "1" {
            return Err(format!("step {step}: output {}", output.get()));
        }
    }
    // Every step's worker was killed through its own pidfd (a kill is asynchronous: give the
    // kernel a moment to reap them).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let alive = children(pid);
        if alive.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("workers alive after their steps: {alive:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// See: issue 23 (one-step cold run): the zygote prepares its one engine with the bindings' stub
/// compiled in that engine's context, not first into bytecode in a runtime and context of its
/// own, written out and read back (about a fifth of the zygote's instructions before it
/// confined itself). This process has made no engine and compiled no stub before, as a fresh
/// zygote; it prepares the engine as the zygote does, on a thread of its own.
fn issue_23_the_prepared_engine_compiles_no_stub_bytecode() -> Result<(), String> {
    if aether_sandbox::stub_bytecode_compiled() {
        return Err("the stub's bytecode was compiled before the test".into());
    }
    let stack = aether_sandbox::engine_stack(&Limits::default()) + (4 << 20);
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(aether_sandbox::prepare_engine)
        .map_err(|e| format!("thread: {e}"))?
        .join()
        .map_err(|_| "preparing the engine panicked")?;
    if aether_sandbox::stub_bytecode_compiled() {
        return Err("the stub was compiled into bytecode to prepare the engine".into());
    }
    Ok(())
}

/// See: issue 23 (one-step cold run): aether asks how many CPUs it may use while the zygote
/// starts, not between the zygote's "ready" and the first step's `Start`, where `keep_ready`
/// wants the number (`available_parallelism` reads the cgroup's files: the worker, forked and
/// confined, waited for it).
fn issue_23_the_cpus_are_known_before_the_zygote_is_ready() -> Result<(), String> {
    let zygote = Zygote::start_with(|| {}).map_err(|e| format!("zygote: {e}"))?;
    if !zygote.knows_its_cpus() {
        return Err("the CPUs are asked only after the zygote is ready".into());
    }
    Ok(())
}

/// Serves a module that keeps the CPU busy for a few tens of milliseconds.
struct BusyHost;

impl Host for BusyHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: "export default () => { let x = 0; for (let i = 0; i < 2e6; i++) x = (x + i) % 7919; return x; };".into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            _ => Ok(HostValue::Unit),
        }
    }
}

/// See: issue 23 ("per-step accounting without `/proc` round trips on the hot path"): a
/// worker's CPU time is read from its process CPU clock, to the nanosecond as the thread tier
/// reads its engine thread's, not from `/proc/PID/stat`'s 10 ms ticks: a busy step's `cpu_ms`
/// is not always a multiple of 10 (with ticks it always was; five steps of a few tens of
/// milliseconds all landing on one by chance: about 1 in 100,000).
fn issue_23_a_workers_cpu_time_is_not_counted_in_ticks() -> Result<(), String> {
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let spec = main_step();
        let outcome = run_in_worker(&zygote, spec, Arc::new(BusyHost));
        outcome.result.map_err(|e| format!("step: {e:?}"))?;
        if outcome.cpu_ms == 0 {
            return Err("a busy step took no CPU time".into());
        }
        seen.push(outcome.cpu_ms);
        if !outcome.cpu_ms.is_multiple_of(10) {
            println!("cpu_ms {seen:?}");
            return Ok(());
        }
    }
    Err(format!(
        "cpu_ms {seen:?}: all multiples of 10 ms, as ticks are"
    ))
}

/// The step every test runs: `main.js`'s default export, no input, a 60 s deadline.
fn main_step() -> StepSpec {
    StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: serde_json::Value::Null,
        limits: Limits {
            timeout: Duration::from_secs(60),
            ..Limits::default()
        },
        sample: false,
    }
}

/// A test of this binary: `Err` says what went wrong.
type LiveTest = fn() -> Result<(), String>;

fn main() -> ExitCode {
    aether_worker::run_zygote_if_asked();
    if let Err(e) = aether_jail::engine::engine_support() {
        println!("skipped: the process tier cannot run here: {e}");
        return ExitCode::SUCCESS;
    }
    let tests: [(&str, LiveTest); 8] = [
        // First: it needs a process that has compiled no stub yet.
        (
            "issue_23_the_prepared_engine_compiles_no_stub_bytecode",
            issue_23_the_prepared_engine_compiles_no_stub_bytecode,
        ),
        (
            "issue_23_a_real_worker_makes_its_quick_calls_through_the_ring",
            issue_23_a_real_worker_makes_its_quick_calls_through_the_ring,
        ),
        (
            "issue_23_a_worker_runs_its_step_on_its_main_thread",
            issue_23_a_worker_runs_its_step_on_its_main_thread,
        ),
        (
            "issue_23_the_zygote_forks_single_threaded_from_a_small_main_heap",
            issue_23_the_zygote_forks_single_threaded_from_a_small_main_heap,
        ),
        (
            "issue_23_the_first_workers_answer_is_read_before_any_other",
            issue_23_the_first_workers_answer_is_read_before_any_other,
        ),
        (
            "issue_23_the_zygotes_relro_is_a_sealed_file_not_anonymous_memory",
            issue_23_the_zygotes_relro_is_a_sealed_file_not_anonymous_memory,
        ),
        (
            "issue_23_the_cpus_are_known_before_the_zygote_is_ready",
            issue_23_the_cpus_are_known_before_the_zygote_is_ready,
        ),
        (
            "issue_23_a_workers_cpu_time_is_not_counted_in_ticks",
            issue_23_a_workers_cpu_time_is_not_counted_in_ticks,
        ),
    ];
    let mut code = ExitCode::SUCCESS;
    for (name, test) in tests {
        match test() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}
