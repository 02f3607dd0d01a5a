//! Module resolution of SPEC §5 end to end (issue 17): escapes through package resolution are
//! `module` violations, CommonJS and JSON modules behave as in Node, and `run` refuses a
//! plugin whose reachable files do not parse. Small hand-written packages: no npm needed.

use serde_json::{Value, json};

use crate::Ws;

/// A workspace with plugin `p` made of `files` (paths in the plugin) and a one-step pipeline.
fn plugin(files: &[(&str, &str)]) -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/p/aether-plugin.json",
        r#"{ "name": "p", "version": "1.0.0", "main": "index.js" }"#,
    );
    for (path, text) in files {
        ws.write(&format!("plugins/p/{path}"), text);
    }
    ws.write(
        "pipeline.yaml",
        "name: m\nsteps:\n  - id: s\n    plugin: ./plugins/p\n    with: { \"n\": 3 }\n",
    );
    ws
}

/// `aether run` succeeds; the step's output.
fn output(ws: &Ws) -> Value {
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    run.json()["steps"][0]["output"].clone()
}

/// Tries each specifier with `import()` and returns `[name, capability, target]` of what each
/// threw (or `"loaded"`).
const TRY_IMPORTS: &str = r#"export default async function (input) {
  const out = {};
  for (const s of SPECS) {
    try { await import(s); out[s] = "loaded"; }
    catch (e) { out[s] = [e.name, e.capability ?? null, e.target ?? null]; }
  }
  return out;
}
"#;

fn try_imports(specs: &[&str]) -> String {
    format!(
        "const SPECS = {};\n{TRY_IMPORTS}",
        serde_json::to_string(specs).unwrap()
    )
}

fn denied(target: &str) -> Value {
    json!(["PermissionDenied", "module", target])
}

// See: Node's test/es-module/test-esm-exports.mjs ("invalid target" cases) and
// CVE-2023-32004-style path traversal through package metadata: an `exports` target must stay
// inside its package.
#[test]
fn issue_17_exports_target_climbing_out_is_a_module_violation() {
    let ws = plugin(&[
        (
            "index.js",
            &try_imports(&["evil", "evil/deep", "evil/nm", "evil/ok"]),
        ),
        (
            "node_modules/evil/package.json",
            r#"{ "exports": { ".": "./../../secret.js", "./deep": "./x/../../../../../outside.js", "./nm": "./node_modules/x.js", "./ok": "./ok.js" } }"#,
        ),
        ("node_modules/evil/ok.js", "module.exports = 'fine';"),
        (
            "secret.js",
            "export default 'inside the plugin, outside the package';",
        ),
    ]);
    ws.write("outside.js", "export default 'outside';");
    let run = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--output",
        "json",
        "--inspect-security=audit",
    ]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let violations = std::fs::read_to_string(ws.path().join("audit/violations.jsonl")).unwrap();
    let recorded: Vec<(String, String, String)> = violations
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (field("capability"), field("decision"), field("target"))
        })
        .collect();
    let expected: Vec<(String, String, String)> = ["evil", "evil/deep", "evil/nm"]
        .iter()
        .map(|t| ("module".into(), "denied".into(), (*t).into()))
        .collect();
    assert_eq!(recorded, expected);
    let out = run.json()["steps"][0]["output"].clone();
    assert_eq!(
        out,
        json!({
            "evil": denied("evil"),
            "evil/deep": denied("evil/deep"),
            "evil/nm": denied("evil/nm"),
            "evil/ok": "loaded",
        })
    );

    // A static import of it refuses the run before anything starts.
    ws.write(
        "plugins/p/index.js",
        "import x from 'evil';\nexport default () => x;\n",
    );
    let run = ws.aether(&["run", "pipeline.yaml"]);
    run.no_panic();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("module denied for `evil`"),
        "{}",
        run.stderr
    );
}

