//! In-process tests of the `WebAssembly` global (issue 19 item 4, wasm.rs): the thread tier's
//! containment (time, memory) and re-entrancy. What it computes is compared with Node.js, in both
//! tiers, in the CLI's integration tests (`tests/it/wasm.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_policy::ByteSize;
use aether_sandbox::{Limits, StepError, StepSpec, run_step};
use serde_json::{Value, json};

#[path = "support/js.rs"]
mod js;
use js::OneModule;

/// Serves one entry module.
fn run(wat: &str, body: &str, limits: Limits) -> (Result<Value, StepError>, Duration) {
    let bytes = wat::parse_str(wat).expect("wat");
    let list: Vec<String> = bytes.iter().map(u8::to_string).collect();
    let source = format!(
        "export default async () => {{\nconst bytes = new Uint8Array([{}]);\n{body}\n}};\n",
        list.join(",")
    );
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: Value::Null,
        limits,
        sample: false,
    };
    let started = Instant::now();
    let outcome = run_step(spec, Arc::new(OneModule(source)));
    let result = outcome
        .result
        .map(|text| serde_json::from_str(text.get()).expect("json"));
    (result, started.elapsed())
}

#[test]
fn issue_19_wasm_exports_imports_and_reentry() {
    let wat = r#"(module
      (import "env" "cb" (func $cb (param i32) (result i32)))
      (memory (export "memory") 1)
      (func $sq (export "sq") (param i32) (result i32) local.get 0 local.get 0 i32.mul)
      (func (export "viaJs") (param i32) (result i32) local.get 0 call $cb i32.const 1 i32.add))"#;
    let (result, _) = run(
        wat,
        r#"let e;
        const { instance } = await WebAssembly.instantiate(bytes, { env: { cb: (x) => e.sq(x) } });
        e = instance.exports;
        new Uint8Array(e.memory.buffer)[3] = 9;
        let thrown;
        try { WebAssembly.instantiate(bytes, { env: { cb: 1 } }).catch(() => {}); new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { cb: 1 } }); } catch (err) { thrown = err.name; }
        return [e.sq(7), e.viaJs(5), new Uint8Array(e.memory.buffer)[3], thrown];"#,
        Limits::default(),
    );
    assert_eq!(result.expect("step"), json!([49, 26, 9, "LinkError"]));
}

#[test]
fn issue_19_wasm_loop_stops_at_the_deadline_in_the_thread_tier() {
    let wat = r#"(module (func (export "spin") (loop br 0)))"#;
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (result, took) = run(
        wat,
        "const { instance } = await WebAssembly.instantiate(bytes); instance.exports.spin();",
        limits,
    );
    assert!(
        matches!(result, Err(StepError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_millis(400), "took {took:?}");
}

#[test]
fn issue_19_wasm_memory_counts_toward_the_ceiling() {
    let wat = r#"(module (memory 1) (func (export "bomb") (loop (drop (memory.grow (i32.const 16))) br 0)))"#;
    let limits = Limits {
        memory: ByteSize::mib(32),
        ..Limits::default()
    };
    let (result, _) = run(
        wat,
        "const { instance } = await WebAssembly.instantiate(bytes); instance.exports.bomb();",
        limits,
    );
    assert!(
        matches!(result, Err(StepError::Memory { .. })),
        "{result:?}"
    );
}

#[test]
fn issue_19_wasm_memories_made_in_a_loop_hit_the_ceiling() {
    let limits = Limits {
        memory: ByteSize::mib(64),
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let (result, _) = run(
        "(module)",
        "const all = []; for (;;) { try { all.push(new WebAssembly.Memory({ initial: 160 })); } catch (e) {} }",
        limits,
    );
    assert!(
        matches!(result, Err(StepError::Memory { .. })),
        "{result:?}"
    );
}
