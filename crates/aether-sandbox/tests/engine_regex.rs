//! The engine's regular-expression search (issue 19, `vendor/rquickjs-sys/patches/0001`,
//! `0005` and `0006`):
//! start positions that cannot begin a match are skipped in C, with every RegExp result the
//! same as before. Work is measured by a deterministic proxy, never by wall time: the engine
//! calls the runtime's interrupt handler once per 10 000 polls of its regex interpreter (one
//! poll per start position tried and per backtrack) and per 10 000 JavaScript instructions.

use std::path::{Path, PathBuf};

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

#[path = "support/js.rs"]
mod js;
use js::eval_counting_polls as run;

/// A lexer that consumes its input with `^`-anchored rules, the shape of marked's and
/// js-yaml's: each failing rule used to be tried at every remaining position.
fn lexer(tokens: usize) -> String {
    format!(
        r#"
        let src = "ab 12 ".repeat({half});
        const rules = [/^\n+/, /^#{{1,6}} /, /^\d+/, /^[a-z]+/, /^ +/];
        let n = 0;
        outer: while (src) {{
            for (const rule of rules) {{
                const m = rule.exec(src);
                if (m) {{ n++; src = src.slice(m[0].length); continue outer; }}
            }}
            throw new Error("stuck");
        }}
        String(n);
        "#,
        half = tokens / 4
    )
}

// See: https://github.com/quickjs-ng/quickjs/pull/1653 (anchored patterns tried at every position)
#[test]
fn issue_19_anchored_regex_lexer_is_linear() {
    let (small, at_n) = run(&lexer(4_000), None);
    let (large, at_2n) = run(&lexer(8_000), None);
    eprintln!("interrupt handler calls at N: {at_n}, at 2N: {at_2n}");
    assert_eq!(small.as_deref(), Ok("4000"));
    assert_eq!(large.as_deref(), Ok("8000"));
    // Linear work doubles (the JavaScript loop alone is a few dozen polls); the unpatched
    // engine's search quadruples and is in the thousands.
    assert!(
        at_2n <= 2 * at_n + 20 && at_2n <= 200,
        "interrupt polls at N: {at_n}, at 2N: {at_2n}"
    );
}

// See: https://github.com/quickjs-ng/quickjs/pull/1653
#[test]
fn issue_19_anchored_regex_does_not_scan_the_subject() {
    // 1 MiB subject, 20 failing anchored searches (with and without `g`, from lastIndex 1):
    // unpatched, each walks the whole subject (about 100 handler calls each).
    let script = r#"
        const s = "a".repeat(1 << 20);
        let found = 0;
        for (let i = 0; i < 10; i++) {
            if (/^b/.exec(s)) found++;
            const g = /^a/g;
            g.lastIndex = 1;
            if (g.exec(s)) found++;
        }
        String(found);
    "#;
    let (value, calls) = run(script, None);
    assert_eq!(value.as_deref(), Ok("0"));
    assert!(calls <= 5, "interrupt handler calls: {calls}");
}

// See: https://github.com/quickjs-ng/quickjs/pull/1653
#[test]
fn issue_19_literal_first_regex_skips_ahead() {
    // The first element is a literal character: the search jumps to where it occurs
    // (memchr for Latin-1 subjects, a unit scan for UTF-16 ones, case folding with `i`).
    let script = r#"
        const latin1 = "a".repeat(1 << 20) + "bc";
        const utf16 = "\u0101".repeat(1 << 20) + "bc";
        const found = [];
        for (let i = 0; i < 5; i++) {
            found.push(/bc/.exec(latin1).index, /bc/.exec(utf16).index,
                       /BC/i.exec(latin1).index, /bc/u.exec(utf16).index,
                       /(b)x/.exec(latin1));
        }
        JSON.stringify(found.slice(0, 5));
    "#;
    let (value, calls) = run(script, None);
    let n = 1 << 20;
    assert_eq!(value, Ok(format!("[{n},{n},{n},{n},null]")));
    assert!(calls <= 5, "interrupt handler calls: {calls}");
}

#[test]
fn issue_19_regex_search_stays_interruptible() {
    // The skipping loop polls the interrupt handler once per position it tries, like the
    // prologue it replaces: a deadline still stops a long search and a catastrophic pattern.
    let long = r#""b".repeat(1 << 20)"#;
    let catastrophic = r#""a".repeat(30) + "!""#;
    for (pattern, subject) in [
        ("/bx/", long),
        ("/b(x|y)/i", long),
        ("/^(a+)+$/", catastrophic),
    ] {
        let script = format!("String({pattern}.test({subject}));");
        let (value, calls) = run(&script, Some(3));
        assert!(value.is_err(), "{pattern} was not interrupted: {value:?}");
        assert_eq!(calls, 3, "{pattern}");
    }
}

#[test]
fn issue_19_regex_semantics_match_node() {
    // See: the cases in fixtures/regex_semantics.js; the expected results are Node's.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join("regex_semantics.js")).expect("cases");
    let expected = std::fs::read_to_string(dir.join("regex_semantics.node.json")).expect("node");
    // Compared as text: both write it with `JSON.stringify`, and lone surrogates (escaped as
    // `\udf06`) are not something a JSON parser into Rust strings accepts.
    let (actual, _) = run(&script, None);
    let actual = actual.expect("cases run");
    js::assert_same_lines_as_node(&actual, &expected, 12);
}

// See: https://github.com/quickjs-ng/quickjs/pull/1653 (its Latin-1 bitmap for classes); he's
// `regexEncodeNonAscii`, an alternation of hundreds of two-character sequences.
#[test]
fn issue_19_alternation_and_class_first_regex_skips_ahead() {
    // Patch 0005: the first element is an alternation, a class or optional; the search
    // enters the interpreter only where a character of its first-character set is.
    let script = r#"
        const latin1 = "a".repeat(1 << 20) + "<> x9";
        const utf16 = "\u0101".repeat(1 << 20) + "\u2264\u20D2 x9";
        const found = [];
        for (let i = 0; i < 3; i++) {
            found.push(/<>|=\u20E5|>\u20D2|\u2264\u20D2/.exec(latin1).index,
                       /<>|=\u20E5|>\u20D2|\u2264\u20D2/.exec(utf16).index,
                       /[<>&"]/.exec(latin1).index, /\d+/.exec(utf16).index,
                       /(?:X|Y)9/i.exec(latin1).index, /b?x9/u.exec(utf16).index,
                       /[\u2264\u2265]\u20D2|q/.exec(utf16).index,
                       /foo|bar/.exec(latin1));
        }
        JSON.stringify(found.slice(0, 8));
    "#;
    let (value, calls) = run(script, None);
    let n = 1 << 20;
    assert_eq!(
        value,
        Ok(format!(
            "[{n},{n},{n},{},{},{},{n},null]",
            n + 4,
            n + 3,
            n + 3
        ))
    );
    // Unpatched, each of these 24 searches tries every position: 8,167 calls in all.
    assert!(calls <= 5, "interrupt handler calls: {calls}");
}

// See: https://github.com/python/cpython/issues/153169 (the same quick check in CPython's `re`);
// he's `regexDecode`, an alternation of about 2,200 entity names tried at every `&`.
#[test]
fn issue_19_alternation_skips_alternatives_that_cannot_start_here() {
    // Patch 0006: at each `&`, 2,000 alternatives whose first characters differ from the
    // current one. Unpatched, each is entered and backtracked (one poll per backtrack).
    let script = r#"
        const names = [];
        for (let i = 0; i < 2000; i++) names.push(String.fromCharCode(0x100 + i) + "ab");
        const re = new RegExp("&(" + names.join("|") + ");", "g");
        const text = "&zz; ".repeat(500) + "&" + names[1999] + ";";
        const found = text.match(re);
        JSON.stringify([found.length, found[0].length]);
    "#;
    let (value, calls) = run(script, None);
    assert_eq!(value.as_deref(), Ok("[1,5]"));
    assert!(calls <= 5, "interrupt handler calls: {calls}");
}

#[test]
fn issue_19_first_set_regex_semantics_match_node() {
    // See: the cases in fixtures/regex_first_set.js; the expected results are Node's.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join("regex_first_set.js")).expect("cases");
    let expected = std::fs::read_to_string(dir.join("regex_first_set.node.json")).expect("node");
    let (actual, _) = run(&script, None);
    let actual = actual.expect("cases run");
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a, e, "QuickJS and Node differ");
    }
    assert_eq!(actual.len(), expected.len());
}

