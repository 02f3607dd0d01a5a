//! Two costs of the parser cases (`vendor/rquickjs-sys/patches/0054`, `0055`): a method read
//! from a primitive string (`this.input.charCodeAt(...)`, about 360,000 a parse in acorn and
//! 310,000 in @babel/parser) and a string's `length` went through the generic
//! `JS_GetPropertyInternal` (a switch on the tag, the primitive's prototype looked up, the
//! generic walk); and `RegExp.prototype.flags`, read by `replace`, `split` and `matchAll` on
//! every call, read its eight flags through eight getters, each looked up by a name made into an
//! atom from C text (about 4,000 instructions a read). The semantics are checked against Node
//! 20's output for the same scripts (`fixtures/string_reads.node.txt`,
//! `fixtures/regexp_flags.node.txt`); each CPU-ratio test fails on the engine before its patch.
//! test262: `engine_equality`'s run (`built-ins/String`), `engine_props`' run (property
//! accessors and the prototype chain) and `engine_regex`'s run (`built-ins/RegExp` and the
//! String methods taking a RegExp) give the same failures after the patches.

#[path = "support/js.rs"]
mod js;
use js::{assert_same_lines_as_node, cpu_ratio, eval};

// See: https://tc39.es/ecma262/#sec-getvalue (a primitive base's property read from its
// prototype with the primitive as the receiver), #sec-string-exotic-objects (indices and
// `length` of a String) and #sec-properties-of-string-instances.
#[test]
fn issue_19_string_reads_match_node() {
    let _quiet = js::quiet();
    let out = eval(&format!(
        "{}\n{}",
        js::MAKE_CACHE_TABLE,
        include_str!("fixtures/string_reads.js")
    ))
    .expect("the fixture runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/string_reads.node.txt"), 2);
}

// See: https://tc39.es/ecma262/#sec-get-regexp.prototype.flags (eight [[Get]]s of the flag
// names, observable through getters, own properties and the prototype chain).
#[test]
fn issue_19_regexp_flags_match_node() {
    let _quiet = js::quiet();
    let out = eval(include_str!("fixtures/regexp_flags.js")).expect("the fixture runs");
    assert_same_lines_as_node(&out, include_str!("fixtures/regexp_flags.node.txt"), 2);
}

/// Three `length` reads and a method call (`s.valueOf().length`) of a primitive string against
/// the same of an Array (a method found on a prototype, a cheap built-in call, `length` reads).
/// Before patch 0054 each of the string's reads took the generic `JS_GetPropertyInternal`; the
/// Array's are the interpreter's inline reads.
#[test]
fn issue_19_string_reads_are_direct() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio(
        js::MAKE_CACHE_TABLE,
        "const reference = (n) => { const a = [1, 2, 3]; let t = 0; for (let i = 0; i < n; i++) t += a.length + a.length + a.length + a.valueOf().length; return t; };
         const measured = (n) => { const s = \"abc\"; let t = 0; for (let i = 0; i < n; i++) t += s.length + s.length + s.length + s.valueOf().length; return t; };",
        200_000,
    );
    eprintln!("string / Array reads, CPU time: {ratio:.2}");
    assert!(
        ratio < STRING_LIMIT,
        "string / Array reads CPU ratio {ratio:.2}"
    );
}

/// The limit of [`issue_19_string_reads_are_direct`]: by instruction counts of the release
/// binary (callgrind), 1.09 before patch 0054 and 0.83 after; the test build's CPU ratio on a
/// first-generation EPYC, 0.99 before and 0.89 after (load 1.2).
const STRING_LIMIT: f64 = 0.94;

/// `re.flags` against `re.source` (both built-in getters of `RegExp.prototype`). Before patch
/// 0055 `flags` called the eight flag getters, each found by a name made into an atom from C
/// text.
#[test]
fn issue_19_regexp_flags_read_directly() {
    let _quiet = js::quiet();
    let ratio = cpu_ratio(
        "",
        "const reference = (n) => { const re = /a/gi; let t = 0; for (let i = 0; i < n; i++) t += re.source.length; return t; };
         const measured = (n) => { const re = /a/gi; let t = 0; for (let i = 0; i < n; i++) t += re.flags.length; return t; };",
        100_000,
    );
    eprintln!("flags / source, CPU time: {ratio:.2}");
    assert!(ratio < FLAGS_LIMIT, "flags / source CPU ratio {ratio:.2}");
}

/// The limit of [`issue_19_regexp_flags_read_directly`]: by instruction counts of the release
/// binary (callgrind), 3.22 before patch 0055 (3,196 instructions a `flags` read) and 1.29 after
/// (1,211); the test build's CPU ratio on a first-generation EPYC, 5.08 before and 1.36-1.40
/// after.
const FLAGS_LIMIT: f64 = 2.0;
