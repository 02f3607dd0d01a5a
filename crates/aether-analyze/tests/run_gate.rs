//! `run_gate`: the findings of `analyze` that refuse a run, from one pass over the plugin.
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

mod common;

use aether_analyze::{Finding, analyze, run_gate};
use common::{Perms, run_with};

/// A plugin whose `root.js` exports the global object: `analyze` reads it again to follow
/// `root.fetch` in `index.js` (a second pass). It also has a blocked static import and a
/// module with a syntax error: the two findings that refuse a run.
const PLUGIN: &[(&str, &str)] = &[
    (
        "index.js",
        "import root from './root.js';\nimport './broken.js';\nimport 'node:fs';\nexport default () => root.fetch('https://example.com');\n",
    ),
    ("root.js", "export default globalThis;\n"),
    ("broken.js", "export const x = ;\n"),
];

// See: issue 19 (aether's own cost around a step): `aether run` parsed every module of a
// plugin up to four times for findings it then dropped.
#[test]
fn issue_19_run_gate_is_analyze_refusing_findings_in_one_pass() {
    let (all, all_reads) = run_with(PLUGIN, &Perms::default(), analyze);
    let (gate, gate_reads) = run_with(PLUGIN, &Perms::default(), run_gate);
    let refusing: Vec<Finding> = all.iter().filter(|f| f.refuses_run).cloned().collect();
    assert_eq!(gate, refusing);
    let rules: Vec<&str> = gate.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["module-blocked", "syntax"], "{gate:#?}");
    assert!(all.len() > gate.len(), "{all:#?}");
    // One read of each of the three modules; `analyze` made a second pass.
    assert_eq!(gate_reads, 3);
    assert!(all_reads > gate_reads, "analyze read {all_reads} modules");
}

#[test]
fn run_gate_of_a_clean_plugin_is_empty() {
    let files = &[("index.js", "export default (i) => i;\n")];
    assert!(run_with(files, &Perms::default(), run_gate).0.is_empty());
}
