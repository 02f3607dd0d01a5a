//! The library as a host uses it (issue 21): one `Sandbox`, one verified plugin, many calls,
//! each in a fresh engine instance with its own events; and the example webhook host.
#![allow(
    clippy::unwrap_used,
    reason = "test set-up: a failure should panic with its cause"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aether::{CallContext, CallError, Capability, Decision, Sandbox};

#[path = "../examples/webhook.rs"]
mod webhook;

/// A workspace with a policy and the plugin `hook`: it counts its calls in a global (always 1
/// in a fresh instance), echoes its input's `event`, and reads `HOME` when asked (not granted:
/// a violation).
fn workspace(dir: &Path) {
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "aether-policy.toml",
        "[env]\nallow = [\"HOOK_*\"]\n\n[limits]\nmax_memory = \"64MiB\"\nmax_timeout = \"10s\"\n",
    );
    write(
        "hook/aether-plugin.json",
        r#"{ "name": "hook", "version": "1.0.0", "permissions": { "env": ["HOOK_*"] } }"#,
    );
    write(
        "hook/index.js",
        "export default (input, ctx) => {\n  globalThis.calls = (globalThis.calls ?? 0) + 1;\n  if (input.snoop) aether.env.get('HOME');\n  return { event: input.event, calls: globalThis.calls, step: ctx.step };\n};\n",
    );
}

/// Counts the events handed to the sandbox's subscriber.
#[derive(Default)]
struct Count {
    events: AtomicU64,
    violations: AtomicU64,
}

impl aether::Subscriber for Count {
    fn event(&self, event: &aether::Event) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if event.decision.is_violation() {
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// See: issue 21, "Done when" 2 (1,000 plugin calls through one `Sandbox`); SPEC §5 (each
// call a fresh engine instance).
#[test]
fn issue_21_one_sandbox_many_calls_each_in_a_fresh_instance() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let count = Arc::new(Count::default());
    let sandbox = Sandbox::builder()
        .workspace(dir.path())
        .policy_file(dir.path().join("aether-policy.toml"))
        .subscriber(count.clone())
        .build()
        .unwrap();
    let plugin = sandbox.load_plugin(dir.path().join("hook")).unwrap();
    assert_eq!(plugin.manifest().name, "hook");
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let out = plugin
            .call(&serde_json::json!({ "event": i }), &CallContext::default())
            .unwrap();
        let value: serde_json::Value = out.value().unwrap();
        assert_eq!(value["event"], i);
        assert_eq!(value["calls"], 1, "call {i} saw state of an earlier call");
        assert_eq!(value["step"], format!("call-{}", i + 1));
    }
    eprintln!("1000 calls in {:?}", started.elapsed());

    // A violation is the call's own, and goes to the subscriber.
    let err = plugin
        .call(
            &serde_json::json!({ "snoop": true }),
            &CallContext::step("s"),
        )
        .unwrap_err();
    let CallError::Plugin { events, .. } = err else {
        panic!("{err:?}")
    };
    assert!(events.iter().any(|k| k.event.capability == Capability::Env
        && k.event.decision == Decision::Denied
        && k.event.step == "s"));
    assert_eq!(count.violations.load(Ordering::Relaxed), 1);
}

/// The async form is the blocking form's result, on any executor (here a minimal one).
#[test]
fn issue_21_async_call() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let sandbox = Sandbox::builder().workspace(dir.path()).build().unwrap();
    let plugin = sandbox.load_plugin(dir.path().join("hook")).unwrap();
    let futures: Vec<_> = (0..4)
        .map(|i| plugin.call_async(&serde_json::json!({ "event": i }), &CallContext::default()))
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        let out = block_on(f).unwrap();
        assert_eq!(out.value::<serde_json::Value>().unwrap()["event"], i);
    }
}

/// A plugin that asks for more than the policy allows is refused at load, with every excess.
#[test]
fn issue_21_load_plugin_refuses_an_excess() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    std::fs::write(
        dir.path().join("hook/aether-plugin.json"),
        r#"{ "name": "hook", "version": "1.0.0", "permissions": { "env": ["SECRET_*"], "network": { "domains": ["example.com"] } } }"#,
    )
    .unwrap();
    let sandbox = Sandbox::builder()
        .workspace(dir.path())
        .policy_file(dir.path().join("aether-policy.toml"))
        .build()
        .unwrap();
    let Err(aether::PluginError::Invalid { findings, .. }) =
        sandbox.load_plugin(dir.path().join("hook"))
    else {
        panic!("the excess was not refused")
    };
    let capabilities: Vec<_> = findings.iter().filter_map(|f| f.capability).collect();
    assert!(capabilities.contains(&Capability::Env), "{findings:?}");
    assert!(capabilities.contains(&Capability::Network), "{findings:?}");
}

