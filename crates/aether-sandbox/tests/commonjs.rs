//! In-process tests of CommonJS and JSON modules (issue 17, SPEC §5) against a fake host that
//! serves modules with the kinds and names the real resolver would: the sandbox compiles what
//! it is given, asks the host for every `require` (in `require` mode), and keeps Node's
//! semantics. The resolution itself is tested in `aether-host` (`resolve.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aether_policy::{Capability, ModuleKind};
use aether_protocol::ResolveMode;
use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepError, StepSpec, run_step};
use serde_json::{Value, json};

/// Modules by the specifier that names them (`./x` for every referrer), with their kind and
/// exports; every `LoadModule` seen.
struct Modules {
    served: HashMap<&'static str, (&'static str, ModuleKind, Vec<String>)>,
    seen: Mutex<Vec<(String, ResolveMode)>>,
}

impl Host for Modules {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        let HostRequest::LoadModule {
            specifier, mode, ..
        } = request
        else {
            return Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            });
        };
        self.seen
            .lock()
            .expect("lock")
            .push((specifier.clone(), mode));
        let name = specifier.trim_start_matches("./").to_owned();
        match self.served.get(name.as_str()) {
            Some((source, kind, exports)) => Ok(HostValue::Module {
                name,
                source: (*source).to_owned(),
                kind: *kind,
                exports: exports.clone(),
            }),
            None => Err(HostError::PermissionDenied {
                capability: Capability::Module,
                target: specifier.clone(),
                message: format!("module denied for `{specifier}`"),
            }),
        }
    }
}

fn run(
    served: &[(&'static str, &'static str, ModuleKind, &[&str])],
) -> (Result<Value, StepError>, Vec<(String, ResolveMode)>) {
    let host = Arc::new(Modules {
        served: served
            .iter()
            .map(|(n, s, k, e)| (*n, (*s, *k, e.iter().map(|x| (*x).to_owned()).collect())))
            .collect(),
        seen: Mutex::default(),
    });
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::to_raw_value(&json!({})).expect("json"),
        context: json!({"step": "s", "pipeline": "p", "plugin": {"name": "p", "version": "1.0.0"}}),
        limits: Limits::default(),
        sample: false,
    };
    let outcome = run_step(spec, Arc::clone(&host) as Arc<dyn Host>);
    let result = outcome
        .result
        .map(|text| serde_json::from_str(text.get()).expect("json"));
    let seen = host.seen.lock().expect("lock").clone();
    (result, seen)
}

#[test]
fn issue_17_commonjs_runs_with_require_in_require_mode_and_is_cached() {
    let (result, seen) = run(&[
        (
            "main.js",
            "import m, { count } from './m.cjs';\nimport data from './d.json' with { type: 'json' };\nexport default () => ({ m, count, data, meta: import.meta.url });\n",
            ModuleKind::Esm,
            &[],
        ),
        (
            "m.cjs",
            "const d = require('./d.json');\nconst again = require('./d.json');\nlet n = 0;\ntry { require('fs'); } catch (e) { n = [e.name, e.capability, e.code]; }\nexports.count = 2;\nexports.same = d === again;\nexports.denied = n;\nexports.file = __filename;\n",
            ModuleKind::CommonJs,
            &["count"],
        ),
        ("d.json", "{\"k\": [1, 2]}", ModuleKind::Json, &[]),
    ]);
    assert_eq!(
        result.expect("runs"),
        json!({
            "m": {
                "count": 2,
                "same": true,
                "denied": ["PermissionDenied", "module", "MODULE_NOT_FOUND"],
                "file": "aether-plugin:/m.cjs",
            },
            "count": 2,
            "data": { "k": [1, 2] },
            "meta": "aether-plugin:/main.js",
        })
    );
    // `require`s go to the host in `require` mode; the second `require('./d.json')` is
    // answered from the module cache without asking again.
    let requires: Vec<&str> = seen
        .iter()
        .filter(|(_, mode)| *mode == ResolveMode::Require)
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(requires, ["./d.json", "fs"]);
}

#[test]
fn issue_17_a_commonjs_entry_module_exports_the_default_function() {
    let (result, _) = run(&[(
        "main.js",
        "#!/usr/bin/env node\nmodule.exports = function (input, context) { return { require: typeof require, step: context.step }; };\n",
        ModuleKind::CommonJs,
        &[],
    )]);
    assert_eq!(
        result.expect("runs"),
        json!({ "require": "function", "step": "s" })
    );
}

#[test]
fn issue_17_a_json_syntax_error_names_the_file() {
    let (result, _) = run(&[
        (
            "main.js",
            "import d from './bad.json' with { type: 'json' };\nexport default () => d;\n",
            ModuleKind::Esm,
            &[],
        ),
        ("bad.json", "{ nope", ModuleKind::Json, &[]),
    ]);
    let Err(StepError::Module { message, .. }) = result else {
        panic!("expected a module error, got {result:?}");
    };
    assert!(message.contains("bad.json"), "{message}");
}
