//! Issue 17, item 8 (`.cts`): CommonJS TypeScript. A `.cts` module, and a `.ts` module of a
//! plugin whose `package.json` says `"type": "commonjs"`, are compiled with their types removed
//! and run as CommonJS (`require`, `module.exports`, `export =`, `import x = require()`), as
//! Node runs them; what they compute is what `tsc --module commonjs` output computes in Node.

use serde_json::{Value, json};

use crate::Ws;

/// The entry module: `import = require` of a `.ts` file, a `require` of JSON, an enum, a
/// namespace, a parameter property, `export =`.
const INDEX_CTS: &str = r#"import util = require("./util.ts");
import type { Shape } from "./util.ts";
const data: { greeting: string } = require("./data.json");

enum Level { Low = 1, High }
namespace Cfg { export const scale = 3; }
class Counter {
  constructor(private n: number) {}
  next(): number { return ++this.n; }
}

export = async function (input: { n: number }, context: { step: string }): Promise<object> {
  const c = new Counter(input.n);
  const s: Shape = util.square(input.n * Cfg.scale);
  return {
    s,
    next: [c.next(), c.next()],
    levels: [Level.Low, Level.High, Level[2]],
    greeting: data.greeting,
    step: context.step,
    cjs: [typeof __dirname, typeof module, util.kind],
  };
};
"#;

/// A `.ts` file of a `"type": "commonjs"` package: CommonJS, as in Node.
const UTIL_TS: &str = r#"export interface Shape { side: number; area: number }
function square(side: number): Shape {
  return { side, area: side * side };
}
module.exports = { square, kind: typeof exports };
"#;

fn cts_workspace() -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/c/aether-plugin.json",
        r#"{ "name": "c", "version": "1.0.0", "main": "index.cts" }"#,
    );
    ws.write(
        "plugins/c/package.json",
        r#"{ "name": "c", "private": true, "type": "commonjs" }"#,
    );
    ws.write("plugins/c/index.cts", INDEX_CTS);
    ws.write("plugins/c/util.ts", UTIL_TS);
    ws.write("plugins/c/data.json", r#"{ "greeting": "hi" }"#);
    ws.write(
        "pipeline.yaml",
        "name: cts\nsteps:\n  - id: c\n    plugin: ./plugins/c\n    with: { n: 2 }\n",
    );
    ws
}

/// What Node prints for the plugin compiled by `tsc --module commonjs` (types not checked:
/// `require` and `module` have no declarations without `@types/node`).
fn node_reference(ws: &Ws, tsc: &std::path::Path) -> Value {
    let src = ws.path().join("plugins/c");
    crate::typescript::compiled_in_node(
        tsc,
        &[
            "--module",
            "commonjs",
            "--moduleResolution",
            "node10",
            "--noCheck",
        ],
        &src.join("index.cts"),
        &ws.path().join("tsc-out"),
        |out_dir| {
            for f in ["package.json", "data.json"] {
                std::fs::copy(src.join(f), out_dir.join(f)).unwrap();
            }
            (
                "driver.cjs",
                "const run = require('./index.cjs');\nrun({ n: 2 }, { step: 'c' }).then((out) => process.stdout.write(JSON.stringify(out)));\n",
            )
        },
    )
}

// See: https://nodejs.org/api/typescript.html#determining-module-system (`.cts` is CommonJS, a
// `.ts` follows its package's `type`) and
// https://www.typescriptlang.org/docs/handbook/modules/reference.html#export--and-import--require
#[test]
fn issue_17_cts_runs_as_commonjs_and_computes_what_tsc_output_computes_in_node() {
    let ws = cts_workspace();
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let got = run.json()["steps"][0]["output"].clone();
    assert_eq!(got["s"], json!({ "side": 6, "area": 36 }), "{got:#}");
    assert_eq!(got["cjs"], json!(["string", "object", "object"]), "{got:#}");
    assert_eq!(got["levels"], json!([1, 2, "High"]), "{got:#}");
    if let Some(tsc) = crate::typescript::tsc() {
        assert_eq!(got, node_reference(&ws, &tsc), "aether vs tsc + node");
    }
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    assert_eq!(check.code, Some(0), "{}\n{}", check.stdout, check.stderr);
}

// See: https://nodejs.org/api/typescript.html (ES module syntax in a CommonJS TypeScript file
// is an error) and SPEC §5 (`require('fs')` is a `module` violation).
#[test]
fn issue_17_cts_refuses_module_syntax_and_blocks_builtins() {
    let ws = Ws::new();
    ws.write(
        "plugins/e/aether-plugin.json",
        r#"{ "name": "e", "version": "1.0.0", "main": "index.cts" }"#,
    );
    ws.write(
        "plugins/e/index.cts",
        "const n: number = 1;\nexport default () => n;\n",
    );
    ws.write(
        "plugins/f/aether-plugin.json",
        r#"{ "name": "f", "version": "1.0.0", "main": "index.cts" }"#,
    );
    ws.write(
        "plugins/f/index.cts",
        "import fs = require(\"fs\");\nexport = (): string => String(fs);\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: e\nsteps:\n  - id: e\n    plugin: ./plugins/e\n  - id: f\n    plugin: ./plugins/f\n",
    );
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    let v = check.json();
    let findings: Vec<(&str, &str, i64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap(),
                f["file"].as_str().unwrap(),
                f["line"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        findings
            .iter()
            .any(|(r, f, l)| *r == "malformed" && f.ends_with("e/index.cts") && *l == 2),
        "{v:#}"
    );
    assert!(
        findings
            .iter()
            .any(|(r, f, l)| *r == "module-blocked" && f.ends_with("f/index.cts") && *l == 1),
        "{v:#}"
    );
}
