//! WebAssembly inside the sandbox (issue 19 item 4, SPEC §5 and §6): the JS-API on the same
//! module as Node.js, `.wasm` files fetched from the plugin through `import.meta.url`, and
//! containment (time, memory, what wasm can reach), in both isolation tiers.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{error, output, run};

/// A workspace whose one step `s` (plugin `w`, limits `limits`) runs in `tier`:
/// `index.js` gets the bytes of its `m.wasm` through `fetch(new URL('./m.wasm',
/// import.meta.url))` and runs `body` with them as `bytes`.
fn workspace(tier: &str, wat: &str, body: &str, limits: &Value) -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "w",
        &json!({ "name": "w", "version": "1.0.0", "limits": limits }).to_string(),
        &format!(
            "export default async () => {{\nconst bytes = await (await fetch(new URL('./m.wasm', import.meta.url))).arrayBuffer();\n{body}\n}};\n"
        ),
    );
    let binary = wat::parse_str(wat).unwrap();
    std::fs::write(ws.path().join("plugins/w/m.wasm"), binary).unwrap();
    ws.write(
        "aether-policy.toml",
        &format!("[isolation]\ndefault = \"{tier}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        "name: wasm\npolicy: ./aether-policy.toml\nsteps:\n  - id: s\n    plugin: ./plugins/w\n",
    );
    ws
}

/// The step's output in each tier, asserted equal.
fn in_both_tiers(wat: &str, body: &str) -> Value {
    let outputs: Vec<Value> = ["thread", "process"]
        .iter()
        .map(|tier| {
            let (out, v) = run(&workspace(tier, wat, body, &json!({})));
            assert_eq!(out.code, Some(0), "{tier}: {}\n{v:#}", out.stderr);
            output(&v, "s").clone()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1], "the tiers disagree");
    outputs[0].clone()
}

/// What `node` makes of the same body, with `bytes` read from the same module; `None` where
/// Node.js is not installed.
fn node(wat: &str, body: &str) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wasm");
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    node_with(&path, body)
}

