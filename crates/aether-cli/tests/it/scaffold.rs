//! `aether new plugin NAME [--ts]` and `aether new pipeline [PLUGIN_DIR...]` (SPEC §7).

use crate::Ws;

const PLUGIN_FILES: [&str; 6] = [
    "aether-plugin.json",
    "index.js",
    "aether.d.ts",
    "tsconfig.json",
    "input.json",
    "README.md",
];

// See: https://docs.deno.com/runtime/reference/cli/init/ (a scaffold that runs as written)
#[test]
fn issue_17_new_plugin_then_exec() {
    let ws = Ws::new();
    let out = ws.aether(&["new", "plugin", "demo"]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    for f in PLUGIN_FILES {
        assert!(ws.path().join("demo").join(f).is_file(), "{f}");
    }
    let typings = std::fs::read_to_string(ws.path().join("demo/aether.d.ts")).unwrap();
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../types/aether.d.ts"),
    )
    .unwrap();
    assert_eq!(typings, committed);
    let out = ws.aether(&["exec", "demo", "--input", "@demo/input.json"]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"greeting\":\"Hello, aether!\",\"step\":\"demo\"}\n"
    );
    // It passes `aether check` without an error-level finding.
    let out = ws.aether(&["check", "demo"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    // In a subdirectory, named by its last component.
    let out = ws.aether(&["new", "plugin", "plugins/other"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let manifest =
        std::fs::read_to_string(ws.path().join("plugins/other/aether-plugin.json")).unwrap();
    assert!(manifest.contains("\"name\": \"other\""), "{manifest}");
}

/// The TypeScript scaffold runs as written (the loader compiles `index.ts`); the scaffold
/// itself is type-checked by `typings::issue_17_typings_check_examples_and_scaffolds`.
#[test]
fn issue_17_new_plugin_ts_then_exec() {
    let ws = Ws::new();
    let out = ws.aether(&["new", "plugin", "demo", "--ts"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(ws.path().join("demo/index.ts").is_file());
    assert!(!ws.path().join("demo/index.js").exists());
    let out = ws.aether(&["exec", "demo"]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"greeting\":\"Hello, world!\",\"step\":\"demo\"}\n"
    );
}

#[test]
fn issue_17_new_never_overwrites() {
    let ws = Ws::new();
    ws.write("demo/README.md", "mine\n");
    let out = ws.aether(&["new", "plugin", "demo"]);
    assert_eq!(out.no_panic().code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("demo/README.md"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("demo/README.md")).unwrap(),
        "mine\n"
    );
    // Nothing else was written.
    let names: Vec<_> = std::fs::read_dir(ws.path().join("demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["README.md"]);
    // An invalid name.
    let out = ws.aether(&["new", "plugin", "Demo"]);
    assert_eq!(out.code, Some(2));
    assert!(!ws.path().join("Demo").exists());

    // `new pipeline`: an existing policy keeps the pipeline from being written too.
    ws.aether(&["new", "plugin", "p"]);
    ws.write("aether-policy.toml", "# mine\n");
    let out = ws.aether(&["new", "pipeline", "p"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(!ws.path().join("pipeline.yaml").exists());
    assert_eq!(
        std::fs::read_to_string(ws.path().join("aether-policy.toml")).unwrap(),
        "# mine\n"
    );
    // A directory that is not a plugin: nothing written.
    std::fs::remove_file(ws.path().join("aether-policy.toml")).unwrap();
    let out = ws.aether(&["new", "pipeline", "p", "nowhere"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(!ws.path().join("pipeline.yaml").exists());
    assert!(!ws.path().join("aether-policy.toml").exists());
}

// See: https://en.wikipedia.org/wiki/Principle_of_least_privilege
#[test]
fn issue_17_new_pipeline_grants_exactly_the_manifests() {
    let ws = Ws::new();
    ws.write("data/in.txt", "text");
    ws.js_plugin(
        "reader",
        r#"{"name":"reader","version":"1.0.0","permissions":{"filesystem":{"read":["./data/*.txt"]},"env":["READER_*"]},"limits":{"memory":"32MiB","timeout":"2s"}}"#,
        "export default (input) => aether.fs.readText(input.path);\n",
    );
    ws.js_plugin(
        "writer",
        r#"{"name":"writer","version":"1.0.0","permissions":{"filesystem":{"write":["./out/"]},"network":{"domains":["api.example.com","*.example.org:8443"]}},"limits":{"timeout":"1m"}}"#,
        "export default () => { aether.fs.mkdir('out'); aether.fs.writeText('out/x.txt', 'x'); return 1; };\n",
    );
    ws.write("plugins/reader/input.json", r#"{"path":"data/in.txt"}"#);
    let out = ws.aether(&["new", "pipeline", "plugins/reader", "./plugins/writer"]);
    assert_eq!(out.no_panic().code, Some(0), "{}", out.stderr);
    let policy = std::fs::read_to_string(ws.path().join("aether-policy.toml")).unwrap();
    let policy: toml::Table = toml::from_str(&policy).unwrap();
    let expected: toml::Table = toml::from_str(
        r#"
[filesystem]
read = ["./data/*.txt"]
write = ["./out/"]
[network]
domains = ["api.example.com", "*.example.org:8443"]
[env]
allow = ["READER_*"]
[limits]
max_memory = "256MiB"
max_timeout = "1m"
[unsafe]
allowed = false
"#,
    )
    .unwrap();
    assert_eq!(policy, expected);
    // The pipeline validates against it (no excess) and runs, the sample input included.
    let out = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["steps"][0]["id"], "reader");
    assert_eq!(doc["steps"][0]["output"], "text");
    assert_eq!(doc["steps"][1]["id"], "writer");
    assert!(ws.path().join("out/x.txt").is_file());

    // Narrowest: a plugin asking for more than another is not covered by the other's policy.
    let ws2 = Ws::new();
    ws2.js_plugin(
        "a",
        r#"{"name":"a","version":"1.0.0","permissions":{"env":["A"]}}"#,
        "export default () => 1;\n",
    );
    ws2.js_plugin(
        "b",
        r#"{"name":"b","version":"1.0.0","permissions":{"env":["B"]}}"#,
        "export default () => 1;\n",
    );
    ws2.aether(&["new", "pipeline", "plugins/a"]);
    std::fs::remove_file(ws2.path().join("pipeline.yaml")).unwrap();
    ws2.write(
        "pipeline.yaml",
        "name: x\npolicy: ./aether-policy.toml\nsteps:\n  - id: b\n    plugin: ./plugins/b\n",
    );
    let out = ws2.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
}
