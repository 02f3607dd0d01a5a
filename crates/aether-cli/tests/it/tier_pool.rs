//! The process tier's pool (issue 23): workers forked and confined ahead of their step, one per
//! job slot and never more than the run's steps still need, handed over with the step's own
//! limits, and none left alive after the run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Ws;

/// The zygote started by `aether` (pid `parent`) and the workers it forked: `(zygote, workers)`.
pub(crate) fn family(parent: u32) -> Option<(u32, Vec<u32>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("__aether-zygote") {
            continue;
        }
        let ppid = field(pid, "PPid:")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        all.push((pid, ppid));
    }
    let zygote = all.iter().find(|&&(_, ppid)| ppid == parent)?.0;
    let workers = all
        .iter()
        .filter(|&&(_, ppid)| ppid == zygote)
        .map(|&(pid, _)| pid)
        .collect();
    Some((zygote, workers))
}

/// A field of `/proc/PID/status`, trimmed.
pub(crate) fn field(pid: u32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
}

/// Whether `pid` has exited (gone, or a zombie not yet reaped).
pub(crate) fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || field(pid, "State:").is_some_and(|s| s.starts_with('Z'))
}

/// Polls (up to 10 s) until `done` holds; the bound only keeps a broken build from hanging.
pub(crate) fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let stop = Instant::now() + Duration::from_secs(10);
    while Instant::now() < stop {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn sleepy_workspace(pipeline: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/sleep/aether-plugin.json",
        r#"{ "name": "sleep", "version": "1.0.0", "limits": { "timeout": "60s", "memory": "64MiB" } }"#,
    );
    ws.write(
        "plugins/sleep/index.js",
        "export default (i) => new Promise((r) => setTimeout(() => r(i.ms), i.ms));\n",
    );
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    ws.write("pipeline.yaml", pipeline);
    ws
}

/// While a step runs, the next step's worker already waits, forked and confined (seccomp,
/// `no_new_privs`): its step starts with a hand-over, not a fork. No worker outlives the run.
#[test]
fn issue_23_the_next_steps_worker_waits_forked_and_confined() {
    let ws = sleepy_workspace(
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/sleep\n    with: { ms: 3000 }\n  - id: b\n    plugin: ./plugins/sleep\n    needs: [a]\n    with: { ms: 1 }\n",
    );
    let mut aether = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["run", "pipeline.yaml", "--jobs", "1"])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = aether.id();
    let mut seen = Vec::new();
    let confined = |pid: u32| {
        field(pid, "Seccomp:").as_deref() == Some("2")
            && field(pid, "NoNewPrivs:").as_deref() == Some("1")
    };
    let two = eventually(|| {
        let Some((zygote, workers)) = family(me) else {
            return false;
        };
        seen = workers.clone();
        seen.push(zygote);
        workers.len() == 2 && workers.iter().all(|&w| confined(w))
    });
    let status = aether.wait().unwrap();
    assert!(
        two,
        "no second, confined worker during the first step: {seen:?}"
    );
    assert!(status.success(), "{status:?}");
    assert!(
        eventually(|| seen.iter().all(|&pid| gone(pid))),
        "a worker or the zygote outlived the run: {seen:?}"
    );
}

/// A worker forked ahead runs its step held to the step's own limits, set from outside before
/// the step starts: `RLIMIT_AS` = ceiling + 1 GiB, `RLIMIT_CPU` = timeout + 2 s, soft and hard.
#[test]
fn a_pooled_worker_runs_under_its_steps_limits() {
    let ws = sleepy_workspace(
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/sleep\n    with: { ms: 3000 }\n",
    );
    let mut aether = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["run", "pipeline.yaml", "--jobs", "1"])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = aether.id();
    let expected_as = (64u64 << 20) + (1u64 << 30);
    let mut limits = String::new();
    let held = eventually(|| {
        let Some((_, workers)) = family(me) else {
            return false;
        };
        let [worker] = workers[..] else {
            return false;
        };
        limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).unwrap_or_default();
        let row = |name: &str| -> Vec<String> {
            limits
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| {
                    l[name.len()..]
                        .split_whitespace()
                        .take(2)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        row("Max address space") == [expected_as.to_string(), expected_as.to_string()]
            && row("Max cpu time") == ["62", "62"]
    });
    let _ = aether.kill();
    let _ = aether.wait();
    assert!(
        held,
        "the step's worker is not held to its limits:\n{limits}"
    );
}
