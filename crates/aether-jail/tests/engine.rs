//! The `process` tier's confinement against real processes. `main` re-runs this binary with
//! `__scenario NAME` for each case, so that every scenario starts as a fresh single-threaded
//! process: it confines itself as the zygote, forks workers that confine themselves, and reports
//! on stdout (`key=value` lines); the test in the parent checks the report and the exit status.
//! Every denial is paired with the allowed case (a marker printed just before the forbidden call,
//! or a control scenario doing the same without it), so that each test can fail.
#![allow(
    unsafe_code,
    reason = "fork, wait, raw system calls and signals that the scenarios must make themselves"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use aether_jail::JailError;
use aether_jail::engine::{
    WorkerLimits, confine_worker, confine_zygote, confine_zygote_with, engine_support,
    prepare_network_namespace,
};

const SCENARIO: &str = "__scenario";

const LIMITS: WorkerLimits = WorkerLimits {
    address_space: 2 << 30,
    cpu: Duration::from_secs(30),
    open_files: 16,
};

// ---------------------------------------------------------------------------------------------
// Runner

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SCENARIO) {
        let name = args.get(2).map_or("", String::as_str);
        scenario(name, &args[3..]);
        return;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    // Orphaned workers (after the PDEATHSIG test kills their zygote) come to us to be reaped.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let tests: &[(&str, fn())] = &[
        ("engine_support_is_ok_here", engine_support_is_ok_here),
        (
            "worker_runs_threads_memory_clocks_and_socket",
            worker_control,
        ),
        ("worker_cannot_open_files", worker_cannot_open_files),
        (
            "worker_cannot_reach_network_or_sockets",
            worker_cannot_network,
        ),
        ("worker_cannot_exec_or_fork", worker_cannot_exec_or_fork),
        ("worker_cannot_signal_others", worker_cannot_signal_others),
        ("worker_cannot_map_write_exec", worker_cannot_map_write_exec),
        ("worker_abort_is_its_own_sigabrt", worker_abort),
        (
            "issue_23_each_worker_is_held_to_the_worker_allowlist",
            issue_23_each_worker_is_held_to_the_worker_allowlist,
        ),
        (
            "issue_23_a_worker_cannot_signal_another_worker",
            issue_23_a_worker_cannot_signal_another_worker,
        ),
        (
            "issue_23_the_short_worker_filter_still_kills_every_escape",
            issue_23_the_short_worker_filter_still_kills_every_escape,
        ),
        (
            "issue_23_worker_futex_is_held_to_what_it_uses",
            issue_23_worker_futex_is_held_to_what_it_uses,
        ),
        ("worker_address_space_limit", worker_address_space_limit),
        ("worker_cpu_limit_kills", worker_cpu_limit),
        (
            "issue_23_unlimited_worker_limits_leave_the_inherited_ones",
            issue_23_unlimited_worker_limits_leave_the_inherited_ones,
        ),
        ("zygote_cannot_open_files", zygote_cannot_open_files),
        ("zygote_has_no_network", zygote_has_no_network),
        ("status_and_parent_death", status_and_parent_death),
        ("zygote_refuses_a_second_thread", zygote_refuses_threads),
        (
            "issue_23_a_namespace_made_on_a_thread_leaves_no_network",
            issue_23_a_namespace_made_on_a_thread_leaves_no_network,
        ),
        (
            "issue_23_a_prepared_namespace_still_needs_one_thread",
            issue_23_a_prepared_namespace_still_needs_one_thread,
        ),
        ("zygote_without_root", zygote_without_root),
        ("measure_start_up", measure_start_up),
    ];
    let mut failed = Vec::new();
    let mut ran = 0;
    for &(name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// What a scenario process printed and how it ended.
struct Report {
    status: ExitStatus,
    lines: BTreeMap<String, String>,
    stdout: String,
    stderr: String,
}

impl Report {
    fn get(&self, key: &str) -> &str {
        self.lines.get(key).map_or_else(
            || {
                panic!(
                    "no `{key}` in the report:\n{}\n{}",
                    self.stdout, self.stderr
                )
            },
            String::as_str,
        )
    }

    fn has(&self, key: &str) -> bool {
        self.lines.contains_key(key)
    }
}

fn parse(status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> Report {
    let stdout = String::from_utf8_lossy(stdout).into_owned();
    let lines = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Report {
        status,
        lines,
        stdout,
        stderr: String::from_utf8_lossy(stderr).into_owned(),
    }
}

fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command.arg(SCENARIO).arg(name).args(args).env_clear();
    command
}

fn run(name: &str, args: &[&str]) -> Report {
    let out = command(name, args).output().expect("spawn scenario");
    parse(out.status, &out.stdout, &out.stderr)
}

/// Runs a scenario that must end normally, having printed `done=1`.
fn run_ok(name: &str, args: &[&str]) -> Report {
    let report = run(name, args);
    assert!(
        report.status.success() && report.has("done"),
        "scenario {name} {args:?}: {:?}\n{}\n{}",
        report.status,
        report.stdout,
        report.stderr
    );
    report
}

/// Runs `worker-denied ACTION`: the worker must print `before`, then die by SIGSYS in the call,
/// and the zygote must go on (`done=1`).
fn assert_worker_killed(action: &str) {
    let report = run_ok("worker-denied", &[action]);
    assert_eq!(report.get("before"), action, "{}", report.stdout);
    assert!(
        !report.has("after"),
        "{action} went through: {}",
        report.stdout
    );
    assert_eq!(
        report.get("worker"),
        format!("signal {}", libc::SIGSYS),
        "{action}: {}",
        report.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Tests (in the parent)

fn engine_support_is_ok_here() {
    engine_support().expect("this machine offers every feature of the process tier");
}

fn worker_control() {
    let report = run_ok("control", &[]);
    assert_eq!(report.get("worker"), "exit 0", "{}", report.stderr);
    assert_eq!(report.get("threads"), "4");
    let expected: u64 = (0..4u64).map(|i| (i + 1) * (50 << 20)).sum();
    assert_eq!(report.get("sum"), expected.to_string());
    assert_eq!(report.get("names"), "engine-0,engine-1,engine-2,engine-3");
    assert_eq!(report.get("condvar"), "4");
    assert_eq!(report.get("cpu_clocks"), "ok");
    assert_eq!(report.get("clone3"), "ENOSYS");
    assert_eq!(report.get("exec_mapping"), "ok");
    assert_eq!(report.get("recv"), "go");
    assert_eq!(report.get("slept"), "ok");
}

/// Opening a file is refused with `EACCES`, not killed: glibc opens files behind the engine's
/// back (malloc's heap trimming reads `/proc/sys/vm/overcommit_memory`) and copes with a refusal.
fn worker_cannot_open_files() {
    for action in ["read-proc-status", "openat", "open"] {
        let report = run_ok("worker-denied", &[action]);
        assert_eq!(report.get("before"), action, "{}", report.stdout);
        assert_eq!(
            report.get("after"),
            format!("-1 errno {}", libc::EACCES),
            "{action}: {}",
            report.stdout
        );
        assert_eq!(
            report.get("worker"),
            "exit 0",
            "{action}: {}",
            report.stdout
        );
    }
}

fn worker_cannot_network() {
    for action in [
        "socket-inet",
        "socket-unix",
        "socketpair",
        "recvmsg",
        "sendmsg",
    ] {
        assert_worker_killed(action);
    }
}

fn worker_cannot_exec_or_fork() {
    for action in [
        "execve",
        "fork",
        "clone-newuser-thread",
        "unshare",
        "try-clone",
    ] {
        assert_worker_killed(action);
    }
}

fn worker_cannot_signal_others() {
    for action in ["kill-zygote", "tgkill-zygote", "ptrace"] {
        assert_worker_killed(action);
    }
}

fn worker_cannot_map_write_exec() {
    for action in ["mmap-wx", "mprotect-wx"] {
        assert_worker_killed(action);
    }
}

/// See: CVE-2014-3153 (`FUTEX_CMP_REQUEUE_PI`). The worker keeps the futex operations its
/// locks and the call ring use, and none of the priority-inheritance ones.
fn issue_23_worker_futex_is_held_to_what_it_uses() {
    for action in ["futex-lock-pi", "futex-cmp-requeue-pi"] {
        assert_worker_killed(action);
    }
    let report = run_ok("worker-denied", &["futex-shared"]);
    assert!(report.has("after"), "{}", report.stdout);
    assert_eq!(report.get("worker"), "exit 0", "{}", report.stdout);
}

/// A worker's own filter now only narrows the zygote's, which it inherits (issue 23): every call
/// the zygote may make and a worker may not still kills the worker, and what a worker may make
/// with an argument check still holds it (`prctl` options, `tgkill` to itself only).
fn issue_23_each_worker_is_held_to_the_worker_allowlist() {
    for action in [
        "recvmsg",
        "sendmsg",
        "seccomp",
        "setrlimit",
        "prlimit-self",
        "getrlimit",
        "getppid",
        "pidfd-open-self",
        "wait4",
        "close-range",
        "prctl-pdeathsig",
        "prctl-no-new-privs",
        "tgkill-zygote",
        "fork",
    ] {
        assert_worker_killed(action);
    }
    for action in ["prctl-set-name", "tgkill-self"] {
        let report = run_ok("worker-denied", &[action]);
        assert!(report.has("after"), "{action}: {}", report.stdout);
        assert_eq!(
            report.get("worker"),
            "exit 0",
            "{action}: {}",
            report.stdout
        );
    }
}

/// The worker's own filter is as short as its rows allow (issue 23: the kernel translates and
/// JIT-compiles it once per worker) and no longer checks the architecture or x32 numbers itself:
/// the zygote's filter underneath kills those. A worker is still killed for each way out, an x32
/// number or a process-creating `clone` included.
// See: man 2 seccomp ("Caveats": x32 system calls share the x86_64 audit architecture).
fn issue_23_the_short_worker_filter_still_kills_every_escape() {
    for action in [
        "x32-getpid",
        "clone-process",
        "fork",
        "execve",
        "socket-inet",
        "socketpair",
        "unshare",
        "ptrace",
        "waitid",
        "recvmsg",
        "seccomp",
        "prlimit-self",
        "tgkill-zygote",
        "mprotect-wx",
    ] {
        assert_worker_killed(action);
    }
    let report = run_ok("worker-denied", &["prctl-set-name"]);
    assert_eq!(report.get("worker"), "exit 0", "{}", report.stdout);
}

/// Landlock's signal scope (`LANDLOCK_SCOPE_SIGNAL`, ABI 6) only stops signals leaving a
/// domain, and every worker of a zygote shares the zygote's: so the worker's own filter keeps
/// `tgkill` to its own pid (issue 23). A worker signalling another worker is killed, and the
/// other lives on.
// See: linux tools/testing/selftests/landlock/scoped_signal_test.c (signals within one domain
// are allowed; only those to a parent or sibling domain are refused).
fn issue_23_a_worker_cannot_signal_another_worker() {
    let report = run_ok("worker-sibling", &[]);
    assert_eq!(report.get("before"), "tgkill-sibling", "{}", report.stdout);
    assert!(!report.has("after"), "{}", report.stdout);
    assert_eq!(
        report.get("worker"),
        format!("signal {}", libc::SIGSYS),
        "{}",
        report.stdout
    );
    assert_eq!(report.get("sibling"), "exit 0", "{}", report.stdout);
}

fn worker_abort() {
    let report = run_ok("worker-denied", &["abort"]);
    assert_eq!(report.get("before"), "abort");
    // SIGABRT, not SIGSYS: tgkill to itself, rt_sigaction and rt_sigprocmask are allowed.
    assert_eq!(report.get("worker"), format!("signal {}", libc::SIGABRT));
}

fn worker_address_space_limit() {
    let report = run_ok("rlimit-as", &[]);
    assert_eq!(report.get("small"), "ok");
    assert_eq!(report.get("big"), "err");
    assert_eq!(report.get("after_big"), "ok");
    assert_eq!(report.get("worker"), "exit 0");
}

fn worker_cpu_limit() {
    let report = run_ok("rlimit-cpu", &[]);
    assert_eq!(report.get("spinning"), "1");
    assert!(!report.has("survived"), "{}", report.stdout);
    // soft = hard: SIGKILL directly, no catchable SIGXCPU.
    assert_eq!(report.get("worker"), format!("signal {}", libc::SIGKILL));
}

/// A worker forked ahead of its step (issue 23) is confined with `RLIMIT_AS` and `RLIMIT_CPU`
/// unlimited (`u64::MAX`): those are left as inherited, for aether to lower from outside. Setting
/// them would raise the zygote's hard limit (refused: no capability) or race aether's `prlimit`.
fn issue_23_unlimited_worker_limits_leave_the_inherited_ones() {
    let report = run_ok("rlimit-inherited", &[]);
    assert!(!report.has("worker_error"), "{}", report.stdout);
    assert_eq!(report.get("small"), "ok");
    assert_eq!(report.get("big"), "err");
    assert_eq!(report.get("worker"), "exit 0");
}

fn zygote_cannot_open_files() {
    let report = run("zygote-open", &[]);
    assert_eq!(report.get("confined"), "1", "{}", report.stderr);
    assert_eq!(report.get("pre_read"), "ok");
    assert!(
        report.get("after").contains("PermissionDenied"),
        "{}",
        report.stdout
    );
}

fn zygote_has_no_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port().to_string();
    let accept = std::thread::spawn(move || {
        let mut accepted = 0;
        listener.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if listener.accept().is_ok() {
                accepted += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        accepted
    });
    let report = run("zygote-net", &[&port]);
    assert_eq!(report.get("pre_connect"), "ok", "{}", report.stderr);
    assert_eq!(report.get("confined"), "1");
    assert!(!report.has("after"), "{}", report.stdout);
    assert_eq!(report.status.signal(), Some(libc::SIGSYS));
    // Only the connection made before confinement arrived.
    assert_eq!(accept.join().expect("accept thread"), 1);
}

fn proc_status(pid: i32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read status")
        .lines()
        .filter_map(|l| l.split_once(":\t"))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

fn status_and_parent_death() {
    let mut child = command("status", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    // Read until the zygote has reported both pids (the worker reports once confined).
    let mut text = String::new();
    let mut buf = [0; 256];
    while !text.contains("worker_ready=1") {
        let n = stdout.read(&mut buf).expect("read");
        assert!(n > 0, "scenario ended early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let report = parse(ExitStatus::from_raw(0), text.as_bytes(), b"");
    let zygote: i32 = report.get("zygote").parse().expect("pid");
    let worker: i32 = report.get("worker_pid").parse().expect("pid");
    assert_eq!(zygote, i32::try_from(child.id()).expect("pid"));

    // One filter each: the worker's stacks on the zygote's.
    for (pid, filters) in [(zygote, "1"), (worker, "2")] {
        let status = proc_status(pid);
        assert_eq!(status["Seccomp"], "2", "{pid}: {status:?}");
        assert_eq!(status["Seccomp_filters"], filters);
        assert_eq!(status["NoNewPrivs"], "1");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(status[set], "0000000000000000", "{pid} {set}");
        }
        let ns = |p: String| std::fs::read_link(p).expect("ns link");
        assert_ne!(
            ns(format!("/proc/{pid}/ns/net")),
            ns("/proc/self/ns/net".into()),
            "{pid} shares our network namespace"
        );
    }
    // The parent is not confined (the control for the assertions above).
    let own = proc_status(std::process::id() as i32);
    assert_eq!(own["Seccomp"], "0");
    assert_ne!(own["CapEff"], "0000000000000000");

    // PDEATHSIG: SIGKILL the zygote; its sleeping worker must die too.
    child.kill().expect("kill zygote");
    let status = child.wait().expect("wait zygote");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let until = Instant::now() + Duration::from_secs(10);
    let mut reaped = None;
    while Instant::now() < until {
        let mut raw = 0;
        // SAFETY: `worker` was reparented to us (we are a child subreaper); out pointer valid.
        let rc = unsafe { libc::waitpid(worker, &mut raw, libc::WNOHANG) };
        if rc == worker {
            reaped = Some(raw);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Some(raw) = reaped else {
        // SAFETY: kill with integer arguments: clean up the survivor before failing.
        unsafe { libc::kill(worker, libc::SIGKILL) };
        panic!("worker {worker} outlived its zygote");
    };
    assert!(libc::WIFSIGNALED(raw) && libc::WTERMSIG(raw) == libc::SIGKILL);
    assert!(!std::path::Path::new(&format!("/proc/{worker}")).exists());
}

fn zygote_refuses_threads() {
    let report = run_ok("threaded", &[]);
    assert_eq!(report.get("error"), "NotSingleThreaded 2");
    // Nothing was applied.
    assert_eq!(report.get("no_new_privs"), "0");
    assert_eq!(report.get("worker_outside"), "WrongProcess");
}

/// The network interfaces of `pid`'s namespace, by name.
fn interfaces(pid: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .expect("net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

// See: issue 23 ("whole-process one-step cold run: at most 1.5x the thread tier"; "enforcement
// unchanged").
// The zygote's network namespace made on a thread of its own while it starts
// (`prepare_network_namespace`), entered by its main thread: the zygote and its workers are in
// a namespace that is not ours, holding only a loopback that is down (no address, no route), and
// the zygote is single-threaded again when it forks.
fn issue_23_a_namespace_made_on_a_thread_leaves_no_network() {
    let mut child = command("prepared-net", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut text = String::new();
    let mut buf = [0; 256];
    while !text.contains("worker_ready=1") {
        let n = stdout.read(&mut buf).expect("read");
        assert!(n > 0, "scenario ended early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let report = parse(ExitStatus::from_raw(0), text.as_bytes(), b"");
    // As root the namespace was made on the thread, not by the fallback (which makes a user
    // namespace too, as without it, when not root).
    // SAFETY: geteuid takes no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(report.get("prepared"), root.to_string(), "{text}");
    let zygote: i32 = report.get("zygote").parse().expect("pid");
    let worker: i32 = report.get("worker_pid").parse().expect("pid");
    let ns = |p: String| std::fs::read_link(p).expect("ns link");
    let ours = ns("/proc/self/ns/net".into());
    // The control: our own namespace has more than a loopback here (or at least one).
    assert!(!interfaces(std::process::id() as i32).is_empty());
    for pid in [zygote, worker] {
        assert_ne!(ns(format!("/proc/{pid}/ns/net")), ours, "{pid}");
        assert_eq!(interfaces(pid), ["lo"], "{pid}");
        let trie = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie")).expect("fib");
        assert!(!trie.contains("127.0.0.1"), "{pid}: loopback up: {trie}");
        assert_eq!(proc_status(pid)["Threads"], "1", "{pid}");
    }
    // The worker is in the zygote's namespace: one namespace per zygote, made once.
    assert_eq!(
        ns(format!("/proc/{zygote}/ns/net")),
        ns(format!("/proc/{worker}/ns/net"))
    );
    child.kill().expect("kill zygote");
    let _ = child.wait();
}

// See: issue 23 (the zygote forks only while single-threaded).
// With the namespace's thread joined, another thread still running is refused as before.
fn issue_23_a_prepared_namespace_still_needs_one_thread() {
    let report = run_ok("prepared-threaded", &[]);
    assert_eq!(report.get("error"), "NotSingleThreaded 2");
    assert_eq!(report.get("no_new_privs"), "0");
}

fn zygote_without_root() {
    let report = run("unprivileged", &[]);
    if report.has("skipped") {
        println!("  skipped: {}", report.get("skipped"));
        return;
    }
    assert!(
        report.status.success() && report.has("done"),
        "{}\n{}",
        report.stdout,
        report.stderr
    );
    assert_eq!(report.get("uid"), "65534");
    assert_eq!(report.get("worker"), "exit 0");
    assert_eq!(report.get("worker_said"), "hello");
}

fn measure_start_up() {
    let report = run_ok("bench", &["200"]);
    println!("  confine_zygote: {} µs", report.get("zygote_us"));
    for (name, what) in [
        (
            "spawn",
            "fork+confine_worker, until the zygote reads the worker's byte",
        ),
        ("confine", "confine_worker alone, timed in the worker"),
        (
            "fork",
            "fork alone, unconfined worker, until its byte is read",
        ),
    ] {
        println!(
            "  {what}: mean {} µs, median {} µs, p90 {} µs",
            report.get(&format!("{name}_mean_us")),
            report.get(&format!("{name}_median_us")),
            report.get(&format!("{name}_p90_us")),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios (in fresh processes)

fn say(key: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{key}={value}");
    let _ = out.flush();
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Forks a worker that confines itself with `limits` and runs `body`, whose result is its exit
/// code. Returns the worker's pid.
fn fork_worker(limits: &WorkerLimits, body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the scenario process is single-threaded, so the child may run any code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        if let Err(e) = confine_worker(limits) {
            say("worker_error", format!("{e:?}"));
            std::process::exit(101);
        }
        let code = body();
        std::process::exit(code);
    }
    pid
}

/// Waits for `pid` (a child) and describes how it ended.
fn wait(pid: i32) -> String {
    let mut raw = 0;
    // SAFETY: `pid` is our child; out pointer valid.
    let rc = unsafe { libc::waitpid(pid, &mut raw, 0) };
    assert_eq!(rc, pid, "waitpid");
    if libc::WIFSIGNALED(raw) {
        format!("signal {}", libc::WTERMSIG(raw))
    } else {
        format!("exit {}", libc::WEXITSTATUS(raw))
    }
}

fn zygote() {
    if let Err(e) = confine_zygote() {
        say("zygote_error", format!("{e}"));
        std::process::exit(100);
    }
}

fn scenario(name: &str, args: &[String]) {
    match name {
        "control" => control(),
        "worker-denied" => worker_denied(args.first().map_or("", String::as_str)),
        "worker-sibling" => worker_sibling(),
        "rlimit-as" => rlimit_as(),
        "rlimit-cpu" => rlimit_cpu(),
        "rlimit-inherited" => rlimit_inherited(),
        "zygote-open" => {
            let pre = std::fs::read("/proc/self/status").map(|_| "ok");
            say("pre_read", pre.unwrap_or("err"));
            zygote();
            say("confined", 1);
            let result = std::fs::read("/etc/hostname");
            say("after", format!("{result:?}"));
            return;
        }
        "zygote-net" => {
            let port = args.first().map_or("0", String::as_str);
            let addr = format!("127.0.0.1:{port}");
            say(
                "pre_connect",
                TcpStream::connect(&addr).map_or("err", |_| "ok"),
            );
            zygote();
            say("confined", 1);
            let result = TcpStream::connect(&addr);
            say("after", format!("{result:?}"));
            return;
        }
        "status" => status(),
        "prepared-net" => prepared_net(),
        "prepared-threaded" => {
            let (stop, wait_stop) = mpsc::channel::<()>();
            let thread = std::thread::spawn(move || {
                let _ = wait_stop.recv();
            });
            match confine_zygote_with(prepare_network_namespace()) {
                Err(JailError::NotSingleThreaded { threads }) => {
                    say("error", format!("NotSingleThreaded {threads}"))
                }
                other => say("error", format!("{other:?}")),
            }
            drop(stop);
            thread.join().expect("join");
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            let nnp = status
                .lines()
                .find_map(|l| l.strip_prefix("NoNewPrivs:\t"))
                .unwrap_or("?");
            say("no_new_privs", nnp);
        }
        "threaded" => threaded(),
        "unprivileged" => unprivileged(),
        "bench" => bench(args.first().and_then(|n| n.parse().ok()).unwrap_or(200)),
        other => panic!("unknown scenario {other}"),
    }
    say("done", 1);
}

fn control() {
    let (zygote_end, worker_end) = UnixStream::pair().expect("socketpair");
    zygote();
    let pid = fork_worker(&LIMITS, || {
        // The zygote's end stays open here; `shutdown` below still gives it EOF.
        let socket = &worker_end;
        let mut report = String::new();
        let mut go = [0; 2];
        // `&UnixStream` reads with recv(2).
        (&*socket).read_exact(&mut go).expect("recv");
        report.push_str(&format!("recv={}\n", String::from_utf8_lossy(&go)));

        let counter = Arc::new((Mutex::new(0u32), Condvar::new()));
        let (send, receive) = mpsc::channel();
        let mut handles = Vec::new();
        for i in 0..4u64 {
            let send = send.clone();
            let counter = Arc::clone(&counter);
            let handle = std::thread::Builder::new()
                .name(format!("engine-{i}"))
                .spawn(move || {
                    let block = vec![(i + 1) as u8; 50 << 20];
                    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
                    std::thread::sleep(Duration::from_millis(5));
                    // This thread's CPU clock, both ways.
                    let mut ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    let mut clock = 0;
                    // SAFETY: valid out pointers; pthread_self is this thread.
                    let ok = unsafe {
                        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) == 0
                            && libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) == 0
                            && libc::clock_gettime(clock, &mut ts) == 0
                    };
                    let cpu = ok && (ts.tv_sec > 0 || ts.tv_nsec > 0);
                    let name = std::thread::current().name().map(str::to_owned);
                    let (lock, cvar) = &*counter;
                    *lock.lock().expect("lock") += 1;
                    cvar.notify_all();
                    send.send((sum, cpu, name)).expect("send");
                })
                .expect("spawn thread");
            handles.push(handle);
        }
        drop(send);
        let (lock, cvar) = &*counter;
        let guard = cvar
            .wait_timeout_while(lock.lock().expect("lock"), Duration::from_secs(20), |n| {
                *n < 4
            })
            .expect("condvar")
            .0;
        report.push_str(&format!("condvar={}\n", *guard));
        drop(guard);
        let mut results = Vec::new();
        while let Ok(r) = receive.recv_timeout(Duration::from_secs(20)) {
            results.push(r);
        }
        for handle in handles {
            handle.join().expect("join");
        }
        results.sort_by(|a, b| a.2.cmp(&b.2));
        let sum: u64 = results.iter().map(|r| r.0).sum();
        let names: Vec<String> = results.iter().filter_map(|r| r.2.clone()).collect();
        let clocks = results.iter().all(|r| r.1);
        report.push_str(&format!(
            "threads={}\nsum={sum}\nnames={}\ncpu_clocks={}\n",
            results.len(),
            names.join(","),
            if clocks { "ok" } else { "bad" }
        ));
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let slept = t.elapsed() >= Duration::from_millis(20);
        report.push_str(&format!("slept={}\n", if slept { "ok" } else { "short" }));
        // SAFETY: clone3 with a null argument: the filter answers before the kernel reads it.
        let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) };
        let clone3 = if rc == -1 && errno() == libc::ENOSYS {
            "ENOSYS"
        } else {
            "other"
        };
        report.push_str(&format!("clone3={clone3}\n"));
        // Read+execute mappings stay allowed (only write+execute together are not).
        // SAFETY: an anonymous mapping, unmapped right away.
        let exec_ok = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            p != libc::MAP_FAILED && libc::munmap(p, 4096) == 0
        };
        report.push_str(&format!(
            "exec_mapping={}\n",
            if exec_ok { "ok" } else { "bad" }
        ));
        (&*socket).write_all(report.as_bytes()).expect("write");
        socket.shutdown(std::net::Shutdown::Both).expect("shutdown");
        0
    });
    drop(worker_end);
    (&zygote_end).write_all(b"go").expect("write go");
    let mut text = String::new();
    (&zygote_end)
        .read_to_string(&mut text)
        .expect("read report");
    print!("{text}");
    say("worker", wait(pid));
}

fn worker_denied(action: &str) {
    let (_keep, worker_end) = UnixStream::pair().expect("socketpair");
    let zygote_pid = std::process::id() as i32;
    zygote();
    let action = action.to_owned();
    let pid = fork_worker(&LIMITS, move || {
        say("before", &action);
        let result: i64 = match action.as_str() {
            "read-proc-status" => std::fs::read("/proc/self/status").map_or(-1, |_| 0),
            // SAFETY (all arms below): raw system calls whose pointer arguments are valid or null.
            "openat" => unsafe {
                libc::openat(libc::AT_FDCWD, c"/".as_ptr(), libc::O_RDONLY).into()
            },
            "open" => unsafe { libc::syscall(libc::SYS_open, c"/".as_ptr(), libc::O_RDONLY) },
            "socket-inet" => unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0).into() },
            "socket-unix" => unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).into() },
            "socketpair" => UnixStream::pair().map_or(-1, |_| 0),
            "recvmsg" => unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                libc::recvmsg(worker_end.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) as i64
            },
            "sendmsg" => unsafe {
                let msg: libc::msghdr = std::mem::zeroed();
                libc::sendmsg(worker_end.as_raw_fd(), &msg, 0) as i64
            },
            "execve" => {
                let e = std::os::unix::process::CommandExt::exec(&mut Command::new("/bin/true"));
                say("exec_error", e);
                -1
            }
            "fork" => unsafe { libc::fork().into() },
            // `fork` as glibc's `_Fork` makes it: `clone` with no thread flag.
            "clone-process" => unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) },
            // getpid by its x32 number (bit 30 set), with the x86_64 audit architecture.
            "x32-getpid" => unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) },
            "waitid" => unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::syscall(
                    libc::SYS_waitid,
                    libc::P_ALL,
                    0,
                    &raw mut info,
                    libc::WEXITED | libc::WNOHANG,
                    std::ptr::null_mut::<libc::rusage>(),
                )
            },
            "clone-newuser-thread" => unsafe {
                // CLONE_THREAD with a namespace flag: refused by the filter before the kernel
                // looks at the (null) stack.
                let flags =
                    libc::CLONE_VM | libc::CLONE_SIGHAND | libc::CLONE_THREAD | libc::CLONE_NEWNET;
                libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0)
            },
            "unshare" => unsafe { libc::unshare(libc::CLONE_NEWUSER).into() },
            "try-clone" => worker_end.try_clone().map_or(-1, |_| 0),
            "kill-zygote" => unsafe { libc::kill(zygote_pid, 0).into() },
            "tgkill-zygote" => unsafe {
                libc::syscall(libc::SYS_tgkill, zygote_pid, zygote_pid, 0)
            },
            "ptrace" => unsafe { libc::ptrace(libc::PTRACE_ATTACH, zygote_pid, 0, 0) },
            "mmap-wx" => unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_WRITE | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                (p == libc::MAP_FAILED).into()
            },
            "mprotect-wx" => unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                say("mapped_rw", p != libc::MAP_FAILED);
                libc::mprotect(
                    p,
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                )
                .into()
            },
            // A priority-inheritance lock on a word of its own: refused whatever the word.
            "futex-lock-pi" => unsafe {
                let word = std::sync::atomic::AtomicU32::new(0);
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_LOCK_PI | libc::FUTEX_PRIVATE_FLAG,
                    0,
                    0,
                )
            },
            "futex-cmp-requeue-pi" => unsafe {
                let (a, b) = (
                    std::sync::atomic::AtomicU32::new(0),
                    std::sync::atomic::AtomicU32::new(0),
                );
                libc::syscall(
                    libc::SYS_futex,
                    a.as_ptr(),
                    libc::FUTEX_CMP_REQUEUE_PI,
                    1,
                    0,
                    b.as_ptr(),
                    0,
                )
            },
            // The call ring's operations (issue 23): a shared (not private) wait and wake.
            "futex-shared" => unsafe {
                let word = std::sync::atomic::AtomicU32::new(0);
                let timeout = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 1000,
                };
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_WAIT,
                    0,
                    &raw const timeout,
                );
                libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1)
            },
            "seccomp" => unsafe {
                let program = libc::sock_fprog {
                    len: 0,
                    filter: std::ptr::null_mut(),
                };
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &raw const program,
                )
            },
            "setrlimit" => unsafe {
                let limit = libc::rlimit {
                    rlim_cur: 4,
                    rlim_max: 4,
                };
                libc::syscall(libc::SYS_setrlimit, libc::RLIMIT_NOFILE, &raw const limit)
            },
            "prlimit-self" => unsafe {
                let mut old = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    libc::RLIMIT_NOFILE,
                    std::ptr::null::<libc::rlimit>(),
                    &raw mut old,
                )
            },
            "getrlimit" => unsafe {
                let mut old = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::syscall(libc::SYS_getrlimit, libc::RLIMIT_NOFILE, &raw mut old)
            },
            "getppid" => unsafe { libc::syscall(libc::SYS_getppid) },
            "pidfd-open-self" => unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) },
            "wait4" => unsafe {
                libc::syscall(
                    libc::SYS_wait4,
                    -1,
                    std::ptr::null_mut::<i32>(),
                    libc::WNOHANG,
                    std::ptr::null_mut::<libc::rusage>(),
                )
            },
            "close-range" => unsafe { libc::syscall(libc::SYS_close_range, 1000, 1001, 0) },
            "prctl-pdeathsig" => unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0).into()
            },
            "prctl-no-new-privs" => unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0).into()
            },
            "prctl-set-name" => unsafe {
                libc::prctl(libc::PR_SET_NAME, c"renamed".as_ptr(), 0, 0, 0).into()
            },
            "tgkill-self" => unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::getpid(), 0)
            },
            "abort" => std::process::abort(),
            other => panic!("unknown action {other}"),
        };
        say("after", format!("{result} errno {}", errno()));
        0
    });
    say("worker", wait(pid));
}

