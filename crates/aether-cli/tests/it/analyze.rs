//! Static analysis in `aether check` and `aether run` (issue 7, SPEC §4, §7): syntax errors are
//! malformed input everywhere; static imports of blocked modules refuse a run; every other code
//! finding is `check`'s alone (the grant is enforced call by call at run time).

use crate::Ws;

fn one_plugin(manifest: &str, index_js: &str) -> Ws {
    let ws = Ws::new();
    ws.js_plugin("p", manifest, index_js);
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/p\n",
    );
    ws
}

#[test]
fn a_syntax_error_is_malformed_with_its_location_and_refuses_the_run() {
    let ws = one_plugin(
        r#"{ "name": "p", "version": "1.0.0" }"#,
        "export default () => {\n  return 1 +;\n};\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("plugins/p/index.js:2:"),
        "{}",
        out.stderr
    );
    let run = ws.aether(&["run", "pipeline.yaml"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("refused: nothing ran"),
        "{}",
        run.stderr
    );
}

/// A literal the grant cannot match is a `check` error, with the code excerpt; `run` does not
/// refuse for it: the call is denied when made (here the plugin catches it).
#[test]
fn a_grant_mismatch_fails_check_but_not_run() {
    let ws = one_plugin(
        r#"{ "name": "p", "version": "1.0.0", "permissions": { "env": ["APP_*"] } }"#,
        "export default () => {\n  try { return aether.env.get('AWS_SECRET_ACCESS_KEY'); } catch (e) { return e.name; }\n};\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v = out.json();
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "grant-mismatch")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(finding["target"], "AWS_SECRET_ACCESS_KEY");
    assert_eq!(finding["capability"], "env");
    assert_eq!(finding["line"], 2);
    assert!(
        finding["file"]
            .as_str()
            .unwrap()
            .ends_with("plugins/p/index.js")
    );

    let human = ws.aether(&["check", "pipeline.yaml"]);
    assert!(
        human
            .stderr
            .contains("aether.env.get('AWS_SECRET_ACCESS_KEY')")
            && human.stderr.contains('^'),
        "the excerpt: {}",
        human.stderr
    );

    let run = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["steps"][0]["output"], "PermissionDenied");
}

/// A declared capability the code never uses is a least-privilege warning at the manifest's
/// request (exit 0).
#[test]
fn an_unused_grant_is_a_warning_at_the_manifest() {
    let ws = one_plugin(
        "{\n  \"name\": \"p\",\n  \"version\": \"1.0.0\",\n  \"permissions\": { \"env\": [\"APP_MODE\"] }\n}\n",
        "export default () => 1;\n",
    );
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = out.json();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["rule"], "capability-unused");
    assert_eq!(findings[0]["level"], "warning");
    assert!(
        findings[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("aether-plugin.json")
    );
    assert_eq!(findings[0]["line"], 4);
}

/// `aether.listen` in `check` (issue 9): without `network.listen` it is
/// `capability-undeclared`; with it, a literal address outside the grant is `grant-mismatch`
/// (no hostname means 127.0.0.1, as at run time); the granted one is no finding.
#[test]
fn listen_without_a_grant_or_outside_it_is_a_check_error() {
    let js = "export default () => {\n  aether.listen({ port: 9000 });\n  aether.listen({ hostname: '0.0.0.0', port: 9000 });\n};\n";
    let findings = |manifest: &str| {
        let ws = one_plugin(manifest, js);
        let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
        out.no_panic();
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        let v = out.json();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["capability"] == "network")
            // A cause repeated in one file is one finding with its other places (issue 24).
            .flat_map(|f| {
                let related = f["related"].as_array().cloned().unwrap_or_default();
                std::iter::once(f["line"].as_u64().unwrap())
                    .chain(related.iter().map(|l| l["line"].as_u64().unwrap()))
                    .map(|line| {
                        (
                            f["rule"].as_str().unwrap().to_owned(),
                            line,
                            f["target"].as_str().map(str::to_owned),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        findings(r#"{ "name": "p", "version": "1.0.0" }"#),
        [
            ("capability-undeclared".to_owned(), 2, None),
            ("capability-undeclared".to_owned(), 3, None),
        ]
    );
    assert_eq!(
        findings(
            r#"{ "name": "p", "version": "1.0.0", "permissions": { "network": { "listen": ["127.0.0.1:9000"] } } }"#
        ),
        [(
            "grant-mismatch".to_owned(),
            3,
            Some("0.0.0.0:9000".to_owned())
        )]
    );
}
