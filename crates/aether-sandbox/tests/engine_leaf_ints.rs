//! Leaves evaluated on integers (issue 19, `vendor/rquickjs-sys/patches/0050`): a leaf
//! function (patch 0041) given integer Numbers of at most 2^53 in magnitude is evaluated on
//! `int64_t`, and stops for the ordinary Number evaluation wherever a value could leave that
//! domain (a sum beyond 2^53, -0, a quotient that is not an integer but in `(a / 2^k) | 0`,
//! a division by zero, an inexact power). Results must be those of the ordinary evaluation:
//! checked against Node 20's output for the same script (`fixtures/leaf_ints.node.txt`); the
//! CPU-ratio test fails on the engine before the patch.

#[path = "support/js.rs"]
mod js;
use js::{assert_same_lines_as_node, cpu_ratio, eval};

// See: https://tc39.es/ecma262/#sec-numeric-types-number-add (and the other Number::
// operations), https://tc39.es/ecma262/#sec-toint32 (the bitwise operators' ToInt32 of
// integers beyond 32 bits); @noble/hashes _u64.js (`add5L`, `add3H`, `rotrSH`, `rotrBL`).
#[test]
fn issue_19_leaf_ints_match_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/leaf_ints.js")).expect("the script runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/leaf_ints.node.txt"), 2);
}

/// A loop calling `add5L` of @noble/hashes (a leaf of 20 operations) against the same loop with
/// its expression written inline. Before patch 0050 each operation of the leaf tested two tags
/// and wrote a 16-byte value (1.34-1.35 in the test build); after it the leaf runs on integers
/// (0.89-0.91 in the test build; in the release build 1.73-1.96 before, 1.23-1.32 after).
#[test]
fn issue_19_leaf_ints_are_cheap() {
    let _quiet = js::quiet();
    let setup = r#"
        const add5L = (Al, Bl, Cl, Dl, El) => (Al >>> 0) + (Bl >>> 0) + (Cl >>> 0) + (Dl >>> 0) + (El >>> 0);
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) s ^= (i >>> 0) + (s >>> 0) + (i >>> 0) + (7 >>> 0) + (i >>> 0); return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) s ^= add5L(i, s, i, 7, i); return s; };
    "#;
    let ratio = cpu_ratio("", setup, 200_000);
    assert!(ratio < 1.12, "add5L(...) / inline CPU ratio {ratio:.2}");
}
