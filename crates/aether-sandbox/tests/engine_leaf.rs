//! Calls of small leaf functions (issue 19, `vendor/rquickjs-sys/patches/0041`): a function whose
//! bytecode is one expression over its parameters and number constants (`rotr`, `Chi`,
//! `u64.add3L` of @noble/hashes) is evaluated without a frame when it is given numbers; any
//! other argument takes the ordinary call. Results, errors, stacks, the recursion limit and
//! interrupts must be those of the ordinary call: checked against Node 20's output for the same
//! script (`fixtures/leaf_calls.node.txt`), for functions compiled from source and read back from
//! bytecode; the CPU-ratio test fails on the engine before the patch.

use aether_sandbox::compile_stats;

#[path = "support/js.rs"]
mod js;
use js::{assert_same_lines_as_node, cpu_ratio, eval, eval_counting_polls, run_step_text};

// See: https://tc39.es/ecma262/#sec-applystringornumericbinaryoperator and
// https://tc39.es/ecma262/#sec-numeric-types-number-unsignedRightShift (the operators a leaf
// evaluates), https://tc39.es/ecma262/#sec-ecmascript-function-objects-call-thisargument-argumentslist
// (missing arguments are undefined); @noble/hashes _u64.js, utils.js and _md.js (the functions).
#[test]
fn issue_19_leaf_calls_match_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/leaf_calls.js")).expect("the script runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/leaf_calls.node.txt"), 2);
}

/// A module's leaves, compiled in the first step and read back from bytecode in the second:
/// the reader flags them as the compiler does. The expected value is Node 20's.
#[test]
fn issue_19_leaf_calls_of_functions_read_from_bytecode() {
    let _quiet = js::quiet();
    let source = r#"
        const rotr = (word, shift) => (word << (32 - shift)) | (word >>> shift);
        const add3H = (low, Ah, Bh, Ch) => (Ah + Bh + Ch + ((low / 2 ** 32) | 0)) | 0;
        function Chi(a, b, c) { return (a & b) ^ (~a & c); }
        export default () => {
          let A = 0x6a09e667, E = 0x510e527f;
          for (let i = 0; i < 1000; i++) {
            E = (A + (rotr(E, 6) ^ Chi(E, A, i)) + 0x428a2f98) | 0;
            A = add3H(A * 4096 + 0.5, A, E, i);
          }
          return [A, E, rotr(-0, 3), rotr("x", 1), add3H(2 ** 33, 1, 2, 3)].join(" ");
        };
    "#;
    let expected = "\"-151430360 -1068591205 0 0 8\"".to_owned();
    assert_eq!(run_step_text(source), Ok(expected.clone()));
    let loads = compile_stats().loads;
    assert_eq!(run_step_text(source), Ok(expected));
    assert!(
        compile_stats().loads > loads,
        "the second step read bytecode"
    );
}

/// A leaf call polls the interrupt handler as an ordinary call does: a loop of leaf calls runs
/// the handler as many times as the same loop calling a function that is not a leaf (it has a
/// local), and an endless loop of leaf calls is stopped by it.
#[test]
fn issue_19_leaf_calls_poll_interrupts_like_other_calls() {
    let _quiet = js::quiet();
    let leaf = "const f = (a, b) => (a ^ b) + 1 | 0; let s = 0; \
                for (let i = 0; i < 200000; i++) s = f(s, i); String(s)";
    let not_leaf = "const f = (a, b) => { const t = a ^ b; return t + 1 | 0; }; let s = 0; \
                    for (let i = 0; i < 200000; i++) s = f(s, i); String(s)";
    let (leaf_value, leaf_polls) = eval_counting_polls(leaf, None);
    let (other_value, other_polls) = eval_counting_polls(not_leaf, None);
    assert_eq!(leaf_value, other_value);
    assert!(leaf_polls > 0);
    assert_eq!(leaf_polls, other_polls);
    let (stopped, _) = eval_counting_polls(
        "const f = (a) => a + 1; let s = 0; for (;;) s = f(s);",
        Some(3),
    );
    let error = stopped.expect_err("the handler stops the loop");
    assert!(error.contains("interrupted"), "{error}");
}

/// A loop calling `rotr` (a leaf) against the same loop with `rotr`'s expression written
/// inline. Before patch 0041 each call made a frame and entered the interpreter loop (1.57-1.62
/// in the test build, 2.49-2.77 on the engine alone at `-O3`); after it the call is evaluated
/// without them (1.33-1.41 in the test build, 1.82-1.84 engine alone).
#[test]
fn issue_19_leaf_calls_are_cheap() {
    let _quiet = js::quiet();
    let setup = r#"
        const rotr = (word, shift) => (word << (32 - shift)) | (word >>> shift);
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) s ^= (i << (32 - 7)) | (i >>> 7); return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) s ^= rotr(i, 7); return s; };
    "#;
    let ratio = cpu_ratio("", setup, 200_000);
    assert!(ratio < 1.5, "rotr(i, 7) / inline CPU ratio {ratio:.2}");
}
