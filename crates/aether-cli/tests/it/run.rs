//! `aether run` end to end (issue 3): data passing between steps, containment of memory, time
//! and stack, module and realm isolation, the filesystem grant with its known bypasses, the
//! overlay, and the environment. Every test reads `--output json` and asserts exact outcomes;
//! none asserts a timing.

use serde_json::{Value, json};

use crate::{Out, Ws};

/// Runs `pipeline.yaml` with `--output json`; checks that stdout is the JSON document and that
/// nothing panicked.
pub(crate) fn run(ws: &Ws) -> (Out, Value) {
    run_env(ws, &[])
}

pub(crate) fn run_env(ws: &Ws, env: &[(&str, &str)]) -> (Out, Value) {
    let out = ws.aether_env(
        &["run", "pipeline.yaml", "--output", "json", "--jobs", "8"],
        env,
    );
    out.no_panic();
    let v = out.json();
    (out, v)
}

/// The record of step `id` in a run document.
pub(crate) fn step<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step `{id}` in {v:#}"))
}

/// Asserts that step `id` succeeded and returns its output.
pub(crate) fn output<'a>(v: &'a Value, id: &str) -> &'a Value {
    let s = step(v, id);
    assert_eq!(s["status"], "succeeded", "{s:#}");
    assert_eq!(s["error"], Value::Null, "{s:#}");
    &s["output"]
}

/// Asserts that step `id` failed and returns its error.
pub(crate) fn error<'a>(v: &'a Value, id: &str) -> &'a str {
    let s = step(v, id);
    assert_eq!(s["status"], "failed", "{s:#}");
    assert_eq!(s["output"], Value::Null, "{s:#}");
    s["error"].as_str().unwrap()
}

fn manifest(name: &str, permissions: &Value, limits: &Value) -> String {
    json!({
        "name": name,
        "version": "1.0.0",
        "permissions": permissions,
        "limits": limits,
    })
    .to_string()
}

/// What a caught `PermissionDenied` looks like once returned as output by [`PROBE`].
fn denied(capability: &str, target: &str) -> Value {
    json!({ "err": { "name": "PermissionDenied", "capability": capability, "target": target } })
}

/// Runs `aether.fs[op](...args)` for each `[op, ...args]` of `input.ops` and returns, for each,
/// `{ok: value}` or `{err: {name, capability, target}}`. An argument `{bytes: s}` is passed as
/// the UTF-8 bytes of `s`; an array of strings is joined with NUL bytes.
const PROBE: &str = r#"
const arg = (a) =>
  Array.isArray(a) ? a.join("\0") : (a !== null && typeof a === "object" ? new TextEncoder().encode(a.bytes) : a);
export default function (input) {
  if (input.patch) {
    // Node CVE-2024-21896 patched Buffer internals so that the path the check saw differed
    // from the one opened. Here the check is in the host: patching the realm changes nothing.
    String.prototype.startsWith = () => true;
    String.prototype.includes = () => false;
    String.prototype.replace = function () { return "data/a.txt"; };
    String.prototype.normalize = function () { return "data/a.txt"; };
    Array.prototype.join = () => "data/a.txt";
    TextEncoder.prototype.encode = () => new Uint8Array([100, 97, 116, 97]);
  }
  const out = [];
  for (const [op, ...args] of input.ops) {
    try {
      let v = aether.fs[op](...args.map(arg));
      if (v instanceof Uint8Array) v = Array.from(v);
      out.push({ ok: v === undefined ? null : v });
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null } });
    }
  }
  return out;
}
"#;