/// Two workers of one zygote: the first waits on a socket, the second signals it (signal 0,
/// which only checks that it may).
fn worker_sibling() {
    let (keep, first_end) = UnixStream::pair().expect("socketpair");
    zygote();
    let first = fork_worker(&LIMITS, move || {
        let mut byte = [0u8; 1];
        // Returns at EOF, once the scenario shuts its end down.
        let _ = (&first_end).read(&mut byte);
        0
    });
    let second = fork_worker(&LIMITS, move || {
        say("before", "tgkill-sibling");
        // SAFETY: a raw system call with integer arguments.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, first, first, 0) };
        say("after", format!("{rc} errno {}", errno()));
        0
    });
    say("worker", wait(second));
    // Every worker holds a copy of this end too: shut the socket itself down, not one copy.
    keep.shutdown(std::net::Shutdown::Both).expect("shutdown");
    say("sibling", wait(first));
}

fn rlimit_as() {
    zygote();
    let limits = WorkerLimits {
        address_space: 256 << 20,
        ..LIMITS
    };
    let pid = fork_worker(&limits, || {
        let mut small: Vec<u8> = Vec::new();
        let ok = small.try_reserve(16 << 20).is_ok();
        if ok {
            small.resize(16 << 20, 1);
        }
        say("small", if ok { "ok" } else { "err" });
        let mut big: Vec<u8> = Vec::new();
        say("big", big.try_reserve(1 << 30).map_or("err", |()| "ok"));
        // The worker is intact after the refusal.
        let again: Vec<u8> = vec![2; 8 << 20];
        let fine = again.iter().all(|&b| b == 2) && small.iter().all(|&b| b == 1);
        say("after_big", if fine { "ok" } else { "bad" });
        0
    });
    say("worker", wait(pid));
}

