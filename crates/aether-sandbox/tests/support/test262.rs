//! A minimal test262 runner shared by the engine's test binaries (`engine_regex`,
//! `engine_interp`, `engine_calls`, `engine_props`): one file at a time in a fresh runtime, with
//! test262's harness includes and a `$262` without realms or detaching.

use std::path::{Path, PathBuf};

use rquickjs::{Context, Runtime};

/// A test262 file's frontmatter: includes, flags and the expected error type (negative tests).
struct Meta {
    includes: Vec<String>,
    flags: Vec<String>,
    negative: Option<String>,
}

fn frontmatter(source: &str) -> Meta {
    let yaml = source
        .split_once("/*---")
        .and_then(|(_, rest)| rest.split_once("---*/"))
        .map_or("", |(yaml, _)| yaml);
    let mut meta = Meta {
        includes: Vec::new(),
        flags: Vec::new(),
        negative: None,
    };
    let mut key = "";
    for line in yaml.lines() {
        let trimmed = line.trim();
        let list = |value: &str| -> Vec<String> {
            value
                .trim()
                .trim_matches(['[', ']'])
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        if !line.starts_with(' ') && !line.starts_with('\t') {
            if let Some((k, value)) = trimmed.split_once(':') {
                key = k.trim();
                match key {
                    "includes" => meta.includes.extend(list(value)),
                    "flags" => meta.flags.extend(list(value)),
                    _ => {}
                }
            }
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            if key == "includes" {
                meta.includes.push(item.trim().to_owned());
            } else if key == "flags" {
                meta.flags.push(item.trim().to_owned());
            }
        } else if key == "negative"
            && let Some(kind) = trimmed.strip_prefix("type:")
        {
            meta.negative = Some(kind.trim().to_owned());
        }
    }
    meta
}

/// Runs one test262 file after `prelude` (not for `raw` files); `Err` says why it failed,
/// `Ok(false)` that it was skipped (module).
fn test262_file(harness: &Path, file: &Path, prelude: &str) -> Result<bool, String> {
    let source = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let meta = frontmatter(&source);
    let has = |flag: &str| meta.flags.iter().any(|f| f == flag);
    if has("module") {
        return Ok(false);
    }
    let mut script = String::new();
    if !has("raw") {
        if has("onlyStrict") {
            script.push_str("\"use strict\";\n");
        }
        script.push_str(
            "globalThis.__out = []; globalThis.print = (s) => { __out.push(String(s)); };\n\
             globalThis.$262 = { global: globalThis, evalScript: (s) => (0, eval)(s), gc() {},\n\
             detachArrayBuffer() { throw new Error('no detachArrayBuffer'); },\n\
             createRealm() { throw new Error('no createRealm'); }, agent: {} };\n",
        );
        let mut includes = vec!["assert.js".to_owned(), "sta.js".to_owned()];
        if has("async") {
            includes.push("doneprintHandle.js".to_owned());
        }
        includes.extend(meta.includes.iter().cloned());
        for include in includes {
            let text = std::fs::read_to_string(harness.join(&include))
                .map_err(|e| format!("include {include}: {e}"))?;
            script.push_str(&text);
            script.push('\n');
        }
        script.push_str(prelude);
        script.push('\n');
    }
    script.push_str(&source);

    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    runtime.set_memory_limit(512 << 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    runtime.set_interrupt_handler(Some(Box::new(move || std::time::Instant::now() > deadline)));
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    let thrown = context.with(|ctx| match ctx.eval::<(), _>(script.as_str()) {
        Ok(()) => Ok(None),
        Err(rquickjs::Error::Exception) => {
            let error = ctx.catch();
            let name = error
                .as_object()
                .and_then(|o| o.get::<_, String>("name").ok())
                .unwrap_or_default();
            Ok(Some((name, format!("{error:?}"))))
        }
        Err(e) => Err(e.to_string()),
    })?;
    match (&meta.negative, thrown) {
        (Some(expected), Some((name, _))) if *expected == name => return Ok(true),
        (Some(expected), Some((name, message))) => {
            return Err(format!("expected {expected}, got {name}: {message}"));
        }
        (Some(expected), None) => return Err(format!("expected {expected}, nothing thrown")),
        (None, Some((_, message))) => return Err(message),
        (None, None) => {}
    }
    if has("async") {
        while runtime
            .execute_pending_job()
            .map_err(|_| "a job threw".to_owned())?
        {}
        let out = context
            .with(|ctx| ctx.eval::<String, _>("__out.join('\\n')"))
            .map_err(|e| e.to_string())?;
        if !out.contains("Test262:AsyncTestComplete") {
            return Err(format!("async test did not complete: {out}"));
        }
    }
    Ok(true)
}

fn js_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            js_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "js")
            && !path.to_string_lossy().contains("_FIXTURE")
        {
            out.push(path);
        }
    }
}

/// Runs every file under `dirs` (paths inside the checkout named by `AETHER_TEST262_DIR`) and
/// asserts that the files failing are exactly those listed in `tests/fixtures/{list}`, written
/// from the engine before the patches under test (`AETHER_TEST262_WRITE=1` rewrites it).
/// Without a checkout it says so and checks nothing, as the other tests gated on an outside
/// tool do; with one, a directory list that finds no file is a failure, not a pass.
#[allow(
    dead_code,
    reason = "engine_objects calls assert_known_failures_with only"
)]
pub fn assert_known_failures(dirs: &[&str], list: &str) {
    assert_known_failures_with(dirs, list, "");
}

/// As [`assert_known_failures`], with `prelude` run before each file (after the harness).
pub fn assert_known_failures_with(dirs: &[&str], list: &str, prelude: &str) {
    let Some(root) = std::env::var_os("AETHER_TEST262_DIR").map(PathBuf::from) else {
        eprintln!("skipped: set AETHER_TEST262_DIR to a test262 checkout to check {list}");
        return;
    };
    let mut files = Vec::new();
    for dir in dirs {
        js_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(
        !files.is_empty(),
        "no test262 file under {} for {list}",
        root.display()
    );
    let harness = root.join("harness");
    let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        match test262_file(&harness, file, prelude) {
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(list);
    let actual = failed.join("\n") + "\n";
    if std::env::var_os("AETHER_TEST262_WRITE").is_some() {
        std::fs::write(&path, &actual).expect("write the list");
    }
    let expected = std::fs::read_to_string(&path).expect("the list of known failures");
    assert_eq!(
        actual, expected,
        "test262 results changed (tests/fixtures/{list})"
    );
}
