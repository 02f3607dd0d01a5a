//! The engine's built-ins and runtime services outside the interpreter loop (issue 19,
//! `vendor/rquickjs-sys/patches/0030`): an alternation of six or more alternatives that start
//! with a literal character compiles to a dispatch on the current character (a trie of literal
//! prefixes) instead of one split per alternative, with every RegExp result the same as before.
//! test262's RegExp and String-method directories run in `engine_regex`
//! (`issue_19_test262_regexp_results_unchanged`), with the same failures before and after.

use std::path::Path;

use aether_sandbox::compile_stats;

#[path = "support/js.rs"]
mod js;
use js::{cpu_ratio, eval, eval_counting_polls, run_step_text};

/// 2,000 names with varied first letters, an alternation of them as he's `regexDecode` has
/// (`&(name|name|...);`), and a text naming 400 of them.
const NAMES: &str = r#"
    const names = [];
    for (let i = 0; i < 2000; i++) names.push(String.fromCharCode(97 + i % 26) + (i * 7919 % 100003).toString(36));
    const map = new Map(names.map((k, i) => [k, String(i)]));
    const big = new RegExp("&(" + names.join("|") + ");", "g");
    let text = "";
    for (let i = 0; i < 400; i++) text += "some words &" + names[(i * 37) % 2000] + "; more &amp text ";
"#;

// See: he 2.0.0 src/data.mjs (regexDecode, regexEncodeNonAscii); test262
// built-ins/RegExp/S15.10.2.3_A1_T1..T17 (disjunction order); the expected lines are Node 20's.
#[test]
fn issue_19_literal_alternations_match_node() {
    let _quiet = js::quiet();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join("regex_dispatch.js")).expect("cases");
    let expected = std::fs::read_to_string(dir.join("regex_dispatch.node.json")).expect("node");
    // Compared as text: lone surrogates (escaped by JSON.stringify) do not parse into Rust
    // strings.
    let actual = eval(&script).expect("cases run");
    js::assert_same_lines_as_node(&actual, &expected, 0);
}

// See: https://github.com/tc39/proposal-duplicate-named-groups (ES2025; Node 20 rejects it,
// so the expected values are the proposal's: the group that took part, else undefined).
#[test]
fn issue_19_duplicate_named_groups_in_a_literal_alternation() {
    let _quiet = js::quiet();
    let script = r#"
        const re = /(?<d>a1)|(?<d>b2)|c3|d4|e5|f6|(?<d>g7)/g;
        JSON.stringify([..."a1 b2 g7 c3".matchAll(re)].map((m) => [m[0], m.groups.d])) +
            " " + "b2 c3".replace(re, "[$<d>]");
    "#;
    assert_eq!(
        eval(script).as_deref(),
        Ok(r#"[["a1","a1"],["b2","b2"],["g7","g7"],["c3",null]] [b2] []"#)
    );
}

#[test]
fn issue_19_literal_alternation_match_skips_the_later_alternatives() {
    let _quiet = js::quiet();
    // Before patch 0030 a match of the first of 2,000 alternatives ran a goto (and an interrupt
    // poll) for each of the 1,999 after it. One search of `(?:&(?:names);)+` over 5,000
    // repetitions of the first name: 10 million polls, 1,001 calls of the interrupt handler
    // (the regex interpreter calls it once per 10,000 polls of one search). With the dispatch
    // a match runs one goto: 2 calls.
    let script = format!(
        r#"{NAMES}
        const repeated = new RegExp("(?:&(?:" + names.join("|") + ");)+", "g");
        const subject = ("&" + names[0] + ";").repeat(5000);
        String(subject.replace(repeated, "x"));
        "#
    );
    let (value, calls) = eval_counting_polls(&script, None);
    assert_eq!(value, Ok("x".to_owned()));
    assert!(calls <= 20, "interrupt handler calls: {calls}");
}

#[test]
fn issue_19_literal_alternation_is_not_slower_than_a_class_and_a_map() {
    let _quiet = js::quiet();
    // Replacing 400 names from an alternation of 2,000 against the same replacement through
    // `/&([0-9a-z]+);/g` and a Map: about 29x before patch 0030 (every '&' ran 2,000 splits),
    // about 1x after in the engine alone.
    let setup = format!(
        r#"{NAMES}
        const small = /&([0-9a-z]+);/g;
        const measured = (n) => {{ let s = 0; for (let i = 0; i < n; i++) s += text.replace(big, (m, k) => map.get(k)).length; return s; }};
        const reference = (n) => {{ let s = 0; for (let i = 0; i < n; i++) s += text.replace(small, (m, k) => map.has(k) ? map.get(k) : m).length; return s; }};
        if (measured(1) !== reference(1)) throw new Error("the two replacements differ");
        "#
    );
    let ratio = cpu_ratio("", &setup, 4);
    assert!(ratio < 4.0, "alternation / class and Map: {ratio:.2}");
}

// See: quickjs-ng quickjs.c JS_WriteRegExp / JS_ReadRegExp (a regex literal's bytecode is
// written with the module's and read back as it is).
#[test]
fn issue_19_literal_alternation_read_back_from_bytecode() {
    let _quiet = js::quiet();
    // The first step compiles the module and keeps its bytecode; the second reads it back,
    // with the regex literal's dispatch table in it.
    let source = r#"
        const re = /&(amp|ampersand|and|angle|ang|apos|lt|gt|quot|nbsp|(x)+y|\d);|&#(\d+);/g;
        export default () => "&amp; &ang; &ampersand; &xxy; &#38; &7; &zz;"
            .replace(re, (m, a, x, d) => `[${a}|${x}|${d}]`);
    "#;
    let expected = r#""[amp|undefined|undefined] [ang|undefined|undefined] [ampersand|undefined|undefined] [xxy|x|undefined] [undefined|undefined|38] [7|undefined|undefined] &zz;""#;
    assert_eq!(run_step_text(source).as_deref(), Ok(expected));
    let loads = compile_stats().loads;
    assert_eq!(run_step_text(source).as_deref(), Ok(expected));
    assert!(
        compile_stats().loads > loads,
        "the second step read bytecode"
    );
}
