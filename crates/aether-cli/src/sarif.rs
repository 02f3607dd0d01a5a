//! `aether check --format sarif`: SARIF 2.1.0, so that findings show up in code-scanning tools
//! (rule metadata, and a `physicalLocation` region wherever a file is at fault).

use std::path::Path;

use aether::manifest::FileError;
use serde_json::{Value, json};

use aether::workspace::Level;

/// One rule's metadata.
#[derive(Clone, Copy)]
pub struct RuleMeta {
    /// Stable id (the `rule` of a finding).
    pub id: &'static str,
    /// A readable name, distinct from the id (SARIF 3.49.7).
    pub name: &'static str,
    /// Default severity.
    pub level: Level,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// What to do about it.
    pub help: &'static str,
    /// CWE number, if one applies.
    pub cwe: Option<u32>,
}

/// The rules of the manifest, policy and pipeline checks.
pub const CHECK_RULES: &[RuleMeta] = &[
    RuleMeta {
        id: "malformed",
        name: "MalformedFile",
        level: Level::Error,
        summary: "A manifest, policy or pipeline file is unreadable or malformed.",
        help: "Fix the file at the location given; nothing runs until it parses.",
        cwe: Some(20),
    },
    RuleMeta {
        id: "policy-excess",
        name: "ExceedsPolicy",
        level: Level::Error,
        summary: "A plugin asks for more than the operator's policy allows.",
        help: "Narrow the request in the manifest, or ask the operator to widen the policy.",
        cwe: Some(250),
    },
    RuleMeta {
        id: "graph",
        name: "InvalidStepGraph",
        level: Level::Error,
        summary: "The pipeline's step graph is invalid (unknown step, cycle, duplicate id).",
        help: "Fix the step's `needs`, or its `${{ }}` references.",
        cwe: None,
    },
    RuleMeta {
        id: "template",
        name: "InvalidTemplate",
        level: Level::Error,
        summary: "A `${{ }}` expression is malformed.",
        help: "Write `${{ steps.ID.output.field }}`.",
        cwe: None,
    },
    RuleMeta {
        id: "step-limit",
        name: "StepLimitAbovePlugin",
        level: Level::Error,
        summary: "A step asks for a limit above its plugin's.",
        help: "A step may only lower its plugin's limits.",
        cwe: None,
    },
    RuleMeta {
        id: "window",
        name: "OutsideExecutionWindow",
        level: Level::Warning,
        summary: "A plugin may not start now: it is outside its execution windows.",
        help: "Run the pipeline inside one of the policy's windows.",
        cwe: None,
    },
    RuleMeta {
        id: "process-confinement",
        name: "WiderChildConfinement",
        level: Level::Warning,
        summary: "Child processes get a wider directory than the plugin's glob.",
        help: "Use a directory pattern (`dir/**`) or exact paths.",
        cwe: Some(732),
    },
    RuleMeta {
        id: "integrity",
        name: "PluginDiffersFromLock",
        level: Level::Error,
        summary: "A plugin's files differ from `aether.lock` (changed, added or removed), or it is not locked.",
        help: "Review the change, then run `aether lock --update PIPELINE`.",
        cwe: Some(494),
    },
    RuleMeta {
        id: "signature",
        name: "MissingOrInvalidSignature",
        level: Level::Error,
        summary: "A plugin is not signed by a key the policy trusts, or its signature does not match its files.",
        help: "Review the plugin, then sign it with `aether sign PLUGIN_DIR --key KEYFILE` using a trusted key.",
        cwe: Some(347),
    },
];

/// Every rule `aether check` can report: the checks above and the code analysis's.
pub fn all_rules() -> Vec<RuleMeta> {
    let code = aether::analyze::RULES.iter().map(|r| RuleMeta {
        id: r.id,
        name: r.name,
        level: r.level.into(),
        summary: r.summary,
        help: r.help,
        cwe: r.cwe,
    });
    CHECK_RULES.iter().copied().chain(code).collect()
}

/// A SARIF `artifactLocation.uri`: an absolute `file:` URI (relative ones need a base the
/// consumer may not know).
fn uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    url::Url::from_file_path(&absolute)
        .map(String::from)
        .unwrap_or_else(|()| absolute.display().to_string())
}

fn result(
    rules: &[RuleMeta],
    rule: &str,
    lvl: Level,
    message: &str,
    file: Option<&Path>,
    loc: Option<(u32, u32)>,
) -> Value {
    let index = rules.iter().position(|r| r.id == rule);
    let mut result = json!({
        "ruleId": rule,
        "level": lvl.as_str(),
        "message": { "text": message },
    });
    if let Some(i) = index {
        result["ruleIndex"] = json!(i);
    }
    if let Some(file) = file {
        let mut physical = json!({ "artifactLocation": { "uri": uri(file) } });
        if let Some((line, column)) = loc {
            physical["region"] = json!({ "startLine": line.max(1), "startColumn": column.max(1) });
        }
        result["locations"] = json!([{ "physicalLocation": physical }]);
    }
    result
}

/// The SARIF 2.1.0 log of one `aether check`: one result per group ([`crate::grouped`]),
/// with `occurrenceCount` and the other places as `relatedLocations` when repeated; what
/// `--max-findings` left out is in the run's `properties`.
pub fn check_sarif(
    rules: &[RuleMeta],
    malformed: &[FileError],
    groups: &[crate::grouped::Group<'_>],
    omitted: crate::grouped::Omitted,
) -> Value {
    let rule_meta: Vec<Value> = rules
        .iter()
        .map(|r| {
            let mut rule = json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.summary },
                "help": { "text": r.help },
                "defaultConfiguration": { "level": r.level.as_str() },
            });
            if let Some(cwe) = r.cwe {
                rule["properties"] =
                    json!({ "tags": ["security", format!("external/cwe/cwe-{cwe}")] });
            }
            rule
        })
        .collect();
    let mut results: Vec<Value> = malformed
        .iter()
        .map(|e| {
            result(
                rules,
                "malformed",
                Level::Error,
                &e.message,
                Some(&e.file),
                e.loc.map(|l| (l.line, l.col)),
            )
        })
        .collect();
    results.extend(groups.iter().map(|g| {
        let f = g.finding;
        let mut r = result(
            rules,
            f.rule,
            f.level,
            &f.message,
            f.file.as_deref(),
            f.loc.map(|l| (l.line, l.col)),
        );
        if g.count > 1 {
            r["occurrenceCount"] = json!(g.count);
            if let Some(file) = f.file.as_deref() {
                let related: Vec<Value> = g
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        json!({
                            "id": i + 1,
                            "physicalLocation": {
                                "artifactLocation": { "uri": uri(file) },
                                "region": { "startLine": l.line.max(1), "startColumn": l.col.max(1) },
                            },
                            "message": { "text": "the same finding again" },
                        })
                    })
                    .collect();
                if !related.is_empty() {
                    r["relatedLocations"] = json!(related);
                }
            }
        }
        r
    }));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "aether",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_meta,
            } },
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "omittedFindings": omitted.findings,
                "omittedOccurrences": omitted.occurrences,
            },
        }],
    })
}
