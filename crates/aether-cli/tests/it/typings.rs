//! `types/aether.d.ts` (SPEC §5) type-checks the example plugins and the scaffolds with
//! `tsc --strict`, when TypeScript is installed (`.ci/run` installs it and sets `AETHER_TSC`).

use std::path::{Path, PathBuf};

use crate::Ws;

/// `tsc` from `AETHER_TSC`; `None` skips where it is not set.
fn tsc() -> Option<PathBuf> {
    match std::env::var_os("AETHER_TSC").map(PathBuf::from) {
        Some(t) if t.is_file() => Some(t),
        Some(t) => panic!("AETHER_TSC is set but `{}` is not a file", t.display()),
        None => {
            eprintln!("skipped: set AETHER_TSC (.ci/run installs typescript)");
            None
        }
    }
}

/// Runs `tsc -p config`: whether it passed, and what it printed.
fn check(tsc: &Path, config: &Path) -> (bool, String) {
    let out = std::process::Command::new(tsc)
        .arg("-p")
        .arg(config)
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

/// A tsconfig like the scaffold's, over `include`.
fn config(ws: &Ws, include: &[String], exclude: &[String]) -> PathBuf {
    let scaffold: serde_json::Value =
        serde_json::from_str(include_str!("../../templates/plugin/tsconfig.json")).unwrap();
    let doc = serde_json::json!({
        "compilerOptions": scaffold["compilerOptions"],
        "include": include,
        "exclude": exclude,
    });
    ws.write("tsconfig.json", &doc.to_string())
}

// See: https://www.typescriptlang.org/tsconfig/#strict
#[test]
fn issue_17_typings_check_examples_and_scaffolds() {
    let Some(tsc) = tsc() else { return };
    let repo = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let ws = Ws::new();

    // Every example plugin, with the repository's typings.
    let examples = repo.join("examples").display().to_string();
    let include: Vec<String> =
        std::iter::once(repo.join("types/aether.d.ts").display().to_string())
            .chain(
                ["js", "mjs", "cjs", "ts", "mts", "cts"]
                    .iter()
                    .map(|ext| format!("{examples}/**/*.{ext}")),
            )
            .collect();
    let cfg = config(&ws, &include, &[format!("{examples}/**/node_modules")]);
    let (ok, report) = check(&tsc, &cfg);
    assert!(ok, "the examples do not type-check:\n{report}");

    // The scaffolds, with the configuration they come with.
    for (name, ts) in [("js-demo", false), ("ts-demo", true)] {
        let mut args = vec!["new", "plugin", name];
        if ts {
            args.push("--ts");
        }
        let out = ws.aether(&args);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let (ok, report) = check(&tsc, &ws.path().join(name).join("tsconfig.json"));
        assert!(ok, "the {name} scaffold does not type-check:\n{report}");
    }

    // The typings do constrain: misuse fails.
    ws.write(
        "ts-demo/wrong.ts",
        "export const x: number = aether.fs.readText(1);\nexport const y = document.title;\n",
    );
    let (ok, report) = check(&tsc, &ws.path().join("ts-demo/tsconfig.json"));
    assert!(!ok, "{report}");
    assert!(report.contains("TS2345"), "{report}");
    assert!(
        report.contains("TS2584") || report.contains("TS2304"),
        "{report}"
    );
}
