//! Issue 24: names resolve through scopes and symbols (`oxc_semantic`), not a per-module table
//! of names. A finding about `fetch`, `aether`, `globalThis`, `require`, `eval` or `Function`
//! is made only for the unshadowed global; aliases follow real bindings; what the analysis
//! cannot decide is a warning that says why, and `error` is kept for what is certain.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

mod common;

use aether_analyze::{Finding, Level};
use common::{Perms, of, one};

const NOTHING: Perms = Perms {
    read: &[],
    write: &[],
    domains: &[],
    listen: &[],
    env: &[],
    commands: &[],
};

const SOME: Perms = Perms {
    read: &["data/**"],
    write: &["out/**"],
    domains: &["api.example.com"],
    listen: &[],
    env: &["API_TOKEN"],
    commands: &["/usr/bin/gzip"],
};

fn targets(findings: &[Finding], rule: &str) -> Vec<String> {
    of(findings, rule)
        .iter()
        .map(|f| f.target.clone().unwrap_or_default())
        .collect()
}

// See: https://github.com/fb55/domutils/blob/master/src/feeds.ts (`function fetch(tagName,
// where, recurse)`): htmlparser2's bundle failed `check` with 8 errors.
#[test]
fn issue_24_a_local_function_named_fetch_is_not_the_global() {
    let f = one(
        "function fetch(tag, where) { return where.filter((n) => n.name === tag); }\n\
         export default (input) => fetch('title', input.nodes);\n",
        &NOTHING,
    );
    assert!(f.is_empty(), "{f:#?}");
    // Block-scoped and parameter shadows too.
    let f = one(
        "{ const fetch = (u) => u; fetch('https://evil.example/'); }\n\
         export const g = (aether) => aether.fs.readText('/etc/passwd');\n\
         export const h = (require) => require('fs');\n",
        &NOTHING,
    );
    assert!(f.is_empty(), "{f:#?}");
}

// See: https://github.com/prettier/prettier (standalone bundle: minified `e`/`t` that alias
// `globalThis` in one function were aliases everywhere, 21,354 warnings in the issue).
#[test]
fn issue_24_a_minified_alias_is_one_binding_not_one_name() {
    let f = one(
        "function a() { var e = globalThis; return e.Symbol; }\n\
         function b(e, t) { e[t] = 1; return e; }\n\
         function c(t) { var e = t; return [e, e[t]]; }\n\
         export default (input) => [a(), b({}, input.k), c(input.k)];\n",
        &NOTHING,
    );
    assert!(f.is_empty(), "{f:#?}");
}

// Block scopes: two `const f` in two blocks are two bindings.
#[test]
fn issue_24_block_scoped_aliases_are_separate() {
    let f = one(
        "{ const f = aether.fs; f.readText('data/a.txt'); }\n\
         { const f = { readText: (p) => p }; f.readText('/etc/passwd'); }\n",
        &SOME,
    );
    assert!(of(&f, "grant-mismatch").is_empty(), "{f:#?}");
}

// See: https://github.com/umdjs/umd/blob/master/templates/returnExports.js and dayjs'
// minified wrapper.
#[test]
fn issue_24_a_umd_wrapper_is_not_a_finding() {
    let f = one(
        "!function(t,e){\"object\"==typeof exports&&\"undefined\"!=typeof module?module.exports=e():\
         \"function\"==typeof define&&define.amd?define(e):(t=\"undefined\"!=typeof globalThis?\
         globalThis:t||self).dayjs=e()}(this,function(){return 1});\n\
         var root = typeof self == 'object' && self || Function('return this')();\n\
         var g = g || new Function('return this')() || (1, eval)('this');\n\
         export default (x) => x instanceof Function && root.Symbol;\n",
        &NOTHING,
    );
    assert!(f.is_empty(), "{f:#?}");
}

// See: https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Global_Objects/Reflect/apply
#[test]
fn issue_24_call_apply_and_reflect_apply_arguments_are_checked() {
    let f = one(
        "fetch.call(null, 'https://evil.example/');\n\
         aether.fs.readText.apply(null, ['/etc/passwd']);\n\
         Reflect.apply(aether.env.get, null, ['AWS_SECRET']);\n\
         const { get } = aether.env; get.call(null, 'OTHER_SECRET');\n",
        &SOME,
    );
    assert_eq!(
        targets(&f, "grant-mismatch"),
        ["evil.example", "/etc/passwd", "AWS_SECRET", "OTHER_SECRET"],
        "{f:#?}"
    );
    assert!(
        of(&f, "grant-mismatch")
            .iter()
            .all(|x| x.level == Level::Error),
        "{f:#?}"
    );
}

