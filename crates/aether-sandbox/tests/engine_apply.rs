//! `Function.prototype.call`/`apply` and getters (issue 19, `vendor/rquickjs-sys/patches/0033`
//! and `0034`): `f.call(t, ...)` from bytecode passes its arguments to `f` in place instead of
//! copying them through `JS_Call`, `apply` copies a short list to the C stack instead of a heap
//! array, and a getter that `o.name` finds is called without a second lookup. Everything a
//! plugin can observe must stay: `this` coercion, array-likes, holes, `null`/`undefined` lists,
//! bound functions, proxies, the TypeErrors of non-callable targets, a replaced
//! `Function.prototype.call`, getters changed or removed while running, the stack-depth
//! `RangeError`, the interrupt handler and the frames of `Error().stack`.

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

#[path = "support/js.rs"]
mod js;
use js::{cpu_ratio, eval, eval_counting_polls, eval_sloppy};

/// `m.apply(o, l)` over `o.m(l[0], l[1])` in the test build: 1.36-1.41 before patch 0033,
/// 1.23-1.28 after.
const APPLY_RATIO: f64 = 1.32;
/// A getter five prototypes up over a method there: 1.69-1.72 before patch 0034, 1.41-1.43
/// after.
const GETTER_RATIO: f64 = 1.55;

fn fixture(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::read_to_string(dir.join(name)).expect("fixture")
}

// See: test262 test/built-ins/Function/prototype/call and .../apply (this coercion,
// CreateListFromArrayLike); https://tc39.es/ecma262/#sec-function.prototype.apply
#[test]
fn issue_19_call_and_apply_results_equal_node() {
    let _quiet = js::quiet();
    let out = eval_sloppy(&fixture("apply_calls.js"));
    assert_eq!(out, Ok(fixture("apply_calls.node.txt")));
}

// See: https://tc39.es/ecma262/#sec-ordinaryget (a getter is called with the receiver as this)
#[test]
fn issue_19_getter_results_equal_node() {
    let _quiet = js::quiet();
    let out = eval_sloppy(&fixture("apply_getters.js"));
    assert_eq!(out, Ok(fixture("apply_getters.node.txt")));
}

/// A stack taken under `call` or `apply` names the built-in's native frame between the callee
/// and the caller, as before the patch; a getter's frame is the getter's.
#[test]
fn issue_19_call_apply_and_getter_frames_in_stacks_unchanged() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
        function st() { return new Error("x").stack.split("\n").map((l) => l.trim().split(" (")[0]).join("|"); }
        const o = { get g() { return st(); } };
        [st.call(null), st.apply(null, [1]), Reflect.apply(st, null, []), o.g].join("\n")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok("at st|at call|at <eval>|\n\
            at st|at apply|at <eval>|\n\
            at st|at apply|at <eval>|\n\
            at st|at get g|at <eval>|"),
    );
}

/// The interrupt handler still stops a loop that only calls through `call`, `apply` or a getter
/// (the deadline's only hook into running JavaScript).
#[test]
fn issue_19_interrupts_stop_loops_of_call_apply_and_getters() {
    let _quiet = js::quiet();
    for body in [
        "function f(x) { return x; } for (;;) f.call(null, 1);",
        "function f(x) { return x; } const a = [1]; for (;;) f.apply(null, a);",
        "function f(x) { return x; } function g() { return f.apply(this, arguments); } for (;;) g(1, 2);",
        "class C { get g() { return 1; } } const c = new C(); for (;;) c.g;",
    ] {
        let (value, calls) = eval_counting_polls(body, Some(3));
        assert!(value.is_err(), "{body}: {value:?}");
        assert_eq!(calls, 3, "{body}");
    }
}

/// Recursion through `call`, `apply` and a getter ends in the catchable stack-depth
/// `RangeError`, at least as deep as before the patch (it removes C frames, adds none).
#[test]
fn issue_19_recursion_through_call_apply_and_getters_is_a_range_error() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
        const r = [];
        let d = 0;
        function c() { d++; return c.call(null); }
        function a() { d++; return a.apply(null, arguments); }
        const o = { get g() { d++; return this.g; } };
        for (const f of [c, a, () => o.g]) {
            d = 0;
            try { f(); r.push("returned"); } catch (e) { r.push(e instanceof RangeError && d > 500); }
        }
        r.join()
        "#,
    );
    assert_eq!(out.as_deref(), Ok("true,true,true"));
}

// See: the ratios measured on the engine alone in docs/BENCHMARKS.md, "Engine patches
// (session 10)".
#[test]
fn issue_19_apply_of_a_short_array_costs_little_more_than_a_call() {
    let _quiet = js::quiet();
    // m.apply(o, l) against o.m(l[0], l[1]): before patch 0033 the apply also went through the
    // C-function trampoline and allocated and freed a heap copy of the list.
    let ratio = cpu_ratio(
        "",
        r#"
        const o = { x: 1, m(a, b) { return this.x + a + b; } };
        function m(a, b) { return this.x + a + b; }
        const l = [1, 2];
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) { l[0] = i; s += o.m(l[0], l[1]); } return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) { l[0] = i; s += m.apply(o, l); } return s; };
        "#,
        200_000,
    );
    assert!(
        ratio < APPLY_RATIO,
        "apply/method-call CPU ratio {ratio:.2}"
    );
}

#[test]
fn issue_19_a_getter_costs_little_more_than_a_method_call() {
    let _quiet = js::quiet();
    // q.x (a getter five prototypes up) against q.getX() (a method there, cached by patch
    // 0015): before patch 0034 the getter's read walked the chain twice.
    let ratio = cpu_ratio(
        "",
        r#"
        class P { constructor() { this._x = 1; } get x() { return this._x; } getX() { return this._x; } }
        class Q1 extends P {} class Q2 extends Q1 {} class Q3 extends Q2 {} class Q4 extends Q3 {}
        const q = new Q4();
        const reference = (n) => { let s = 0; for (let i = 0; i < n; i++) s += q.getX(); return s; };
        const measured = (n) => { let s = 0; for (let i = 0; i < n; i++) s += q.x; return s; };
        "#,
        200_000,
    );
    assert!(
        ratio < GETTER_RATIO,
        "getter/method-call CPU ratio {ratio:.2}"
    );
}

/// test262's tests of `Function.prototype.call` and `apply` and of call expressions, against
/// the patched engine: the files that fail must be exactly those listed in
/// `fixtures/test262_apply_failures.txt`, written from the engine before patch 0033. Runs where
/// a checkout is given: `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox
/// --test engine_apply` (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_call_and_apply_results_unchanged() {
    let _quiet = js::quiet();
    assert_known_failures(
        &[
            "test/built-ins/Function/prototype/call",
            "test/built-ins/Function/prototype/apply",
            "test/language/expressions/call",
        ],
        "test262_apply_failures.txt",
    );
}
