//! The process isolation tier end to end (issue 5): same results as the thread tier, a kill
//! that works whatever the engine is doing, confinement visible in `/proc`, and no worker
//! outliving its step or aether itself.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{error, output, run};

/// A plugin exercising modules, files (read, write through the overlay), env, console, timers
/// and a denial, so that both tiers can be compared on everything that crosses the host API.
const EVERYTHING: &str = r#"
import { twice } from "./lib.js";
export default async (input, ctx) => {
  console.log("step", ctx.step);
  const text = aether.fs.readText("data/in.txt");
  aether.fs.mkdir("out");
  aether.fs.writeText(`out/${ctx.step}.txt`, twice(text));
  let denied = null;
  try { aether.fs.readText("/etc/hostname"); } catch (e) { denied = [e.name, e.capability]; }
  await new Promise((resolve) => setTimeout(resolve, 5));
  const bytes = aether.fs.readBytes(`out/${ctx.step}.txt`);
  return { text, denied, n: input.n, bytes: bytes.length, list: aether.fs.list("data"),
           env: aether.env.get("AETHER_IT_TIER") ?? null };
};
"#;

fn workspace(isolation: &str) -> Ws {
    let ws = Ws::new();
    ws.write("data/in.txt", "hello\n");
    ws.write(
        "plugins/all/aether-plugin.json",
        &json!({
            "name": "all", "version": "1.0.0",
            "permissions": {
                "filesystem": { "read": ["./data/**", "./out/**"], "write": ["./out/**"] },
                "env": ["AETHER_IT_TIER"],
            },
        })
        .to_string(),
    );
    ws.write("plugins/all/index.js", EVERYTHING);
    ws.write("plugins/all/lib.js", "export const twice = (s) => s + s;\n");
    ws.write(
        "aether-policy.toml",
        &format!(
            "[filesystem]\nread = [\"./data/**\", \"./out/**\"]\nwrite = [\"./out/**\"]\n[env]\nallow = [\"AETHER_IT_TIER\"]\n[isolation]\ndefault = \"{isolation}\"\n"
        ),
    );
    ws.write(
        "pipeline.yaml",
        "name: tiers\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/all\n    with: { n: 1 }\n  - id: b\n    plugin: ./plugins/all\n    needs: [a]\n    with: { n: \"${{ steps.a.output.n }}\" }\n",
    );
    ws
}

#[test]
fn a_pipeline_gives_the_same_results_in_both_tiers() {
    let mut results = Vec::new();
    for tier in ["thread", "process"] {
        let ws = workspace(tier);
        let out = ws.aether_env(
            &["run", "pipeline.yaml", "--output", "json"],
            &[("AETHER_IT_TIER", "visible")],
        );
        out.no_panic();
        assert_eq!(out.code, Some(0), "{tier}: {}", out.stderr);
        let v = out.json();
        results.push((output(&v, "a").clone(), output(&v, "b").clone()));
        // The run really used the tier under test.
        let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
        assert_eq!(check.json()["steps"][0]["tier"], tier);
        assert_eq!(
            std::fs::read_to_string(ws.path().join("out/b.txt")).unwrap(),
            "hello\nhello\n"
        );
        assert!(out.stderr.contains("step a"), "{tier}: {}", out.stderr);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(
        results[1].0["denied"],
        json!(["PermissionDenied", "filesystem.read"])
    );
    assert_eq!(results[1].0["env"], "visible");
}

/// Processes started as a zygote, or forked from one: `(pid, ppid)`.
fn zygote_family() -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains("__aether-zygote") {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        found.push((pid, ppid));
    }
    found
}

fn sleeper(ws: &Ws, seconds: u32) {
    ws.write(
        "plugins/sleep/aether-plugin.json",
        r#"{ "name": "sleep", "version": "1.0.0", "limits": { "timeout": "60s" } }"#,
    );
    ws.write(
        "plugins/sleep/index.js",
        &format!("export default () => new Promise((r) => setTimeout(r, {seconds}000));\n"),
    );
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    ws.write(
        "pipeline.yaml",
        "name: s\npolicy: ./aether-policy.toml\nsteps:\n  - id: s\n    plugin: ./plugins/sleep\n",
    );
}

