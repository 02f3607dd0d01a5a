//! Int values made by the engine's interpreter (issue 19, `vendor/rquickjs-sys/patches/0026`):
//! `js_int32`, which makes every int the interpreter pushes (constants, arithmetic, bitwise
//! results, lengths, indexes, typed array reads), builds the value in registers instead of
//! through `JS_MKVAL`'s compound literal, which made gcc keep the interpreter's `pc` in memory
//! across the dispatch (`docs/BENCHMARKS.md`, "Engine patches (session 9)"). The value's bits
//! must be the same: an int32 in the low half, zero in the high half, the int tag.

#[path = "support/js.rs"]
mod js;
use js::eval_sloppy as eval;

/// Ints at and across the int32 bounds through every path that makes one: constants of each
/// width (`push_i8`, `push_i16`, `push_i32`), `+ - * %` and their overflow to a double, `-0`,
/// `++`/`--`, the bitwise and shift operators, typed array elements, lengths and indexes, Map
/// and Set keys (an int and the equal double are one key), property keys, JSON, `switch`, short
/// BigInts and a sort comparator.
const INTS: &str = r#"
    const r = [];
    const M = 2147483647, m = -2147483648;
    function add(a, b) { return a + b; }
    function sub(a, b) { return a - b; }
    function mul(a, b) { return a * b; }
    r.push(add(M, 1), sub(m, 1), add(M, 0), sub(m, 0), mul(65536, 32768), mul(-65536, 32768), mul(0, -1), 1 / mul(0, -1), 1 / mul(-0, 5));
    let i = M; i++; r.push(i); let j = m; j--; r.push(j); let k = 5; r.push(k++, ++k, k--, --k);
    r.push(M | 0, (M + 1) | 0, -1 >>> 0, (-1 >>> 0) | 0, 1 << 31, (1 << 31) >>> 0, ~M, ~m, -m, -(-m | 0), -0 | 0, Object.is(-0 | 0, 0));
    r.push(7 % 3, -7 % 3, 7 % -3, 1 / (-7 % 7), 2 ** 30, 2 ** 31, (-2) ** 31, Math.imul(M, M), Math.imul(-5, 12345));
    r.push(127, -128, 128, -129, 32767, -32768, 32768, -32769, 0x7fffffff, -0x80000000, 0x80000000);
    const ia = new Int32Array([M, m, -1, 0]), ua = new Uint32Array([0xffffffff, 0x80000000, 7]);
    r.push(ia[0] + 1, ia[1] - 1, ia[2] >>> 0, ua[0], ua[1] | 0, ua[2] * 3);
    r.push([1, 2, 3].length, "héllo".length, "abc".charCodeAt(1), "abc".indexOf("c"), [5, 1, 4].indexOf(4));
    const mp = new Map([[1, "one"], [2 ** 31, "big"]]);
    r.push(mp.get(1.0), mp.get(2147483648), mp.has(-0), new Set([0, -0, 1, 1.0]).size);
    const o = {}; o[1] = "a"; o["2"] = "b"; o[M] = "c"; o[m] = "d"; o[-0] = "z";
    r.push(Object.keys(o).join(","), o[1.0], o["2147483647"], o[0]);
    r.push(JSON.stringify([0, -0, 1, -1, M, m, M + 1]), String(-0), String(m), (m).toString(16), typeof M, typeof (M + 1));
    r.push(3 < 4, 4 <= 3, M > m, m >= M, 1 == "1", 1 === 1.0, 0 === -0, Object.is(0, -0), !0, !1, true + 1, false | 0);
    let s = 0; for (let n = 0; n < 1000; n++) { s = (s + n * 7) | 0; s ^= s << 5; } r.push(s);
    function sw(x) { switch (x) { case 0: return "zero"; case 1: return "one"; case 2147483647: return "max"; default: return "other"; } }
    r.push(sw(0), sw(-0), sw(1.0), sw(M), sw(M + 1));
    r.push(2n ** 31n, -(2n ** 31n), BigInt(M) + 1n, BigInt(m) - 1n, 5n * -3n, 7n % 3n, typeof 1n, 1n === 1n, 1n == 1, 0n === -0n);
    r.push([3, 1, 2].sort((a, b) => a - b).join(), [10, 9, 1].sort().join(), Array.from({ length: 3 }, (_, n) => n * n).join());
    r.join(" ")
"#;

/// `INTS` in Node 20.
const EXPECTED: &str = "2147483648 -2147483649 2147483647 -2147483648 2147483648 -2147483648 0 -Infinity \
    -Infinity 2147483648 -2147483649 5 7 7 5 2147483647 -2147483648 4294967295 -1 \
    -2147483648 2147483648 -2147483648 2147483647 2147483648 2147483648 0 true 1 -1 1 \
    -Infinity 1073741824 2147483648 -2147483648 1 -61725 127 -128 128 -129 32767 -32768 \
    32768 -32769 2147483647 -2147483648 2147483648 2147483648 -2147483649 4294967295 \
    4294967295 -2147483648 21 3 5 98 2 2 one big false 2 0,1,2,2147483647,-2147483648 a c z \
    [0,0,1,-1,2147483647,-2147483648,2147483648] 0 -2147483648 -80000000 number number true \
    false true false true true true false true false 2 0 1435621812 zero zero one max other \
    2147483648 -2147483648 2147483648 -2147483649 -15 1 bigint true true true 1,2,3 1,10,9 \
    0,1,4";

/// See: https://tc39.es/ecma262/#sec-numeric-types-number-add and #sec-numbertoint32
#[test]
fn issue_19_interpreter_ints_keep_their_values() {
    assert_eq!(eval(INTS).as_deref(), Ok(EXPECTED));
}
