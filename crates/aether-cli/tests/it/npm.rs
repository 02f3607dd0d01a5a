//! Popular npm packages run unbundled from a plugin's `node_modules` with Node's output (issue
//! 17, SPEC §5 "Imports"). The packages are those of `fixtures/npm/package-lock.json`,
//! installed once per lockfile by `npm ci` (from the registry, outside any sandbox) under the
//! target directory; each test copies them into a fresh plugin, runs the same plugin code with
//! `aether run` and with `node`, and compares the outputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::Ws;

/// The installed fixture (`<dir>/node_modules`), by the SHA-256 of its lockfile.
fn installed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| npm_ci(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/npm")))
}

/// Installs the `package.json` and `package-lock.json` of `fixture` with `npm ci` (from the
/// registry, outside any sandbox) into a directory of the target directory named by the
/// lockfile's SHA-256, once: the directory holding `node_modules`.
pub(crate) fn npm_ci(fixture: &Path) -> PathBuf {
    static ATTEMPT: AtomicUsize = AtomicUsize::new(0);
    let lock = std::fs::read(fixture.join("package-lock.json")).unwrap();
    let digest = Sha256::digest(&lock);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("npm-fixture-{hex}"));
    if root.join("node_modules/.package-lock.json").is_file() {
        return root;
    }
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let tmp = root.with_extension(format!("tmp-{}-{attempt}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(fixture.join(f), tmp.join(f)).unwrap();
    }
    let out = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&tmp)
        .output()
        .expect("npm (needed to install the fixture packages)");
    assert!(
        out.status.success(),
        "npm ci failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another test may have won the race: either copy is the same.
    if std::fs::rename(&tmp, &root).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    root
}