/// A pipeline of one `probe` step running `ops`.
fn probe_pipeline(ws: &Ws, ops: &Value, patch: bool) {
    let with = json!({ "ops": ops, "patch": patch });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: fs\npolicy: ./aether-policy.toml\nsteps:\n  - id: probe\n    plugin: ./plugins/probe\n    with: {with}\n"
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Data passing, context, failure propagation

#[test]
fn outputs_flow_through_templates_and_a_failure_skips_only_its_dependents() {
    let ws = Ws::new();
    ws.js_plugin(
        "echo",
        r#"{ "name": "echo", "version": "1.2.3" }"#,
        "export default async function (input, context) {\n  if (input && input.fail) throw new Error(\"planned failure\");\n  return { input, context };\n}\n",
    );
    ws.write(
        "pipeline.yaml",
        r#"name: flow
steps:
  - id: a
    plugin: ./plugins/echo
    with: { n: 3, name: logs, list: [10, 20], nested: { k: true } }
  - id: b
    plugin: ./plugins/echo
    needs: [a]
    with:
      n: ${{ steps.a.output.input.n }}
      second: ${{ steps.a.output.input.list.1 }}
      nested: ${{ steps.a.output.input.nested }}
      title: "Digest of ${{ steps.a.output.input.name }} (${{ steps.a.output.input.list }})"
      literal: "$${{ not.a.template }}"
      from: ${{ steps.a.output.context.step }}
  - id: c
    plugin: ./plugins/echo
    with: { fail: true }
  - id: d
    plugin: ./plugins/echo
    needs: [c]
    with: { x: "${{ steps.c.output.input }}" }
  - id: e
    plugin: ./plugins/echo
    needs: [d]
  - id: f
    plugin: ./plugins/echo
    needs: [a]
    with: { ok: true }
"#,
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["pipeline"], "flow");
    assert!(!v["run_id"].as_str().unwrap().is_empty());

    assert_eq!(
        output(&v, "b")["input"],
        json!({
            "n": 3,
            "second": 20,
            "nested": { "k": true },
            "title": "Digest of logs ([10,20])",
            "literal": "${{ not.a.template }}",
            "from": "a",
        })
    );
    assert_eq!(
        output(&v, "b")["context"],
        json!({ "step": "b", "pipeline": "flow", "plugin": { "name": "echo", "version": "1.2.3" } })
    );
    assert!(error(&v, "c").contains("planned failure"), "{v:#}");
    for skipped in ["d", "e"] {
        let s = step(&v, skipped);
        assert_eq!(s["status"], "skipped", "{s:#}");
        assert!(!s["error"].as_str().unwrap().is_empty());
        assert_eq!(s["output"], Value::Null);
    }
    // The independent sibling of the failure still ran.
    assert_eq!(output(&v, "f")["input"], json!({ "ok": true }));
    for s in v["steps"].as_array().unwrap() {
        assert_eq!(s["plugin"], "echo");
    }
}

#[test]
fn a_reference_to_a_missing_output_field_fails_the_step_before_it_starts() {
    let ws = Ws::new();
    ws.js_plugin(
        "echo",
        r#"{ "name": "echo", "version": "1.0.0" }"#,
        "export default (input) => input;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n    with: { x: 1 }\n  - id: b\n    plugin: ./plugins/echo\n    needs: [a]\n    with: \"${{ steps.a.output.nope }}\"\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(output(&v, "a"), &json!({ "x": 1 }));
    assert!(error(&v, "b").contains("nope"), "{v:#}");
}

// ---------------------------------------------------------------------------------------------
// 2. Containment: memory, time, stack

#[test]
fn limits_fail_only_their_own_step() {
    let ws = Ws::new();
    // Only the runaway steps get the 1 s timeout: the others keep the default, so that a loaded
    // machine cannot fail them.
    let js = |name: &str, body: &str| {
        let limits = match name {
            "bomb" => json!({ "memory": "16MiB" }),
            "spin" | "redos" | "microtasks" => json!({ "timeout": "1s" }),
            _ => json!({}),
        };
        ws.js_plugin(
            name,
            &manifest(name, &json!({}), &limits),
            &format!("export default async function (input) {{\n{body}\n}}\n"),
        );
    };
    // extism `test_memory_max`: a guest past its ceiling is stopped, the host goes on. Catching
    // the out-of-memory error must not save it (SPEC §6).
    js(
        "bomb",
        "const a = [];\ntry { for (;;) a.push(\"x\".repeat(1 << 20) + a.length); } catch (e) { return \"survived\"; }",
    );
    // extism `test_timeout`: a busy loop never yields to the host.
    js("spin", "for (;;) {}");
    // Catastrophic backtracking (OWASP "ReDoS"): one native call that never checks a clock.
    js("redos", "return /(a+)+$/.test(\"a\".repeat(64) + \"!\");");
    // A microtask loop: Node's `vm` `timeout` does not cover microtasks (its docs' reason for
    // `microtaskMode: "afterEvaluate"`); the job queue never drains. Each job returns nothing,
    // so no promise chain grows: the loop runs in constant memory and only the clock stops it.
    js(
        "microtasks",
        "const again = () => { Promise.resolve().then(again); queueMicrotask(() => {}); };\nagain();\nreturn new Promise(() => {});",
    );
    // Deep recursion is a catchable RangeError, never a crash of the host (SPEC §6 "Stack").
    js(
        "recurse",
        "const down = (n) => down(n + 1) + 1;\ntry { down(0); return null; } catch (e) { return { name: e.name, range: e instanceof RangeError }; }",
    );
    js("sibling", "return { fine: true };");
    let mut yaml = String::from("name: limits\nsteps:\n");
    for id in ["bomb", "spin", "redos", "microtasks", "recurse", "sibling"] {
        yaml.push_str(&format!("  - id: {id}\n    plugin: ./plugins/{id}\n"));
    }
    ws.write("pipeline.yaml", &yaml);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(error(&v, "bomb"), "memory limit of 16 MiB exceeded");
    for id in ["spin", "redos", "microtasks"] {
        assert_eq!(error(&v, id), "timeout of 1s exceeded", "{id}");
    }
    assert_eq!(
        output(&v, "recurse"),
        &json!({ "name": "RangeError", "range": true })
    );
    assert_eq!(output(&v, "sibling"), &json!({ "fine": true }));
}

// ---------------------------------------------------------------------------------------------
// 3. Modules and realms

#[test]
fn a_static_import_of_a_builtin_or_a_file_outside_never_loads() {
    // SPEC §4: refused before anything starts (exit 2), with the import's file:line:col; the
    // loader's own check stays behind it (see the dynamic-import test below).
    for (case, source, target) in [
        (
            "builtin",
            "import fs from \"fs\";\naether.fs.writeText(\"out/ran\", \"1\");\nexport default () => fs;\n",
            "fs",
        ),
        (
            "node",
            "import { readFileSync } from \"node:fs\";\naether.fs.writeText(\"out/ran\", \"1\");\nexport default () => readFileSync;\n",
            "node:fs",
        ),
        (
            "outside",
            "import \"../outside.js\";\naether.fs.writeText(\"out/ran\", \"1\");\nexport default () => 1;\n",
            "../outside.js",
        ),
    ] {
        let ws = Ws::new();
        ws.write("aether-policy.toml", FS_POLICY);
        ws.write("plugins/outside.js", "export const x = 1;\n");
        ws.js_plugin(
            "p",
            &manifest(
                "p",
                &json!({ "filesystem": { "write": ["./out/"] } }),
                &json!({}),
            ),
            source,
        );
        std::fs::create_dir_all(ws.path().join("out")).unwrap();
        ws.write(
            "pipeline.yaml",
            "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/p\n",
        );
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(2), "{case}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{case}: nothing ran: {}", out.stdout);
        assert!(
            out.stderr.contains("index.js:1:")
                && out
                    .stderr
                    .contains(&format!("module denied for `{target}`")),
            "{case}: {}",
            out.stderr
        );
        assert!(!ws.path().join("out/ran").exists(), "{case}");
    }
}

#[test]
fn dynamic_imports_and_require_are_module_violations_caught_in_the_plugin() {
    let ws = Ws::new();
    ws.write("plugins/outside.js", "export const secret = 42;\n");
    ws.write("plugins/p/lib/ok.js", "export const ok = \"inside\";\n");
    // Deno's symlink escapes (denoland/deno#2318): a link inside the plugin to a file outside.
    ws.symlink("../../outside.js", "plugins/p/lib/link.js");
    ws.js_plugin(
        "p",
        r#"{ "name": "p", "version": "1.0.0" }"#,
        r#"
const caught = (e) => ({ name: e.name, capability: e.capability ?? null, target: e.target ?? null });
const tryImport = async (s) => { try { await import(s); return "imported"; } catch (e) { return caught(e); } };
export default async function () {
  // Specifiers built at run time, so that no static analysis could have seen them.
  const j = (...p) => p.join("");
  const out = {
    fs: await tryImport(j("f", "s")),
    nodeFs: await tryImport(j("node", ":fs")),
    outside: await tryImport(j("../", "outside.js")),
    absolute: await tryImport(j("/etc/", "passwd")),
    dataUrl: await tryImport(j("data:text/javascript,", "export default 1")),
    symlinkOut: await tryImport(j("./lib/", "link.js")),
    inside: (await import(j("./lib/", "ok.js"))).ok,
  };
  try { require("child_process"); out.require = "loaded"; } catch (e) { out.require = caught(e); }
  return out;
}
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/p\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "a");
    let module =
        |t: &str| json!({ "name": "PermissionDenied", "capability": "module", "target": t });
    assert_eq!(o["fs"], module("fs"));
    assert_eq!(o["nodeFs"], module("node:fs"));
    assert_eq!(o["outside"], module("../outside.js"));
    assert_eq!(o["absolute"], module("/etc/passwd"));
    assert_eq!(
        o["dataUrl"],
        module("data:text/javascript,export default 1")
    );
    assert_eq!(o["symlinkOut"], module("./lib/link.js"));
    assert_eq!(o["inside"], "inside");
    // Node CVE-2023-30586 loaded native code through `crypto.setEngine()` past the permission
    // model; here no module system beyond relative ES modules exists, `require` included.
    assert_eq!(o["require"], module("child_process"));
}

#[test]
fn prototype_pollution_does_not_cross_steps_and_aether_is_frozen() {
    let ws = Ws::new();
    ws.js_plugin(
        "realm",
        r#"{ "name": "realm", "version": "1.0.0" }"#,
        r#"
export default function (input) {
  if (input.mode === "pollute") {
    Object.prototype.polluted = "yes";
    Array.prototype.evil = () => "evil";
    globalThis.leak = 1;
    let replaced;
    try { aether.fs.readText = () => "forged"; replaced = "replaced"; } catch (e) { replaced = e.name; }
    let redefined;
    try { globalThis.aether = { fs: {} }; redefined = "redefined"; } catch (e) { redefined = e.name; }
    return { replaced, redefined };
  }
  const d = Object.getOwnPropertyDescriptor(globalThis, "aether");
  return {
    polluted: ({}).polluted ?? null,
    evil: typeof [].evil,
    leak: typeof globalThis.leak,
    frozen: [Object.isFrozen(aether), Object.isFrozen(aether.fs), Object.isFrozen(aether.env), Object.isFrozen(aether.fs.readText)],
    descriptor: [d.writable, d.configurable],
    fsNames: Object.keys(aether.fs).sort(),
    // vm2 CVE-2022-36067 / CVE-2023-30547 reached the host's `Function` through objects
    // the host handed in; here a host function's constructor is the plugin's own.
    ownFunction: aether.fs.readText.constructor === Function,
  };
}
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/realm\n    with: { mode: pollute }\n  - id: b\n    plugin: ./plugins/realm\n    needs: [a]\n    with: { mode: observe }\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&v, "a")["replaced"], "TypeError");
    assert_eq!(output(&v, "a")["redefined"], "TypeError");
    let b = output(&v, "b");
    assert_eq!(b["polluted"], Value::Null);
    assert_eq!(b["evil"], "undefined");
    assert_eq!(b["leak"], "undefined");
    assert_eq!(b["frozen"], json!([true, true, true, true]));
    assert_eq!(b["descriptor"], json!([false, false]));
    assert_eq!(
        b["fsNames"],
        json!([
            "appendText",
            "exists",
            "list",
            "mkdir",
            "readBytes",
            "readText",
            "remove",
            "stat",
            "writeBytes",
            "writeText"
        ])
    );
    assert_eq!(b["ownFunction"], true);
}

