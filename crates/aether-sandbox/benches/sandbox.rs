//! In-process costs of the thread tier (issue 8): a sandbox created, its trivial module loaded
//! and called, and torn down; and one host call from JavaScript. Run with
//! `cargo bench -p aether-sandbox`; whole-process comparisons against Node.js workers are in
//! `bench/run.py`.

use std::sync::Arc;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec, run_step};

fn main() {
    divan::main();
}

/// Serves one entry module, and answers `env.get` with a constant.
struct Trivial(&'static str);

impl Host for Trivial {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: self.0.into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::EnvGet { .. } => Ok(HostValue::Text {
                value: Some("1".into()),
            }),
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this benchmark".into(),
            }),
        }
    }
}

fn spec() -> StepSpec {
    StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::from_string(r#"{"n":1}"#.to_owned()).expect("json"),
        context: serde_json::Value::Null,
        limits: Limits::default(),
        sample: false,
    }
}

/// A fresh sandbox (runtime, context, bindings, engine thread), a trivial module loaded and its
/// default export called, and everything torn down.
#[divan::bench]
fn cold_start_and_call() {
    aether_sandbox::prepare();
    let outcome = run_step(spec(), Arc::new(Trivial("export default (i) => i;")));
    assert!(outcome.result.is_ok());
}

/// 1,000 `aether.env.get` calls in one sandbox: the binding's cost per call (argument checks,
/// the gate, the reply converted to a JavaScript value), without the broker's checks.
#[divan::bench]
fn thousand_host_calls(bencher: divan::Bencher) {
    aether_sandbox::prepare();
    bencher.bench(|| {
        let outcome = run_step(
            spec(),
            Arc::new(Trivial(
                "export default () => { let n = 0; for (let i = 0; i < 1000; i++) if (aether.env.get('X')) n++; return n; };",
            )),
        );
        assert!(outcome.result.is_ok());
    });
}

/// Enforcement latency (`docs/BENCHMARKS.md` row 5): a plugin that never yields, stopped at a
/// 10 ms timeout. The time above 10 ms is how late the stop comes (engine start-up included,
/// about the cold start above).
#[divan::bench(args = ["loop", "regex"])]
fn stopped_at_10ms_timeout(bencher: divan::Bencher, plugin: &str) {
    aether_sandbox::prepare();
    let source = match plugin {
        "loop" => "export default () => { for (;;) {} };",
        _ => r#"export default () => /(a+)+$/.test("a".repeat(40) + "!");"#,
    };
    let limits = Limits {
        timeout: std::time::Duration::from_millis(10),
        ..Limits::default()
    };
    bencher.bench(|| {
        let spec = StepSpec { limits, ..spec() };
        let outcome = run_step(spec, Arc::new(Trivial(source)));
        assert!(outcome.result.is_err());
    });
}