fn node_with(path: &Path, body: &str) -> Option<Value> {
    let script = format!(
        "const bytes = (await import('node:fs')).readFileSync({path:?});\nconst f = async () => {{\n{body}\n}};\nprocess.stdout.write(JSON.stringify((await f()) ?? null));\n",
        path = path.to_str().unwrap()
    );
    let out = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// A module using every JS-API conversion: i32, i64 (BigInt), f32, f64, multiple results,
/// funcref tables, mutable and immutable globals, an exported memory, a trap, and imports that
/// call back into JavaScript (one of which calls an export again).
const BASICS: &str = r#"
(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "twice" (func $twice (param i64) (result i64)))
  (memory (export "memory") 1 4)
  (global (export "g") (mut i32) (i32.const 7))
  (global (export "gi64") i64 (i64.const -5))
  (table (export "table") 2 funcref)
  (elem (i32.const 0) $add $sub)
  (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func $sub (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub)
  (func (export "callIndirect") (param i32 i32 i32) (result i32)
    local.get 1 local.get 2 local.get 0 call_indirect (param i32 i32) (result i32))
  (func (export "mul64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.mul)
  (func (export "viaImport") (param i64) (result i64) local.get 0 call $twice)
  (func (export "f32id") (param f32) (result f32) local.get 0)
  (func (export "f64add") (param f64 f64) (result f64) local.get 0 local.get 1 f64.add)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "pair") (result i32 i64) i32.const 1 i64.const 2)
  (func (export "log") (param i32) local.get 0 call $log)
  (@custom "meta" "hello")
)
"#;

const BASICS_BODY: &str = r#"
const logged = [];
let inst;
const imports = { env: { log: (x) => { logged.push(x); }, twice: (x) => inst.exports.mul64(x, 2n) } };
const { module, instance } = await WebAssembly.instantiate(bytes, imports);
inst = instance;
const e = instance.exports;
const out = {};
const name = (f) => { try { f(); return null; } catch (err) { return err.constructor.name; } };
out.imports = WebAssembly.Module.imports(module);
out.exports = WebAssembly.Module.exports(module);
out.custom = WebAssembly.Module.customSections(module, "meta").map((b) => new TextDecoder().decode(b));
out.add = [e.add(2, 3), e.add("7", 1.9), e.add(0x7fffffff, 1), e.add()];
out.mul64 = String(e.mul64(3n, -4n));
out.wrap64 = String(e.mul64(2n ** 63n, 2n));
out.viaImport = String(e.viaImport(21n));
out.i64Number = name(() => e.mul64(1, 2));
out.f32 = e.f32id(0.1);
out.f64 = e.f64add(0.1, 0.2);
try { e.div(1, 0); } catch (err) { out.trap = [err instanceof WebAssembly.RuntimeError, err.name]; }
e.store(8, 0x01020304);
const view = new Uint8Array(e.memory.buffer);
out.bytes = Array.from(view.slice(8, 12));
view[16] = 42;
out.loadBack = e.load(16);
out.sameBuffer = e.memory.buffer === e.memory.buffer;
const before = e.memory.buffer;
out.grow = e.grow(1);
out.detached = [before.byteLength, view.length, e.memory.buffer.byteLength];
out.jsGrow = e.memory.grow(1);
out.len3 = e.memory.buffer.byteLength;
out.growPastMax = name(() => e.memory.grow(10));
out.wasmGrowPastMax = e.grow(10);
out.g = e.g.value; e.g.value = 9; out.g2 = e.g.value;
out.gi64 = String(e.gi64.value);
out.immutable = name(() => { e.gi64.value = 1n; });
out.table = [e.table.length, e.callIndirect(1, 10, 3), e.callIndirect(0, 10, 3), e.table.get(0) === e.add];
out.tableHostFunction = name(() => e.table.set(0, () => 1));
out.tableGrow = [e.table.grow(1), e.table.length, e.table.get(2)];
out.pair = e.pair().map(String);
e.log(5);
out.logged = logged;
out.validate = [WebAssembly.validate(bytes), WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 2, 0, 0, 0]))];
try { new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99])); } catch (err) { out.compileError = [err instanceof WebAssembly.CompileError, err.name]; }
try { new WebAssembly.Instance(module, { env: { log: 1, twice: () => 0n } }); } catch (err) { out.linkError = [err instanceof WebAssembly.LinkError, err.name]; }
out.noImports = name(() => new WebAssembly.Instance(module));
out.addLength = e.add.length;
const m2 = await WebAssembly.compile(new Uint8Array(bytes));
const i2 = await WebAssembly.instantiate(m2, imports);
out.async = [m2 instanceof WebAssembly.Module, i2 instanceof WebAssembly.Instance, i2.exports.add(1, 1)];
const mem = new WebAssembly.Memory({ initial: 1, maximum: 2 });
out.memory = [mem.buffer.byteLength, mem.grow(1), mem.buffer.byteLength, name(() => mem.grow(1))];
const tb = new WebAssembly.Table({ element: "anyfunc", initial: 2 });
tb.set(0, e.add);
out.newTable = [tb.length, tb.get(0) === e.add, tb.get(1), tb.grow(1, e.add), tb.get(2) === e.add];
const gl = new WebAssembly.Global({ value: "i64", mutable: true }, 5n);
out.global = [String(gl.value), name(() => new WebAssembly.Global({ value: "i32" }, 1n))];
out.tags = [Object.prototype.toString.call(WebAssembly), String(module), String(instance)];
out.streaming = name(() => WebAssembly.compileStreaming);
return out;
"#;

#[test]
fn issue_19_wasm_js_api_basics_match_node_in_both_tiers() {
    let got = in_both_tiers(BASICS, BASICS_BODY);
    if let Some(node) = node(BASICS, BASICS_BODY) {
        assert_eq!(got, node, "aether and Node disagree");
    }
    assert_eq!(got["add"], json!([5, 8, -2147483648, 0]));
    assert_eq!(got["trap"], json!([true, "RuntimeError"]));
    assert_eq!(got["detached"], json!([0, 0, 131_072]));
}

