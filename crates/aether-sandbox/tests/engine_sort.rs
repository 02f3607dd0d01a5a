//! `Array.prototype.sort` with fewer comparator calls (`vendor/rquickjs-sys/patches/0035`) and
//! `x == null` decided in the bytecode (`vendor/rquickjs-sys/patches/0036`).
//!
//! Sort: the engine sorted the copied values with a quicksort and told equal elements apart by
//! their index, which made it stable but called the comparator about `1.4 n log n` times on
//! any input (11.6x Node's calls on sorted input). It now runs a stable natural merge sort
//! (TimSort's run detection, binary insertion of short runs, merges trimmed by galloping), and
//! writes every index back as the specification says (it skipped elements that had not moved,
//! which kept a comparator's own writes). Expected strings are Node 20's output.
//!
//! `==`: the compiler turns `x == null`, `x != null`, `x == undefined` and `x != undefined` into
//! the opcode of `??` (a test of `x`'s tag), instead of the generic loose comparison (a call
//! for every operand that is not an int). IsLooselyEqual makes `null` and `undefined` equal to
//! each other and to nothing else aether can make, without converting the other side. And
//! `typeof x == "name"` (two strings) compiles as `typeof x === "name"`.

#[path = "support/js.rs"]
mod js;
#[path = "support/test262.rs"]
mod test262;
use js::eval;
use proptest::prelude::*;
use test262::assert_known_failures;

const SORT_SEMANTICS: &str = include_str!("fixtures/sort_semantics.js");
const SORT_SEMANTICS_NODE: &str = include_str!("fixtures/sort_semantics.node.txt");

// See: https://tc39.es/ecma262/#sec-array.prototype.sort and #sec-sortindexedproperties
// (stability, undefined last, holes compacted, the comparator's result through ToNumber, abrupt
// completions); test262 test/built-ins/Array/prototype/sort.
#[test]
fn issue_19_sort_results_equal_node() {
    let _quiet = js::quiet();
    let out = eval(SORT_SEMANTICS).expect("the script runs");
    let expected: Vec<&str> = SORT_SEMANTICS_NODE.lines().collect();
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), expected.len(), "line count");
    for (index, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g,
            e,
            "line {} of fixtures/sort_semantics.node.txt",
            index + 1
        );
    }
}

// See: https://tc39.es/ecma262/#sec-array.prototype.sort steps 6-9 (every item is Set after
// SortIndexedProperties, whatever the comparator did to the array meanwhile).
#[test]
fn issue_19_sort_writes_every_index_after_a_comparator_changed_the_array() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
        const a = [5, 4, 3, 2, 1, 0, 7, 8];
        a.sort((x, y) => { a.length = 2; return x - y; });
        const b = [0, 1, 2, 3];
        b.sort((x, y) => { b[3] = 99; return x - y; });
        JSON.stringify([a, a.length, b])
        "#,
    );
    assert_eq!(out.as_deref(), Ok("[[0,1,2,3,4,5,7,8],8,[0,1,2,3]]"));
}

// See: V8's TimSort (v8/v8 third_party/v8/builtins/array-sort.tq): n - 1 comparisons on a
// sorted or strictly reversed input, as Node makes.
#[test]
fn issue_19_sort_of_sorted_input_calls_the_comparator_n_minus_one_times() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
        const counts = [];
        for (const n of [2, 10, 100, 10000]) {
          for (const a of [Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => n - i)]) {
            let calls = 0;
            a.sort((x, y) => { calls++; return x - y; });
            counts.push(calls);
          }
        }
        counts.join(",")
        "#,
    );
    assert_eq!(out.as_deref(), Ok("1,1,9,9,99,99,9999,9999"));
}

#[test]
fn issue_19_sort_of_random_input_calls_the_comparator_about_as_often_as_node() {
    let _quiet = js::quiet();
    // Node 20 makes 119,902 calls for these 10,000 keys and 40,625 for lodash-es' report in
    // bench/realworld; the quicksort made 137,633 and 47,185; this sort makes 120,675 and 40,948.
    let out = eval(
        r#"
        let seed = 7; const r = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
        const a = Array.from({ length: 10000 }, () => Math.floor(r() * 10000));
        let calls = 0;
        a.sort((x, y) => { calls++; return x - y; });
        String(calls)
        "#,
    )
    .expect("the script runs");
    let calls: u32 = out.parse().expect("a count");
    assert!(calls <= 122_000, "{calls} comparator calls (Node: 119,902)");
}

