//! The precision corpus of `aether check` (issue 24): real bundles of popular packages, checked
//! as plugins, with every finding expected written down. The packages are those of
//! `fixtures/corpus/package-lock.json` (pinned), installed once by `npm ci` (from the
//! registry, outside any sandbox; `.ci/run` provides `npm`) under the target directory; each
//! test copies them into a fresh plugin whose `index.js` imports the package's browser or ESM
//! bundle, runs `aether check PLUGIN --format json`, and compares the findings (rule, level,
//! file, repeat count) with the list below. A reviewer reads every one of these: each expected
//! finding says why it is true.
//!
//! Counts on main before issue 24 (findings, `aether check --format json`): prettier 1,854
//! warnings (`globalThis` "used as a value" 1,714 times: minified names aliasing it in one
//! function were taken as aliases everywhere), htmlparser2 8 **errors** (`fetch` needs network:
//! domutils' own `function fetch`), dayjs 1 (its UMD wrapper), handlebars 3 (`instanceof
//! Function`, `Function('return this')`, `globalThis.Handlebars = …`; its real `Function.apply`
//! was missed), ajv 1, nunjucks 3, mathjs 0, node-sql-parser 1, lodash-es 2, marked 0.

use std::path::Path;

use crate::Ws;
use crate::npm::{copy_tree, npm_ci};

/// One expected finding: rule, level, file (relative to the plugin), repeat count, and why it
/// is true.
type Expected = (&'static str, &'static str, &'static str, u64, &'static str);

