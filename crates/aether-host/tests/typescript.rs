//! TypeScript modules served by the step broker (issue 17, SPEC §5): the host hands out the
//! compiled JavaScript of a `.ts` module, the bundle keeps the source, and a step's error is
//! mapped back to the `.ts` position.

use std::sync::Arc;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::bundle::PluginBundle;
use aether_host::events::{Event, Recorder};
use aether_host::{Host, HostError, HostRequest, HostValue};
use aether_policy::{Grant, Permissions, RequestedLimits};

struct Nothing;

impl Recorder for Nothing {
    fn record(&self, _event: Event) {}
    fn log(&self, _step: &str, _level: &str, _message: &str) {}
}

fn load(host: &StepHost, specifier: &str) -> Result<(String, String), HostError> {
    match host.call(HostRequest::LoadModule {
        specifier: specifier.into(),
        referrer: Some("index.js".into()),
        mode: aether_host::resolve::ResolveMode::Import,
        with_type: None,
    })? {
        HostValue::Module { name, source, .. } => Ok((name, source)),
        other => panic!("not a module: {other:?}"),
    }
}

// See: https://nodejs.org/api/typescript.html#type-stripping (what runs is the source without
// its types; the file on disk is what the author wrote).
#[test]
fn issue_17_the_host_serves_compiled_typescript_and_maps_its_positions_back() {
    let plugin = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(plugin.path()).expect("real");
    std::fs::write(dir.join("index.js"), "").expect("write");
    let ts = "interface I {\n  a: number;\n}\nexport function f(x: I): number {\n  throw new Error(`a${x.a}`);\n}\n";
    std::fs::write(dir.join("m.ts"), ts).expect("write");
    std::fs::write(dir.join("bad.ts"), "export const x: = 1;\n").expect("write");
    let bundle = Arc::new(PluginBundle::load(&dir).expect("bundle"));
    let grant =
        Grant::new(Permissions::default(), None, &RequestedLimits::default()).expect("grant");
    let host = StepHost::new(
        StepIdentity {
            step: "s".into(),
            plugin: "p".into(),
        },
        grant,
        dir.clone(),
        Arc::clone(&bundle),
        Arc::new(Nothing),
    );
    // Served again at every import (QuickJS asks at each one): the same JavaScript each time.
    let (name, js) = load(&host, "./m.ts").expect("module");
    assert_eq!(name, "m.ts");
    assert!(!js.contains("interface") && !js.contains(": I"), "{js}");
    assert_eq!(load(&host, "./m.ts").expect("again").1, js);
    // The bundle, which the lock pins, keeps the TypeScript source.
    assert_eq!(
        &*bundle.resolve("m.ts", None).expect("file").1,
        ts.as_bytes()
    );
    // Compiled line 2 is the `throw`, line 5 of the source.
    let line = js.lines().position(|l| l.contains("throw")).expect("throw") + 1;
    assert_eq!(line, 2, "{js}");
    let mapped = host.map_positions("Error: a1\n    at f (m.ts:2:8)\n    at index.js:2:8");
    assert!(mapped.contains("at f (m.ts:5:"), "{mapped}");
    assert!(mapped.ends_with("at index.js:2:8"), "{mapped}");
    // A module that does not compile fails its import at the `.ts` position, every time.
    for _ in 0..2 {
        match load(&host, "./bad.ts") {
            Err(HostError::Failed { message, .. }) => {
                assert!(message.starts_with("bad.ts:1:17: "), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
