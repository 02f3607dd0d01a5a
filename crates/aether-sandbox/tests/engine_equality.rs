//! `==` of two values of one type and the making of generators (issue 19,
//! `vendor/rquickjs-sys/patches/0043` and `0044`): `==`/`!=` decide two strings, objects,
//! symbols, booleans, `undefined` or `null` as `===` does before the generic comparison's
//! conversions (IsLooselyEqual's first step), two flat strings are compared in place by `==` and
//! `===`, an ASCII character's one-character string (`s[i]`, `charAt`, iteration) is one shared
//! string atom per runtime, a generator's data and frame are one allocation, and a generator
//! prologue that only stores `this` is done without entering the interpreter.
//! What must not change is compared with Node 20's output for the same script: every pair of
//! types under `==`, `!=`, `===` and `!==` (with the conversions they call, in order), and
//! generators' arguments, defaults, `this`, `return`/`throw`, early exits, `yield*`, closures over
//! their variables, prototypes and many live generators.

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

#[path = "support/js.rs"]
mod js;
use js::{eval, eval_sloppy};

use std::path::Path;

/// The script in `fixtures/{name}.js` gives Node's output in `fixtures/{name}.node.txt`.
fn assert_fixture_equals_node(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join(format!("{name}.js"))).expect("cases");
    let expected =
        std::fs::read_to_string(dir.join(format!("{name}.node.txt"))).expect("node output");
    let actual = eval(&script).expect("cases run");
    js::assert_same_lines_as_node(&actual, &expected, 4);
}

// See: https://tc39.es/ecma262/#sec-islooselyequal (step 1: operands of one type are compared
// with IsStrictlyEqual; the conversions only for two types) and test262's
// `language/expressions/equals`.
#[test]
fn issue_19_equality_of_every_pair_of_types_equals_node() {
    let _quiet = js::quiet();
    assert_fixture_equals_node("equality_semantics");
}

// See: https://tc39.es/ecma262/#sec-generator-function-definitions-runtime-semantics-evaluatebody
// (the parameters are bound at the call, the body runs at the first `next()`).
#[test]
fn issue_19_generator_frames_equal_node() {
    let _quiet = js::quiet();
    assert_fixture_equals_node("generator_frames");
}

#[test]
fn issue_19_sloppy_generator_arguments_outlive_it() {
    let _quiet = js::quiet();
    // A sloppy generator's mapped `arguments` aliases its parameters in the generator's frame
    // (now allocated with the generator): writes through either side are seen by the other
    // while it runs, and the object keeps its values after the generator is done and gone.
    let out = eval_sloppy(
        r#"
        function* g(a, b) { arguments[0] = "A"; yield a; b = "B"; yield arguments[1]; yield arguments; }
        let it = g(1, 2, 3);
        const seen = [it.next().value, it.next().value];
        const args = it.next().value;
        it.next(); it = null;
        const junk = []; for (let i = 0; i < 20000; i++) junk.push({ i });
        seen.concat([args[0], args[1], args[2], args.length]).join(",")
        "#,
    );
    // Node 20: the same script's value.
    assert_eq!(out.as_deref(), Ok("A,B,A,B,3,3"));
}

#[test]
fn issue_19_sloppy_generator_this_is_converted() {
    let _quiet = js::quiet();
    // A sloppy generator's `this` is converted by its prologue (undefined and null to the
    // global object, a primitive to its wrapper); only an object `this` may be stored without
    // running it.
    let out = eval_sloppy(
        r#"
        function* t() { yield typeof this; yield this === globalThis; yield this instanceof Number; }
        const o = {};
        [[...t()].join(","), [...t.call(5)].join(","), [...t.call(o)].join(","), [...t.call(null)].join(",")].join(" ")
        "#,
    );
    // Node 20: the same script's value.
    assert_eq!(
        out.as_deref(),
        Ok("object,true,false object,false,true object,false,false object,true,false")
    );
}

