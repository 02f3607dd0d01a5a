//! In-process tests of the stream globals (issue 18, streams.rs): their lazy stand-ins, and the
//! memory that compression holds on the host. What they compute is compared with Node.js in the
//! CLI's integration tests (`tests/it/streams.rs`).

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

fn run(source: &'static str, limits: Limits) -> Result<Value, StepError> {
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
    outcome
        .result
        .map(|text| serde_json::from_str(text.get()).expect("json"))
}

fn ok(source: &'static str) -> Value {
    match run(source, Limits::default()) {
        Ok(v) => v,
        Err(e) => panic!("step failed: {e}"),
    }
}

/// The stream globals are lazy globals like web.rs's (lazy.rs): plain data properties, the same
/// value before and after other code loads streams.js; what the plugin assigned or deleted first
/// is kept.
#[test]
fn issue_18_stream_globals_are_lazy_plain_globals() {
    let out = ok(r#"
        export default async () => {
          const before = Object.getOwnPropertyDescriptor(globalThis, "ReadableStream");
          const text = await new Response("x").text();
          globalThis.TransformStream = "mine";
          delete globalThis.CountQueuingStrategy;
          const body = new Response("y").body;
          const after = Object.getOwnPropertyDescriptor(globalThis, "ReadableStream");
          return [typeof before.get, before.writable, before.enumerable, before.configurable, text,
            after.value === before.value, body instanceof ReadableStream, globalThis.TransformStream,
            "CountQueuingStrategy" in globalThis, typeof WritableStream];
        }"#);
    assert_eq!(
        out,
        json!([
            "undefined",
            true,
            false,
            true,
            "x",
            true,
            true,
            "mine",
            false,
            "function"
        ])
    );
}

/// Each compression stream's state is charged to the plugin while it lives (SPEC §6: bytes the
/// host holds for a plugin count toward its ceiling): holding many stops the plugin at its
/// ceiling, though the engine's heap holds little of them; finished ones give it back.
#[test]
fn issue_18_compression_state_counts_toward_the_memory_ceiling() {
    let limits = Limits {
        memory: ByteSize::mib(16),
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let held = run(
        "export default () => { const kept = []; for (let i = 0; i < 100; i++) kept.push(new CompressionStream('gzip')); return kept.length; }",
        limits,
    );
    assert_eq!(held, Err(StepError::Memory { limit: 16 << 20 }));
    let finished = run(
        r#"export default async () => {
          for (let i = 0; i < 100; i++) {
            const c = new CompressionStream("deflate");
            const w = c.writable.getWriter();
            w.write(new Uint8Array(10));
            w.close();
            for await (const _ of c.readable);
          }
          return "done";
        }"#,
        limits,
    );
    assert_eq!(finished, Ok(json!("done")));
}

/// On a frozen global object the stand-ins stay in place and still give the classes; a stream
/// made by `Response.body` is an instance of the global `ReadableStream`.
#[test]
fn issue_18_stream_globals_load_on_a_frozen_global_object() {
    let out = ok(r#"
        export default async () => {
          Object.freeze(globalThis);
          const body = new Response("frozen").body;
          let text = "";
          for await (const chunk of body.pipeThrough(new TextDecoderStream())) text += chunk;
          return [body instanceof ReadableStream, text, typeof TransformStream];
        }"#);
    assert_eq!(out, json!([true, "frozen", "function"]));
}
