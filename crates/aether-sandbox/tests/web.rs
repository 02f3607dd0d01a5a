//! In-process tests of the web globals (issue 18, web.rs): how their lazy stand-ins behave,
//! where `reportError` goes, and the memory of `setInterval`. What they compute is compared with
//! Node.js in the CLI's integration tests (`tests/it/web.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_host::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepError, StepSpec, run_step};
use serde_json::{Value, json};

/// Serves one entry module and records the log lines.
struct OneModule {
    source: &'static str,
    logs: Mutex<Vec<(String, String)>>,
}

impl Host for OneModule {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: self.source.into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::Log { level, message } => {
                self.logs.lock().expect("logs").push((level, message));
                Ok(HostValue::Unit)
            }
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            }),
        }
    }
}

fn run(source: &'static str, limits: Limits) -> (Result<Value, StepError>, Vec<(String, String)>) {
    let host = Arc::new(OneModule {
        source,
        logs: Mutex::new(Vec::new()),
    });
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: Value::Null,
        limits,
        sample: false,
    };
    let outcome = run_step(spec, Arc::clone(&host) as Arc<dyn Host>);
    let result = outcome
        .result
        .map(|text| serde_json::from_str(text.get()).expect("json"));
    let logs = host.logs.lock().expect("logs").clone();
    (result, logs)
}

fn ok(source: &'static str) -> Value {
    match run(source, Limits::default()).0 {
        Ok(v) => v,
        Err(e) => panic!("step failed: {e}"),
    }
}

/// Node.js's lazily loaded globals are accessors until first use; ours too (stub.js): they
/// behave as plain globals, loading them never overwrites what the plugin assigned or deleted
/// first, and they load on a frozen global object and with a polluted `Object.prototype`.
#[test]
fn issue_18_web_globals_are_lazy_plain_globals() {
    let out = ok(r#"
        export default () => {
          const before = Object.getOwnPropertyDescriptor(globalThis, "URL");
          globalThis.crypto = "mine";
          delete globalThis.performance;
          const href = new URL("https://a.test/x").href;
          const after = Object.getOwnPropertyDescriptor(globalThis, "URL");
          return [typeof before.get, after.writable, after.enumerable, after.configurable, href,
            globalThis.crypto, "performance" in globalThis, typeof structuredClone,
            Object.getOwnPropertyDescriptor(globalThis, "DOMException").writable];
        }"#);
    assert_eq!(
        out,
        json!([
            "function",
            true,
            false,
            true,
            "https://a.test/x",
            "mine",
            false,
            "function",
            true
        ])
    );
    let out = ok(r#"
        export default () => {
          Object.defineProperty(Object.prototype, "get", { value: () => 1, configurable: true });
          Object.prototype.set = () => {};
          Object.freeze(globalThis);
          const id = crypto.randomUUID();
          delete Object.prototype.get;
          delete Object.prototype.set;
          return [id.length, URL === globalThis.URL, new URLSearchParams("a=1").get("a")];
        }"#);
    assert_eq!(out, json!([36, true, "1"]));
}

// See: https://html.spec.whatwg.org/multipage/webappapis.html#dom-reporterror
#[test]
fn issue_18_report_error_goes_to_the_step_log() {
    let (result, logs) = run(
        r#"export default () => { reportError(new TypeError("reported")); return 1; }"#,
        Limits::default(),
    );
    assert_eq!(result, Ok(json!(1)));
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, "error");
    assert!(
        logs[0].1.starts_with("Uncaught TypeError: reported"),
        "{}",
        logs[0].1
    );
}

/// A pending interval is a pending timer: it counts toward the ceiling like `setTimeout`'s
/// (issue 16), and one cleared from its own callback runs no more.
#[test]
fn issue_18_intervals_count_toward_the_memory_ceiling_and_clear_themselves() {
    let limits = Limits {
        memory: 16 << 20,
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let (result, _) = run(
        "export default () => { const f = () => {}; for (;;) { setInterval(f, 1e9); } }",
        limits,
    );
    assert_eq!(result, Err(StepError::Memory { limit: 16 << 20 }));
    let out = ok(r#"
        export default async () => {
          let runs = 0;
          const id = setInterval(() => { runs++; clearInterval(id); }, 0);
          await new Promise((resolve) => setTimeout(resolve, 30));
          return runs;
        }"#);
    assert_eq!(out, json!(1));
}

/// Answers every fetch after 200 ms, counting them.
struct SlowFetches {
    source: &'static str,
    fetches: Mutex<usize>,
}

impl Host for SlowFetches {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: self.source.into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::Fetch { url, .. } => {
                *self.fetches.lock().expect("fetches") += 1;
                std::thread::sleep(Duration::from_millis(200));
                Ok(HostValue::Response {
                    status: 200,
                    status_text: "OK".into(),
                    url,
                    redirected: false,
                    headers: Vec::new(),
                    body: b"late".to_vec(),
                })
            }
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            }),
        }
    }
}

// See: https://dom.spec.whatwg.org/#abortcontroller-api-integration ("abort the ongoing
// fetch"): aborting before a queued fetch starts means it never reaches the host.
#[test]
fn issue_18_an_aborted_fetch_is_abandoned() {
    let host = Arc::new(SlowFetches {
        source: r#"export default async () => {
          const ac = new AbortController();
          const all = Array.from({ length: 12 }, () => fetch("https://slow.test/", { signal: ac.signal }));
          ac.abort();
          const settled = await Promise.allSettled(all);
          // Long enough for the running fetches to end and any queued one to start and end.
          await new Promise((resolve) => setTimeout(resolve, 700));
          return settled.map((r) => r.status + ":" + r.reason.name);
        }"#,
        fetches: Mutex::new(0),
    });
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: Value::Null,
        limits: Limits::default(),
        sample: false,
    };
    let outcome = run_step(spec, Arc::clone(&host) as Arc<dyn Host>);
    let out: Value = serde_json::from_str(outcome.result.expect("step").get()).expect("json");
    assert_eq!(out, json!(vec!["rejected:AbortError"; 12]));
    // Eight were running (MAX_IN_FLIGHT); the four queued behind them were never made.
    assert_eq!(*host.fetches.lock().expect("fetches"), 8);
}

/// A blob's bytes are in the engine's heap: under the plugin's ceiling (issue 18 item 4).
#[test]
fn issue_18_blob_bytes_count_toward_the_memory_ceiling() {
    let limits = Limits {
        memory: 16 << 20,
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let (result, _) = run(
        r#"export default async () => {
          const chunk = new Uint8Array(1 << 20);
          const blobs = [];
          for (;;) blobs.push(new Blob([chunk, "x"]));
        }"#,
        limits,
    );
    assert_eq!(result, Err(StepError::Memory { limit: 16 << 20 }));
}