/// `a == b` over `a === b` of the same two strings (two different string atoms of one length),
/// in the test build: 1.46-1.48 before patch 0043, 1.06-1.16 after (at load averages of 8-12).
const LOOSE_STRING_EQUALITY_LIMIT: f64 = 1.3;

// See: https://tc39.es/ecma262/#sec-islooselyequal; markdown-it's Babel helper
// `"symbol" == _typeof(i)` (489,546 such comparisons at the benchmark's size).
#[test]
fn issue_19_loose_equality_of_two_strings_costs_what_strict_equality_does() {
    let _quiet = js::quiet();
    let setup = r#"
        const names = ["object", "string", "symbol", "number"];
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) { const t = names[i & 3]; if (t === "symbol") s++; if ("string" === t) s += 2; } return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) { const t = names[i & 3]; if (t == "symbol") s++; if ("string" == t) s += 2; } return s; };
    "#;
    let ratio = js::cpu_ratio("", setup, 200_000);
    eprintln!("`==` of two strings / `===` of the same, CPU time: {ratio:.2}");
    assert!(
        ratio < LOOSE_STRING_EQUALITY_LIMIT,
        "`==` of two strings / `===` of the same, CPU time: {ratio:.2}"
    );
}

/// Reading a one-character string by index and comparing it with literals, over the same loop
/// on `charCodeAt` and numbers, in the test build: 1.50-1.51 before patch 0043 (a string made
/// and freed per read, two calls of the string comparison), 0.91 after (the character's shared
/// string atom, compared by identity).
const CHARACTER_STRINGS_LIMIT: f64 = 1.15;

// See: yaml's lexer (`yaml/browser/dist/parse/lexer.js`: `const ch = this.buffer[i]` compared
// with `'-'`, `':'`, `' '`); 388,019 such comparisons at the benchmark's size.
#[test]
fn issue_19_one_character_strings_compare_as_fast_as_char_codes() {
    let _quiet = js::quiet();
    let setup = r#"
        const text = "key: value\n- item: 1\n  other: [a, b]\n".repeat(40).slice(0, 1024);
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) { const c = text.charCodeAt(i & 1023); if (c === 45) s++; if (c === 58) s += 2; } return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) { const c = text[i & 1023]; if (c === "-") s++; if (c === ":") s += 2; } return s; };
    "#;
    let ratio = js::cpu_ratio("", setup, 200_000);
    eprintln!("`s[i] === \"-\"` / `s.charCodeAt(i) === 45`, CPU time: {ratio:.2}");
    assert!(
        ratio < CHARACTER_STRINGS_LIMIT,
        "`s[i] === \"-\"` / `s.charCodeAt(i) === 45`, CPU time: {ratio:.2}"
    );
}

/// test262's equality and generator tests against the patched engine: the files that fail must
/// be exactly those listed in `fixtures/test262_equality_failures.txt`, written from the engine
/// before patches 0043-0044. Runs where a checkout is given:
/// `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox --test engine_equality`
/// (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_equality_and_generators_results_unchanged() {
    let _quiet = js::quiet();
    assert_known_failures(
        &[
            "test/language/expressions/equals",
            "test/language/expressions/does-not-equals",
            "test/language/expressions/strict-equals",
            "test/language/expressions/strict-does-not-equals",
            "test/language/statements/generators",
            "test/language/expressions/generators",
            "test/built-ins/GeneratorPrototype",
        ],
        "test262_equality_failures.txt",
    );
}

/// test262's `String` tests (indexing, `charAt`, `at`, the string iterator, `split` and the
/// rest, which make one-character strings) against the patched engine: the failures must be
/// exactly those in `fixtures/test262_strings_failures.txt`, written from the engine before
/// patch 0043. Runs where a checkout is given, as above.
#[test]
fn issue_19_test262_strings_results_unchanged() {
    let _quiet = js::quiet();
    assert_known_failures(&["test/built-ins/String"], "test262_strings_failures.txt");
}
