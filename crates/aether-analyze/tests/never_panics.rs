//! No input makes the analyzer panic (or overflow its stack).
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

mod common;

use common::{Perms, one, run};
use proptest::prelude::*;

const SOME: Perms = Perms {
    read: &["data/**"],
    write: &["out/"],
    domains: &["*.example.com"],
    listen: &["127.0.0.1:9000"],
    env: &["LOG_*"],
    commands: &["/usr/bin/gzip"],
};

/// Fragments that exercise the interesting paths when glued together at random.
const PIECES: &[&str] = &[
    "aether",
    ".fs",
    ".env",
    ".process",
    ".readText",
    ".get",
    ".run",
    "fetch",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'/etc/passwd'",
    "`x`",
    "\"https://a.example.com:99999/\"",
    "\"http://[::1]/\"",
    "const ",
    "let ",
    "=",
    ",",
    ";",
    "import ",
    "export * from ",
    "'./a.js'",
    "'../x'",
    "require",
    "eval",
    "new Function",
    "globalThis",
    "typeof ",
    "...",
    "?.",
    "=>",
    "\n",
    "\u{2028}",
    "é",
    "/re(/",
    "${",
    "`",
    "//",
    "/*",
    "*/",
    "0x",
    "hostname:",
    "port:",
    "1e999",
    "-1",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_strings(src in any::<String>()) {
        let _ = one(&src, &SOME);
    }

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = one(&String::from_utf8_lossy(&bytes), &SOME);
    }

    #[test]
    fn random_js_like(parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..80)) {
        let src: String = parts.concat();
        let f = run(&[("index.js", &src), ("a.js", &src)], &SOME);
        for finding in f {
            prop_assert!(finding.line >= 1 && finding.column >= 1);
        }
    }
}

#[test]
fn pathological_nesting() {
    // Debug builds need far more stack per level than release (where 1 000 000 levels pass:
    // see `PARSE_STACK_PER_BYTE`); 20 000 keeps this test quick.
    let n = 20_000;
    for src in [
        "(".repeat(n),
        "[".repeat(n),
        "!".repeat(n) + "x",
        "- ".repeat(n) + "x",
        "a=".repeat(n) + "1",
        "x?y:".repeat(n) + "z",
        "a=>".repeat(n) + "1",
        "1+".repeat(n) + "1",
        "a.".repeat(n) + "b",
        "if(x)f();else ".repeat(n / 4) + ";",
        "typeof ".repeat(n / 4) + "x",
        "`${".repeat(n),
    ] {
        let _ = one(&src, &SOME);
    }
}
