//! The web-platform-tests (issue 18 item 5): runs the vendored WPT files (`tests/wpt/` at the
//! repository root) inside real thread-tier sandboxes, in process and in parallel, and compares
//! the pass counts with `tests/wpt/expectations.json`.
//!
//! It fails when a directory passes fewer subtests than the expectations say, or when a subtest
//! not listed as failing fails (a file that times out or crashes the harness fails all its
//! subtests). Newly passing subtests are reported, never an error: `AETHER_WPT_UPDATE=1`
//! rewrites the file. The table of pass rates is printed on stderr:
//!
//! ```text
//! cargo test -p aether-sandbox --test wpt -- --nocapture
//! AETHER_WPT_UPDATE=1 cargo test -p aether-sandbox --test wpt      # accept the current results
//! AETHER_WPT_FILTER=url/,dom/abort cargo test -p aether-sandbox --test wpt -- --nocapture  # some files, no check
//! ```
//!
//! Each file runs as one step: `harness.js` (a small `testharness.js`), then the file's
//! `// META: script=` includes and the file itself as one classic script (indirect `eval`, so
//! sloppy mode and global declarations as in a browser), then waits for the harness to finish or
//! for [`FILE_TIMEOUT`]. `fetch` of a relative URL reads the vendored tree through
//! `aether.fs.readText`, which this test's host serves from `tests/wpt` only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_policy::ByteSize;
use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec, run_step};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The directories measured, as issue 18 lists them.
const DIRS: [&str; 13] = [
    "url",
    "encoding",
    "WebCryptoAPI",
    "streams",
    "compression",
    "dom/abort",
    "dom/events",
    "FileAPI/blob",
    "xhr/formdata",
    "html/webappapis/structured-clone",
    "fetch/api/headers",
    "fetch/api/request",
    "fetch/api/response",
];

/// Files not run, and why: they need what a sandbox is not (a window, a DOM, workers, a WPT
/// server) or what this runner does not implement. `tests/wpt/SKIPPED-PAGES.txt` lists the test
/// pages left out when vendoring.
const SKIP: [(&str, &str); 11] = [
    (
        "idlharness",
        "needs idlharness.js and the WebIDL parser (not vendored)",
    ),
    (
        "/legacy-mb-",
        "tests legacy encoders through HTML forms and URLs (needs a DOM)",
    ),
    ("request-cache", "needs the WPT server (HTTP caching)"),
    ("request-keepalive", "needs the WPT server"),
    ("request-bad-port", "needs the network beyond 127.0.0.1"),
    ("request-init-003", "needs the WPT server"),
    ("url-encoding.html", "needs the WPT server"),
    ("EventListener-incumbent", "needs iframes"),
    (
        "Event-timestamp-",
        "needs a window's UI events (MouseEvent, KeyboardEvent...)",
    ),
    (
        "transferable",
        "needs postMessage between realms (workers, MessageChannel)",
    ),
    (
        "derive_bits_keys/pbkdf2",
        "8,740 PBKDF2 subtests (up to 100,000 iterations each) outlast the per-file limit in a \
         debug build, so how many finish depends on the machine's load; run it alone with \
         AETHER_WPT_FILTER=pbkdf2",
    ),
];

/// Why a page extracted from the 2020 commit (`NAME.html.js`) is not run: upstream has since
/// turned it into `NAME.any.js`, vendored from a current commit (`EXTRA.txt`), which runs instead.
const SUPERSEDED: &str = "superseded by the current upstream NAME.any.js (tests/wpt/EXTRA.txt)";

/// How long one file may run before its unfinished subtests count as timeouts. Generous for a
/// debug build on a loaded machine; most files finish in well under a second.
const FILE_TIMEOUT: Duration = Duration::from_secs(20);

/// Sandboxes run at once (most files wait on timers or promises, not on the CPU).
const PARALLEL: usize = 6;

const HARNESS: &str = include_str!("wpt/harness.js");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wpt")
}

/// Serves the entry module and, for `aether.fs.readText`, files of the vendored tree.
struct WptHost {
    source: String,
    root: PathBuf,
}

impl Host for WptHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        let failed = |message: String| HostError::Failed {
            type_error: true,
            message,
        };
        match request {
            HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                name: "wpt.js".into(),
                source: self.source.clone(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::ReadText { path } => {
                if path.split('/').any(|p| p == ".." || p.is_empty()) {
                    return Err(failed(format!("`{path}` is outside the vendored tree")));
                }
                std::fs::read_to_string(self.root.join(&path))
                    .map(|text| HostValue::Text { value: Some(text) })
                    .map_err(|e| failed(format!("cannot read `{path}`: {e}")))
            }
            HostRequest::Log { .. } => Ok(HostValue::Unit),
            other => Err(failed(format!(
                "not available to the web-platform-tests: {other:?}"
            ))),
        }
    }
}