/// Polls (up to 10 s) until `done` holds; the bound only keeps a broken build from hanging.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let stop = Instant::now() + Duration::from_secs(10);
    while Instant::now() < stop {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A worker (and the zygote) die with aether, even when aether is killed outright
/// (`PR_SET_PDEATHSIG`): no orphan keeps running plugin code.
#[test]
fn no_worker_outlives_a_killed_aether() {
    let ws = Ws::new();
    sleeper(&ws, 30);
    let bin = env!("CARGO_BIN_EXE_aether");
    let mut aether = Command::new(bin)
        .args(["run", "pipeline.yaml"])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = aether.id();
    let mut family = Vec::new();
    // The same single worker seen by two successive looks: a process the zygote forks for a
    // moment (or one seen between two reads of /proc) is not the step's worker.
    let mut seen: Option<u32> = None;
    let mut worker = None;
    assert!(
        eventually(|| {
            family = zygote_family()
                .into_iter()
                .filter(|&(_, ppid)| ppid == me)
                .collect();
            let zygote = family.first().map(|&(pid, _)| pid);
            let workers: Vec<u32> = zygote_family()
                .into_iter()
                .filter(|&(_, ppid)| Some(ppid) == zygote)
                .map(|(pid, _)| pid)
                .collect();
            let now = (workers.len() == 1).then(|| workers[0]);
            if now.is_some() && now == seen {
                worker = now;
            }
            seen = now;
            worker.is_some()
        }),
        "no worker appeared"
    );
    let zygote = family[0].0;
    let worker = worker.unwrap();
    aether.kill().unwrap();
    aether.wait().unwrap();
    // By pid: an orphaned worker would be re-parented and drop out of any parent-based view.
    let gone = |pid: u32| {
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| s.contains("State:\tZ"))
    };
    assert!(
        eventually(|| gone(zygote) && gone(worker)),
        "the zygote {zygote} or its worker {worker} survived aether"
    );
}

