//! A soak test of aether itself (issue 16): hostile plugins each doing one thing in a loop for
//! their whole timeout, in both tiers at once, while aether's own peak memory and the bytes it
//! writes are measured against stated bounds (bounds, not times: this is no benchmark).
//!
//! The bounds (also in SECURITY.md): aether's peak RSS stays below the sum of the running
//! steps' memory ceilings plus 256 MiB; everything it writes (stdout, stderr, the audit
//! directory) stays below 16 MiB of log per step plus `--audit-limit` per step plus 4 MiB.
#![allow(unsafe_code, reason = "wait4 reads the peak RSS of the aether process")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::Ws;
use crate::fetch::Server;
use crate::listen::free_port;

/// Each behaviour, as the body of a loop that runs until the step's timeout.
const LOOPS: [(&str, &str); 7] = [
    (
        "huge-targets",
        r#"const big = "T".repeat(1 << 20); for (let i = 0; ; i++) { try { aether.env.get(big + i); } catch {} }"#,
    ),
    (
        "distinct-targets",
        r#"for (let i = 0; ; i++) { try { aether.fs.readText("/nope/" + i); } catch {} }"#,
    ),
    (
        "timers",
        r#"const f = () => {}; for (;;) setTimeout(f, 1e9);"#,
    ),
    (
        "promises",
        r#"for (;;) { new Promise(() => {}); fetch("http://denied.example/" + Math.random()).catch(() => {}); }"#,
    ),
    (
        "console",
        r#"const line = "C".repeat(4096); for (;;) console.log(line);"#,
    ),
    (
        "inbound",
        r#"const server = aether.listen({ hostname: "127.0.0.1", port: PORT }); for (;;) { const req = await server.accept(); if (req) req.respond(200, {}, "x".repeat(1000)); }"#,
    ),
    (
        "fetches",
        r#"for (;;) { try { await (await fetch("http://127.0.0.1:FETCH/big")).text(); } catch {} }"#,
    ),
];

/// Steps running at once, their ceiling, and their timeout.
const CEILING_MIB: u64 = 32;
const TIMEOUT: &str = "3s";
const AUDIT_LIMIT_MIB: u64 = 1;

fn soak(isolation: &str) {
    let ws = Ws::new();
    let server = Server::start();
    let port = free_port();
    let mut pipeline = String::from("name: soak\npolicy: ./aether-policy.toml\nsteps:\n");
    for (name, body) in LOOPS {
        let body = body
            .replace("PORT", &port.to_string())
            .replace("FETCH", &server.port.to_string());
        ws.js_plugin(
            name,
            &format!(
                r#"{{"name": "{name}", "version": "1.0.0",
                    "permissions": {{"network": {{"domains": ["127.0.0.1:{}"], "listen": ["127.0.0.1:{port}"]}}}},
                    "limits": {{"memory": "{CEILING_MIB}MiB", "timeout": "{TIMEOUT}"}}}}"#,
                server.port
            ),
            &format!("export default async () => {{ {body} }};\n"),
        );
        pipeline.push_str(&format!("  - id: {name}\n    plugin: ./plugins/{name}\n"));
    }
    ws.write("pipeline.yaml", &pipeline);
    ws.write(
        "aether-policy.toml",
        &format!(
            "[network]\ndomains = [\"127.0.0.1:{}\"]\nallow_private = [\"127.0.0.1/32\"]\nlisten = [\"127.0.0.1:{port}\"]\n[isolation]\ndefault = \"{isolation}\"\nhigh_risk = \"{isolation}\"\n",
            server.port
        ),
    );

    // A client hammering the listener for the whole run.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ =
                        s.write_all(b"GET /soak HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    let _ = s.read_to_end(&mut Vec::new());
                } else {
                    thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };

    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which gives its rusage"
    )]
    let mut child = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args([
            "run",
            "pipeline.yaml",
            "--jobs=7",
            "--output=json",
            "--inspect-security=audit",
            &format!("--audit-limit={AUDIT_LIMIT_MIB}MiB"),
        ])
        .current_dir(ws.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let count = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).unwrap();
            text
        })
    };
    let stdout = count(Box::new(child.stdout.take().unwrap()));
    let stderr = count(Box::new(child.stderr.take().unwrap()));
    let pid = i32::try_from(child.id()).unwrap();
    // aether's own high-water mark (`VmHWM`, per address space: it starts afresh at exec),
    // sampled while it runs. `ru_maxrss` below can be larger than aether ever was: Linux
    // counts the forking process's resident set at the fork (the test binary, with every other
    // test of this process running), since exec records the old address space's mark.
    let sampled = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
                let hwm = status.ok().and_then(|text| {
                    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                });
                peak = peak.max(hwm.unwrap_or(0) * 1024);
                thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which `child` no longer reaps after this.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let stderr_text = String::from_utf8_lossy(&stderr);
    assert!(!stderr_text.contains("panicked"), "{stderr_text}");

    // Every step ran until stopped, and aether survived to report it.
    let run: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    for step in run["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "failed", "{step}");
        let error = step["error"].as_str().unwrap();
        assert!(
            error.contains("timeout of 3s exceeded") || error.contains("memory limit"),
            "{}: {error}",
            step["id"]
        );
    }

    let steps = LOOPS.len() as u64;
    let rss_bound = (steps * CEILING_MIB + 256) << 20;
    let peak_rss = match u64::try_from(usage.ru_maxrss).unwrap() * 1024 {
        // An upper bound of aether's peak: below the bound, nothing more to know.
        maxrss if maxrss < rss_bound => maxrss,
        _ => {
            let sampled = sampled.join().unwrap();
            // No sample would make the bound below unfailable.
            assert!(
                sampled > 0,
                "{isolation} tier: aether's VmHWM was never read"
            );
            sampled
        }
    };
    assert!(
        peak_rss < rss_bound,
        "{isolation} tier: aether's peak RSS {} MiB, bound {} MiB",
        peak_rss >> 20,
        rss_bound >> 20
    );
    let audit: u64 = std::fs::read_dir(ws.path().join("audit"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let written = audit + stdout.len() as u64 + stderr.len() as u64;
    let written_bound = (16 + steps * AUDIT_LIMIT_MIB + 4) << 20;
    assert!(
        written < written_bound,
        "{isolation} tier: aether wrote {} MiB, bound {} MiB",
        written >> 20,
        written_bound >> 20
    );
    eprintln!(
        "soak, {isolation} tier: peak RSS {} MiB (bound {}), wrote {} KiB (bound {} MiB)",
        peak_rss >> 20,
        rss_bound >> 20,
        written >> 10,
        written_bound >> 20
    );
}

// See: issue 16 ("aether itself stays bounded ... whatever a plugin does").
#[test]
fn issue_16_soak_in_the_thread_tier() {
    soak("thread");
}

#[test]
fn issue_16_soak_in_the_process_tier() {
    soak("process");
}