fn rlimit_inherited() {
    let limit = libc::rlimit {
        rlim_cur: 512 << 20,
        rlim_max: 512 << 20,
    };
    // SAFETY: setrlimit of this process with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    zygote();
    let limits = WorkerLimits {
        address_space: u64::MAX,
        cpu: Duration::from_secs(u64::MAX),
        ..LIMITS
    };
    let pid = fork_worker(&limits, || {
        let mut small: Vec<u8> = Vec::new();
        say(
            "small",
            small.try_reserve(16 << 20).map_or("err", |()| "ok"),
        );
        let mut big: Vec<u8> = Vec::new();
        say("big", big.try_reserve(1 << 30).map_or("err", |()| "ok"));
        0
    });
    say("worker", wait(pid));
}

fn rlimit_cpu() {
    zygote();
    let limits = WorkerLimits {
        cpu: Duration::from_millis(500),
        ..LIMITS
    };
    let pid = fork_worker(&limits, || {
        say("spinning", 1);
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_secs(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        say("survived", x);
        0
    });
    say("worker", wait(pid));
}

fn status() {
    say("zygote", std::process::id());
    let (mut zygote_end, worker_end) = UnixStream::pair().expect("socketpair");
    zygote();
    let pid = fork_worker(&LIMITS, || {
        (&worker_end).write_all(b"r").expect("write");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    drop(worker_end);
    let mut ready = [0];
    zygote_end.read_exact(&mut ready).expect("worker ready");
    say("worker_pid", pid);
    say("worker_ready", 1);
    // Wait for the parent to kill us (EOF on stdin if it does not).
    let mut sink = [0; 1];
    let _ = std::io::stdin().read(&mut sink);
}

fn prepared_net() {
    say("zygote", std::process::id());
    let (mut zygote_end, worker_end) = UnixStream::pair().expect("socketpair");
    let network = prepare_network_namespace();
    say("prepared", network.is_some());
    if let Err(e) = confine_zygote_with(network) {
        say("zygote_error", format!("{e}"));
        std::process::exit(100);
    }
    let pid = fork_worker(&LIMITS, || {
        (&worker_end).write_all(b"r").expect("write");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    drop(worker_end);
    let mut ready = [0];
    zygote_end.read_exact(&mut ready).expect("worker ready");
    say("worker_pid", pid);
    say("worker_ready", 1);
    let mut sink = [0; 1];
    let _ = std::io::stdin().read(&mut sink);
}

fn threaded() {
    let (stop, wait_stop) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = wait_stop.recv();
    });
    match confine_zygote() {
        Err(JailError::NotSingleThreaded { threads }) => {
            say("error", format!("NotSingleThreaded {threads}"))
        }
        other => say("error", format!("{other:?}")),
    }
    drop(stop);
    thread.join().expect("join");
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let nnp = status
        .lines()
        .find_map(|l| l.strip_prefix("NoNewPrivs:\t"))
        .unwrap_or("?");
    say("no_new_privs", nnp);
    match confine_worker(&LIMITS) {
        Err(JailError::WrongProcess { .. }) => say("worker_outside", "WrongProcess"),
        other => say("worker_outside", format!("{other:?}")),
    }
}

fn unprivileged() {
    // SAFETY: integer arguments only. Dumpable again after the uid change, so that
    // /proc/self/uid_map stays writable by us.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(65534) == 0
            && libc::setuid(65534) == 0
            && libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) == 0
    };
    assert!(ok, "dropping to nobody failed");
    // SAFETY: no arguments.
    say("uid", unsafe { libc::getuid() });
    let (zygote_end, worker_end) = UnixStream::pair().expect("socketpair");
    match confine_zygote() {
        Ok(()) => {}
        Err(JailError::EngineUnsupported { reason, .. }) => {
            say(
                "skipped",
                format!("no unprivileged user namespaces: {reason}"),
            );
            return;
        }
        Err(e) => {
            say("zygote_error", format!("{e:?}"));
            std::process::exit(100);
        }
    }
    let pid = fork_worker(&LIMITS, || {
        (&worker_end).write_all(b"hello").expect("write");
        0
    });
    let mut said = [0; 5];
    (&zygote_end).read_exact(&mut said).expect("read");
    say("worker_said", String::from_utf8_lossy(&said));
    say("worker", wait(pid));
}

/// Mean, median and 90th percentile.
fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (
        mean,
        values[values.len() / 2],
        values[values.len() * 9 / 10],
    )
}