/// The stall the issue measured in the thread tier (a native call that ignores the interrupt
/// handler): in the process tier the worker is killed at the deadline. The bound is loose on
/// purpose (a busy CI machine); it fails on a stall of seconds, not on scheduling jitter.
#[test]
fn a_stuck_native_call_is_killed_at_the_deadline() {
    let ws = Ws::new();
    ws.write(
        "plugins/stall/aether-plugin.json",
        r#"{ "name": "stall", "version": "1.0.0", "limits": { "timeout": "1s", "memory": "1GiB" } }"#,
    );
    ws.write(
        "plugins/stall/index.js",
        "export default () => {\n  let o = { v: 'x' };\n  for (let i = 0; i < 40; i++) o = { a: o, b: o };\n  return JSON.stringify(o).length;\n};\n",
    );
    ws.write(
        "aether-policy.toml",
        "[isolation]\ndefault = \"process\"\n[limits]\nmax_memory = \"1GiB\"\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: s\npolicy: ./aether-policy.toml\nsteps:\n  - id: s\n    plugin: ./plugins/stall\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(error(&v, "s"), "timeout of 1s exceeded");
    let took = v["steps"][0]["duration_ms"].as_u64().unwrap();
    assert!(took < 2000, "took {took} ms");
    assert!(out.stderr.contains("limit.timeout"), "{}", out.stderr);
}

#[test]
fn a_memory_hog_is_stopped_at_its_ceiling_in_a_worker() {
    let ws = Ws::new();
    ws.write(
        "plugins/hog/aether-plugin.json",
        r#"{ "name": "hog", "version": "1.0.0", "limits": { "memory": "64MiB" } }"#,
    );
    ws.write(
        "plugins/hog/index.js",
        "export default () => { const a = []; for (;;) a.push(new Array(1 << 16).fill(1.5)); };\n",
    );
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    ws.write(
        "pipeline.yaml",
        "name: h\npolicy: ./aether-policy.toml\nsteps:\n  - id: h\n    plugin: ./plugins/hog\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(error(&v, "h"), "memory limit of 64 MiB exceeded");
    let peak = v["steps"][0]["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak > 0, "the kernel's accounting: {v:#}");
}

#[test]
fn check_shows_each_steps_tier() {
    let ws = workspace("thread");
    ws.write(
        "pipeline.yaml",
        "name: tiers\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/all\n  - id: b\n    plugin: ./plugins/all\n    isolation: process\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    out.no_panic();
    // The plugin reads `/etc/hostname` on purpose (a denial to compare): a code finding.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v: Value = out.json();
    let tiers: Vec<(&str, &str)> = v["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {v:#}"))
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["tier"].as_str().unwrap()))
        .collect();
    assert_eq!(tiers, [("a", "thread"), ("b", "process")]);
}

/// The zygote and its worker run confined before any plugin code: seccomp filter mode,
/// `no_new_privs`, no capability, and a network namespace of their own.
#[test]
fn workers_are_confined_as_proc_shows() {
    let ws = Ws::new();
    sleeper(&ws, 3);
    let mut aether = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["run", "pipeline.yaml"])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = aether.id();
    let mut pair = None;
    assert!(
        eventually(|| {
            let family = zygote_family();
            let zygote = family
                .iter()
                .find(|&&(_, ppid)| ppid == me)
                .map(|&(pid, _)| pid);
            let worker = family
                .iter()
                .find(|&&(_, ppid)| Some(ppid) == zygote)
                .map(|&(pid, _)| pid);
            pair = zygote.zip(worker);
            // A worker just forked confines itself before it reads its step: wait for that.
            pair.is_some_and(|(_, w)| {
                std::fs::read_to_string(format!("/proc/{w}/status")).is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("Seccomp:") && l.ends_with('2'))
                })
            })
        }),
        "no confined worker appeared"
    );
    let (zygote, worker) = pair.unwrap();
    let own_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    for pid in [zygote, worker] {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(field("Seccomp:"), "2", "{pid}: {status}");
        assert_eq!(field("NoNewPrivs:"), "1", "{pid}: {status}");
        assert_eq!(field("CapEff:"), "0000000000000000", "{pid}: {status}");
        let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        assert_ne!(net, own_net, "{pid} shares aether's network namespace");
    }
    let _ = aether.kill();
    let _ = aether.wait();
}

/// Slow host calls cross the socket too: a worker's `fetch` goes through aether's gateway (the
/// worker itself has no network at all) and its `aether.process.run` child is started by
/// aether, under the same grants as in the thread tier.
#[test]
fn fetch_and_child_processes_work_from_a_worker() {
    let server = crate::fetch::Server::start();
    let port = server.port;
    let ws = Ws::new();
    ws.write(
        "plugins/net/aether-plugin.json",
        &json!({
            "name": "net", "version": "1.0.0",
            "permissions": {
                "network": { "domains": [format!("127.0.0.1:{port}")] },
                "process": { "commands": ["/bin/sh"] },
            },
        })
        .to_string(),
    );
    ws.write(
        "plugins/net/index.js",
        &format!(
            "export default async () => {{\n  const [res, child] = await Promise.all([\n    fetch('http://127.0.0.1:{port}/ok'),\n    aether.process.run('/bin/sh', ['-c', 'echo from-child']),\n  ]);\n  return {{ text: await res.text(), child: child.stdout }};\n}};\n"
        ),
    );
    ws.write(
        "aether-policy.toml",
        &format!(
            "[network]\ndomains = [\"127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.1/32\"]\n[process]\ncommands = [\"/bin/sh\"]\n"
        ),
    );
    ws.write(
        "pipeline.yaml",
        "name: n\npolicy: ./aether-policy.toml\nsteps:\n  - id: n\n    plugin: ./plugins/net\n",
    );
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(check.json()["steps"][0]["tier"], "process", "high risk");
    let (_, v) = run(&ws);
    assert_eq!(
        output(&v, "n"),
        &json!({ "text": "hello", "child": "from-child\n" })
    );
    assert_eq!(server.hits(), 1);
}
