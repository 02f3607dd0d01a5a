//! Issue 17, item 3: TypeScript plugins (SPEC §5). `.ts` and `.mts` modules are compiled at
//! load; what they compute is what `tsc`'s output computes under Node, errors point at the
//! `.ts` line, a syntax error refuses the run, and `aether check` reads the TypeScript.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::Ws;

/// The shapes module: enums, a namespace, parameter properties, an abstract class, generics,
/// `satisfies`, and types that must vanish (interfaces, aliases, `declare`, overloads).
const SHAPES_TS: &str = r#"export interface Named { readonly name: string }
export type Pair<A, B = A> = [A, B];
export enum Kind { Circle, Square = 10, Tri }
export enum Unit { Px = "px", Em = "em" }
export const enum Inline { A = 1, B = A * 4 }
declare const notThere: number;

export namespace Geometry {
  export const TAU = Math.PI * 2;
  export function area(r: number): number { return (TAU / 2) * r * r; }
  export namespace Deep { export const depth = 2; }
}
export namespace Geometry { export const merged = true; }

export abstract class Shape implements Named {
  static count = 0;
  declare tag: string;
  protected constructor(public readonly name: string, private scale: number = 1) {
    Shape.count++;
  }
  abstract area(): number;
  scaled(): number { return this.area() * this.scale; }
}

export class Circle extends Shape {
  constructor(public r: number, scale?: number) { super("circle", scale); }
  area(): number { return Geometry.area(this.r); }
}