fn bench(n: usize) {
    let (zygote_end, worker_end) = UnixStream::pair().expect("socketpair");
    let t = Instant::now();
    zygote();
    say(
        "zygote_us",
        format!("{:.0}", t.elapsed().as_secs_f64() * 1e6),
    );
    let mut spawn = Vec::with_capacity(n);
    let mut confine = Vec::with_capacity(n);
    let mut fork = Vec::with_capacity(n);
    for confined in [true, false] {
        for _ in 0..n {
            let start = Instant::now();
            // SAFETY: single-threaded process; the child only confines, writes and `_exit`s.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let t = Instant::now();
                if confined && confine_worker(&LIMITS).is_err() {
                    // SAFETY: ends the child at once.
                    unsafe { libc::_exit(101) };
                }
                let ns = t.elapsed().as_nanos() as u64;
                let _ = (&worker_end).write_all(&ns.to_ne_bytes());
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(0) };
            }
            let mut buf = [0; 8];
            (&zygote_end).read_exact(&mut buf).expect("worker wrote");
            let elapsed = start.elapsed().as_secs_f64() * 1e6;
            assert_eq!(wait(pid), "exit 0");
            if confined {
                spawn.push(elapsed);
                confine.push(u64::from_ne_bytes(buf) as f64 / 1e3);
            } else {
                fork.push(elapsed);
            }
        }
    }
    for (name, values) in [
        ("spawn", &mut spawn),
        ("confine", &mut confine),
        ("fork", &mut fork),
    ] {
        let (mean, median, p90) = stats(values);
        say(&format!("{name}_mean_us"), format!("{mean:.0}"));
        say(&format!("{name}_median_us"), format!("{median:.0}"));
        say(&format!("{name}_p90_us"), format!("{p90:.0}"));
    }
}