#[test]
fn issue_19_sorting_sorted_input_costs_less_than_random_input() {
    let _quiet = js::quiet();
    // Unpatched, a sorted array cost about as much as a shuffled one (a quicksort makes its
    // n log n comparisons either way); now a sorted run is one pass.
    let ratio = js::cpu_ratio(
        "",
        "let seed = 1; const r = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296; \
         const shuffled = (n) => Array.from({ length: n }, () => r()); \
         const cmp = (x, y) => x - y; \
         const input = shuffled(2000), ordered = input.slice().sort(cmp); \
         const reference = (n) => { for (let k = 0; k < n / 20000; k++) input.slice().sort(cmp); return 0; }; \
         const measured = (n) => { for (let k = 0; k < n / 20000; k++) ordered.slice().sort(cmp); return 0; };",
        200_000,
    );
    // 1,999 comparator calls against about 19,400 now; before, a quicksort's 17,000-odd on
    // either.
    println!("sorted / shuffled: {ratio:.2}");
    assert!(
        ratio < 0.35,
        "sorting a sorted array costs {ratio:.2}x a shuffled one"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A sort by a key with many duplicates keeps equal elements in their order (checked
    /// against Rust's stable sort), places `undefined` last and removes holes.
    #[test]
    fn sort_is_stable_against_a_reference(keys in proptest::collection::vec(
        prop_oneof![8 => (0i32..6).prop_map(Some), 1 => Just(None)], 0..300),
        descending in any::<bool>())
    {
        let _quiet = js::quiet();
        let items: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Some(k) => format!("{{k:{k},i:{i}}}"),
                None => "undefined".to_string(),
            })
            .collect();
        let sign = if descending { "-" } else { "" };
        let script = format!(
            "const a = [{}]; a.length += 2; \
             a.sort((x, y) => {sign}(x.k - y.k)); \
             a.slice(0, {n}).map((o) => o === undefined ? 'u' : o.i).join(',') + '/' + a.length + '/' + Object.keys(a).length",
            items.join(","),
            n = keys.len()
        );
        let out = eval(&script).expect("the script runs");
        let mut expected: Vec<(i32, usize)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i)))
            .collect();
        if descending {
            expected.sort_by_key(|&(k, _)| std::cmp::Reverse(k));
        } else {
            expected.sort_by_key(|&(k, _)| k);
        }
        let undefined = keys.iter().filter(|k| k.is_none()).count();
        let mut shown: Vec<String> = expected.iter().map(|(_, i)| i.to_string()).collect();
        shown.extend(std::iter::repeat_n("u".to_string(), undefined));
        // The two holes end the array: the length counts them, the keys do not.
        let want = format!("{}/{}/{}", shown.join(","), keys.len() + 2, keys.len());
        prop_assert_eq!(out, want);
    }
}

/// test262's tests of `sort` and `toSorted` on arrays and typed arrays give the same results as
/// before the patch (`fixtures/test262_sort_failures.txt`, written from the unpatched engine).
/// Runs where a checkout is given: `AETHER_TEST262_DIR=/path/to/test262 cargo test -p
/// aether-sandbox --test engine_sort test262`.
#[test]
fn issue_19_test262_sort_and_equality_results_unchanged() {
    let _quiet = js::quiet();
    assert_known_failures(
        &[
            "test/built-ins/Array/prototype/sort",
            "test/built-ins/Array/prototype/toSorted",
            "test/built-ins/TypedArray/prototype/sort",
            "test/built-ins/TypedArray/prototype/toSorted",
            "test/language/expressions/equals",
            "test/language/expressions/does-not-equals",
        ],
        "test262_sort_failures.txt",
    );
}

// See: https://tc39.es/ecma262/#sec-islooselyequal (steps 2-4: null and undefined are equal to
// each other and to nothing else, without ToPrimitive of the other side).
#[test]
fn loose_equality_with_null_and_undefined_equals_node() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
let called = 0;
const tricky = { valueOf() { called++; throw new Error("valueOf"); }, toString() { called++; return "null"; },
  [Symbol.toPrimitive]() { called++; throw new Error("toPrimitive"); } };
const proxy = new Proxy({}, { get() { called++; return undefined; }, has() { called++; return false; } });
const values = [null, undefined, 0, -0, NaN, "", "a", "null", "undefined", false, true, {}, [], [null], [undefined],
  function () {}, Symbol(), 0n, 1n, new String(""), Object(null), tricky, proxy, 2 ** 40, 1.5, Infinity, new Date(0)];
const out = [];
for (const v of values) {
  let r = "";
  r += (v == null ? "1" : "0") + (null == v ? "1" : "0") + (v != null ? "1" : "0") + (null != v ? "1" : "0");
  r += (v == undefined ? "1" : "0") + (undefined == v ? "1" : "0") + (v != undefined ? "1" : "0") + (v == void 0 ? "1" : "0");
  const ne = v != null, eq = v == undefined;
  if (v == null) r += "t"; else r += "f";
  if (v != undefined) r += "t"; else r += "f";
  r += String(ne) + String(eq) + String(v != null && typeof v);
  out.push(r);
}
{ const undefined = 0; out.push("shadowed:" + (0 == undefined) + (null == undefined) + ("" == undefined)); }
out.push("literals:" + (null == null) + (undefined == null) + (null != null) + ((0, null) == null) + (null == (0, undefined)));
out.push(called);
out.join(",")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok(
            "11001101tffalsetruefalse,11001101tffalsetruefalse,00110010fttruefalsenumber,00110010fttruefalsenumber,00110010fttruefalsenumber,00110010fttruefalsestring,00110010fttruefalsestring,00110010fttruefalsestring,00110010fttruefalsestring,00110010fttruefalseboolean,00110010fttruefalseboolean,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalsefunction,00110010fttruefalsesymbol,00110010fttruefalsebigint,00110010fttruefalsebigint,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalseobject,00110010fttruefalsenumber,00110010fttruefalsenumber,00110010fttruefalsenumber,00110010fttruefalseobject,shadowed:truefalsetrue,literals:truetruefalsetruetrue,0"
        )
    );
}