// ---------------------------------------------------------------------------------------------
// 4. The filesystem grant

const FS_POLICY: &str = r#"
[filesystem]
read = ["./data/**", "./out/**"]
write = ["./out/", "./wonly/"]
"#;

/// A workspace whose `probe` plugin may read `./data/**` and write `./out/` and `./wonly/`,
/// with a secret next to `data/`.
fn fs_workspace() -> Ws {
    let ws = Ws::new();
    ws.write("aether-policy.toml", FS_POLICY);
    ws.js_plugin(
        "probe",
        &manifest(
            "probe",
            &json!({ "filesystem": { "read": ["./data/**"], "write": ["./out/", "./wonly/"] } }),
            &json!({}),
        ),
        PROBE,
    );
    ws.write("data/a.txt", "A");
    ws.write("data/many/zeta", "z");
    ws.write("data/many/alpha", "a");
    ws.write("data/many/Mid", "m");
    ws.write("data/many/beta", "b");
    ws.write("secret.txt", "SECRET");
    std::fs::create_dir_all(ws.path().join("wonly")).unwrap();
    ws
}

#[test]
fn reads_inside_the_grant_succeed_and_list_is_sorted() {
    let ws = fs_workspace();
    ws.symlink("a.txt", "data/same.txt");
    let ops = json!([
        ["readText", "data/a.txt"],
        ["readText", "./data/../data/a.txt"],
        ["readText", ws.real().join("data/a.txt").to_str().unwrap()],
        ["readBytes", "data/a.txt"],
        ["readText", "data/same.txt"],
        ["list", "data/many"],
        ["exists", "data/a.txt"],
        ["exists", "data/missing.txt"],
        ["stat", "data/many"],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    assert_eq!(o[0], json!({ "ok": "A" }));
    assert_eq!(o[1], json!({ "ok": "A" }));
    assert_eq!(o[2], json!({ "ok": "A" }));
    assert_eq!(o[3], json!({ "ok": [65] }));
    // A symlink inside the grant to a file inside the grant is fine.
    assert_eq!(o[4], json!({ "ok": "A" }));
    assert_eq!(o[5], json!({ "ok": ["Mid", "alpha", "beta", "zeta"] }));
    assert_eq!(o[6], json!({ "ok": true }));
    assert_eq!(o[7], json!({ "ok": false }));
    assert_eq!(o[8]["ok"]["isDir"], true);
    assert_eq!(o[8]["ok"]["isFile"], false);
}

#[test]
fn paths_out_of_the_grant_are_denied_with_the_exact_target() {
    let ws = fs_workspace();
    let root = ws.real();
    let above = root.parent().unwrap().to_path_buf();
    let abs = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    // Symlinks inside a granted directory pointing out (Deno denoland/deno#2318 and #4437:
    // the check saw the link's path, the open followed it): the real path must match too.
    ws.symlink("../secret.txt", "data/link-out.txt");
    ws.symlink("..", "data/up");
    ws.symlink("/etc/passwd", "data/passwd");
    // A symlink from outside pointing in: SPEC §2 needs both the path as given and the real
    // path to match, so the given path outside the grant is denied.
    ws.symlink("data/a.txt", "link-in.txt");
    let ops = json!([
        ["readText", "/etc/passwd"],
        ["readText", "../secret.txt"],
        ["readText", "secret.txt"],
        // `..` climbing out of a granted directory (Node CVE-2023-32004 / CVE-2024-21896 were
        // path traversals with `..` past the permission model's prefix check).
        ["readText", "data/../secret.txt"],
        ["readText", "data/../../secret.txt"],
        ["readText", "data/link-out.txt"],
        ["readText", "data/up/secret.txt"],
        ["readText", "data/passwd"],
        ["readText", "link-in.txt"],
        ["list", "."],
        ["list", "data/.."],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    let read = |t: String| denied("filesystem.read", &t);
    assert_eq!(o[0], read("/etc/passwd".into()));
    assert_eq!(o[1], read(abs(&above.join("secret.txt"))));
    assert_eq!(o[2], read(abs(&root.join("secret.txt"))));
    assert_eq!(o[3], read(abs(&root.join("secret.txt"))));
    assert_eq!(o[4], read(abs(&above.join("secret.txt"))));
    assert_eq!(o[5], read(abs(&root.join("data/link-out.txt"))));
    assert_eq!(o[6], read(abs(&root.join("data/up/secret.txt"))));
    assert_eq!(o[7], read(abs(&root.join("data/passwd"))));
    assert_eq!(o[8], read(abs(&root.join("link-in.txt"))));
    assert_eq!(o[9], read(abs(&root)));
    assert_eq!(o[10], read(abs(&root)));
    assert!(
        out.stderr
            .contains("11 violations: 11 filesystem.read denied"),
        "{}",
        out.stderr
    );
}

#[test]
fn exists_and_stat_are_no_existence_oracle() {
    let ws = fs_workspace();
    let root = ws.real();
    let t = |rel: &str| root.join(rel).to_str().unwrap().to_owned();
    let ops = json!([
        ["exists", "secret.txt"],
        ["exists", "no-such-file"],
        ["stat", "secret.txt"],
        ["stat", "no-such-file"],
        ["exists", "/etc/passwd"],
        ["exists", "/etc/no-such-file"],
        // Below an existing file: the kernel's ENOTDIR must not leak that `/etc/passwd` is a
        // file, nor "no such file" that a directory is missing.
        ["exists", "/etc/passwd/x"],
        ["stat", "/etc/passwd/x"],
        ["exists", "/no-such-dir/x"],
        ["stat", "secret.txt/x"],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    let read = |p: String| denied("filesystem.read", &p);
    assert_eq!(o[0], read(t("secret.txt")));
    assert_eq!(o[1], read(t("no-such-file")));
    assert_eq!(o[2], read(t("secret.txt")));
    assert_eq!(o[3], read(t("no-such-file")));
    assert_eq!(o[4], read("/etc/passwd".into()));
    assert_eq!(o[5], read("/etc/no-such-file".into()));
    assert_eq!(o[6], read("/etc/passwd/x".into()));
    assert_eq!(o[7], read("/etc/passwd/x".into()));
    assert_eq!(o[8], read("/no-such-dir/x".into()));
    assert_eq!(o[9], read(t("secret.txt/x")));
}

#[test]
fn write_does_not_imply_read_and_paths_are_strings_without_nul() {
    let ws = fs_workspace();
    let root = ws.real();
    ws.write("wonly/existing.txt", "old");
    let ops = json!([
        ["writeText", "wonly/new.txt", "x"],
        ["readText", "wonly/new.txt"],
        ["readText", "wonly/existing.txt"],
        ["exists", "wonly/existing.txt"],
        ["list", "wonly"],
        ["writeText", "data/a.txt", "overwrite"],
        ["writeText", "secret.txt", "overwrite"],
        // A NUL byte would cut the path short in C (`data/a.txt\0/../../secret.txt`).
        ["readText", ["data/a.txt", "/../../secret.txt"]],
        ["writeText", ["out/x.txt", "/../../secret.txt"], "y"],
        // Node CVE-2023-32004: a path given as a Buffer skipped the permission model's
        // traversal check. Paths here are strings only, but the path the bytes name is
        // checked first (SPEC §5, issue 15): outside the grant, a violation.
        ["readText", { "bytes": "../secret.txt" }],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    let t = |rel: &str| root.join(rel).to_str().unwrap().to_owned();
    assert_eq!(o[0], json!({ "ok": null }));
    assert_eq!(o[1], denied("filesystem.read", &t("wonly/new.txt")));
    assert_eq!(o[2], denied("filesystem.read", &t("wonly/existing.txt")));
    assert_eq!(o[3], denied("filesystem.read", &t("wonly/existing.txt")));
    assert_eq!(o[4], denied("filesystem.read", &t("wonly")));
    assert_eq!(o[5], denied("filesystem.write", &t("data/a.txt")));
    assert_eq!(o[6], denied("filesystem.write", &t("secret.txt")));
    // The grant first (SPEC §5, issue 15): the path with its NUL byte resolves to
    // `secret.txt`, outside the grant, so it is a denial before it is malformed.
    assert_eq!(o[7], denied("filesystem.read", &t("secret.txt")));
    assert_eq!(o[8], denied("filesystem.write", &t("secret.txt")));
    let above = root.parent().unwrap().join("secret.txt");
    assert_eq!(o[9], denied("filesystem.read", above.to_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(root.join("wonly/new.txt")).unwrap(),
        "x"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("secret.txt")).unwrap(),
        "SECRET"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("data/a.txt")).unwrap(),
        "A"
    );
    assert!(!root.join("out").exists());
}

#[test]
fn patching_the_realm_does_not_change_what_the_host_checks() {
    // Node CVE-2024-21896: monkey-patched Buffer internals made the permission model check one
    // path and open another. The check here runs in the host on the bytes received.
    let ws = fs_workspace();
    let root = ws.real();
    let ops = json!([
        ["readText", "data/../secret.txt"],
        ["readText", "secret.txt"],
    ]);
    probe_pipeline(&ws, &ops, true);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    let secret = root.join("secret.txt").to_str().unwrap().to_owned();
    assert_eq!(o[0], denied("filesystem.read", &secret));
    assert_eq!(o[1], denied("filesystem.read", &secret));
}

#[test]
fn paths_into_aethers_own_process_are_refused_whatever_the_grant() {
    // Deno's permission advisories on `/proc/self/*` (reading `/proc/self/environ` bypassed
    // `--allow-env`; `/proc/self/root` and `/proc/self/fd` re-enter the filesystem from above
    // any granted prefix). SPEC §2 refuses them even under a grant of `/**`.
    let ws = Ws::new();
    ws.write("aether-policy.toml", "[filesystem]\nread = [\"/**\"]\n");
    ws.js_plugin(
        "probe",
        &manifest(
            "probe",
            &json!({ "filesystem": { "read": ["/**"] } }),
            &json!({}),
        ),
        PROBE,
    );
    ws.write("data/a.txt", "A");
    let root = ws.real();
    let via_root = format!("/proc/self/root{}", root.join("data/a.txt").display());
    let pid = "/proc/1/environ";
    let ops = json!([
        ["readText", root.join("data/a.txt").to_str().unwrap()],
        ["readText", via_root],
        ["readText", "/proc/self/environ"],
        ["readText", "/proc/thread-self/environ"],
        ["readText", pid],
        ["list", "/proc/self/fd"],
        ["readText", "/dev/fd/0"],
        ["readText", "/dev/stdin"],
        ["exists", "/proc/self/root"],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    assert_eq!(o[0], json!({ "ok": "A" }));
    let read = |t: &str| denied("filesystem.read", t);
    assert_eq!(o[1], read(&via_root));
    assert_eq!(o[2], read("/proc/self/environ"));
    assert_eq!(o[3], read("/proc/thread-self/environ"));
    assert_eq!(o[4], read(pid));
    assert_eq!(o[5], read("/proc/self/fd"));
    assert_eq!(o[6], read("/dev/fd/0"));
    assert_eq!(o[7], read("/dev/stdin"));
    assert_eq!(o[8], read("/proc/self/root"));
}

// ---------------------------------------------------------------------------------------------
// 5. The overlay

#[test]
fn a_successful_steps_writes_are_committed_and_a_failed_steps_are_not() {
    let ws = Ws::new();
    ws.write("aether-policy.toml", FS_POLICY);
    let perms = json!({ "filesystem": { "read": ["./out/**"], "write": ["./out/"] } });
    ws.js_plugin(
        "writer",
        &manifest("writer", &perms, &json!({})),
        r#"
export default async function (input) {
  const f = aether.fs;
  f.mkdir(`out/${input.dir}/deep`);
  f.writeText(`out/${input.dir}/deep/r.txt`, "hello");
  f.appendText(`out/${input.dir}/deep/r.txt`, " world");
  f.writeBytes(`out/${input.dir}/b.bin`, new Uint8Array([1, 2, 3]));
  f.writeText(`out/${input.dir}/gone.txt`, "temporary");
  f.remove(`out/${input.dir}/gone.txt`);
  // The step's own reads see its writes before anything is on disk.
  const seen = {
    text: f.readText(`out/${input.dir}/deep/r.txt`),
    bytes: Array.from(f.readBytes(`out/${input.dir}/b.bin`)),
    list: f.list(`out/${input.dir}`),
    size: f.stat(`out/${input.dir}/deep/r.txt`).size,
    gone: f.exists(`out/${input.dir}/gone.txt`),
  };
  if (input.then === "throw") throw new Error("after writing");
  if (input.then === "hang") for (;;) {}
  return seen;
}
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: ok\n    plugin: ./plugins/writer\n    with: { dir: ok, then: return }\n  - id: throws\n    plugin: ./plugins/writer\n    with: { dir: throws, then: throw }\n  - id: hangs\n    plugin: ./plugins/writer\n    with: { dir: hangs, then: hang }\n    timeout: 1s\n",
    );
    std::fs::create_dir_all(ws.path().join("out")).unwrap();
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        output(&v, "ok"),
        &json!({ "text": "hello world", "bytes": [1, 2, 3], "list": ["b.bin", "deep"], "size": 11, "gone": false })
    );
    assert!(error(&v, "throws").contains("after writing"), "{v:#}");
    assert_eq!(error(&v, "hangs"), "timeout of 1s exceeded");
    let out_dir = ws.path().join("out");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("ok/deep/r.txt")).unwrap(),
        "hello world"
    );
    assert_eq!(std::fs::read(out_dir.join("ok/b.bin")).unwrap(), [1, 2, 3]);
    assert!(!out_dir.join("ok/gone.txt").exists());
    let mut left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["ok"], "a failed step's writes reached the disk");
}

#[test]
fn virtualized_denied_writes_succeed_but_never_reach_the_disk() {
    let ws = Ws::new();
    ws.write(
        "aether-policy.toml",
        "[filesystem]\nread = [\"./data/**\"]\nwrite = [\"./out/\"]\nvirtualize_denied_writes = true\n",
    );
    let perms = json!({ "filesystem": { "read": ["./data/**"], "write": ["./out/"] } });
    ws.js_plugin(
        "writer",
        &manifest("writer", &perms, &json!({})),
        r#"
export default function () {
  const f = aether.fs;
  f.writeText("virt.txt", "ghost");
  f.writeText("data/a.txt", "forged");
  f.mkdir("newdir");
  f.writeText("newdir/inner.txt", "ghost");
  f.writeText("out/real.txt", "kept");
  // An ungranted removal is virtualized like any other ungranted write: the file stays.
  f.remove("secret.txt");
  f.remove("data/b.txt");
  // Nor may a virtualized write tell what exists outside the grant: these all succeed.
  f.writeText("/no-such-dir/x", "ghost");
  f.writeText("/etc/passwd/x", "ghost");
  f.remove("no-such-file");
  f.mkdir("ghost/a/b");
  let read;
  try { read = f.readText("virt.txt"); } catch (e) { read = e.name; }
  return { read, own: f.readText("data/a.txt") };
}
"#,
    );
    ws.write("data/a.txt", "A");
    ws.write("data/b.txt", "B");
    ws.write("secret.txt", "SECRET");
    std::fs::create_dir_all(ws.path().join("out")).unwrap();
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: v\n    plugin: ./plugins/writer\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Reading the ungranted path stays denied; the granted one shows the step's own layer.
    assert_eq!(
        output(&v, "v"),
        &json!({ "read": "PermissionDenied", "own": "forged" })
    );
    assert!(!ws.path().join("virt.txt").exists());
    assert!(!ws.path().join("newdir").exists());
    assert!(!ws.path().join("ghost").exists());
    assert!(!std::path::Path::new("/no-such-dir").exists());
    assert_eq!(
        std::fs::read_to_string(ws.path().join("data/a.txt")).unwrap(),
        "A"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out/real.txt")).unwrap(),
        "kept"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("secret.txt")).unwrap(),
        "SECRET"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("data/b.txt")).unwrap(),
        "B"
    );
    assert!(
        out.stderr.contains("filesystem.write virtualized"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The environment

#[test]
fn only_granted_environment_variables_are_readable() {
    let ws = Ws::new();
    ws.write("aether-policy.toml", "[env]\nallow = [\"AETHER_IT_*\"]\n");
    ws.js_plugin(
        "env",
        &manifest(
            "env",
            &json!({ "env": ["AETHER_IT_TOKEN", "AETHER_IT_UNSET"] }),
            &json!({}),
        ),
        r#"
const get = (n) => { try { const v = aether.env.get(n); return v === undefined ? "undefined" : v; }
  catch (e) { return { name: e.name, capability: e.capability, target: e.target }; } };
export default () => ({
  token: get("AETHER_IT_TOKEN"),
  unset: get("AETHER_IT_UNSET"),
  other: get("AETHER_IT_OTHER"),
  home: get("HOME"),
  path: get("PATH"),
});
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: e\n    plugin: ./plugins/env\n",
    );
    let (out, v) = run_env(
        &ws,
        &[
            ("AETHER_IT_TOKEN", "s3cret"),
            ("AETHER_IT_OTHER", "not granted"),
            ("HOME", "/home/it"),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let env = |t: &str| json!({ "name": "PermissionDenied", "capability": "env", "target": t });
    assert_eq!(
        output(&v, "e"),
        &json!({
            "token": "s3cret",
            "unset": "undefined",
            "other": env("AETHER_IT_OTHER"),
            "home": env("HOME"),
            "path": env("PATH"),
        })
    );
}

#[test]
fn writes_follow_no_symlink_out_of_the_grant_and_remove_unlinks_the_link_itself() {
    // Deno denoland/deno#4437: a symlink placed in a writable directory gave write access to its
    // target. CVE-2022-21658 (Rust `remove_dir_all`): a removal that follows a symlink deletes
    // what lies behind it. Here the real path must be granted too, and `remove` acts on the link.
    let ws = fs_workspace();
    let root = ws.real();
    std::fs::create_dir_all(root.join("out")).unwrap();
    ws.symlink("../secret.txt", "out/to-secret");
    ws.symlink("..", "out/up");
    ws.symlink("../secret.txt", "out/unlink-me");
    let ops = json!([
        ["writeText", "out/to-secret", "pwned"],
        ["appendText", "out/to-secret", "pwned"],
        ["writeText", "out/up/secret.txt", "pwned"],
        ["mkdir", "out/up/newdir"],
        ["remove", "out/up/secret.txt"],
        ["remove", "out/unlink-me"],
    ]);
    probe_pipeline(&ws, &ops, false);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let o = output(&v, "probe").as_array().unwrap();
    let t = |rel: &str| root.join(rel).to_str().unwrap().to_owned();
    let write = |rel: &str| denied("filesystem.write", &t(rel));
    assert_eq!(o[0], write("out/to-secret"));
    assert_eq!(o[1], write("out/to-secret"));
    assert_eq!(o[2], write("out/up/secret.txt"));
    assert_eq!(o[3], write("out/up/newdir"));
    assert_eq!(o[4], write("out/up/secret.txt"));
    assert_eq!(o[5], json!({ "ok": null }));
    assert_eq!(
        std::fs::read_to_string(root.join("secret.txt")).unwrap(),
        "SECRET"
    );
    assert!(!root.join("newdir").exists());
    assert!(root.join("out/unlink-me").symlink_metadata().is_err());
    assert!(root.join("out/to-secret").symlink_metadata().is_ok());
}

/// `require` of a file that does exist inside the plugin is still a `module` violation, and is
/// recorded as one: the audit must not show an allowed load for a call that threw (before the
/// dedicated `Require` request, it was sent as an entry-module load and recorded as allowed).
#[test]
fn require_of_an_existing_plugin_file_is_recorded_as_denied() {
    let ws = Ws::new();
    ws.js_plugin(
        "req",
        r#"{ "name": "req", "version": "1.0.0" }"#,
        "export default () => { try { require('./index.js'); return 'loaded'; } catch (e) { return [e.name, e.capability, e.target]; } };\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: r\nsteps:\n  - id: a\n    plugin: ./plugins/req\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.json()["steps"][0]["output"],
        serde_json::json!(["PermissionDenied", "module", "./index.js"])
    );
    assert!(
        out.stderr.contains("1 violation: 1 module denied"),
        "{}",
        out.stderr
    );
}

/// A timeout too large for the clock (`5000000000000000h`) once overflowed `Instant + Duration`
/// and panicked the runner; it now means "no practical limit".
#[test]
fn a_huge_timeout_runs_instead_of_panicking() {
    let ws = Ws::new();
    ws.js_plugin(
        "p",
        r#"{ "name": "p", "version": "1.0.0", "limits": { "timeout": "5000000000000000h" } }"#,
        "export default () => 1;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/p\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&v, "a"), &json!(1));
}

/// A plugin making denied calls in a loop, the same one and a new one each time (a resource
/// bomb aimed at aether's own memory, which no plugin ceiling covers): every violation is
/// counted and streamed, while the run keeps each distinct event once and at most
/// `MAX_KEPT_EVENTS` (20,000) of them in memory.
#[test]
fn a_flood_of_violations_is_counted_exactly() {
    let ws = Ws::new();
    ws.js_plugin(
        "flood",
        r#"{ "name": "flood", "version": "1.0.0" }"#,
        r#"export default () => {
  let refused = 0;
  for (let i = 0; i < 25000; i++) {
    for (const name of ["SECRET", `VAR_${i}`]) {
      try { aether.env.get(name); } catch (e) { refused++; }
    }
  }
  return refused;
};
"#,
    );
    ws.write(
        "pipeline.yaml",
        "name: f\nsteps:\n  - id: s\n    plugin: ./plugins/flood\n",
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--output",
        "json",
        "--inspect-security=r",
    ]);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.json()["steps"][0]["output"], 50_000);
    assert!(out.stderr.contains("50000 violations"), "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("r/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["steps"][0]["violations"], 50_000);
    let streamed = std::fs::read_to_string(ws.path().join("r/violations.jsonl")).unwrap();
    assert_eq!(streamed.lines().count(), 50_000);
    let html = std::fs::read_to_string(ws.path().join("r/report.html")).unwrap();
    assert!(
        html.contains("(other targets)"),
        "the overflow record is missing"
    );
}
