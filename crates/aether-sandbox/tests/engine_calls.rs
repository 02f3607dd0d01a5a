//! Calls, locals and namespace reads in the engine's bytecode interpreter (issue 19,
//! `vendor/rquickjs-sys/patches/0010` and later): the hot paths of hashing code such as
//! @noble/hashes (`u64.rotrSH(h, l, s)` through a module namespace, `const` locals read in
//! every round), with every result and every error the same as before.

use std::path::PathBuf;

#[path = "support/test262.rs"]
mod test262;
use test262::{js_files, test262_file};

/// test262's tests of what these patches change (lexical bindings and their temporal dead
/// zone, loops and `switch` that re-enter scopes, calls, arrow functions, module namespaces),
/// against the patched engine: the files that fail must be exactly those listed in
/// `fixtures/test262_calls_failures.txt`, written from the engine before patch 0010. Runs where
/// a checkout is given: `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox
/// --test engine_calls` (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_calls_and_locals_results_unchanged() {
    let Some(root) = std::env::var_os("AETHER_TEST262_DIR").map(PathBuf::from) else {
        eprintln!("skipped: set AETHER_TEST262_DIR to a test262 checkout to run its tests");
        return;
    };
    let mut files = Vec::new();
    for dir in [
        "test/language/statements/let",
        "test/language/statements/const",
        "test/language/block-scope",
        "test/language/statements/for",
        "test/language/statements/for-in",
        "test/language/statements/for-of",
        "test/language/statements/labeled",
        "test/language/statements/switch",
        "test/language/statements/try",
        "test/language/expressions/call",
        "test/language/expressions/arrow-function",
        "test/language/expressions/addition",
        "test/language/expressions/subtraction",
        "test/language/module-code/namespace",
        "test/built-ins/TypedArrayConstructors/internals",
    ] {
        js_files(&root.join(dir), &mut files);
    }
    files.sort();
    let harness = root.join("harness");
    let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        match test262_file(&harness, file) {
            Ok(true) => passed += 1,
            Ok(false) => skipped += 1,
            Err(why) => {
                eprintln!("FAIL {name}: {}", why.lines().next().unwrap_or(""));
                failed.push(name);
            }
        }
    }
    eprintln!(
        "test262: {} files, {passed} passed, {} failed, {skipped} skipped (module)",
        files.len(),
        failed.len()
    );
    let list = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/test262_calls_failures.txt");
    let actual = failed.join("\n") + "\n";
    if std::env::var_os("AETHER_TEST262_WRITE").is_some() {
        std::fs::write(&list, &actual).expect("write the list");
    }
    let expected = std::fs::read_to_string(&list).expect("the list of known failures");
    assert_eq!(actual, expected, "test262 results changed");
}
