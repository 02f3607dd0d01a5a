//! The contract lives in the repository: the README and `docs/` link only to files inside it
//! (a user's clone has nothing else), and every such file exists.

use std::path::{Path, PathBuf};

/// Every Markdown link target of `text` (`[label](target)`), without titles.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            out.push(target.to_owned());
            rest = &rest[end..];
        }
    }
    out
}

// See: https://github.com/tcort/markdown-link-check (the same check, offline)
#[test]
fn issue_17_docs_link_only_inside_the_repository() {
    let repo = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let mut pages: Vec<PathBuf> = vec![repo.join("README.md"), repo.join("SECURITY.md")];
    for entry in std::fs::read_dir(repo.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    for page in ["manifest", "policy", "pipeline", "plugin-api", "cli"] {
        assert!(
            pages.contains(&repo.join("docs").join(format!("{page}.md"))),
            "docs/{page}.md is missing"
        );
    }
    let mut bad = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
                || target.starts_with('#')
                || target.is_empty()
            {
                continue;
            }
            let file = target.split('#').next().unwrap_or("");
            let resolved = page.parent().unwrap().join(file);
            match std::fs::canonicalize(&resolved) {
                Ok(real) if real.starts_with(&repo) => {}
                _ => bad.push(format!("{}: {target}", page.display())),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "links outside the repository or to nothing:\n{}",
        bad.join("\n")
    );
}
