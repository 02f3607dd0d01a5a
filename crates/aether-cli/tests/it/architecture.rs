//! `docs/architecture.md` stays true: its crate graph is the workspace's (issue 20 item 6).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The edges `a -> b` of the first fenced block tagged `crate-graph` in `doc`.
fn documented_edges(doc: &str) -> BTreeSet<(String, String)> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != "```crate-graph");
    assert!(
        lines.next().is_some(),
        "docs/architecture.md has no ```crate-graph block"
    );
    lines
        .take_while(|l| l.trim() != "```")
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (from, to) = l
                .split_once("->")
                .unwrap_or_else(|| panic!("not an `a -> b` edge in the crate graph: {l:?}"));
            (from.trim().to_owned(), to.trim().to_owned())
        })
        .collect()
}

/// The normal (not dev, not build) dependencies between workspace crates, from
/// `cargo metadata`.
fn actual_edges(root: &Path) -> BTreeSet<(String, String)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut edges = BTreeSet::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if dep["kind"].is_null() && members.contains(dep_name) {
                edges.insert((name.to_owned(), dep_name.to_owned()));
            }
        }
    }
    edges
}

#[test]
fn architecture_doc_crate_graph_matches_cargo_metadata() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let documented = documented_edges(&doc);
    let actual = actual_edges(&root);
    let show = |edges: Vec<&(String, String)>| {
        edges
            .iter()
            .map(|(a, b)| format!("  {a} -> {b}\n"))
            .collect::<String>()
    };
    let missing = show(actual.difference(&documented).collect());
    let extra = show(documented.difference(&actual).collect());
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/architecture.md's crate graph differs from `cargo metadata`\n\
         edges missing from the doc (add them to the ```crate-graph block):\n{missing}\
         edges in the doc that no Cargo.toml has (remove them):\n{extra}"
    );
}

/// `aether-policy` is the pure leaf every other crate builds on: it depends on no workspace
/// crate (it used to depend on `aether-integrity` for the `[integrity]` section, which now lives
/// in `aether-manifest`'s `PolicyFile`).
#[test]
fn issue_20_policy_crate_depends_on_no_workspace_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let from_policy: Vec<_> = actual_edges(&root)
        .into_iter()
        .filter(|(from, _)| from == "aether-policy")
        .collect();
    assert!(
        from_policy.is_empty(),
        "aether-policy depends on {from_policy:?}"
    );
}
