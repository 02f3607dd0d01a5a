//! Compile once (issue 19 item 3, `compiled.rs`): every step of a process that loads the same
//! module loads the bytecode the first one compiled, and behaves exactly as if it had compiled
//! the source. One test function, since the cache and its counters belong to the process.

use std::collections::HashMap;
use std::sync::Arc;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{CompileStats, Limits, StepError, StepSpec, compile_stats, run_step};
use serde_json::{Value, json};

/// Serves modules by name (the specifier without `./`).
struct Modules(HashMap<String, String>);

impl Host for Modules {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule {
                specifier,
                with_type,
                ..
            } => {
                let name = specifier.trim_start_matches("./").to_owned();
                // As the real host does (SPEC §5): JSON only with `with { type: 'json' }`.
                let json = name.ends_with(".json");
                if json != (with_type.as_deref() == Some("json")) {
                    return Err(HostError::Failed {
                        type_error: true,
                        message: format!("module `{name}` needs `with {{ type: 'json' }}`"),
                    });
                }
                let kind = if json {
                    aether_policy::ModuleKind::Json
                } else {
                    aether_policy::ModuleKind::Esm
                };
                match self.0.get(&name) {
                    Some(source) => Ok(HostValue::Module {
                        name,
                        source: source.clone(),
                        kind,
                        exports: Vec::new(),
                    }),
                    None => Err(HostError::Failed {
                        type_error: false,
                        message: format!("no module {name}"),
                    }),
                }
            }
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            }),
        }
    }
}

fn run(main: &str, modules: &[(&str, &str)]) -> Result<Value, StepError> {
    let host = Modules(
        modules
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect(),
    );
    let spec = StepSpec {
        main: main.into(),
        input: serde_json::value::RawValue::from_string("21".into()).expect("json"),
        context: Value::Null,
        limits: Limits::default(),
        sample: false,
    };
    run_step(spec, Arc::new(host))
        .result
        .map(|text| serde_json::from_str(text.get()).expect("json"))
}

fn delta(before: CompileStats) -> (u64, u64) {
    let now = compile_stats();
    (now.compiles - before.compiles, now.loads - before.loads)
}

const MAIN: &str = r#"import { twice } from "./lib-once.js";
export default (input) => {
  let stack;
  try { twice(null); } catch (e) { stack = e.stack; }
  return { value: twice(input), url: import.meta.url, stack, source: String(twice), data };
};
import data from "./data-once.json" with { type: "json" };
"#;

const LIB: &str = r#"// a library
export function twice(n) {
  if (n === null) throw new Error("no number");
  return n * 2;
}
"#;

// See: https://github.com/quickjs-ng/quickjs/blob/v0.10.1/quickjs.h (JS_WriteObject /
// JS_ReadObject: bytecode keeps debug info unless stripped); issue 19 item 3.
#[test]
fn issue_19_a_module_is_compiled_once_per_process_and_behaves_the_same_loaded() {
    let modules = [
        ("main-once.js", MAIN),
        ("lib-once.js", LIB),
        ("data-once.json", r#"{"a":[1]}"#),
    ];
    let before = compile_stats();
    let first = run("main-once.js", &modules).expect("first step");
    // Both modules and the JSON module's facade: compiled in the step as without the cache, and
    // their bytecode kept.
    assert_eq!(
        delta(before),
        (3, 0),
        "the first step compiles every module"
    );

    let before = compile_stats();
    let steps: Vec<Value> = (0..5)
        .map(|_| run("main-once.js", &modules).expect("step"))
        .collect();
    assert_eq!(delta(before), (0, 15), "later steps only load bytecode");
    for step in &steps {
        assert_eq!(step, &first);
    }
    assert_eq!(first["value"], json!(42));
    assert_eq!(first["data"], json!({"a": [1]}));
    assert_eq!(first["url"], json!("aether-plugin:/main-once.js"));
    assert_eq!(
        first["source"],
        json!(
            "function twice(n) {\n  if (n === null) throw new Error(\"no number\");\n  return n * 2;\n}"
        )
    );
    let stack = first["stack"].as_str().expect("stack");
    assert!(stack.contains("lib-once.js:3:"), "{stack}");
    assert!(stack.contains("main-once.js:4:"), "{stack}");

    // The same name with other bytes is another module: compiled, never the first's bytecode.
    let other = r#"export function twice(n) { return n * 3; }"#;
    let before = compile_stats();
    let out = run(
        "main-once.js",
        &[
            ("main-once.js", MAIN),
            ("lib-once.js", other),
            ("data-once.json", "{}"),
        ],
    )
    .expect("step with the other library");
    assert_eq!(out["value"], json!(63));
    assert_eq!(delta(before), (1, 2));

    // A module that does not compile is never cached, and fails exactly as it always did.
    let broken = "export default () => {\n  return 1 +;\n};\n";
    let before = compile_stats();
    for _ in 0..2 {
        match run("broken-once.js", &[("broken-once.js", broken)]) {
            Err(StepError::Module { message, .. }) => {
                assert!(message.contains("broken-once.js:2:"), "{message}");
            }
            other => panic!("expected a module error, got {other:?}"),
        }
    }
    assert_eq!(delta(before), (0, 0));
}
