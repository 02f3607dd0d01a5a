//! Two costs of the parser and lodash-es cases (`vendor/rquickjs-sys/patches/0045`, `0046`):
//! a `for … of` loop over an array called `Array.prototype.values` through a C-function call
//! and read `length` and each element through the generic property paths on every step, and
//! every function made at run time defined its `length`, `name` and `prototype` one property
//! definition (and shape transition) at a time. The semantics are checked against Node 20's
//! output for the same scripts (`fixtures/forof_*.node.txt`); the CPU-ratio tests fail on the
//! engine before each patch.

#[path = "support/js.rs"]
mod js;
use js::{assert_same_lines_as_node, cpu_ratio_of, eval};

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

// See: https://tc39.es/ecma262/#sec-%arrayiteratorprototype%.next and
// https://tc39.es/ecma262/#sec-createarrayiterator (length read on every step, elements by Get,
// so holes read the prototypes and changes during the loop are seen), and
// https://github.com/quickjs-ng/quickjs/issues/1392.
#[test]
fn issue_19_for_of_over_arrays_matches_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/forof_arrays.js")).expect("the fixture runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/forof_arrays.node.txt"), 2);
}

// See: https://tc39.es/ecma262/#sec-ordinaryfunctioncreate, #sec-setfunctionlength,
// #sec-setfunctionname and #sec-makeconstructor (the order `length`, `name`, `prototype` and
// their attributes).
#[test]
fn issue_19_functions_made_at_run_time_match_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/forof_closures.js")).expect("the fixture runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/forof_closures.node.txt"), 2);
}

/// A `for … of` loop over a 16-element array against an indexed loop over the same array
/// (`a.length` and `a[i]` on each step), loop start included. Before patch 0045 each step cost
/// two generic property reads inside the iterator's `next`, and the start a C-function call.
#[test]
fn issue_19_for_of_over_an_array_is_cheap() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio_of(
        "(n) => { const a = Array.from({ length: 16 }, (_, i) => i); let s = 0; for (let k = 0; k < n; k += 16) { for (let i = 0; i < a.length; i++) s += a[i]; } return s; }",
        "(n) => { const a = Array.from({ length: 16 }, (_, i) => i); let s = 0; for (let k = 0; k < n; k += 16) { for (const x of a) s += x; } return s; }",
    );
    assert!(
        ratio < FOR_OF_LIMIT,
        "for-of / indexed loop CPU ratio {ratio:.2}"
    );
}

/// The limit of [`issue_19_for_of_over_an_array_is_cheap`]: 1.37-1.41 before patch 0045 in the
/// test build, 0.94-0.97 after.
const FOR_OF_LIMIT: f64 = 1.2;

/// Making a function (`function (x) { return x + i; }`, which has a `prototype`) against
/// making an object literal of two properties. Before patch 0046 the function's three own
/// properties were each a property definition and a shape transition.
#[test]
fn issue_19_making_a_function_is_cheap() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio_of(
        "(n) => { let s = 0; for (let i = 0; i < n; i++) { const o = { a: i, b: 1 }; s += o.b; } return s; }",
        "(n) => { let s = 0; for (let i = 0; i < n; i++) { const f = function (x) { return x + i; }; s += f.length; } return s; }",
    );
    assert!(
        ratio < CLOSURE_LIMIT,
        "function / object literal CPU ratio {ratio:.2}"
    );
}

/// The limit of [`issue_19_making_a_function_is_cheap`]: 3.12-3.46 before patch 0046 in the test
/// build, 1.90-1.97 after.
const CLOSURE_LIMIT: f64 = 2.6;

/// test262's `for … of`, the array iterator, and function objects made by declarations,
/// expressions, arrows and class bodies (and bound from them): the failing files must be those listed in
/// `fixtures/test262_forof_closures_failures.txt`, written from the engine before patches
/// 0045-0046. Runs where a checkout is given:
/// `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox --test engine_forof_closures`
/// (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_for_of_and_functions_unchanged() {
    let _quiet = js::quiet();
    assert_known_failures(
        &[
            "test/language/statements/for-of",
            "test/built-ins/ArrayIteratorPrototype",
            "test/language/expressions/function",
            "test/language/statements/function",
            "test/language/expressions/arrow-function",
            "test/built-ins/Function/prototype/bind",
            "test/language/statements/class/definition",
        ],
        "test262_forof_closures_failures.txt",
    );
}