/// What came of one file.
#[derive(Debug)]
struct FileRun {
    path: String,
    /// `(subtest, passed, message)`; empty when the file crashed.
    results: Vec<(String, bool, String)>,
    /// Why the harness or the step failed, if it did.
    error: Option<String>,
    crashed: bool,
    elapsed: Duration,
}

/// The committed expectations: per directory and per file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Expectations {
    /// How the file was made.
    note: String,
    directories: BTreeMap<String, Count>,
    files: BTreeMap<String, FileExpectation>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Count {
    passed: usize,
    total: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileExpectation {
    passed: usize,
    total: usize,
    /// The subtests that fail (names, sorted, without repeats), when fewer fail than pass.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    failing: BTreeSet<String>,
    /// Otherwise the subtests that pass: whichever list is shorter is kept, which keeps the
    /// file small where most of a directory fails (an API not implemented yet).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    passing: BTreeSet<String>,
    /// Set when the whole file fails (timeout, crash, a script that throws before any test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn test_files(root: &Path) -> (Vec<String>, Vec<(String, &'static str)>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for dir in DIRS {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let is_test = rel.ends_with(".any.js")
                    || rel.ends_with(".html.js")
                    || rel.ends_with(".htm.js");
                if !is_test {
                    continue;
                }
                let page_stem = rel
                    .strip_suffix(".html.js")
                    .or_else(|| rel.strip_suffix(".htm.js"));
                if page_stem.is_some_and(|stem| root.join(format!("{stem}.any.js")).is_file()) {
                    skipped.push((rel, SUPERSEDED));
                    continue;
                }
                match SKIP.iter().find(|(pat, _)| rel.contains(pat)) {
                    Some((_, why)) => skipped.push((rel, *why)),
                    None => files.push(rel),
                }
            }
        }
    }
    files.sort();
    skipped.sort();
    (files, skipped)
}

/// The file's `// META: script=` includes (in order) and itself, as one script.
fn script_of(root: &Path, rel: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
    let dir = Path::new(rel).parent().unwrap_or(Path::new(""));
    let mut script = String::new();
    for line in text.lines() {
        let Some(meta) = line.trim().strip_prefix("// META:") else {
            continue;
        };
        let Some(src) = meta.trim().strip_prefix("script=") else {
            continue;
        };
        let src = src.split('?').next().unwrap_or(src);
        if src.ends_with("testharness.js") || src.ends_with("testharnessreport.js") {
            continue;
        }
        let path = match src.strip_prefix('/') {
            Some(abs) => PathBuf::from(abs),
            None => normalize(&dir.join(src)),
        };
        let include = std::fs::read_to_string(root.join(&path))
            .map_err(|e| format!("{rel}: META script {}: {e}", path.display()))?;
        script.push_str(&include);
        script.push_str("\n;\n");
    }
    script.push_str(&text);
    Ok(script)
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Runs one file; `timeout` is the harness's (unfinished subtests are timeouts then), and the
/// step's own timeout is half as long again, the file's crash if the harness cannot report.
fn run_file(root: &Path, rel: &str, timeout: Duration) -> FileRun {
    let start = Instant::now();
    let crashed = |error: String| FileRun {
        path: rel.to_owned(),
        results: Vec::new(),
        error: Some(error),
        crashed: true,
        elapsed: start.elapsed(),
    };
    let script = match script_of(root, rel) {
        Ok(s) => s,
        Err(e) => return crashed(e),
    };
    let (base, file) = match rel.rfind('/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => ("", rel),
    };
    let json = |s: &str| serde_json::to_string(s).expect("a string");
    // The file's `// META: title=`, the name testharness.js gives a `single_test` file's test.
    let title = script
        .lines()
        .filter_map(|line| line.trim().strip_prefix("// META:"))
        .filter_map(|meta| meta.trim().strip_prefix("title="))
        .next_back()
        .unwrap_or(file);
    let source = format!(
        "const HARNESS = {harness};\nconst SCRIPT = {script};\n\
         export default async () => {{\n\
           (0, eval)(HARNESS);\n\
           __wpt.install({base}, {file}, {title});\n\
           let error;\n\
           try {{ (0, eval)(SCRIPT); }} catch (e) {{ error = e; }}\n\
           __wpt.scriptsDone(error);\n\
           return await __wpt.finish({timeout});\n\
         }};\n",
        harness = json(HARNESS),
        script = json(&script),
        base = json(base),
        file = json(file),
        title = json(title.trim()),
        timeout = timeout.as_millis(),
    );
    let host = Arc::new(WptHost {
        source,
        root: root.to_owned(),
    });
    let spec = StepSpec {
        main: "wpt.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: Value::Null,
        limits: Limits {
            memory: ByteSize::mib(512),
            timeout: timeout + timeout / 2,
            ..Limits::default()
        },
        sample: false,
    };
    let outcome = run_step(spec, host as Arc<dyn Host>);
    let raw = match outcome.result {
        Ok(raw) => raw,
        Err(e) => return crashed(e.to_string()),
    };
    let value: Value = match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        Err(e) => return crashed(format!("unreadable results: {e}")),
    };
    let results = value["results"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or("").to_owned(),
                        r["status"].as_str() == Some("PASS"),
                        format!(
                            "{}: {}",
                            r["status"].as_str().unwrap_or(""),
                            r["message"].as_str().unwrap_or("")
                        ),
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let error = value["error"].as_str().map(str::to_owned);
    FileRun {
        path: rel.to_owned(),
        crashed: results.is_empty() && error.is_some(),
        results,
        error,
        elapsed: start.elapsed(),
    }
}

fn dir_of(path: &str) -> &'static str {
    DIRS.iter()
        .filter(|d| path.starts_with(&format!("{d}/")))
        .max_by_key(|d| d.len())
        .copied()
        .unwrap_or("?")
}