/// `instantiateStreaming` and `compileStreaming` over the `Response` of an `aether-plugin:`
/// fetch (SPEC §5: no grant — the plugin has no `network` permission —, `content-type:
/// application/wasm`); a path out of the plugin is a `module` violation.
#[test]
fn issue_19_wasm_plugin_file_fetch_and_streaming() {
    let body = r#"
const r = await fetch(new URL('./m.wasm', import.meta.url));
const { instance } = await WebAssembly.instantiateStreaming(fetch(new URL('./m.wasm', import.meta.url)), {});
const m = await WebAssembly.compileStreaming(fetch(new URL('./m.wasm', import.meta.url)));
let outside;
try { await fetch('aether-plugin:/../x.wasm'); } catch (e) { outside = [e.name, e.capability]; }
let missing;
try { await fetch(new URL('./nope.wasm', import.meta.url)); } catch (e) { missing = e.name; }
let notWasm;
try { await WebAssembly.compileStreaming(fetch(new URL('./index.js', import.meta.url))); } catch (e) { notWasm = e.name; }
return { status: r.status, type: r.headers.get('content-type'), url: r.url, size: bytes.byteLength,
  add: instance.exports.add(2, 2), exports: WebAssembly.Module.exports(m).length, outside, missing, notWasm };
"#;
    let wat = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
    for tier in ["thread", "process"] {
        let ws = workspace(tier, wat, body, &json!({}));
        let (out, v) = run(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}\n{v:#}", out.stderr);
        let got = output(&v, "s");
        assert_eq!(got["status"], 200, "{tier}");
        assert_eq!(got["type"], "application/wasm", "{tier}");
        assert_eq!(got["url"], "aether-plugin:/m.wasm", "{tier}");
        assert_eq!(got["add"], 4, "{tier}");
        assert_eq!(got["exports"], 1, "{tier}");
        assert_eq!(
            got["outside"],
            json!(["PermissionDenied", "module"]),
            "{tier}"
        );
        assert_eq!(got["missing"], "TypeError", "{tier}");
        assert_eq!(got["notWasm"], "TypeError", "{tier}");
    }
}

/// An ES module import of a `.wasm` stays refused (SPEC §5: no WebAssembly imports): the run
/// is refused before anything starts, pointing at the file.
#[test]
fn issue_19_wasm_esm_import_of_wasm_stays_refused() {
    for tier in ["thread", "process"] {
        let ws = workspace(tier, "(module)", "return 1;", &json!({}));
        ws.write(
            "plugins/w/index.js",
            "export default async () => { try { await import('./m.wasm'); return 'loaded'; } catch (e) { return e.name; } };\n",
        );
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(2), "{tier}: {}", out.stderr);
        assert!(out.stderr.contains("m.wasm:1:1"), "{tier}: {}", out.stderr);
    }
}

/// A wasm infinite loop is stopped with the step's timeout error within 100 ms of the deadline
/// (SPEC §6), in both tiers, through epoch interruption.
/// See: wasmtime docs, "Config::epoch_interruption" (deterministic interruption of wasm).
#[test]
fn issue_19_wasm_infinite_loop_is_stopped_at_the_deadline() {
    let wat = r#"(module (func (export "spin") (loop br 0)))"#;
    let body = "const { instance } = await WebAssembly.instantiate(bytes);\ntry { instance.exports.spin(); } catch (e) { return 'caught'; }\nreturn 'returned';";
    for tier in ["thread", "process"] {
        let ws = workspace(tier, wat, body, &json!({ "timeout": "1s" }));
        let started = Instant::now();
        let (_, v) = run(&ws);
        let took = started.elapsed();
        assert_eq!(error(&v, "s"), "timeout of 1s exceeded", "{tier}: {v:#}");
        let duration = v["steps"][0]["duration_ms"].as_u64().unwrap_or(0);
        assert!(duration < 1100, "{tier}: the step took {duration} ms");
        assert!(took.as_secs() < 10, "{tier}: the run took {took:?}");
    }
}

/// A wasm memory bomb (`memory.grow` in a loop, catching nothing and ignoring -1) and a
/// JavaScript loop making memories both hit the plugin's memory ceiling (SPEC §6: WebAssembly
/// memories count toward it) and fail the step with `memory limit of … exceeded`.
/// See: wasmtime's `ResourceLimiter::memory_growing` docs (growth is the embedder's to refuse);
/// extism's `test_memory_max` (a guest past its memory ceiling is stopped, the host goes on).
#[test]
fn issue_19_wasm_memory_bombs_hit_the_ceiling() {
    let wat = r#"(module (memory 1) (func (export "bomb") (loop (drop (memory.grow (i32.const 16))) br 0)))"#;
    for (case, body) in [
        (
            "grow",
            "const { instance } = await WebAssembly.instantiate(bytes);\ninstance.exports.bomb();\nreturn 'survived';",
        ),
        (
            "new",
            "const all = [];\nfor (;;) { try { all.push(new WebAssembly.Memory({ initial: 160 })); } catch (e) {} }",
        ),
        (
            "js-grow",
            "const m = new WebAssembly.Memory({ initial: 1 });\nfor (;;) { try { m.grow(16); } catch (e) {} }",
        ),
    ] {
        for tier in ["thread", "process"] {
            let ws = workspace(
                tier,
                wat,
                body,
                &json!({ "memory": "64MiB", "timeout": "10s" }),
            );
            let (_, v) = run(&ws);
            assert_eq!(
                error(&v, "s"),
                "memory limit of 64 MiB exceeded",
                "{case} {tier}: {v:#}"
            );
        }
    }
}

/// Bypass attempts: an import that is not a function is a `LinkError` (nothing is called); a
/// JavaScript function is refused as a table element (only exported wasm functions go in
/// tables, so wasm can call nothing the plugin did not import); a wasm import of a JavaScript
/// function calls only that function.
/// See: WebAssembly JS-API spec, "read the imports" (LinkError) and `Table.prototype.set`
/// (TypeError for a non-exported function); bytecodealliance/wasmtime#8281 (a table used with the
/// wrong element type let a module panic the host; externref tables stay unsupported here, see
/// also CVE-2021-39216).
#[test]
fn issue_19_wasm_bypass_attempts_are_refused() {
    let wat = r#"(module
      (import "env" "f" (func $f (result i32)))
      (table (export "t") 1 funcref)
      (func (export "callF") (result i32) call $f)
      (func (export "callT") (result i32) i32.const 0 call_indirect (result i32)))"#;
    let body = r#"