/// The bytecode of `module` without source or debug information.
fn module_bytecode(module: &str) -> Vec<u8> {
    let runtime = rquickjs::Runtime::new().expect("runtime");
    let context = rquickjs::Context::full(&runtime).expect("context");
    context.with(|ctx| {
        let declared = rquickjs::Module::declare(ctx, "m.js", module).expect("the module compiles");
        let options = rquickjs::module::WriteOptions {
            strip_source: true,
            strip_debug: true,
            ..Default::default()
        };
        declared.write(options).expect("bytecode")
    })
}

// See: quickjs-ng quickjs.c resolve_labels (`null strict_eq` -> `is_null` was the only such
// rewrite); sebastienros/jint#2702 fuses the same loose tests.
#[test]
fn issue_19_loose_comparison_with_null_compiles_to_one_opcode() {
    let _quiet = js::quiet();
    // `v == null` was `null` + `eq` (two opcodes and the generic comparison); it is now one
    // (`is_undefined_or_null`), as `v === null` is one (`is_null`). The sources have the same
    // length and the same names, so the modules' bytecode has the same length (before: one
    // byte longer for the loose test).
    for (loose, strict) in [
        ("return v ==null;", "return v===null;"),
        ("return v ==undefined;", "return v===undefined;"),
        ("if (v !=null) g();", "if (v!==null) g();"),
        ("if (v !=undefined) g();", "if (v!==undefined) g();"),
    ] {
        let wrap = |body: &str| format!("function g() {{}}\nexport function f(v) {{ {body} }}\n");
        let (a, b) = (
            module_bytecode(&wrap(loose)),
            module_bytecode(&wrap(strict)),
        );
        assert_eq!(
            a.len(),
            b.len(),
            "`{loose}` compiles longer than `{strict}`"
        );
    }
}

// See: https://tc39.es/ecma262/#sec-islooselyequal step 1 (operands of the same type are
// compared as by IsStrictlyEqual: `typeof` always gives a string).
#[test]
fn loose_typeof_comparisons_equal_node() {
    let _quiet = js::quiet();
    let out = eval(
        r#"
const out = [];
const vals = [undefined, null, 0, 1n, "s", true, Symbol(), {}, [], () => 1, function () {}, class {},
  new Proxy({}, {}), new Proxy(() => 1, {})];
for (const v of vals) {
  let r = "";
  for (const name of ["undefined", "object", "boolean", "number", "bigint", "string", "symbol", "function"]) {
    r += (typeof v == name ? 1 : 0);
  }
  r += (typeof v == "object" ? "o" : "-") + (typeof v != "object" ? "n" : "-") + (typeof v == "string") + (typeof v != "function");
  let x = 0; if (typeof v == "number") x++; if (typeof v != "symbol") x += 2; if (!(typeof v == "bigint")) x += 4;
  out.push(r + x + typeof v);
}
out.join(",")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok(
            "10000000-nfalsetrue6undefined,01000000o-falsetrue6object,00010000-nfalsetrue7number,00001000-nfalsetrue2bigint,00000100-ntruetrue6string,00100000-nfalsetrue6boolean,00000010-nfalsetrue4symbol,01000000o-falsetrue6object,01000000o-falsetrue6object,00000001-nfalsefalse6function,00000001-nfalsefalse6function,00000001-nfalsefalse6function,01000000o-falsetrue6object,00000001-nfalsefalse6function"
        )
    );
}

#[test]
fn issue_19_loose_typeof_comparison_compiles_as_strict() {
    let _quiet = js::quiet();
    // `typeof v == "object"` was `typeof`, the string and `eq` (the generic comparison, a call:
    // 676,193 of them in lodash-es' report); it now compiles to the bytecode of
    // `typeof v === "object"` (the sources have the same length).
    for (loose, strict) in [
        ("return typeof v =='object';", "return typeof v==='object';"),
        (
            "if (typeof v !='string') g();",
            "if (typeof v!=='string') g();",
        ),
    ] {
        let wrap = |body: &str| format!("function g() {{}}\nexport function f(v) {{ {body} }}\n");
        assert_eq!(
            module_bytecode(&wrap(loose)),
            module_bytecode(&wrap(strict)),
            "`{loose}` against `{strict}`"
        );
    }
}