/// A policy built in code and one parsed from text go through the same checks; text errors
/// come back with their positions.
#[test]
fn issue_21_policy_in_code_and_from_text_validate_alike() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let text = std::fs::read_to_string(dir.path().join("aether-policy.toml")).unwrap();
    let policy = aether::parse_policy("aether-policy.toml", &text, dir.path()).unwrap();
    let from_text = Sandbox::builder()
        .workspace(dir.path())
        .policy(policy)
        .build()
        .unwrap();
    assert!(from_text.load_plugin(dir.path().join("hook")).is_ok());
    // The default policy grants no environment variable: the plugin's `env` is an excess.
    let in_code = Sandbox::builder()
        .workspace(dir.path())
        .policy(aether::Policy::default())
        .build()
        .unwrap();
    let Err(aether::PluginError::Invalid { findings, .. }) =
        in_code.load_plugin(dir.path().join("hook"))
    else {
        panic!("the excess was not refused")
    };
    assert_eq!(findings[0].capability, Some(Capability::Env));
    let errors = aether::parse_policy("p.toml", "[env]\nallow = 3\n", dir.path()).unwrap_err();
    assert_eq!(errors[0].loc.map(|l| l.line), Some(2), "{errors:?}");
}

/// A pipeline run through the library: the report has the `--output json` data, and the
/// subscriber saw the steps.
#[test]
fn issue_21_workspace_run_reports_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    aether::doc_fixture(dir.path()).unwrap();
    let ws = aether::Workspace::load(dir.path().join("pipeline.yaml"), Default::default()).unwrap();
    let (subscriber, events) = aether::ChannelSubscriber::new();
    let report = ws
        .run(aether::RunOptions::default().subscriber(Arc::new(subscriber)))
        .unwrap()
        .wait();
    assert!(report.succeeded());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["steps"][0]["output"]["greeting"], "hello, world");
    assert_eq!(json["status"], "succeeded");
    let seen: Vec<_> = events.try_iter().collect();
    assert!(
        seen.iter()
            .any(|e| matches!(e, aether::RunEvent::StepStarted { step, .. } if step == "greet"))
    );

    // Cancelled before it starts: the step fails without running.
    let run = ws.run(aether::RunOptions::default()).unwrap();
    run.cancel_token().cancel();
    let report = run.wait();
    assert!(!report.succeeded());
    assert_eq!(
        report.steps[0].error.as_deref(),
        Some(aether::runner::CANCELLED)
    );
}

// See: issue 21, "What to build" 3 (an example host, a small HTTP webhook service that runs a
// plugin per request under a policy, run by a test) and "Done when" 2 (1,000 calls).
#[test]
fn issue_21_webhook_example_serves_a_thousand_requests() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let plugin = webhook::load(
        dir.path().join("hook").to_str().unwrap(),
        dir.path().join("aether-policy.toml").to_str().unwrap(),
        aether::Tier::Thread,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    const REQUESTS: usize = 1000;
    let server = std::thread::spawn(move || webhook::serve(listener, plugin, Some(REQUESTS + 2)));
    let post = move |body: &str| -> (u16, serde_json::Value) {
        let mut s = TcpStream::connect(address).unwrap();
        write!(
            s,
            "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        (status, serde_json::from_str(body).unwrap())
    };
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                for i in (c..REQUESTS).step_by(4) {
                    let (status, body) = post(&format!(r#"{{"event":{i}}}"#));
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(body["event"], i);
                    assert_eq!(body["calls"], 1);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (status, body) = post(r#"{"snoop":true}"#);
    assert_eq!(status, 403, "{body}");
    let (status, _) = post("not json");
    assert_eq!(status, 400);
    server.join().unwrap().unwrap();
}

/// Polls a future to completion on this thread.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The example host's binary (cargo builds examples for `cargo test`), beside this test's
/// executable: `target/<profile>/examples/webhook`.
fn webhook_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    profile.join("examples").join("webhook")
}

// A host that calls `aether::run_zygote_if_asked()` first in `main` gets the process tier: each
// call in a confined worker of its own (here also what the policy's `[isolation]` asks). A test
// binary cannot be the zygote, so this runs the example host's own binary.
// See: issue 21, "What to build" 1 (`Sandbox::builder()...tier(..)`), SPEC §6.
#[test]
fn issue_21_the_example_host_runs_calls_in_the_process_tier() {
    let binary = webhook_binary();
    if !binary.exists() {
        panic!(
            "{} is missing: build the examples (`cargo test -p aether` does)",
            binary.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let policy = dir.path().join("aether-policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!("{text}\n[isolation]\ndefault = \"process\"\n"),
    )
    .unwrap();
    // A free port: bound, read, released, then given to the host.
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut host = std::process::Command::new(&binary)
        .arg(dir.path().join("hook"))
        .arg(&policy)
        .arg(address.to_string())
        .arg("process")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let post = |body: &str| -> Option<(u16, serde_json::Value)> {
        let mut s = TcpStream::connect(address).ok()?;
        write!(
            s,
            "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.get(9..12)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n")?.1;
        Some((status, serde_json::from_str(body).ok()?))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let first = loop {
        if let Some(answer) = post(r#"{"event":0}"#) {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the host never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let results: Vec<_> = std::iter::once(Some(first))
        .chain((1..20).map(|i| post(&format!(r#"{{"event":{i}}}"#))))
        .collect();
    let snoop = post(r#"{"snoop":true}"#);
    host.kill().unwrap();
    let output = host.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (i, answer) in results.into_iter().enumerate() {
        let (status, body) = answer.unwrap_or_else(|| panic!("call {i} failed: {stderr}"));
        assert_eq!(status, 200, "{body} {stderr}");
        assert_eq!(body["event"], i);
        assert_eq!(body["calls"], 1, "each call in a fresh instance");
    }
    let (status, _) = snoop.unwrap();
    assert_eq!(status, 403, "{stderr}");
}