#[test]
fn issue_19_quickjs_own_regexp_tests_pass() {
    // See: quickjs-ng's tests/test_builtin.js (`test_regexp`), vendored with the engine.
    let tests = vendored().join("quickjs/tests");
    let assert = std::fs::read_to_string(tests.join("assert.js")).expect("assert.js");
    let builtin = std::fs::read_to_string(tests.join("test_builtin.js")).expect("test_builtin.js");
    let start = builtin.find("function test_regexp()").expect("test_regexp");
    let end = start + builtin[start..].find("\n}\n").expect("its end") + 3;
    let script = format!(
        "{}\n{}\ntest_regexp(); 'ok';",
        assert.replace("export function", "function"),
        &builtin[start..end]
    );
    assert_eq!(run(&script, None).0.as_deref(), Ok("ok"));
}

/// The vendored engine's directory.
fn vendored() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vendor/rquickjs-sys")
}

#[test]
fn issue_19_engine_patches_are_applied() {
    // Every patch in the series is applied to the vendored source: each hunk's result is in
    // the file, and the lines a hunk removes or replaces are gone. A patch is checked against
    // the source as it was after it (the later patches' hunks undone, newest first), so that a
    // later patch may change lines an earlier one added.
    let root = vendored();
    let mut patches: Vec<PathBuf> = std::fs::read_dir(root.join("patches"))
        .expect("patches")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    patches.sort();
    assert!(!patches.is_empty());
    let texts: Vec<String> = patches
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("patch"))
        .collect();
    let mut sources: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (index, (patch, text)) in patches.iter().zip(&texts).enumerate().rev() {
        assert!(
            text.contains("Upstream:"),
            "{} names no upstream",
            patch.display()
        );
        assert!(
            text.contains("Drop when:"),
            "{} says not when to drop it",
            patch.display()
        );
        if let Some(later) = texts.get(index + 1) {
            for (file, old, new) in hunks_of(later).into_iter().rev() {
                if let Some(source) = sources.get_mut(&file) {
                    *source = source.replacen(&new, &old, 1);
                }
            }
        }
        let mut hunks = 0;
        for (file, old, new) in hunks_of(text) {
            let source = sources.entry(file.clone()).or_insert_with(|| {
                std::fs::read_to_string(root.join(&file)).expect("patched file")
            });
            assert!(
                source.contains(&new),
                "{}: a hunk of {file} is not applied",
                patch.display()
            );
            if old != new && !new.contains(&old) {
                assert!(
                    !source.contains(&old),
                    "{}: {file} still has a hunk's old text",
                    patch.display()
                );
            }
            hunks += 1;
        }
        assert!(hunks > 0, "{} has no hunk", patch.display());
    }
}

