//! `run_gate`: the findings of `analyze` that refuse a run, from one pass over the plugin.

mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;

use aether_analyze::{Finding, Input, analyze, run_gate};
use common::{Perms, grant, resolve};

const NONE: Perms = Perms {
    read: &[],
    write: &[],
    domains: &[],
    listen: &[],
    env: &[],
    commands: &[],
};

/// Runs `f` over a plugin made of `files` (the first is the entry module); returns its
/// findings and how many times a module's text was asked for.
fn with_plugin(files: &[(&str, &str)], f: fn(&Input<'_>) -> Vec<Finding>) -> (Vec<Finding>, usize) {
    let map: HashMap<String, String> = files
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    let g = grant(&NONE);
    let reads = Cell::new(0);
    let modules = |n: &str| {
        reads.set(reads.get() + 1);
        map.get(n).map(|s| s.clone().into_bytes())
    };
    let res = |s: &str, r: &str| resolve(&map, s, r);
    let found = f(&Input {
        main: files[0].0,
        modules: &modules,
        resolve: &res,
        require: &res,
        kind: &|_| aether_policy::ModuleKind::Esm,
        grant: &g,
        workspace: Path::new(common::WS),
    });
    (found, reads.get())
}

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
    let (all, all_reads) = with_plugin(PLUGIN, analyze);
    let (gate, gate_reads) = with_plugin(PLUGIN, run_gate);
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
    assert!(with_plugin(files, run_gate).0.is_empty());
}
