//! In-process tests of the web globals (issue 18, web.rs): how their lazy stand-ins behave,
//! where `reportError` goes, and the memory of `setInterval`. What they compute is compared with
//! Node.js in the CLI's integration tests (`tests/it/web.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_policy::ByteSize;
use aether_protocol::{Host, HostError, HostRequest, HostValue};
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

/// The web globals are made on first use (lazy.rs) but behave as plain globals: a data property
/// as WebIDL defines interface objects, loading them never overwrites what the plugin assigned
/// or deleted first, and they load on a frozen global object and with a polluted
/// `Object.prototype`.
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
            "undefined",
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
        memory: ByteSize::mib(16),
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
        memory: ByteSize::mib(16),
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

// See: https://webidl.spec.whatwg.org/#es-interfaces ("the property has the attributes
// { [[Writable]]: true, [[Enumerable]]: false, [[Configurable]]: true }"); issue 18 item 3.
/// Every lazy global (lazy.rs) is listed and found by `in` before its first use without being
/// made (no script loads: a replaced `Object.defineProperty`, which web.js's setup calls, is not
/// called), and is then a data property whose value is the global itself, as in browsers and
/// Deno. Before issue 18 item 3 each was an accessor with a getter function of its own.
#[test]
fn issue_18_lazy_globals_are_data_properties_made_on_first_use() {
    let out = ok(r#"
        export default () => {
          const names = ["TextEncoder", "TextDecoder", "Headers", "Response", "Request", "Blob",
            "File", "FormData", "Event", "EventTarget", "AbortController", "AbortSignal", "URL",
            "URLSearchParams", "DOMException", "structuredClone", "crypto", "performance",
            "navigator", "reportError"];
          const define = Object.defineProperty;
          let loads = 0;
          Object.defineProperty = function (...args) { loads++; return Reflect.apply(define, this, args); };
          const own = Object.getOwnPropertyNames(globalThis);
          const listed = names.every((n) => own.includes(n) && n in globalThis);
          const loadsBefore = loads;
          Object.defineProperty = define;
          const shapes = names.map((n) => {
            const d = Object.getOwnPropertyDescriptor(globalThis, n);
            return [n, "get" in d, d.value === globalThis[n], d.writable, d.enumerable, d.configurable].join();
          });
          return [listed, loadsBefore, ...new Set(shapes.map((s) => s.replace(/^\w+,/, "")))];
        }"#);
    assert_eq!(out, json!([true, 0, "false,true,true,false,true"]));
}

// See: https://github.com/nodejs/node/blob/v22.0.0/lib/internal/util.js (defineLazyProperties:
// a lazily loaded global the plugin overwrites or deletes first stays overwritten or deleted).
/// Plugin code that runs while a lazy global is being made (here a replaced
/// `Object.defineProperty`, which web.js's setup calls) may reshape the global object (thousands
/// of new properties, which reallocates its property table), replace or delete the very global
/// being made, and touch it again (a nested load): the engine looks the property up again after
/// the load (patch 0003), so the plugin's change wins and nothing dangles.
#[test]
fn issue_18_a_lazy_global_survives_plugin_code_reshaping_the_global_object_during_its_load() {
    let out = ok(r#"
        export default () => {
          const define = Object.defineProperty;
          let inside = 0;
          Object.defineProperty = function (...args) {
            if (inside++ === 0) {
              for (let i = 0; i < 5000; i++) globalThis["extra" + i] = i;
              globalThis.crypto = "mine";
              delete globalThis.performance;
              void globalThis.Blob;
            }
            return Reflect.apply(define, this, args);
          };
          const url = new URL("https://a.test/p").pathname;
          Object.defineProperty = define;
          return [url, globalThis.crypto, "performance" in globalThis, typeof Blob,
                  new Blob(["ab"]).size, globalThis.extra4999, URL === globalThis.URL];
        }"#);
    assert_eq!(out, json!(["/p", "mine", false, "function", 2, 4999, true]));
}
