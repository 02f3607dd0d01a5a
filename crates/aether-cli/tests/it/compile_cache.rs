//! Compile once across runs (issue 19 item 3): `AETHER_COMPILE_CACHE=disk` keeps authenticated
//! bytecode between runs in a directory no plugin of the run may reach; a tampered entry is
//! ignored and rewritten, never loaded. (Which entries are refused, and why, is tested on the
//! cache itself: `aether::host::compile_cache` tests.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::Ws;

const LIB: &str = "export const twice = (n) => n * 2;\n";
const MAIN: &str = "import { twice } from \"./lib.js\";\nimport data from \"./data.json\" with { type: \"json\" };\nexport default (input) => ({ value: twice(input.n), data, url: import.meta.url });\n";

fn workspace(write: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "plugins/p/aether-plugin.json",
        &json!({ "name": "p", "version": "1.0.0",
                 "permissions": { "filesystem": { "write": [write] } } })
        .to_string(),
    );
    ws.write("plugins/p/index.js", MAIN);
    ws.write("plugins/p/lib.js", LIB);
    ws.write("plugins/p/data.json", "{\"a\":1}");
    ws.write(
        "pipeline.yaml",
        "name: c\nsteps:\n  - id: a\n    plugin: ./plugins/p\n    with: { n: 2 }\n  - id: b\n    plugin: ./plugins/p\n    with: { n: 3 }\n",
    );
    ws
}

fn run(ws: &Ws, cache: &Path) -> crate::Out {
    let out = ws.aether_env(
        &["run", "pipeline.yaml", "--output", "json"],
        &[
            ("AETHER_COMPILE_CACHE", "disk"),
            (
                "AETHER_COMPILE_CACHE_DIR",
                cache.to_str().expect("utf-8 path"),
            ),
        ],
    );
    out.no_panic();
    out
}

fn entries(cache: &Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(cache)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    entries.retain(|p| p.file_name().is_some_and(|n| n.len() == 64));
    entries.sort();
    entries
}

fn outputs(out: &crate::Out) -> serde_json::Value {
    let json = out.json();
    assert_eq!(json["status"], "succeeded", "{}", out.stderr);
    json!([json["steps"][0]["output"], json["steps"][1]["output"]])
}

// See: https://github.com/python/cpython/issues/76891 (a bytecode cache others can write runs
// their code; Python's .pyc has no authentication); issue 19 item 3.
#[test]
fn issue_19_the_disk_cache_keeps_authentic_bytecode_and_ignores_tampered_entries() {
    let ws = workspace("./out/**");
    let home = tempfile::tempdir().expect("tmp");
    let cache = home.path().join("cache");
    let expected = json!([
        { "value": 4, "data": { "a": 1 }, "url": "aether-plugin:/index.js" },
        { "value": 6, "data": { "a": 1 }, "url": "aether-plugin:/index.js" },
    ]);

    let first = run(&ws, &cache);
    assert_eq!(outputs(&first), expected);
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&cache.join("key")), 0o600);
    // index.js, lib.js and the JSON module's facade.
    let written = entries(&cache);
    assert_eq!(written.len(), 3, "{written:?}");

    // Every entry tampered with: forged bytes, truncated, another module's entry in its place.
    let originals: Vec<Vec<u8>> = written
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    std::fs::write(&written[0], b"AETHERBC1 forged bytecode").expect("write");
    std::fs::write(&written[1], &originals[1][..originals[1].len() / 2]).expect("write");
    std::fs::write(&written[2], &originals[0]).expect("write");
    let second = run(&ws, &cache);
    assert_eq!(outputs(&second), expected);
    // Ignored, compiled again, and rewritten whole.
    for (path, original) in written.iter().zip(&originals) {
        assert_eq!(
            &std::fs::read(path).expect("read"),
            original,
            "{}",
            path.display()
        );
    }
    // Authentic entries are loaded, not compiled again: nothing is rewritten (a rewrite is a
    // new file renamed into place, with a new inode).
    use std::os::unix::fs::MetadataExt;
    let inodes = |paths: &[std::path::PathBuf]| -> Vec<u64> {
        paths
            .iter()
            .map(|p| std::fs::metadata(p).expect("metadata").ino())
            .collect()
    };
    let before = inodes(&written);
    let third = run(&ws, &cache);
    assert_eq!(outputs(&third), expected);
    assert_eq!(inodes(&written), before);
}

/// A cache directory a plugin of the run may write into is never used: the run goes on, with
/// a warning, and nothing is written there.
#[test]
fn issue_19_the_disk_cache_is_not_used_where_a_plugin_may_write() {
    let home = tempfile::tempdir().expect("tmp");
    let cache = std::fs::canonicalize(home.path())
        .expect("real")
        .join("cache");
    let ws = workspace(&format!("{}/**", cache.display()));
    let out = run(&ws, &cache);
    assert_eq!(out.json()["status"], "succeeded", "{}", out.stderr);
    assert!(
        out.stderr.contains("compile cache on disk is not used"),
        "{}",
        out.stderr
    );
    assert!(entries(&cache).is_empty());
}
