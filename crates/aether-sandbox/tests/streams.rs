//! In-process tests of the stream globals (issue 18, streams.rs): their lazy stand-ins, and the
//! memory that compression holds on the host. What they compute is compared with Node.js in the
//! CLI's integration tests (`tests/it/streams.rs`).

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

#[test]
fn issue_18_smoke() {
    let out = ok(r#"
        export default async () => {
          const rs = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } });
          const got = [];
          for await (const x of rs) got.push(x);
          const gz = new Blob(["hello ".repeat(100)]);
          const c = new Response(new Response("hello ".repeat(100)).body.pipeThrough(new CompressionStream("gzip")));
          const bytes = await c.bytes();
          const back = await new Response(new Response(bytes).body.pipeThrough(new DecompressionStream("gzip"))).text();
          return [got, bytes.length, back.length];
        }"#);
    assert_eq!(out, json!(1));
}
