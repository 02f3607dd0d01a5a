//! Three costs of the parser cases (`vendor/rquickjs-sys/patches/0047`, `0048`, `0049`): a
//! character class was built by copying the whole range set for every range added (quadratic:
//! acorn's and Babel's identifier classes of 1,000 ranges and more cost millions of instructions
//! each at load); a named property of an Array (`stack.pop`, `node.body.push`) was looked up
//! twice and never cached, because an Array is exotic (for its elements only); and
//! `RegExp.prototype.test` called the built-in `exec` as a JavaScript call and made its result
//! array, only to test it against null. The semantics are checked against Node 20's output for
//! the same scripts (`fixtures/regexp_classes_test.node.txt`, `fixtures/array_named_reads.node.txt`);
//! each CPU-ratio test fails on the engine before its patch. test262: `engine_regex`'s run
//! (`built-ins/RegExp` and the String methods taking a RegExp) and `engine_props`' run (property
//! accessors and the prototype chain) give the same failures after the patches.

#[path = "support/js.rs"]
mod js;
use js::{assert_same_lines_as_node, cpu_ratio, cpu_ratio_of, eval};

// See: https://tc39.es/ecma262/#sec-compiletocharset (the union of a class's ranges) and
// https://tc39.es/ecma262/#sec-regexp.prototype.test, #sec-regexpexec and
// #sec-regexpbuiltinexec (exec read once and called unless it is the built-in one, whose
// lastIndex reads, conversions and writes are observable, its result array not).
#[test]
fn issue_19_regexp_classes_and_test_match_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/regexp_classes_test.js")).expect("the fixture runs");
    assert_same_lines_as_node(
        &out,
        include_str!("fixtures/regexp_classes_test.node.txt"),
        2,
    );
}

// See: https://tc39.es/ecma262/#sec-array-exotic-objects (an Array is exotic in
// [[DefineOwnProperty]] only; [[Get]] is the ordinary one) and
// https://tc39.es/ecma262/#sec-ordinaryget.
#[test]
fn issue_19_named_reads_of_arrays_match_node() {
    let _quiet = js::quiet();
    let out = eval(&format!(
        "{}\n{}",
        js::MAKE_CACHE_TABLE,
        include_str!("fixtures/array_named_reads.js")
    ))
    .expect("the fixture runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/array_named_reads.node.txt"), 2);
}

/// Compiling one class of 1,200 ranges against compiling ten classes of 120 ranges each (the
/// same ranges, the same source length). Before patch 0047 each range added copied the set built
/// so far: the one large class cost about ten times the ten small ones.
#[test]
fn issue_19_large_character_classes_compile_in_linear_time() {
    let _quiet = js::quiet();
    let setup = r#"
        const range = (i) => { const c = 0x100 + i * 5; return "\\u" + c.toString(16).padStart(4, "0") + "-\\u" + (c + 2).toString(16).padStart(4, "0"); };
        const parts = [];
        for (let j = 0; j < 10; j++) { let s = ""; for (let i = 0; i < 120; i++) s += range(j * 120 + i); parts.push(s); }
        const whole = parts.join("");
        const reference = (n) => { let s = 0; for (let k = 0; k < n; k++) for (const p of parts) s += new RegExp("[" + p + "]").source.length; return s; };
        const measured = (n) => { let s = 0; for (let k = 0; k < n; k++) s += new RegExp("[" + whole + "]").source.length; return s; };
    "#;
    let ratio = cpu_ratio("", setup, 20);
    assert!(
        ratio < CLASS_LIMIT,
        "one class of 1,200 ranges / ten of 120, CPU ratio {ratio:.2}"
    );
}

/// The limit of [`issue_19_large_character_classes_compile_in_linear_time`]: 4.18 before patch
/// 0047 in the test build, 0.90 after (release binary: 3.3-5.9 before, 0.8-1.0 after).
const CLASS_LIMIT: f64 = 2.5;

/// Reading `pop` of an Array against reading it from an ordinary object whose prototype is
/// `Array.prototype`. Before patch 0048 the Array's read missed the property caches and walked
/// the prototype chain twice (once in the interpreter, once in `JS_GetPropertyInternal`).
#[test]
fn issue_19_named_reads_of_arrays_are_cached() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio(
        js::MAKE_CACHE_TABLE,
        "const reference = (n) => { const o = Object.create(Array.prototype); o.x = 1; let s = 0; for (let i = 0; i < n; i++) { if (o.pop !== o.push) s++; } return s; };
         const measured = (n) => { const a = [1, 2, 3]; let s = 0; for (let i = 0; i < n; i++) { if (a.pop !== a.push) s++; } return s; };",
        200_000,
    );
    assert!(
        ratio < ARRAY_LIMIT,
        "Array / ordinary object named-read CPU ratio {ratio:.2}"
    );
}

/// The limit of [`issue_19_named_reads_of_arrays_are_cached`]: 1.54 before patch 0048 in the
/// test build, 1.02 after (release binary: 1.47-1.49 before, 0.81-0.88 after).
const ARRAY_LIMIT: f64 = 1.25;

/// `re.test(s)` against `re.exec(s) !== null` for a pattern with two groups that matches. Before
/// patch 0049 `test` was `exec` called through a JavaScript call, with its result array made and
/// dropped: never cheaper than `exec`.
#[test]
fn issue_19_regexp_test_makes_no_result() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio_of(
        "(n) => { const re = /(\\w+)=(\\d+)/; let s = 0; for (let i = 0; i < n; i++) if (re.exec(\"key=42;\") !== null) s++; return s; }",
        "(n) => { const re = /(\\w+)=(\\d+)/; let s = 0; for (let i = 0; i < n; i++) if (re.test(\"key=42;\")) s++; return s; }",
    );
    assert!(ratio < TEST_LIMIT, "test / exec CPU ratio {ratio:.2}");
}

/// The limit of [`issue_19_regexp_test_makes_no_result`]: 1.03 before patch 0049 in the test
/// build, 0.38 after (release binary: 0.83-1.00 before, 0.16-0.41 after).
const TEST_LIMIT: f64 = 0.7;