// See: Node's test/fixtures/permission (symlinks out of the allowed tree) and SPEC §5 "a
// symlink leading out ... whether or not the target exists".
#[test]
fn issue_17_symlinked_package_pointing_outside_is_a_module_violation() {
    let ws = plugin(&[(
        "index.js",
        &try_imports(&["linked", "linked/index.js", "dangling", "inside"]),
    )]);
    ws.write("elsewhere/linked/package.json", r#"{ "main": "index.js" }"#);
    ws.write("elsewhere/linked/index.js", "module.exports = 'outside';");
    ws.write("plugins/p/packages/inside/index.js", "export default 'in';");
    ws.symlink("../../../elsewhere/linked", "plugins/p/node_modules/linked");
    ws.symlink("/nonexistent/pkg", "plugins/p/node_modules/dangling");
    ws.symlink("../packages/inside", "plugins/p/node_modules/inside");
    let out = output(&ws);
    assert_eq!(
        out,
        json!({
            "linked": denied("linked"),
            "linked/index.js": denied("linked/index.js"),
            "dangling": denied("dangling"),
            "inside": "loaded",
        })
    );
}

// See: https://nodejs.org/api/permissions.html (Node's permission model leaves `require` of
// built-ins open; SPEC §5 does not).
#[test]
fn issue_17_require_fs_in_commonjs_is_a_module_violation() {
    let ws = plugin(&[
        ("package.json", r#"{ "type": "commonjs" }"#),
        (
            "index.js",
            r#"module.exports = function () {
  const out = {};
  for (const s of ["./ok.cjs", "fs", "node:fs", "fs/promises", "child_process", "net", "os", "process", "vm", "module", "/etc/passwd", "../../outside.js"]) {
    try { require(s); out[s] = "loaded"; }
    catch (e) { out[s] = [e.name, e.capability ?? null, e.target ?? null]; }
  }
  return out;
};
"#,
        ),
        ("ok.cjs", "module.exports = 1;"),
    ]);
    ws.write("outside.js", "module.exports = 1;");
    let out = output(&ws);
    let mut expected: serde_json::Map<String, Value> = [
        "fs",
        "node:fs",
        "fs/promises",
        "child_process",
        "net",
        "os",
        "process",
        "vm",
        "module",
        "/etc/passwd",
        "../../outside.js",
    ]
    .iter()
    .map(|s| ((*s).to_owned(), denied(s)))
    .collect();
    expected.insert("./ok.cjs".into(), json!("loaded"));
    assert_eq!(out, Value::Object(expected));
}

// See: SPEC §5: capability built-ins are violations "even where a package of that name is
// installed"; other names (polyfills such as `events`) resolve from `node_modules`.
#[test]
fn issue_17_a_package_named_like_a_builtin_is_not_loaded() {
    let ws = plugin(&[
        (
            "index.js",
            &try_imports(&["fs", "child_process", "node:events", "events"]),
        ),
        (
            "node_modules/fs/index.js",
            "module.exports = { readFileSync: () => 'a stand-in' };",
        ),
        (
            "node_modules/child_process/index.js",
            "module.exports = {};",
        ),
        (
            "node_modules/events/package.json",
            r#"{ "main": "./events.js" }"#,
        ),
        (
            "node_modules/events/events.js",
            "module.exports = function EventEmitter() {};",
        ),
    ]);
    let out = output(&ws);
    assert_eq!(
        out,
        json!({
            "fs": denied("fs"),
            "child_process": denied("child_process"),
            "node:events": denied("node:events"),
            "events": "loaded",
        })
    );
}

/// A plugin exercising CommonJS and JSON semantics, run by aether and by node.
fn commonjs_semantics() -> Ws {
    plugin(&[
        ("package.json", r#"{ "type": "module" }"#),
        (
            "index.js",
            r#"import named, { a, b, c, d } from "./named.cjs";
import cyc from "./a.cjs";
import pkg, { fromMain } from "local-pkg";
import data from "./data.json" with { type: "json" };
import esm, { x as esmX } from "typeless-esm";
import viaThis from "./this.cjs";
export default async function (input) {
  const again = await import("./named.cjs");
  const undetected = "e" in again;
  let bare = null;
  try { await import("./data.json"); } catch (e) { bare = e.name; }
  return {
    named: { a, b, c, d: d === undefined, keys: Object.keys(named).sort() },
    cyc, pkg, fromMain, data, esm, esmX,
    same: again.default === named && again.a === a,
    viaThis,
    json: (await import("./reqjson.cjs")).default,
    optional: (await import("./optional.cjs")).default,
    bare,
    undetected,
    n: input.n,
  };
}
"#,
        ),
        (
            "named.cjs",
            "exports.a = 1;\nconst internal = { b: 2 };\nObject.defineProperty(exports, 'b', { enumerable: true, get() { return internal.b; } });\nObject.defineProperty(exports, 'e', { enumerable: true, get() { return 5; } });\nmodule.exports.c = 3;\nif (false) exports.d = 4;\n",
        ),
        (
            "a.cjs",
            "exports.loaded = false;\nconst b = require('./b.cjs');\nexports.bSawA = b.sawA;\nexports.loaded = true;\nexports.bAfter = require('./b.cjs').aAfter();\n",
        ),
        (
            "b.cjs",
            "const a = require('./a.cjs');\nexports.sawA = a.loaded;\nexports.aAfter = () => a.loaded;\n",
        ),
        (
            "data.json",
            r#"{ "x": [1, 2], "__proto__": { "polluted": true } }"#,
        ),
        (
            "reqjson.cjs",
            "const d = require('./data.json');\nconst d2 = require('./data');\nmodule.exports = { same: d === d2, x: d.x, own: Object.keys(d).sort(), polluted: ({}).polluted === undefined };\n",
        ),
        (
            "optional.cjs",
            "let code = null;\ntry { require('not-installed-anywhere'); } catch (e) { code = e.code; }\nlet missing = null;\ntry { require('./no-such-file'); } catch (e) { missing = e.code; }\nmodule.exports = [code, missing];\n",
        ),
        (
            "this.cjs",
            "module.exports = { isExports: this === module.exports, types: [typeof __filename, typeof __dirname, typeof require, typeof module.id] };\n",
        ),
        (
            "node_modules/local-pkg/package.json",
            r#"{ "main": "./src/main" }"#,
        ),
        (
            "node_modules/local-pkg/src/main.js",
            "const helper = require('../lib');\nmodule.exports = { fromMain: helper.twice(21) };\n",
        ),
        (
            "node_modules/local-pkg/lib/index.js",
            "exports.twice = (n) => n * 2;\n",
        ),
        (
            "node_modules/typeless-esm/index.js",
            "export const x = 'esm syntax in a package .js without type';\nexport default 7;\n",
        ),
    ])
}

// See: https://nodejs.org/api/modules.html#cycles and
// https://nodejs.org/api/esm.html#commonjs-namespaces (default = module.exports, named
// exports found by cjs-module-lexer), https://nodejs.org/api/esm.html#json-modules.
#[test]
fn issue_17_commonjs_and_json_modules_behave_as_in_node() {
    let ws = commonjs_semantics();
    let ours = output(&ws);
    let node = crate::npm::node_output(&ws);
    assert_eq!(ours, node);
    assert_eq!(
        ours["cyc"],
        json!({ "loaded": true, "bSawA": false, "bAfter": true })
    );
    assert_eq!(ours["named"]["keys"], json!(["a", "b", "c", "e"]));
    assert_eq!(ours["bare"], "TypeError");
}

#[test]
fn issue_17_commonjs_paths_are_plugin_urls() {
    let ws = plugin(&[
        (
            "index.js",
            "import m from './lib/m.cjs';\nexport default () => ({ ...m, meta: import.meta.url });\n",
        ),
        (
            "lib/m.cjs",
            "module.exports = { filename: __filename, dirname: __dirname, resolved: require.resolve('./m.cjs'), id: module.id };\n",
        ),
    ]);
    assert_eq!(
        output(&ws),
        json!({
            "filename": "aether-plugin:/lib/m.cjs",
            "dirname": "aether-plugin:/lib",
            "resolved": "aether-plugin:/lib/m.cjs",
            "id": "aether-plugin:/lib/m.cjs",
            "meta": "aether-plugin:/index.js",
        })
    );
}

// SPEC §4: a syntax error in any module reachable from `main` refuses the run, and that now
// includes files reached through `node_modules` and CommonJS `require`.
#[test]
fn issue_17_a_syntax_error_in_a_required_package_file_refuses_the_run() {
    let ws = plugin(&[
        ("package.json", r#"{ "type": "commonjs" }"#),
        (
            "index.js",
            "const ok = require('ok');\nmodule.exports = () => ok;\n",
        ),
        (
            "node_modules/ok/index.js",
            "module.exports = require('./broken');\n",
        ),
        ("node_modules/ok/broken.js", "module.exports = {;\n"),
    ]);
    let run = ws.aether(&["run", "pipeline.yaml"]);
    run.no_panic();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("node_modules/ok/broken.js:1:"),
        "{}",
        run.stderr
    );
}

// `require` in an ES module keeps its SPEC meaning: it only throws the violation (unchanged by
// issue 17, a guard rather than a regression test).
#[test]
fn require_in_an_es_module_still_only_throws_beside_commonjs() {
    let ws = plugin(&[
        (
            "index.js",
            "export default () => { try { require('./x.cjs'); return 'loaded'; } catch (e) { return [e.name, e.capability]; } };\n",
        ),
        ("x.cjs", "module.exports = 1;"),
    ]);
    assert_eq!(output(&ws), json!(["PermissionDenied", "module"]));
}

// See: https://nodejs.org/api/modules.html#loading-ecmascript-modules-using-require (Node 22:
// `require` of an ES module graph without top-level `await` returns its namespace).
#[test]
fn issue_17_require_of_an_es_module_works_as_in_node_22() {
    let ws = plugin(&[
        ("package.json", r#"{ "type": "commonjs" }"#),
        (
            "index.js",
            r#"module.exports = () => {
  const m = require("./esm.mjs");
  let tla = null;
  try { require("./tla.mjs"); } catch (e) { tla = [e.name, /top-level `await`/.test(e.message)]; }
  return { x: m.x, def: m.default, again: require("./esm.mjs") === m, viaPkg: require("esm-only").y, tla };
};
"#,
        ),
        ("esm.mjs", "export const x = 1;\nexport default 'd';\n"),
        ("tla.mjs", "await Promise.resolve();\nexport const y = 2;\n"),
        (
            "node_modules/esm-only/package.json",
            r#"{ "type": "module", "exports": { "import": "./i.js", "default": "./i.js" } }"#,
        ),
        ("node_modules/esm-only/i.js", "export const y = 'pkg';\n"),
    ]);
    assert_eq!(
        output(&ws),
        json!({ "x": 1, "def": "d", "again": true, "viaPkg": "pkg", "tla": ["TypeError", true] })
    );
}