fn run_all(root: &Path, files: &[String]) -> Vec<FileRun> {
    let queue = Mutex::new(files.iter().rev().cloned().collect::<Vec<_>>());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some(rel) = next else { break };
                    let run = run_file(root, &rel, FILE_TIMEOUT);
                    done.lock().expect("results").push(run);
                }
            });
        }
    });
    let mut runs = done.into_inner().expect("results");
    runs.sort_by(|a, b| a.path.cmp(&b.path));
    runs
}

fn expectations_of(runs: &[FileRun], old: &Expectations) -> Expectations {
    let mut directories: BTreeMap<String, Count> = DIRS
        .iter()
        .map(|d| (d.to_string(), Count::default()))
        .collect();
    let mut files = BTreeMap::new();
    for run in runs {
        let (passed, total, mut failing, mut passing) = if run.crashed {
            // A crash fails every subtest the file had when it last ran.
            let previous = old.files.get(&run.path);
            let none = BTreeSet::new();
            (0, previous.map_or(0, |p| p.total), none.clone(), none)
        } else {
            let names = |want: bool| -> BTreeSet<String> {
                run.results
                    .iter()
                    .filter(|(_, ok, _)| *ok == want)
                    .map(|(name, _, _)| name.clone())
                    .collect()
            };
            let passed = run.results.iter().filter(|(_, ok, _)| *ok).count();
            (passed, run.results.len(), names(false), names(true))
        };
        if failing.len() <= passing.len() {
            passing.clear();
        } else {
            failing.clear();
        }
        let count = directories.entry(dir_of(&run.path).to_owned()).or_default();
        count.passed += passed;
        count.total += total;
        files.insert(
            run.path.clone(),
            FileExpectation {
                passed,
                total,
                failing,
                passing,
                error: run
                    .error
                    .clone()
                    .map(|e| e.lines().next().unwrap_or("").to_owned()),
            },
        );
    }
    Expectations {
        note: "Written by `AETHER_WPT_UPDATE=1 cargo test -p aether-sandbox --test wpt`: \
               per directory the subtests passed, per file the failing ones. \
               See docs/web-platform-tests.md."
            .into(),
        directories,
        files,
    }
}

fn print_table(now: &Expectations, skipped: &[(String, &str)], elapsed: Duration) {
    eprintln!(
        "\n{:<36} {:>7} {:>7} {:>7}",
        "directory", "passed", "total", "rate"
    );
    let (mut p, mut t) = (0, 0);
    for (dir, c) in &now.directories {
        let rate = if c.total == 0 {
            0.0
        } else {
            100.0 * c.passed as f64 / c.total as f64
        };
        eprintln!("{dir:<36} {:>7} {:>7} {:>6.1}%", c.passed, c.total, rate);
        p += c.passed;
        t += c.total;
    }
    eprintln!(
        "{:<36} {p:>7} {t:>7} {:>6.1}%",
        "all",
        100.0 * p as f64 / t.max(1) as f64
    );
    eprintln!(
        "{} files run, {} skipped, in {:.1}s",
        now.files.len(),
        skipped.len(),
        elapsed.as_secs_f64()
    );
}

