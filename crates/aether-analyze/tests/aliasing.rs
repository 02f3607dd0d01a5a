//! Host references followed through aliases and destructuring, and multi-module plugins.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

mod common;

use aether_policy::Capability;
use common::{Perms, of, one, run};

const READ_DATA: Perms = Perms {
    read: &["data/**"],
    write: &["out/**"],
    domains: &["api.example.com"],
    listen: &[],
    env: &["API_TOKEN"],
    commands: &["/usr/bin/gzip"],
};

fn mismatch_targets(src: &str) -> Vec<String> {
    of(&one(src, &READ_DATA), "grant-mismatch")
        .iter()
        .map(|f| f.target.clone().unwrap())
        .collect()
}

#[test]
fn namespace_alias() {
    assert_eq!(
        mismatch_targets("const f = aether.fs; f.readText('/etc/passwd');"),
        ["/etc/passwd"]
    );
}

#[test]
fn destructured_function() {
    assert_eq!(
        mismatch_targets("const { readText } = aether.fs; readText('/x');"),
        ["/x"]
    );
}

#[test]
fn nested_destructuring_and_renaming() {
    let t = mismatch_targets("const { fs: { writeText: w } } = aether; w('data/x.txt', '');");
    assert_eq!(t, ["/ws/data/x.txt"]);
}

#[test]
fn env_alias() {
    assert_eq!(
        mismatch_targets("const e = aether.env; e.get('AWS_SECRET');"),
        ["AWS_SECRET"]
    );
}

#[test]
fn fetch_aliases() {
    assert_eq!(
        mismatch_targets("const go = fetch; go('https://x.example/');"),
        ["x.example"]
    );
    assert_eq!(
        mismatch_targets("const F = globalThis.fetch; F('https://y.example/');"),
        ["y.example"]
    );
    assert_eq!(
        mismatch_targets("const { fetch: g } = aether; g('https://z.example/');"),
        ["z.example"]
    );
}

#[test]
fn chains_of_aliases_and_late_declarations() {
    // The function body comes before the alias in source order; the first pass sees it.
    let src = "function f() { return p.run('sh'); }\nconst a = aether; const p = a.process;";
    assert_eq!(mismatch_targets(src), ["sh"]);
    assert_eq!(
        mismatch_targets("let x; x = aether.fs; x.readText('/y');"),
        ["/y"]
    );
    assert_eq!(
        mismatch_targets("const r = aether.fs.readText.bind(null); r('/z');"),
        ["/z"]
    );
    assert_eq!(mismatch_targets("(0, aether.fs.readText)('/s');"), ["/s"]);
    assert_eq!(mismatch_targets("aether.fs?.readText?.('/o');"), ["/o"]);
}

#[test]
fn alias_without_capability_is_undeclared() {
    let f = one("const { get } = aether.env; get('X');", &Perms::default());
    let u = of(&f, "capability-undeclared");
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].capability, Some(Capability::Env));
}

#[test]
fn aliases_count_as_use_and_unrelated_names_do_not() {
    let perms = Perms {
        env: &["API_TOKEN"],
        ..Perms::default()
    };
    assert!(
        one(
            "const e = aether.env; export default () => e.get('API_TOKEN');",
            &perms
        )
        .is_empty()
    );
    // `get` of some other object is not the host's.
    let f = one("const { get } = input; get('X');", &perms);
    assert_eq!(of(&f, "capability-unused").len(), 1);
}

#[test]
fn helper_module_using_a_capability_counts() {
    let perms = Perms {
        read: &["data/**"],
        ..Perms::default()
    };
    let f = run(
        &[
            (
                "index.js",
                "import { load } from './lib/load.js'; export default () => load();",
            ),
            (
                "lib/load.js",
                "export const load = () => aether.fs.readText('data/a.txt');",
            ),
        ],
        &perms,
    );
    assert!(f.is_empty(), "{f:#?}");
    // Findings in a helper name that module.
    let f = run(
        &[
            ("index.js", "export * from './lib/load.js';"),
            ("lib/load.js", "\n  aether.fs.readText('/etc/shadow');"),
        ],
        &perms,
    );
    let m = of(&f, "grant-mismatch");
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].module.as_str(), m[0].line, m[0].column),
        ("lib/load.js", 2, 22)
    );
}

#[test]
fn unreachable_modules_are_not_analyzed() {
    let f = run(
        &[
            ("index.js", "export default 1;"),
            ("unused.js", "require('fs');"),
        ],
        &Perms::default(),
    );
    assert!(f.is_empty());
}

#[test]
fn import_cycle_terminates_and_visits_each_module_once() {
    let f = run(
        &[
            ("index.js", "import './a.js'; import './b.js';"),
            ("a.js", "import './b.js'; import './index.js'; eval('1');"),
            ("b.js", "import './a.js'; import './index.js';"),
        ],
        &Perms::default(),
    );
    assert_eq!(of(&f, "dynamic-code").len(), 1, "{f:#?}");
}

#[test]
fn a_syntax_error_in_a_helper_is_located_there() {
    let f = run(
        &[
            ("index.js", "import './b.js';"),
            ("b.js", "let x = 1;\n  let = = ;"),
        ],
        &Perms::default(),
    );
    let s = of(&f, "syntax");
    assert!(!s.is_empty());
    assert_eq!((s[0].module.as_str(), s[0].line), ("b.js", 2));
}