/// The hunks of a unified diff: (file relative to the vendored crate, old text, new text).
fn hunks_of(diff: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut file = String::new();
    let mut current: Option<(String, String)> = None;
    let mut flush = |current: &mut Option<(String, String)>, file: &str| {
        if let Some((old, new)) = current.take() {
            out.push((file.to_owned(), old, new));
        }
    };
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            flush(&mut current, &file);
            file = path.to_owned();
        } else if line.starts_with("@@") {
            flush(&mut current, &file);
            current = Some((String::new(), String::new()));
        } else if line.starts_with("--- ") || line.starts_with("diff ") {
            flush(&mut current, &file);
        } else if let Some((old, new)) = current.as_mut() {
            match line.split_at_checked(1) {
                Some((" ", rest)) => {
                    old.extend([rest, "\n"]);
                    new.extend([rest, "\n"]);
                }
                Some(("-", rest)) => old.extend([rest, "\n"]),
                Some(("+", rest)) => new.extend([rest, "\n"]),
                _ if line.is_empty() => {
                    old.push('\n');
                    new.push('\n');
                }
                _ => {}
            }
        }
    }
    flush(&mut current, &file);
    out
}

/// test262's RegExp tests (built-ins/RegExp and the String methods taking a RegExp) against
/// the patched engine: the files that fail must be exactly those that failed on the unpatched
/// engine (fixtures/test262_regexp_failures.txt, features QuickJS-ng lacks or our minimal
/// `$262`). Runs where a checkout is given, as the other tests gated on an outside tool do:
/// `AETHER_TEST262_DIR=/path/to/test262 cargo test -p aether-sandbox --test engine_regex`
/// (`AETHER_TEST262_WRITE=1` rewrites the list); without one it says so and checks nothing. Results recorded with test262 at be13516fb6441b950ba8a3df97eb34062c186972 (2218
/// files, 17 failing before and after the patch: cross-realm tests, pattern text with NUL
/// bytes, one sloppy-mode `this` test). Each file runs once, strict only if it says `onlyStrict`; module tests are skipped.
#[test]
fn issue_19_test262_regexp_results_unchanged() {
    assert_known_failures(
        &[
            "test/built-ins/RegExp",
            "test/built-ins/String/prototype/match",
            "test/built-ins/String/prototype/matchAll",
            "test/built-ins/String/prototype/replace",
            "test/built-ins/String/prototype/replaceAll",
            "test/built-ins/String/prototype/search",
            "test/built-ins/String/prototype/split",
        ],
        "test262_regexp_failures.txt",
    );
}
