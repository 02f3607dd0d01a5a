//! `aether schema` (SPEC §7): the committed schemas are what the binary prints, and every
//! example file passes them under an independent validator (ajv, when installed).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Ws;

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// See: https://json-schema.org/draft/2020-12 (the dialect `aether schema` emits)
#[test]
fn issue_17_schema_prints_the_committed_files() {
    let ws = Ws::new();
    for (arg, file) in [
        ("manifest", "aether-plugin.schema.json"),
        ("policy", "aether-policy.schema.json"),
        ("pipeline", "pipeline.schema.json"),
    ] {
        let out = ws.aether(&["schema", arg]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let committed = std::fs::read_to_string(repo().join("schemas").join(file)).unwrap();
        assert_eq!(
            out.stdout, committed,
            "`aether schema {arg}` differs from schemas/{file}"
        );
        let schema: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
    let out = ws.aether(&["schema", "nope"]);
    assert_eq!(out.code, Some(2));
}

/// Every user file under `dir` (recursively), as `(schema file, path)`.
fn user_files(dir: &Path, out: &mut Vec<(&'static str, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            user_files(&path, out);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let schema = match name.as_str() {
            "aether-plugin.json" => "aether-plugin.schema.json",
            "aether-policy.toml" => "aether-policy.schema.json",
            n if n.ends_with(".yaml") || n.ends_with(".yml") => "pipeline.schema.json",
            _ => continue,
        };
        out.push((schema, path));
    }
}

/// A user file as a JSON document (TOML and YAML converted), for a JSON Schema validator.
fn as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text).unwrap(),
        Some("toml") => {
            let v: toml::Value = toml::from_str(&text).unwrap();
            serde_json::to_value(v).unwrap()
        }
        _ => serde_saphyr::from_str(&text).unwrap(),
    }
}

/// Runs ajv (JSON Schema 2020-12) on `data` against `schema`: whether it passed, and its
/// report.
fn ajv(tool: &Path, schema: &Path, data: &Path) -> (bool, String) {
    let out = std::process::Command::new(tool)
        .args([
            "validate",
            "--spec=draft2020",
            "--strict=false",
            "--all-errors",
        ])
        .arg("-s")
        .arg(schema)
        .arg("-d")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// ajv from `AETHER_AJV` (`.ci/run` installs it); `None` skips the test where it is not set.
pub fn ajv_tool() -> Option<PathBuf> {
    let tool = std::env::var_os("AETHER_AJV").map(PathBuf::from);
    match tool {
        Some(t) if t.is_file() => Some(t),
        Some(t) => panic!("AETHER_AJV is set but `{}` is not a file", t.display()),
        None => {
            eprintln!("skipped: set AETHER_AJV (.ci/run installs ajv-cli)");
            None
        }
    }
}

/// Validates `files` with ajv against the committed schemas; panics naming every failure.
pub fn validate_with_ajv(tool: &Path, files: &[(&str, PathBuf)]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, (schema, path)) in files.iter().enumerate() {
        let data = tmp.path().join(format!("{i}.json"));
        std::fs::write(&data, serde_json::to_string(&as_json(path)).unwrap()).unwrap();
        let (ok, report) = ajv(tool, &repo().join("schemas").join(schema), &data);
        if !ok {
            failures.push(format!("{}: {report}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// See: https://github.com/ajv-validator/ajv-cli (the independent validator)
#[test]
fn issue_17_examples_pass_the_schemas() {
    let mut files = Vec::new();
    user_files(&repo().join("examples"), &mut files);
    assert!(
        files.iter().any(|(s, _)| *s == "aether-plugin.schema.json")
            && files.iter().any(|(s, _)| *s == "aether-policy.schema.json")
            && files.iter().any(|(s, _)| *s == "pipeline.schema.json"),
        "{files:?}"
    );
    let Some(tool) = ajv_tool() else { return };
    validate_with_ajv(&tool, &files);

    // The validator does reject: a typo, a bad size, a missing field.
    let ws = Ws::new();
    let bad = [
        (
            "aether-plugin.schema.json",
            ws.write(
                "a/aether-plugin.json",
                r#"{"name":"x","version":"1.0.0","permisions":{}}"#,
            ),
        ),
        (
            "aether-policy.schema.json",
            ws.write("b/aether-policy.toml", "[limits]\nmax_memory = \"1 GB\"\n"),
        ),
        (
            "pipeline.schema.json",
            ws.write("c/pipeline.yaml", "name: x\nsteps:\n  - id: a\n"),
        ),
    ];
    for (schema, path) in bad {
        let data = ws.path().join("bad.json");
        std::fs::write(&data, serde_json::to_string(&as_json(&path)).unwrap()).unwrap();
        let (ok, report) = ajv(&tool, &repo().join("schemas").join(schema), &data);
        assert!(!ok, "{} passed: {report}", path.display());
    }
}