export class Box<T> {
  #items: T[] = [];
  constructor(private readonly limit: number) {}
  add(item: T): this { if (this.#items.length < this.limit) this.#items.push(item); return this; }
  get size(): number { return this.#items.length; }
  map<U>(f: (t: T) => U): U[] { return this.#items.map(f); }
}

export function first<T>(items: readonly T[]): T | undefined;
export function first<T>(items: readonly T[], fallback: T): T;
export function first<T>(items: readonly T[], fallback?: T): T | undefined {
  return items.length > 0 ? items[0] : fallback;
}
"#;

/// The entry module: type-only imports in every form, `satisfies`, `as`, non-null `!`, generic
/// calls and arrow functions with type parameters.
const INDEX_TS: &str = r#"import type { Named, Pair } from "./shapes.ts";
import { type Shape, Kind, Unit, Inline, Geometry, Circle, Box, first } from "./shapes.ts";
import { onlyATypeHere } from "./types-only.ts";
export type { Named };

interface Input { readonly values: number[]; label?: string }
type Out = Record<string, unknown>;

const settings = { precision: 3, mode: "fast" } satisfies { precision: number; mode: string };
const round = <T extends number>(n: T): number => Number(n.toFixed(settings.precision));

export default async function run(input: Input, context: { step: string }): Promise<Out> {
  const c = new Circle(2, 3);
  const shapes: Shape[] = [c, new Circle(1)];
  const box = new Box<string>(2).add("a").add("b").add("c");
  const pair: Pair<number> = [Kind.Tri, Inline.B];
  const named: Named = { name: input.label ?? "none" };
  const kept: onlyATypeHere | undefined = undefined;
  return {
    kinds: [Kind.Circle, Kind.Square, Kind.Tri, Kind[10], Unit.Em],
    kindKeys: Object.keys(Kind),
    pair,
    area: round(c.area()),
    scaled: shapes.map((s) => round(s.scaled())),
    names: shapes.map((s) => s.name),
    ownKeys: Object.keys(c).sort(),
    count: (c.constructor as unknown as { count: number }).count,
    box: [box.size, box.map((x) => x.toUpperCase())],
    first: [first([] as number[]), first([], 7), first([5], 7)],
    ns: [round(Geometry.TAU), Geometry.Deep.depth, Geometry.merged],
    named: named.name,
    sum: input.values.reduce((a, b) => a + b, 0)!,
    kept: kept ?? null,
    step: context.step,
  };
}
"#;

/// A module whose only export is a type: importing from it must not load anything at run time
/// (its code would throw).
const TYPES_ONLY_TS: &str = r#"export type onlyATypeHere = { x: number };
throw new Error("types-only.ts must never be loaded: its import is used only as a type");
"#;

/// The reference compiler: `tsc` of `tests/it/fixtures/typescript` after `npm ci` there
/// (pinned by its lockfile), else `AETHER_TSC` (the typings test's); `None` skips the
/// comparison, unless `AETHER_REQUIRE_TSC` is set (`.ci/run` sets it).
pub(crate) fn tsc() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/typescript");
    let pinned = dir.join("node_modules/.bin/tsc");
    let node_ok = Command::new("node").arg("--version").output().is_ok();
    let found = [
        Some(pinned),
        std::env::var_os("AETHER_TSC").map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    .find(|t| t.is_file());
    if let (Some(tsc), true) = (found, node_ok) {
        return Some(tsc);
    }
    assert!(
        std::env::var_os("AETHER_REQUIRE_TSC").is_none(),
        "tsc is required: run `npm ci` in {}",
        dir.display()
    );
    eprintln!(
        "skipped: no `tsc` (run `npm ci` in {}) or no `node`",
        dir.display()
    );
    None
}

fn ts_workspace(isolation: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/shapes/aether-plugin.json",
        r#"{ "name": "shapes", "version": "1.0.0", "main": "src/index.ts" }"#,
    );
    ws.write("plugins/shapes/src/index.ts", INDEX_TS);
    ws.write("plugins/shapes/src/shapes.ts", SHAPES_TS);
    ws.write("plugins/shapes/src/types-only.ts", TYPES_ONLY_TS);
    ws.write(
        "aether-policy.toml",
        &format!("[isolation]\ndefault = \"{isolation}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        "name: ts\npolicy: ./aether-policy.toml\nsteps:\n  - id: shapes\n    plugin: ./plugins/shapes\n    with: { values: [1, 2, 3.5], label: typed }\n",
    );
    ws
}

/// What Node prints for the same plugin compiled by `tsc` (ES2022 target, so class fields keep
/// `tsc`'s `useDefineForClassFields` semantics, as aether's compiler does).
fn node_reference(ws: &Ws, tsc: &Path) -> Value {
    compiled_in_node(
        tsc,
        &[
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--strict",
        ],
        &ws.path().join("plugins/shapes/src/index.ts"),
        &ws.path().join("tsc-out"),
        |out_dir| {
            std::fs::write(out_dir.join("package.json"), r#"{ "type": "module" }"#).unwrap();
            (
                "driver.mjs",
                "import run from './index.js';\nconst out = await run({ values: [1, 2, 3.5], label: 'typed' }, { step: 'shapes' });\nprocess.stdout.write(JSON.stringify(out));\n",
            )
        },
    )
}

/// Compiles `input` with `tsc` (ES2022, `.ts` imports rewritten, plus `flags`) into `out_dir`,
/// lets `prepare` add files there and name a driver script, runs the driver under Node, and
/// returns the JSON it printed: the reference aether's output is compared with.
pub(crate) fn compiled_in_node(
    tsc: &Path,
    flags: &[&str],
    input: &Path,
    out_dir: &Path,
    prepare: impl FnOnce(&Path) -> (&'static str, &'static str),
) -> Value {
    let status = Command::new(tsc)
        .args([
            "--target",
            "es2022",
            "--allowImportingTsExtensions",
            "--rewriteRelativeImportExtensions",
        ])
        .args(flags)
        .arg("--outDir")
        .arg(out_dir)
        .arg(input)
        .status()
        .unwrap();
    assert!(status.success(), "tsc failed on the fixture");
    let (driver_name, driver) = prepare(out_dir);
    std::fs::write(out_dir.join(driver_name), driver).unwrap();
    let out = Command::new("node")
        .arg(out_dir.join(driver_name))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// See: https://www.typescriptlang.org/docs/handbook/enums.html (the emitted reverse mapping),
// https://www.typescriptlang.org/docs/handbook/namespaces.html, and Node's
// test/es-module/test-typescript.mjs (a TypeScript module run as the author wrote it).
#[test]
fn issue_17_a_typescript_plugin_computes_what_tsc_output_computes_in_node() {
    let tsc = tsc();
    for tier in ["thread", "process"] {
        let ws = ts_workspace(tier);
        let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        run.no_panic();
        assert_eq!(run.code, Some(0), "{tier}: {}\n{}", run.stdout, run.stderr);
        let got = run.json()["steps"][0]["output"].clone();
        assert_eq!(got["kinds"], json!([0, 10, 11, "Square", "em"]), "{tier}");
        assert_eq!(got["names"], json!(["circle", "circle"]), "{tier}");
        assert_eq!(got["kept"], Value::Null, "{tier}");
        if let Some(tsc) = &tsc {
            assert_eq!(
                got,
                node_reference(&ws, tsc),
                "{tier}: aether vs tsc + node"
            );
        }
    }
}

/// A plugin whose `lib/fail.ts` throws on line 9, below types that compile to nothing (so the
/// compiled line is not the TypeScript line).
fn failing_workspace(isolation: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/fail/aether-plugin.json",
        r#"{ "name": "fail", "version": "1.0.0", "main": "index.ts" }"#,
    );
    ws.write(
        "plugins/fail/index.ts",
        "import { explode } from \"./lib/fail.ts\";\n\nexport default (input: { n: number }): number => explode(input.n);\n",
    );
    ws.write(
        "plugins/fail/lib/fail.ts",
        "interface A {\n  a: number;\n}\ntype B = A & {\n  b: string;\n};\n\nexport function explode(n: number): number {\n  if (n > 0) throw new RangeError(`too big: ${n as number}`);\n  return n;\n}\n",
    );
    ws.write(
        "aether-policy.toml",
        &format!("[isolation]\ndefault = \"{isolation}\"\n"),
    );
    ws.write(
        "pipeline.yaml",
        "name: f\npolicy: ./aether-policy.toml\nsteps:\n  - id: s\n    plugin: ./plugins/fail\n    with: { n: 5 }\n",
    );
    ws
}

// See: https://nodejs.org/api/typescript.html#type-stripping (positions are kept so that stack
// traces point at the `.ts` source), and Deno's source-mapped stack traces.
#[test]
fn issue_17_a_thrown_error_points_at_the_typescript_line() {
    for tier in ["thread", "process"] {
        let ws = failing_workspace(tier);
        let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        run.no_panic();
        assert_eq!(run.code, Some(1), "{tier}: {}", run.stderr);
        let error = run.json()["steps"][0]["error"].as_str().unwrap().to_owned();
        assert!(error.contains("RangeError: too big: 5"), "{tier}: {error}");
        assert!(error.contains("lib/fail.ts:9:"), "{tier}: {error}");
        assert!(error.contains("index.ts:3:"), "{tier}: {error}");
    }
}

// See: https://nodejs.org/api/typescript.html ("a syntax error ... is reported before the
// module runs") and SPEC §4 (syntax errors in modules reachable from `main` refuse the run).
#[test]
fn issue_17_a_typescript_syntax_error_refuses_the_run() {
    let ws = Ws::new();
    ws.write(
        "plugins/bad/aether-plugin.json",
        r#"{ "name": "bad", "version": "1.0.0", "main": "index.mts" }"#,
    );
    ws.write(
        "plugins/bad/index.mts",
        "import { u } from \"./util.ts\";\nexport default () => u;\n",
    );
    ws.write(
        "plugins/bad/util.ts",
        "export const ok: number = 1;\nexport const u: = 2;\n",
    );
    ws.write(
        "plugins/ran/aether-plugin.json",
        r#"{ "name": "ran", "version": "1.0.0", "permissions": { "filesystem": { "write": ["./out/"] } } }"#,
    );
    ws.write(
        "plugins/ran/index.js",
        "export default () => aether.fs.writeText('out/ran.txt', 'ran');\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: b\nsteps:\n  - id: ran\n    plugin: ./plugins/ran\n  - id: bad\n    plugin: ./plugins/bad\n",
    );
    let run = ws.aether(&["run", "pipeline.yaml"]);
    run.no_panic();
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("plugins/bad/util.ts:2:17"),
        "{}",
        run.stderr
    );
    assert!(!ws.path().join("out/ran.txt").exists(), "nothing may start");
    let check = ws.aether(&["check", "pipeline.yaml"]);
    check.no_panic();
    assert_eq!(check.code, Some(2), "{}", check.stderr);
    assert!(check.stderr.contains("util.ts:2:17"), "{}", check.stderr);
}

// See: https://www.typescriptlang.org/tsconfig/#verbatimModuleSyntax (imports used only as
// types are elided, `import type` always) and SPEC §7 (`aether check` findings at the source's
// line and column).
#[test]
fn issue_17_check_reads_a_typescript_plugin() {
    let ws = Ws::new();
    ws.write(
        "plugins/reader/aether-plugin.json",
        r#"{ "name": "reader", "version": "1.0.0", "main": "index.ts" }"#,
    );
    ws.write(
        "plugins/reader/index.ts",
        "import type { Options } from \"some-package\";\nimport { Config } from \"./config.ts\";\ntype F = typeof fetch;\n\nexport default (input: Options & Config): string => {\n  const path: string = input.path;\n  return aether.fs.readText(\"/etc/hostname\") + path;\n};\n",
    );
    ws.write(
        "plugins/reader/config.ts",
        "export interface Config { path: string }\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: c\nsteps:\n  - id: r\n    plugin: ./plugins/reader\n    with: { path: x }\n",
    );
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    assert_eq!(check.code, Some(1), "{}\n{}", check.stdout, check.stderr);
    let v = check.json();
    let findings = v["findings"].as_array().unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["capability-undeclared"], "{v:#}");
    let f = &findings[0];
    assert!(
        f["file"]
            .as_str()
            .unwrap()
            .ends_with("plugins/reader/index.ts"),
        "{f:#}"
    );
    assert_eq!(
        (f["line"].clone(), f["column"].clone()),
        (json!(7), json!(10))
    );
}

// See: https://www.typescriptlang.org/tsconfig/#allowImportingTsExtensions (what `tsc` users
// write to name `.ts` files) and SPEC §5 (relative specifiers name the exact file).
#[test]
fn issue_17_importing_a_ts_file_as_js_says_to_name_the_ts_file() {
    let ws = Ws::new();
    ws.write(
        "plugins/js-ext/aether-plugin.json",
        r#"{ "name": "js-ext", "version": "1.0.0", "main": "index.ts" }"#,
    );
    ws.write(
        "plugins/js-ext/index.ts",
        "import { x } from \"./lib/util.js\";\nexport default (): number => x;\n",
    );
    ws.write(
        "plugins/js-ext/lib/util.ts",
        "export const x: number = 1;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: j\nsteps:\n  - id: j\n    plugin: ./plugins/js-ext\n",
    );
    let check = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    check.no_panic();
    assert_eq!(check.code, Some(1), "{}", check.stderr);
    let v = check.json();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "module-not-found", "{v:#}");
    assert!(
        f["message"].as_str().unwrap().contains("`./lib/util.ts`"),
        "{f:#}"
    );
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let error = run.json()["steps"][0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("import `./lib/util.ts`"), "{error}");
}

// See: https://nodejs.org/api/typescript.html (a module that does not compile fails its import)
// and SPEC §5 (errors point at the `.ts` line).
#[test]
fn issue_17_a_typescript_module_imported_later_fails_its_import_at_its_line() {
    let ws = Ws::new();
    ws.write(
        "plugins/late/aether-plugin.json",
        r#"{ "name": "late", "version": "1.0.0", "main": "index.ts" }"#,
    );
    ws.write(
        "plugins/late/index.ts",
        "export default async (input: { m: string }): Promise<string> => {\n  try { await import(`./${input.m}.ts`); return \"loaded\"; } catch (e) { return String(e); }\n};\n",
    );
    ws.write(
        "plugins/late/broken.ts",
        "export const ok = 1;\nexport const bad: = 2;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: l\nsteps:\n  - id: l\n    plugin: ./plugins/late\n    with: { m: broken }\n",
    );
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out = run.json()["steps"][0]["output"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(out.starts_with("Error: broken.ts:2:19: "), "{out}");
}