const name = (f) => { try { f(); return null; } catch (e) { return e.name; } };
const out = {};
out.notFunction = name(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { f: { valueOf: () => 1 } } }));
out.missingModule = name(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), {}));
const { instance } = await WebAssembly.instantiate(bytes, { env: { f: () => 41 } });
out.callF = instance.exports.callF();
out.tableHost = name(() => instance.exports.t.set(0, () => 1));
out.tableObject = name(() => instance.exports.t.set(0, {}));
out.emptySlot = name(() => instance.exports.callT());
out.fetchFromWasmScope = typeof globalThis.aether;
return out;
"#;
    let got = in_both_tiers(wat, body);
    if let Some(node) = node(wat, body) {
        let mut node = node;
        node["fetchFromWasmScope"] = got["fetchFromWasmScope"].clone();
        assert_eq!(got, node, "aether and Node disagree");
    }
    assert_eq!(got["notFunction"], "LinkError");
    assert_eq!(got["tableHost"], "TypeError");
    assert_eq!(got["emptySlot"], "RuntimeError");
}

/// A real npm package shipping WebAssembly: `hash-wasm`'s SHA-256 (4.12.0, its wasm embedded
/// in the file, instantiated through `WebAssembly.instantiate`), in a plugin in both tiers,
/// gives Node.js's digests, streaming (`createSHA256`) and one-shot.
/// See: https://github.com/Daninet/hash-wasm (the package's own README example).
#[test]
fn issue_19_wasm_hash_wasm_sha256_matches_node() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/hash-wasm/sha256.umd.min.cjs");
    let body = r#"
const mod = await import(HASH_WASM);
const hw = mod.default ?? mod;
const big = new Uint8Array(3 * 1024 * 1024 + 7);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 255;
const h = await hw.createSHA256();
h.init();
for (let i = 0; i < big.length; i += 65536) h.update(big.subarray(i, i + 65536));
return { abc: await hw.sha256("abc"), empty: await hw.sha256(""), big: await hw.sha256(big),
  streamed: h.digest("hex"), text: await hw.sha256("héllo wörld ".repeat(1000)) };
"#;
    let mut outputs = Vec::new();
    for tier in ["thread", "process"] {
        let ws = workspace(
            tier,
            "(module)",
            &body.replace("HASH_WASM", "'./vendor/sha256.cjs'"),
            &json!({}),
        );
        std::fs::create_dir_all(ws.path().join("plugins/w/vendor")).unwrap();
        std::fs::copy(&fixture, ws.path().join("plugins/w/vendor/sha256.cjs")).unwrap();
        let (out, v) = run(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}\n{v:#}", out.stderr);
        outputs.push(output(&v, "s").clone());
    }
    assert_eq!(outputs[0], outputs[1], "the tiers disagree");
    assert_eq!(
        outputs[0]["abc"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(outputs[0]["big"], outputs[0]["streamed"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wasm");
    std::fs::write(&path, wat::parse_str("(module)").unwrap()).unwrap();
    let node_body = body.replace("HASH_WASM", &format!("{:?}", fixture.to_str().unwrap()));
    if let Some(node) = node_with(&path, &node_body) {
        assert_eq!(outputs[0], node, "aether and Node disagree");
    }
}

/// A plugin-chosen specifier or `aether-plugin:` URL in a module denial is escaped like every
/// other target (an ANSI sequence would otherwise reach the operator's terminal through the
/// step's error and log); the violation is recorded with the target as given.
// See: CVE-2021-25743 (terminal escape sequences in untrusted output, kubectl)
#[test]
fn issue_19_module_denials_escape_the_plugin_chosen_target() {
    let body = r#"
const messages = [];
for (const attempt of [
  () => fetch("aether-plugin:/../\u001b[31mred"),
  () => import("../\u001b[31mred.js"),
]) {
  try { await attempt(); messages.push("no error"); } catch (e) { messages.push(`${e.name}: ${e.message}`); }
}
return messages;"#;
    let out = in_both_tiers("(module)", body);
    let messages = out.as_array().unwrap();
    assert_eq!(messages.len(), 2);
    for message in messages {
        let message = message.as_str().unwrap();
        assert!(
            message.starts_with("PermissionDenied: module denied for `"),
            "{message}"
        );
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(message.contains("\\u{1b}[31m"), "{message}");
    }
}