/// A workspace with plugin `plugins/<name>`: the corpus's `node_modules`, an ES-module
/// `index.js` = `code`, and a manifest asking for nothing.
fn corpus_plugin(name: &str, code: &str) -> Ws {
    let installed = npm_ci(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/corpus"));
    let ws = Ws::new();
    let dir = format!("plugins/{name}");
    copy_tree(
        &installed.join("node_modules"),
        &ws.path().join(&dir).join("node_modules"),
    );
    ws.write(
        &format!("{dir}/aether-plugin.json"),
        &format!(r#"{{ "name": "{name}", "version": "1.0.0", "main": "index.js" }}"#),
    );
    ws.write(
        &format!("{dir}/package.json"),
        r#"{ "name": "p", "private": true, "type": "module" }"#,
    );
    ws.write(&format!("{dir}/index.js"), code);
    ws
}

/// Checks the corpus plugin and compares its findings with `expected`.
fn assert_findings(name: &str, code: &str, expected: &[Expected]) {
    let ws = corpus_plugin(name, code);
    let dir = format!("plugins/{name}");
    let out = ws.aether(&["check", &dir, "--format", "json"]);
    out.no_panic();
    let v = out.json();
    let prefix = ws.path().join(&dir);
    let real = ws.real().join(&dir);
    let mut got: Vec<(String, String, String, u64)> = v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"))
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or_default();
            let rel = Path::new(file)
                .strip_prefix(&prefix)
                .or_else(|_| Path::new(file).strip_prefix(&real))
                .map_or_else(|_| file.to_owned(), |p| p.display().to_string());
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f["level"].as_str().unwrap_or_default().to_owned(),
                rel,
                f["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String, u64)> = expected
        .iter()
        .map(|(r, l, f, n, _)| ((*r).into(), (*l).into(), (*f).into(), *n))
        .collect();
    want.sort();
    assert_eq!(
        got,
        want,
        "{name}: {}",
        serde_json::to_string_pretty(&v["findings"]).unwrap_or_default()
    );
    let errors = want.iter().filter(|w| w.1 == "error").count();
    assert_eq!(
        out.code,
        Some(if errors > 0 { 1 } else { 0 }),
        "{}",
        out.stderr
    );
}

const GET_NATIVE: &str = "true: `getNative(root, 'Map')` passes the global object to a function \
     that reads a computed key of it (`object[key]`), which the analysis does not follow";
const FUNCTION_WHY: &str =
    "true: builds code from text at run time, which no static analysis can see";
const GLOBAL_EXPORTED: &str = "true: a bundled CommonJS module exports the global object \
     (`module.exports = g`), and what its importers do with it is not followed";

// See: https://github.com/prettier/prettier (3.10.2 standalone + babel, estree, markdown and
// postcss plugins, 1.1 MB of minified ESM): 1,854 warnings on main for the first three alone.
#[test]
fn issue_24_corpus_prettier() {
    assert_findings(
        "prettier",
        r#"import * as prettier from "prettier/standalone";
import * as babel from "prettier/plugins/babel";
import * as estree from "prettier/plugins/estree";
import * as markdown from "prettier/plugins/markdown";
import * as postcss from "prettier/plugins/postcss";
export default async (input) => ({
  out: await prettier.format(String(input.code ?? "a=1"), {
    parser: String(input.parser ?? "babel"),
    plugins: [babel, estree, markdown, postcss],
  }),
});
"#,
        &[],
    );
}

// See: https://github.com/fb55/domutils/blob/master/src/feeds.ts (its own `function fetch`),
// reached through htmlparser2's `DomUtils`: 8 errors on main.
#[test]
fn issue_24_corpus_htmlparser2() {
    assert_findings(
        "htmlparser2",
        r#"import { parseDocument, DomUtils } from "htmlparser2";
export default (input) => ({
  n: DomUtils.getElementsByTagName("p", parseDocument(String(input.html ?? "<p>x</p>")).children).length,
  feed: DomUtils.getFeed(parseDocument("<rss></rss>").children) === null,
});
"#,
        &[],
    );
}

// See: https://github.com/iamkun/dayjs (its UMD wrapper `t="undefined"!=typeof globalThis?
// globalThis:t||self`): 1 warning on main.
#[test]
fn issue_24_corpus_dayjs() {
    assert_findings(
        "dayjs",
        r#"import dayjs from "dayjs/dayjs.min.js";
export default (input) => ({ d: dayjs(input.when ?? 0).format("YYYY") });
"#,
        &[],
    );
}

// See: https://github.com/handlebars-lang/handlebars.js/blob/master/lib/handlebars/compiler/javascript-compiler.js
// (`Function.apply(this, params)` compiles templates, missed on main, where `instanceof
// Function`, `Function('return this')` and `globalThis.Handlebars = …` were reported instead).
#[test]
fn issue_24_corpus_handlebars() {
    assert_findings(
        "handlebars",
        r#"import Handlebars from "handlebars/dist/handlebars.js";
export default (input) => ({ out: Handlebars.compile("{{a}}")(input) });
"#,
        &[(
            "dynamic-code",
            "warning",
            "node_modules/handlebars/dist/handlebars.js",
            2,
            FUNCTION_WHY,
        )],
    );
}

// See: https://github.com/ajv-validator/ajv/blob/master/lib/compile/index.ts (`new Function`
// compiles each schema's validator).
#[test]
fn issue_24_corpus_ajv() {
    assert_findings(
        "ajv",
        r#"import Ajv from "ajv";
export default (input) => ({ ok: new Ajv().validate({ type: "object" }, input) });
"#,
        &[(
            "dynamic-code",
            "warning",
            "node_modules/ajv/dist/compile/index.js",
            1,
            FUNCTION_WHY,
        )],
    );
}

// See: https://github.com/mozilla/nunjucks/blob/master/nunjucks/src/environment.js (`new
// Function(source)` runs compiled templates) and webpack's `global` module (exports the global
// object).
#[test]
fn issue_24_corpus_nunjucks() {
    assert_findings(
        "nunjucks",
        r#"import nunjucks from "nunjucks/browser/nunjucks.js";
export default (input) => ({ out: nunjucks.renderString("{{ a }}", input) });
"#,
        &[
            (
                "dynamic-code",
                "warning",
                "node_modules/nunjucks/browser/nunjucks.js",
                1,
                FUNCTION_WHY,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/nunjucks/browser/nunjucks.js",
                1,
                GLOBAL_EXPORTED,
            ),
        ],
    );
}

// See: https://github.com/josdejong/mathjs (its webpack UMD browser bundle, 650 KB). Quiet on
// main too: a guard against new false findings, not a regression test.
#[test]
fn corpus_mathjs_stays_quiet() {
    assert_findings(
        "mathjs",
        r#"import * as math from "mathjs/lib/browser/math.js";
export default (input) => ({ out: String(math.evaluate(String(input.expr ?? "1+1"))) });
"#,
        &[],
    );
}

// See: https://github.com/taozhi8833998/node-sql-parser (its webpack UMD bundle, one line of
// 2.5 MB: webpack's `global` module exports the global object).
#[test]
fn issue_24_corpus_node_sql_parser() {
    assert_findings(
        "node-sql-parser",
        r#"import sql from "node-sql-parser/umd/mysql.umd.js";
export default (input) => ({ ast: new sql.Parser().astify(String(input.sql ?? "SELECT 1")) });
"#,
        &[(
            "dynamic-access",
            "warning",
            "node_modules/node-sql-parser/umd/mysql.umd.js",
            1,
            GLOBAL_EXPORTED,
        )],
    );
}

// See: https://github.com/lodash/lodash/blob/4.17.21/template.js (`Function(importsKeys,
// source)` compiles templates) and `_root.js` (`Function('return this')()`, exported as
// `root` and followed into its 30 importers, five of which pass it to `getNative`).
#[test]
fn issue_24_corpus_lodash_es() {
    assert_findings(
        "lodash-es",
        r#"import * as _ from "lodash-es";
export default (input) => ({ out: _.sortBy(input.xs ?? [3, 1, 2]) });
"#,
        &[
            (
                "dynamic-code",
                "warning",
                "node_modules/lodash-es/template.js",
                1,
                FUNCTION_WHY,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/lodash-es/_DataView.js",
                1,
                GET_NATIVE,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/lodash-es/_Map.js",
                1,
                GET_NATIVE,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/lodash-es/_Promise.js",
                1,
                GET_NATIVE,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/lodash-es/_Set.js",
                1,
                GET_NATIVE,
            ),
            (
                "dynamic-access",
                "warning",
                "node_modules/lodash-es/_WeakMap.js",
                1,
                GET_NATIVE,
            ),
        ],
    );
}

// See: https://github.com/markedjs/marked (its ESM bundle). Quiet on main too: a guard.
#[test]
fn corpus_marked_stays_quiet() {
    assert_findings(
        "marked",
        r#"import { marked } from "marked";
export default (input) => ({ out: marked.parse(String(input.md ?? "*x*")) });
"#,
        &[],
    );
}
