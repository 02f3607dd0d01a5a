//! A step's commit is all or nothing (issue 16, "What is wrong" 4; SPEC §6 "a failed step
//! writes nothing", "each file atomically").

use serde_json::json;

use crate::Ws;
use crate::run::{error, run};

const POLICY: &str = "[filesystem]\nread = [\"./out/**\"]\nwrite = [\"./out/\"]\n";

/// A workspace whose `writer` plugin removes `out/keep.txt`, writes `out/a-new.txt`, then
/// writes `out/<input.last>`; `out/keep.txt` is on disk.
fn workspace(last: &str) -> Ws {
    let ws = Ws::new();
    ws.write("aether-policy.toml", POLICY);
    let manifest = json!({
        "name": "writer",
        "version": "1.0.0",
        "permissions": { "filesystem": { "read": ["./out/**"], "write": ["./out/"] } },
    });
    ws.js_plugin(
        "writer",
        &manifest.to_string(),
        r#"
export default function (input) {
  aether.fs.remove("out/keep.txt");
  aether.fs.writeText("out/a-new.txt", "new");
  aether.fs.writeText(`out/${input.last}`, "last");
  return null;
}
"#,
    );
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: w\n    plugin: ./plugins/writer\n    with: {{ last: {last} }}\n"
        ),
    );
    ws.write("out/keep.txt", "keep");
    ws
}

fn names(ws: &Ws) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn issue_16_a_240_byte_name_commits_with_the_rest_of_the_step() {
    // See: issue 16 "What is wrong" 4: the temporary name `.{name}.aether-tmp-{pid}` of a
    // legal 240-byte name was too long, and the commit failed with `keep.txt` deleted and
    // `a-new.txt` on disk.
    let long = "x".repeat(240);
    let ws = workspace(&long);
    let (out, _) = run(&ws);
    out.no_panic();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(names(&ws), ["a-new.txt".to_owned(), long.clone()]);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out").join(&long)).unwrap(),
        "last"
    );
}

#[test]
fn issue_16_a_commit_that_fails_leaves_the_disk_as_it_was() {
    // The last file's target is a directory on disk: the step succeeds in its overlay, its
    // commit fails, and neither the removal nor the first write reaches the disk.
    let ws = workspace("zdir");
    std::fs::create_dir(ws.path().join("out/zdir")).unwrap();
    let (out, v) = run(&ws);
    out.no_panic();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(error(&v, "w").contains("could not be committed"), "{v:#}");
    assert_eq!(names(&ws), ["keep.txt".to_owned(), "zdir".to_owned()]);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out/keep.txt")).unwrap(),
        "keep"
    );
}