/// Copies `from` into `to` (files hard-linked where possible), symlinks as symlinks (npm's
/// `.bin` links stay inside).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), dest).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if std::fs::hard_link(entry.path(), &dest).is_err() {
            // Hard links are enough (no test writes into node_modules) and much faster; a
            // copy where the target directory is on another file system.
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A workspace with plugin `p` (its `node_modules` the fixture's, its `package.json` of
/// `type`, its `index.js` = `code`) and a one-step pipeline running it.
pub(crate) fn npm_plugin(kind: &str, code: &str) -> Ws {
    let ws = Ws::new();
    copy_tree(
        &installed().join("node_modules"),
        &ws.path().join("plugins/p/node_modules"),
    );
    ws.write(
        "plugins/p/aether-plugin.json",
        r#"{ "name": "p", "version": "1.0.0", "main": "index.js" }"#,
    );
    ws.write(
        "plugins/p/package.json",
        &format!(r#"{{ "name": "p", "private": true, "type": "{kind}" }}"#),
    );
    ws.write("plugins/p/index.js", code);
    ws.write(
        "pipeline.yaml",
        "name: npm\nsteps:\n  - id: s\n    plugin: ./plugins/p\n    with: { \"n\": 3 }\n",
    );
    ws
}

/// What `node` prints for the plugin's default export called with the step's input.
pub(crate) fn node_output(ws: &Ws) -> serde_json::Value {
    let runner = r#"
        const { default: f } = await import("./index.js");
        const out = await f({ n: 3 }, { step: "s", pipeline: "npm", plugin: { name: "p", version: "1.0.0" } });
        process.stdout.write(JSON.stringify(out === undefined ? null : out));
    "#;
    let out = Command::new("node")
        .args(["--input-type=module", "-e", runner])
        .current_dir(ws.path().join("plugins/p"))
        .output()
        .expect("node (the reference for these tests)");
    assert!(
        out.status.success(),
        "node failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the plugin with aether and with node; both outputs must be equal (and not `null`).
fn same_as_node(kind: &str, code: &str) -> serde_json::Value {
    let ws = npm_plugin(kind, code);
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let ours = run.json()["steps"][0]["output"].clone();
    let node = node_output(&ws);
    assert_eq!(ours, node, "aether and node differ");
    assert!(!ours.is_null());
    ours
}

// See: https://github.com/markedjs/marked (ESM `exports` with `import`/`default` conditions).
#[test]
fn issue_17_marked_runs_from_node_modules_as_in_node() {
    same_as_node(
        "module",
        r#"import { marked, Marked } from "marked";
export default function (input) {
  const md = "Intro\n\n# Title\n\nSome *emphasis*, `code` and a [link](https://example.org).\n\n- a\n- b\n";
  return { html: marked.parse(md), inline: new Marked().parseInline("**x** " + input.n) };
}
"#,
    );
}

// See: https://github.com/eemeli/yaml (`exports` with `node`/`default` conditions: aether takes
// `default`, the browser build, an ES module).
#[test]
fn issue_17_yaml_runs_from_node_modules_as_in_node() {
    same_as_node(
        "module",
        r#"import YAML, { parseDocument } from "yaml";
export default function () {
  const doc = parseDocument("a: 1\nb: [x, y]\nc: { d: true }\n");
  return { parsed: YAML.parse("k: v\nlist:\n  - 1\n  - 2\n"), back: doc.toString(), json: doc.toJSON() };
}
"#,
    );
}

// See: https://github.com/colinhacks/zod (an `exports` map of subpaths and conditions).
#[test]
fn issue_17_zod_runs_from_node_modules_as_in_node() {
    same_as_node(
        "module",
        r#"import { z } from "zod";
export default function (input) {
  const User = z.object({ name: z.string().min(2), age: z.number().int().positive() });
  const bad = User.safeParse({ name: "x", age: -1 });
  return {
    ok: User.parse({ name: "Ada", age: 36 }),
    issues: bad.success ? [] : bad.error.issues.map((i) => ({ path: i.path, code: i.code })),
    n: z.number().max(2).safeParse(input.n).success,
  };
}
"#,
    );
}

// See: https://github.com/date-fns/date-fns (hundreds of ES modules behind one `exports` map).
#[test]
fn issue_17_date_fns_runs_from_node_modules_as_in_node() {
    same_as_node(
        "module",
        r#"import { addDays, format, differenceInCalendarDays, parseISO } from "date-fns";
import { formatISO } from "date-fns/formatISO";
export default function (input) {
  const d = parseISO("2024-02-27T10:00:00Z");
  return {
    plus: format(addDays(new Date(2024, 1, 27), input.n), "yyyy-MM-dd EEEE"),
    diff: differenceInCalendarDays(new Date(2024, 2, 1), new Date(2024, 1, 1)),
    iso: formatISO(new Date(2020, 0, 1), { representation: "date" }),
    valid: !Number.isNaN(d.getTime()),
  };
}
"#,
    );
}

// See: https://github.com/lodash/lodash (a CommonJS UMD bundle, `main` only; imported as the
// default export from ES modules, required from CommonJS).
#[test]
fn issue_17_lodash_commonjs_runs_as_in_node() {
    same_as_node(
        "module",
        r#"import _ from "lodash";
import chunk from "lodash/chunk.js";
export default function (input) {
  return {
    chunk: chunk([1, 2, 3, 4, 5], 2),
    groups: _.groupBy(["one", "two", "three"], "length"),
    tpl: _.template("hi <%= who %>")({ who: "there" }),
    sorted: _.sortBy([{ a: 3 }, { a: 1 }, { a: input.n - 1 }], "a"),
  };
}
"#,
    );
}

// See: https://github.com/npm/node-semver (CommonJS, `module.exports = { … }` of required
// modules: named exports found statically, as Node's cjs-module-lexer does).
#[test]
fn issue_17_semver_commonjs_runs_as_in_node() {
    same_as_node(
        "commonjs",
        r#"const semver = require("semver");
const { satisfies } = require("semver");
const Range = require("semver/classes/range");
module.exports = async function () {
  const esm = await import("semver");
  return {
    valid: semver.valid("1.2.3"),
    gt: semver.gt("1.2.3", "9.8.7"),
    sat: satisfies("1.4.0", "^1.2.0 || >=3"),
    max: semver.maxSatisfying(["1.2.3", "1.2.4", "2.0.0"], "~1.2.0"),
    range: new Range(">=1.2.3 <2").toString(),
    named: typeof esm.satisfies === "function" && esm.default === semver,
  };
};
"#,
    );
}

// See: https://github.com/broofa/mime (ES module with its type tables) and
// https://github.com/jshttp/mime-db (`require("./db.json")`: JSON data loaded by CommonJS).
#[test]
fn issue_17_mime_and_json_data_run_as_in_node() {
    same_as_node(
        "module",
        r#"import mime from "mime";
import db from "mime-db";
import raw from "mime-db/db.json" with { type: "json" };
export default function () {
  return {
    type: mime.getType("report.pdf"),
    ext: mime.getExtension("text/html"),
    json: db["application/json"],
    same: raw["text/css"].extensions,
    count: Object.keys(db).length === Object.keys(raw).length,
  };
}
"#,
    );
}

// See: https://github.com/handlebars-lang/handlebars.js (CommonJS `main` that requires its
// `dist/cjs` tree, and `source-map` from another package, with `require`).
#[test]
fn issue_17_handlebars_commonjs_with_require_runs_as_in_node() {
    same_as_node(
        "commonjs",
        r#"const Handlebars = require("handlebars");
module.exports = function (input) {
  Handlebars.registerHelper("shout", (s) => String(s).toUpperCase() + "!");
  const t = Handlebars.compile("{{#each items}}<li>{{shout this}}</li>{{/each}} {{n}} {{{raw}}} {{esc}}");
  return { html: t({ items: ["a", "b"], n: input.n, raw: "<b>", esc: "<i>" }), version: typeof Handlebars.VERSION };
};
"#,
    );
}

// The process tier goes through the same host (its own wire messages): the same package runs
// there too.
#[test]
fn issue_17_packages_run_in_the_process_tier() {
    let ws = npm_plugin(
        "commonjs",
        "const semver = require('semver');\nmodule.exports = () => ({ ok: semver.satisfies('1.2.3', '^1') });\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: npm\nsteps:\n  - id: s\n    plugin: ./plugins/p\n    isolation: process\n",
    );
    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    run.no_panic();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.json()["steps"][0]["output"],
        serde_json::json!({ "ok": true })
    );
}
