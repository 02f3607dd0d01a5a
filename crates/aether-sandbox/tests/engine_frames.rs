//! Call frames of the engine's bytecode interpreter (issue 19,
//! `vendor/rquickjs-sys/patches/0023`): a function's frame size is computed once, when its
//! bytecode is made or read, instead of on every call. Every call must keep its arguments,
//! locals, `arguments`, closures, stack traces and the stack-depth `RangeError`, for functions
//! compiled from source and for functions read back from bytecode.

use aether_sandbox::compile_stats;

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

#[path = "support/js.rs"]
mod js;
use js::{eval_sloppy as eval, run_step_text};

/// Calls of every shape whose frame the patch sizes: missing and extra arguments, sloppy and
/// strict `arguments`, closures over arguments and locals, locals read before written, default
/// and rest parameters, a generator, recursion to the stack limit, and an exception's stack.
const CALLS: &str = r#"
    const r = [];
    function f(a, b, c) { return (a ^ b) + c | 0; }
    let s = 0;
    for (let i = 0; i < 1000; i++) s = f(s, i, 3);
    r.push(s);
    function missing(a, b, c) { return [a, b, c].map(String).join("/"); }
    r.push(missing(1), missing());
    function extra(a) { return arguments.length + ":" + arguments[2]; }
    r.push(extra(1, 2, 3));
    function sloppy(a) { arguments[0] = 9; return a; }
    function strict(a) { "use strict"; arguments[0] = 9; return a; }
    r.push(sloppy(1), strict(1));
    function locals(x) { var v; let w = v === undefined; { let u = 2; x += u; } return [v, w, x].join(); }
    r.push(locals(1), locals(1));
    function counter(n) { return [() => ++n, () => n]; }
    const [inc, get] = counter(5);
    inc(); inc();
    r.push(get());
    function capture() { let k = 0; const fs = []; for (let i = 0; i < 3; i++) fs.push(() => i + k); k = 10; return fs.map((g) => g()).join(); }
    r.push(capture());
    function defaults(a, b = a + 1, ...rest) { return [a, b, rest.length].join(); }
    r.push(defaults(1), defaults(1, 5, 6, 7));
    function* gen(a) { let x = yield a; yield x + a; }
    const g = gen(2); g.next();
    r.push(g.next(40).value);
    function deep(n) { return n === 0 ? 0 : 1 + deep(n - 1); }
    r.push(deep(1000));
    function forever(n) { return forever(n + 1) + 1; }
    try { forever(0); r.push("no error"); } catch (e) { r.push(e instanceof RangeError); }
    function thrower(a) { null.x; }
    function caller2() { thrower(1); }
    try { caller2(); } catch (e) { r.push(e instanceof TypeError, /thrower[\s\S]*caller2/.test(e.stack)); }
    r.push(f.length, missing.length, defaults.length);
    r.join(" ")
"#;

/// `CALLS`' result in sloppy code, where `sloppy`'s `arguments` is mapped to its parameter.
const EXPECTED: &str = "14240 1/undefined/undefined undefined/undefined/undefined 3:3 9 1 \
    ,true,3 ,true,3 7 10,11,12 1,2,0 1,5,2 42 1000 true true true 3 3 1";

// See: test262 test/language/arguments-object/ and test/language/expressions/call/ (argument
// binding, missing and extra arguments); quickjs-ng tests/test_language.js test_function.
#[test]
fn issue_19_frames_keep_call_semantics() {
    assert_eq!(eval(CALLS).as_deref(), Ok(EXPECTED));
}

// See: quickjs-ng quickjs.c JS_ReadFunctionBytecode (a function read from bytecode gets its
// frame size there, not from the compiler).
#[test]
fn issue_19_frames_of_functions_read_from_bytecode() {
    // The first step compiles the module and keeps its bytecode; the second reads it back.
    let body = CALLS.replace("r.join(\" \")\n", "return r.join(\" \");\n");
    let source = format!("export default () => {{ {body} }};");
    // A module is strict: `sloppy`'s `arguments` is not mapped there.
    let expected = format!("\"{}\"", EXPECTED.replace(" 9 1 ", " 1 1 "));
    assert_eq!(run_step_text(&source), Ok(expected.clone()));
    let loads = compile_stats().loads;
    assert_eq!(run_step_text(&source), Ok(expected));
    assert!(
        compile_stats().loads > loads,
        "the second step read bytecode"
    );
}

/// test262's tests of calls, functions, `arguments` and arrow functions, against the patched
/// engine: the files that fail must be exactly those in `fixtures/test262_frames_failures.txt`,
/// written from the engine before patch 0023. Runs where a checkout is given:
/// `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox --test engine_frames`
/// (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_frames_results_unchanged() {
    assert_known_failures(
        &[
            "test/language/expressions/call",
            "test/language/statements/function",
            "test/language/arguments-object",
            "test/language/expressions/arrow-function",
        ],
        "test262_frames_failures.txt",
    );
}