#[test]
fn web_platform_tests_do_not_regress() {
    let root = root();
    let (mut files, skipped) = test_files(&root);
    let filter = std::env::var("AETHER_WPT_FILTER").ok();
    if let Some(f) = &filter {
        files.retain(|p| f.split(',').any(|part| p.contains(part)));
    }
    let expectations_path = root.join("expectations.json");
    let old: Expectations = std::fs::read_to_string(&expectations_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let start = Instant::now();
    let runs = run_all(&root, &files);
    let elapsed = start.elapsed();
    let now = expectations_of(&runs, &old);
    print_table(&now, &skipped, elapsed);
    let mut slowest: Vec<&FileRun> = runs.iter().collect();
    slowest.sort_by_key(|r| std::cmp::Reverse(r.elapsed));
    for r in slowest.iter().take(5) {
        eprintln!("  slowest: {} {:.1}s", r.path, r.elapsed.as_secs_f64());
    }
    if filter.is_some() {
        for run in &runs {
            eprintln!("{} {:?}", run.path, run.error);
            for (name, ok, message) in &run.results {
                if !ok {
                    eprintln!("   FAIL {name}\n        {message}");
                }
            }
        }
        return;
    }
    if std::env::var_os("AETHER_WPT_UPDATE").is_some() {
        let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
        std::fs::write(&expectations_path, text).expect("write expectations.json");
        return;
    }

    let mut problems = Vec::new();
    for (dir, was) in &old.directories {
        let is = now.directories.get(dir).copied().unwrap_or_default();
        if is.passed < was.passed {
            problems.push(format!(
                "{dir}: {} subtests pass, expected at least {}",
                is.passed, was.passed
            ));
        }
    }
    for run in &runs {
        let Some(was) = old.files.get(&run.path) else {
            continue;
        };
        if run.crashed && was.passed > 0 {
            problems.push(format!(
                "{}: the file failed as a whole: {}",
                run.path,
                run.error.as_deref().unwrap_or("")
            ));
            continue;
        }
        for (name, ok, _) in &run.results {
            // Both lists empty: every subtest passed, or none did.
            let listed_passing = if !was.passing.is_empty() {
                was.passing.contains(name)
            } else if !was.failing.is_empty() {
                !was.failing.contains(name)
            } else {
                was.passed > 0 && was.passed == was.total
            };
            if !ok && listed_passing {
                problems.push(format!("{}: `{name}` fails", run.path));
            }
        }
    }
    for (dir, is) in &now.directories {
        let was = old.directories.get(dir).copied().unwrap_or_default();
        if is.passed > was.passed {
            eprintln!(
                "{dir}: {} subtests pass, {} more than expected: run with AETHER_WPT_UPDATE=1",
                is.passed,
                is.passed - was.passed
            );
        }
    }
    assert!(
        problems.is_empty(),
        "web-platform-tests regressed (tests/wpt/expectations.json):\n{}",
        problems.join("\n")
    );
}

/// The adapter itself: each outcome is reported as testharness.js would, and a file whose step
/// never ends fails every subtest it had.
#[test]
fn the_adapter_reports_each_outcome() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wpt-selftest");
    let run = run_file(&root, "dir/outcomes.any.js", Duration::from_millis(1500));
    let status: BTreeMap<&str, bool> = run
        .results
        .iter()
        .map(|(name, ok, _)| (name.as_str(), *ok))
        .collect();
    let expected = BTreeMap::from([
        ("sync pass (a META script's global)", true),
        ("sync fail", false),
        ("async pass", true),
        ("async timeout", false),
        ("promise first", true),
        ("promise second runs after the first", true),
        ("promise_rejects_js", true),
        ("fetch reads the vendored tree", true),
        ("assert_throws_dom", true),
    ]);
    assert_eq!(status, expected, "{:?}", run.results);
    assert!(!run.crashed);
    let timeout = run.results.iter().find(|r| r.0 == "async timeout");
    assert!(
        timeout.is_some_and(|r| r.2.starts_with("TIMEOUT")),
        "{timeout:?}"
    );
    assert!(
        run.error
            .as_deref()
            .is_some_and(|e| e.contains("a timer that throws")),
        "{:?}",
        run.error
    );

    let crash = run_file(&root, "dir/crash.any.js", Duration::from_millis(300));
    assert!(crash.crashed && crash.results.is_empty(), "{crash:?}");
    let mut old = Expectations::default();
    old.files.insert(
        crash.path.clone(),
        FileExpectation {
            passed: 1,
            total: 1,
            ..FileExpectation::default()
        },
    );
    let now = expectations_of(std::slice::from_ref(&crash), &old);
    assert_eq!(
        now.files.get(&crash.path).map(|f| (f.passed, f.total)),
        Some((0, 1))
    );
}