// See: https://github.com/handlebars-lang/handlebars.js/blob/master/lib/handlebars/compiler/javascript-compiler.js
// (`Function.apply(this, params)`).
#[test]
fn issue_24_function_apply_is_dynamic_code() {
    let f = one(
        "export default (p) => [Function.apply(null, p), eval.call(null, p[0])];\n",
        &NOTHING,
    );
    assert_eq!(of(&f, "dynamic-code").len(), 2, "{f:#?}");
}

// Levels: a call certainly through the global is an error; through a name that may hold
// another value, a warning saying why.
#[test]
fn issue_24_an_undecidable_call_is_a_warning_saying_why() {
    let f = one(
        "const go = globalThis.fetch ? fetch : (u) => u;\n\
         export default () => go('https://x.example/');\n",
        &NOTHING,
    );
    let found = of(&f, "capability-undeclared");
    assert_eq!(found.len(), 1, "{f:#?}");
    assert_eq!(found[0].level, Level::Warning);
    assert!(
        found[0].message.contains("undecided"),
        "{}",
        found[0].message
    );

    let f = one(
        "let go = fetch;\nif (globalThis.x) go = (u) => u;\nexport default () => go('https://x.example/');\n",
        &NOTHING,
    );
    let found = of(&f, "capability-undeclared");
    assert_eq!(found.len(), 1, "{f:#?}");
    assert_eq!(found[0].level, Level::Warning);

    let f = one(
        "export default () => fetch('https://x.example/');\n",
        &NOTHING,
    );
    assert_eq!(of(&f, "capability-undeclared")[0].level, Level::Error);
}

// A UMD export onto the global object replaces no host name; replacing one still counts.
#[test]
fn issue_24_only_host_names_assigned_on_the_global_are_findings() {
    let f = one(
        "globalThis.MyLib = {};\nglobalThis.fetch = (u) => u;\n",
        &NOTHING,
    );
    let found = of(&f, "dynamic-access");
    assert_eq!(found.len(), 1, "{f:#?}");
    assert_eq!(found[0].line, 2);
}

// Recall: closures and aliases declared after their use still resolve to the binding.
#[test]
fn closures_and_late_aliases_are_followed() {
    let f = one(
        "export default () => later('/etc/passwd');\n\
         function outer() { return () => r('/etc/shadow'); }\n\
         const r = aether.fs.readText;\nconst later = r;\n",
        &SOME,
    );
    assert_eq!(
        targets(&f, "grant-mismatch"),
        ["/etc/passwd", "/etc/shadow"],
        "{f:#?}"
    );
}

// Aliases follow exports and re-exports across the plugin's modules: the importer's uses are
// checked, and the export is not reported as an escape.
#[test]
fn issue_24_aliases_follow_exports_across_modules() {
    let f = common::run(
        &[
            (
                "index.js",
                "import { files, go, rt } from './c.js';\n\
                 export default () => [files.readText('/etc/passwd'), go('https://evil.example/'), rt('/etc/shadow')];\n",
            ),
            (
                "a.js",
                "export const fs = aether.fs;\nconst f = fetch;\nexport default f;\n\
                 const { readText } = aether.fs;\nexport { readText as rt };\n",
            ),
            (
                "c.js",
                "export { fs as files, default as go } from './a.js';\nexport * from './a.js';\n",
            ),
        ],
        &SOME,
    );
    assert_eq!(
        targets(&f, "grant-mismatch"),
        ["/etc/passwd", "evil.example", "/etc/shadow"],
        "{f:#?}"
    );
    assert!(of(&f, "dynamic-access").is_empty(), "{f:#?}");
}

// See: https://github.com/lodash/lodash/blob/4.17.21/_root.js (`export default root`, the
// global object, imported by 30 modules of lodash-es).
#[test]
fn issue_24_an_exported_global_object_is_followed_not_an_escape() {
    let f = common::run(
        &[
            (
                "index.js",
                "import root from './_root.js';\nexport default () => root.Symbol;\n\
                 export function h() { return this !== root && root === globalThis; }\n",
            ),
            (
                "_root.js",
                "var freeSelf = typeof self == 'object' && self && self.Object === Object && self;\n\
                 var root = freeSelf || Function('return this')();\nexport default root;\n",
            ),
        ],
        &NOTHING,
    );
    assert!(f.is_empty(), "{f:#?}");
}

// Recall: a TypeScript `declare` is erased; the name is still the global.
#[test]
fn ambient_declarations_do_not_shadow_the_global() {
    let f = common::run(
        &[(
            "index.ts",
            "declare const aether: any;\ndeclare function fetch(u: string): unknown;\n\
             export default () => [aether.fs.readText('/etc/passwd'), fetch('https://evil.example/')];\n",
        )],
        &SOME,
    );
    assert_eq!(
        targets(&f, "grant-mismatch"),
        ["/etc/passwd", "evil.example"],
        "{f:#?}"
    );
}
