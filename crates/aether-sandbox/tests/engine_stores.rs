//! Stores with a computed string key (issue 19, `vendor/rquickjs-sys/patches/0038`):
//! `obj[key] = v` where `key` is a string atom (a literal or a property name, never an array
//! index) takes the property caches `obj.name = v` takes, found by the site and the key, so that
//! the class-field helper of transpiled code (`_defineProperty(this, "f", v)`, which ends in
//! `e[r] = t`: markdown-it's build) adds its fields without a shape-table search each time.
//! What must not change is compared with Node 20's output for the same script: setters and
//! read-only properties on the prototype chain (also ones added after the site has cached
//! additions), frozen, sealed and non-extensible objects, arrays' `length` and index-like keys,
//! typed arrays' canonical numeric keys, proxies, `arguments`, strict and sloppy failures.

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures_with;

#[path = "support/js.rs"]
mod js;
use js::eval;

use std::path::Path;

// See: https://tc39.es/ecma262/#sec-ordinaryset (a setter or a read-only property inherited
// for the key) and the class-field helper of Babel, @babel/helpers `defineProperty`.
#[test]
fn issue_19_computed_key_stores_equal_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join("stores_semantics.js")).expect("cases");
    let expected =
        std::fs::read_to_string(dir.join("stores_semantics.node.txt")).expect("node output");
    let actual = eval(&script).expect("cases run");
    js::assert_same_lines_as_node(&actual, &expected, 8);
}

/// test262's assignment, compound assignment and `Array` `length` tests against the patched
/// engine, each after a loop that makes the cache table: the files that fail must be exactly those listed in
/// `fixtures/test262_stores_failures.txt`, written from the engine before patch 0038. Runs where
/// a checkout is given: `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox --test
/// engine_stores` (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_stores_results_unchanged() {
    assert_known_failures_with(
        &[
            "test/language/expressions/assignment",
            "test/language/expressions/compound-assignment",
            "test/built-ins/Array/length",
        ],
        "test262_stores_failures.txt",
        js::MAKE_CACHE_TABLE,
    );
}
