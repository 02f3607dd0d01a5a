//! Peers' public permission test suites, ported to aether's API (issue 15, item 10).
//!
//! Each test names the upstream files it ports: Deno's `tests/specs/permission/` and Node.js's
//! `test/parallel/test-permission-*` with `test/fixtures/permission/` (and the CVE where the
//! upstream test is a CVE regression). The upstream code is not copied: each case is rewritten
//! as an operation of one probe plugin (`aether.fs.*`, `fetch`, `aether.env.get`,
//! `aether.process.run`, `import()`), under a manifest and a policy, and every refusal is
//! checked twice: the exact `PermissionDenied` (capability and target) the plugin caught, and
//! the `denied` record in `violations.jsonl`. `docs/peer-suites.md` lists what was ported, what
//! does not apply and why, and the pass count.
//!
//! Servers bind 127.0.0.1 only; nothing here reaches any other address.

use std::path::Path;

use serde_json::{Value, json};

use crate::fetch::Server;
use crate::{Out, Ws};

/// Runs each `[op, ...args]` of `input.ops` and returns, for each, `{ok: value}` or
/// `{err: {name, capability, target}}`. `op` is an `aether.fs` member, or `env`, `fetch`, `run`,
/// `import`, `listen`, `typeof`. A path argument `{u8: s}` is passed as the UTF-8 bytes of `s`
/// (a Node `Buffer`/`Uint8Array` path), `{decoded: s}` as those bytes decoded back into a
/// string by the plugin, and `{shifty: [a, b]}` as an object whose `toString` answers `a` the
/// first time and `b` afterwards (a check-then-use race on coercion).
const PEER: &str = r#"
const enc = (s) => new TextEncoder().encode(s);
const arg = (a) => {
  if (a === null || typeof a !== "object" || Array.isArray(a)) return a;
  if ("u8" in a) return enc(a.u8);
  if ("decoded" in a) return new TextDecoder().decode(enc(a.decoded));
  if ("shifty" in a) { let n = 0; return { toString: () => a.shifty[n++ === 0 ? 0 : 1] }; }
  return a;
};
const view = (v) => {
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (v && typeof v === "object" && "isDir" in v) return { isDir: v.isDir, isFile: v.isFile };
  return v === undefined ? null : v;
};
async function one(op, args) {
  switch (op) {
    case "env": return aether.env.get(args[0]);
    case "fetch": {
      const res = await fetch(args[0], args[1] ?? undefined);
      return { status: res.status, url: res.url, text: await res.text() };
    }
    case "run": {
      const r = await aether.process.run(args[0], args[1] ?? [], args[2] ?? undefined);
      return { code: r.code, stdout: r.stdout };
    }
    case "import": return Object.keys(await import(args[0])).sort();
    case "listen": { const s = aether.listen(args[0]); s.close(); return "listening"; }
    case "typeof": return typeof globalThis[args[0]];
    default: return aether.fs[op](...args.map(arg));
  }
}
export default async function (input) {
  const out = [];
  for (const [op, ...args] of input.ops) {
    try {
      out.push({ ok: view(await one(op, args)) });
    } catch (e) {
      out.push({ err: { name: e.name, capability: e.capability ?? null, target: e.target ?? null, message: e.message } });
    }
  }
  return out;
}
"#;

/// One step of a peer pipeline: its id, the `permissions` of its plugin (a plugin of its own
/// per step, named after it) and its operations.
struct Step {
    id: &'static str,
    permissions: Value,
    ops: Value,
    /// `isolation: process` for this step.
    process_tier: bool,
}

impl Step {
    fn new(id: &'static str, permissions: Value, ops: Value) -> Step {
        Step {
            id,
            permissions,
            ops,
            process_tier: false,
        }
    }
}

/// Writes a pipeline of `steps` (each with its own plugin running [`PEER`]) under `policy`.
fn pipeline(ws: &Ws, policy: &str, steps: &[Step]) {
    ws.write("aether-policy.toml", policy);
    let mut yaml = String::from("name: peers\npolicy: ./aether-policy.toml\nsteps:\n");
    for s in steps {
        let manifest = json!({
            "name": s.id.replace('_', "-"),
            "version": "1.0.0",
            "permissions": s.permissions,
            "limits": { "timeout": "20s" },
        });
        ws.js_plugin(s.id, &manifest.to_string(), PEER);
        let with = json!({ "ops": s.ops });
        yaml.push_str(&format!(
            "  - id: {id}\n    plugin: ./plugins/{id}\n    with: {with}\n",
            id = s.id
        ));
        if s.process_tier {
            yaml.push_str("    isolation: process\n");
        }
    }
    ws.write("pipeline.yaml", &yaml);
}

/// A finished run: the `--output json` document and the records of `violations.jsonl`.
struct Ran {
    out: Out,
    doc: Value,
    violations: Vec<Value>,
}

impl Ran {
    /// The results of step `id` (which must have succeeded), one per operation, without the
    /// errors' messages (kept in the output for failure reports only).
    fn results(&self, id: &str) -> Vec<Value> {
        let mut results = self.raw_results(id).to_vec();
        for r in &mut results {
            if let Some(err) = r.get_mut("err").and_then(Value::as_object_mut) {
                err.remove("message");
            }
        }
        results
    }

    /// The results of step `id` as the plugin returned them.
    fn raw_results(&self, id: &str) -> &[Value] {
        let step = self.doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no step `{id}` in {:#}", self.doc));
        assert_eq!(step["status"], "succeeded", "{step:#}\n{}", self.out.stderr);
        step["output"].as_array().unwrap()
    }

    /// Asserts that operation `i` of step `id` was refused with exactly `capability`/`target`,
    /// and that the refusal is in `violations.jsonl` (decision `denied`, same step).
    fn denied(&self, id: &str, i: usize, capability: &str, target: &str) {
        let got = &self.results(id)[i];
        assert_eq!(
            got,
            &denied(capability, target),
            "step `{id}` op {i} in {:#}",
            Value::from(self.raw_results(id).to_vec())
        );
        self.recorded(id, capability, target);
    }

    /// Asserts that a `denied` violation of `capability` on `target` by step `id` is recorded.
    fn recorded(&self, id: &str, capability: &str, target: &str) {
        assert!(
            self.violations.iter().any(|r| r["step"] == id
                && r["capability"] == capability
                && r["target"] == target
                && r["decision"] == "denied"),
            "no `denied` {capability} violation of `{target}` by `{id}` in {:#?}",
            self.violations
        );
    }

    /// Asserts that operation `i` of step `id` succeeded with `value`.
    fn ok(&self, id: &str, i: usize, value: Value) {
        assert_eq!(
            self.results(id)[i],
            json!({ "ok": value }),
            "step `{id}` op {i} in {:#}",
            Value::from(self.raw_results(id).to_vec())
        );
    }

    /// Asserts that operation `i` of step `id` threw a plain `TypeError` (no capability).
    fn type_error(&self, id: &str, i: usize) {
        assert_eq!(
            self.results(id)[i],
            json!({ "err": { "name": "TypeError", "capability": null, "target": null } }),
            "step `{id}` op {i} in {:#}",
            Value::from(self.raw_results(id).to_vec())
        );
    }

    /// The number of `denied` violations recorded for step `id`.
    fn denials(&self, id: &str) -> usize {
        self.violations
            .iter()
            .filter(|r| r["step"] == id && r["decision"] == "denied")
            .count()
    }
}

/// Runs `pipeline.yaml` with `--inspect-security`, with an environment holding only `PATH` and
/// `env`.
fn run(ws: &Ws, env: &[(&str, &str)]) -> Ran {
    let out = ws.aether_env(
        &[
            "run",
            "pipeline.yaml",
            "--output",
            "json",
            "--jobs",
            "4",
            "--inspect-security=sec",
        ],
        env,
    );
    out.no_panic();
    let doc = out.json();
    let violations = std::fs::read_to_string(ws.path().join("sec/violations.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Ran {
        out,
        doc,
        violations,
    }
}

fn denied(capability: &str, target: &str) -> Value {
    json!({ "err": { "name": "PermissionDenied", "capability": capability, "target": target } })
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Filesystem

/// The Node.js traversal fixture: `..` out of a granted folder, as a string, as a
/// `Buffer`/`Uint8Array` (which the permission model once skipped), with trailing dots, and
/// `mkdtemp` beside the granted folder. Here paths are strings: bytes are a `TypeError` that
/// reads nothing, but only after the path they name (their UTF-8) is checked against the grant
/// (SPEC §5, the grant first; issue 15), so outside it they are a violation like the same bytes
/// decoded by the plugin. Run in both tiers.
///
/// See: nodejs/node test/parallel/test-permission-fs-traversal-path.js with
/// test/fixtures/permission/fs-traversal.js (CVE-2023-30584, CVE-2023-32004 Buffer paths,
/// CVE-2023-32003 `mkdtemp`, CVE-2024-21891 patched path helpers, CVE-2024-21896 patched
/// `Buffer` internals).
#[test]
fn node_fs_traversal_out_of_a_granted_folder_is_denied_in_every_form() {
    let ws = Ws::new();
    ws.write("allowed/ok.txt", "ok");
    ws.write("file.md", "BLOCKED");
    let root = ws.real();
    let traversal = "allowed/../file.md";
    let dots = format!("{traversal}{}", ".".repeat(40));
    let ops = json!([
        ["writeText", traversal, "test"],
        ["readText", traversal],
        ["mkdir", "allowed/../folder"],
        ["readText", { "u8": traversal }],
        ["readBytes", { "u8": traversal }],
        ["readText", { "decoded": traversal }],
        ["readText", &dots],
        ["readText", { "decoded": &dots }],
        // Node's `fs.readFileSync(Buffer.from('.'))`: the working directory itself.
        ["readText", "."],
        // Check-then-use: an object that names a granted file when first asked, the
        // traversal afterwards. Only strings are paths, so nothing is coerced twice.
        ["readText", { "shifty": ["allowed/ok.txt", traversal] }],
        ["readText", "allowed/ok.txt"],
    ]);
    let perms = json!({ "filesystem": { "read": ["./allowed/**"], "write": ["./allowed/**"] } });
    let mut process = Step::new("traversal_process", perms.clone(), ops.clone());
    process.process_tier = true;
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./allowed/**\"]\nwrite = [\"./allowed/**\"]\n",
        &[Step::new("traversal", perms, ops), process],
    );
    let ran = run(&ws, &[]);
    assert_eq!(ran.out.code, Some(0), "{}", ran.out.stderr);
    let file = s(&root.join("file.md"));
    for id in ["traversal", "traversal_process"] {
        ran.denied(id, 0, "filesystem.write", &file);
        ran.denied(id, 1, "filesystem.read", &file);
        ran.denied(id, 2, "filesystem.write", &s(&root.join("folder")));
        ran.denied(id, 3, "filesystem.read", &file);
        ran.denied(id, 4, "filesystem.read", &file);
        ran.denied(id, 5, "filesystem.read", &file);
        ran.denied(
            id,
            6,
            "filesystem.read",
            &format!("{file}{}", ".".repeat(40)),
        );
        ran.denied(
            id,
            7,
            "filesystem.read",
            &format!("{file}{}", ".".repeat(40)),
        );
        ran.denied(id, 8, "filesystem.read", &s(&root));
        ran.type_error(id, 9);
        ran.ok(id, 10, json!("ok"));
        assert_eq!(ran.denials(id), 9, "{:#?}", ran.violations);
    }
    assert_eq!(
        std::fs::read_to_string(root.join("file.md")).unwrap(),
        "BLOCKED"
    );
    assert!(!root.join("folder").exists());
}

/// SPEC §5 "the grant is checked first": a path climbing above `/` stays at `/` (POSIX), so
/// `allowed/../../../…/etc/hostname` is `/etc/hostname`, outside the grant: a
/// `PermissionDenied` with its violation, not a malformed-path `TypeError`.
///
/// See: nodejs/node test/fixtures/permission/fs-traversal.js (traversal out of the granted
/// folder), issue 15 "What is wrong" 3.
#[test]
fn issue_15_node_fs_traversal_above_the_root_is_denied() {
    let ws = Ws::new();
    ws.write("allowed/ok.txt", "ok");
    let climb = format!("allowed/{}etc/hostname", "../".repeat(64));
    let ops = json!([
        ["readText", &climb],
        ["writeText", &climb, "x"],
        ["exists", { "decoded": &climb }],
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./allowed/**\"]\nwrite = [\"./allowed/**\"]\n",
        &[Step::new(
            "climb",
            json!({ "filesystem": { "read": ["./allowed/**"], "write": ["./allowed/**"] } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    ran.denied("climb", 0, "filesystem.read", "/etc/hostname");
    ran.denied("climb", 1, "filesystem.write", "/etc/hostname");
    ran.denied("climb", 2, "filesystem.read", "/etc/hostname");
}

/// Node's symlink fixtures: a blocked folder and file are refused for every `aether.fs` call;
/// a symlink inside the grant that leads back out (directly, or through `..` after a link
/// whose lexical path stays inside) is refused; links between a read-only, a read-write and a
/// write-only folder give no more than the grants of both the link and its target.
///
/// Node's "previously created symlinks are not affected" does not carry over: SPEC §2 grants
/// a path only when both the path as given and its real path match, so a granted link to a
/// blocked file is denied.
///
/// See: nodejs/node test/parallel/test-permission-fs-symlink.js with
/// test/fixtures/permission/fs-symlink.js, and test/parallel/test-permission-fs-symlink-target-write.js
/// with test/fixtures/permission/fs-symlink-target-write.js.
#[test]
fn node_fs_symlinks_give_no_more_than_the_grant_of_their_target() {
    let ws = Ws::new();
    ws.write("protected/protected-file.md", "BLOCKED");
    ws.write("protected-file.md", "BLOCKED");
    ws.write("allowed/ok.txt", "ok");
    std::fs::create_dir_all(ws.path().join("allowed/deep1/deep2/deep3")).unwrap();
    std::fs::create_dir_all(ws.path().join("blocked")).unwrap();
    let root = ws.real();
    ws.symlink("protected/protected-file.md", "example-symlink.md");
    // Points back at `allowed`: `gotcha/../x` is `allowed/deep1/x` lexically, where the kernel
    // would resolve it as `allowed/../x`; `out` points above the grant.
    ws.symlink(&s(&root.join("allowed")), "allowed/deep1/gotcha");
    ws.symlink("../../../..", "allowed/deep1/deep2/deep3/out");
    ws.write("allowed/deep1/protected-file.md", "lexical");
    // Read-only, read-write and write-only folders with links across them.
    ws.write("ro/file", "read-only");
    ws.write("rw/file", "read-write");
    std::fs::create_dir_all(ws.path().join("wo")).unwrap();
    ws.symlink("../ro/file", "rw/link-to-read-only");
    ws.symlink("../rw/file", "ro/link-to-read-write");
    std::fs::hard_link(
        root.join("rw/file"),
        root.join("wo/hard-link-to-read-write"),
    )
    .unwrap();
    // A hard link left in a writable folder to a file outside every grant: a write replaces
    // the link (each file is committed atomically), never the file behind it.
    std::fs::hard_link(
        root.join("protected-file.md"),
        root.join("wo/hard-link-to-blocked"),
    )
    .unwrap();

    let blocked_ops = json!([
        ["list", "blocked"],
        ["writeText", "blocked/new-file", "data"],
        ["readText", "protected/protected-file.md"],
        ["appendText", "protected/protected-file.md", "data"],
        ["readText", "example-symlink.md"],
        [
            "readText",
            "allowed/deep1/deep2/deep3/out/protected-file.md"
        ],
        ["readText", "allowed/deep1/gotcha/../protected-file.md"],
        ["readText", "allowed/deep1/gotcha/ok.txt"],
    ]);
    let target_ops = json!([
        ["writeText", "rw/link-to-read-only", "x"],
        ["readText", "rw/link-to-read-only"],
        ["writeText", "ro/link-to-read-write", "x"],
        ["readText", "wo/hard-link-to-read-write"],
        ["writeText", "wo/new", "x"],
        ["readText", "wo/new"],
        ["writeText", "wo/hard-link-to-blocked", "replaced"],
        ["readText", "wo/hard-link-to-blocked"],
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./**\"]\nwrite = [\"./**\"]\n",
        &[
            Step::new(
                "symlink",
                json!({ "filesystem": {
                    "read": ["./allowed/**", "./example-symlink.md"],
                    "write": ["./example-symlink.md", "./allowed/**"],
                } }),
                blocked_ops,
            ),
            Step::new(
                "target_write",
                json!({ "filesystem": {
                    "read": ["./ro/**", "./rw/**"],
                    "write": ["./rw/**", "./wo/**"],
                } }),
                target_ops,
            ),
        ],
    );
    let ran = run(&ws, &[]);
    assert_eq!(ran.out.code, Some(0), "{}", ran.out.stderr);
    let t = |rel: &str| s(&root.join(rel));
    ran.denied("symlink", 0, "filesystem.read", &t("blocked"));
    ran.denied("symlink", 1, "filesystem.write", &t("blocked/new-file"));
    ran.denied(
        "symlink",
        2,
        "filesystem.read",
        &t("protected/protected-file.md"),
    );
    ran.denied(
        "symlink",
        3,
        "filesystem.write",
        &t("protected/protected-file.md"),
    );
    ran.denied("symlink", 4, "filesystem.read", &t("example-symlink.md"));
    ran.denied(
        "symlink",
        5,
        "filesystem.read",
        &t("allowed/deep1/deep2/deep3/out/protected-file.md"),
    );
    // `..` is removed before any link is followed (SPEC §2), so `gotcha/..` is `deep1`: the
    // link cannot lift the path out of the grant.
    ran.ok("symlink", 6, json!("lexical"));
    ran.ok("symlink", 7, json!("ok"));
    assert_eq!(ran.denials("symlink"), 6, "{:#?}", ran.violations);

    ran.denied(
        "target_write",
        0,
        "filesystem.write",
        &t("rw/link-to-read-only"),
    );
    ran.ok("target_write", 1, json!("read-only"));
    ran.denied(
        "target_write",
        2,
        "filesystem.write",
        &t("ro/link-to-read-write"),
    );
    ran.denied(
        "target_write",
        3,
        "filesystem.read",
        &t("wo/hard-link-to-read-write"),
    );
    ran.ok("target_write", 4, Value::Null);
    ran.denied("target_write", 5, "filesystem.read", &t("wo/new"));
    ran.ok("target_write", 6, Value::Null);
    ran.denied(
        "target_write",
        7,
        "filesystem.read",
        &t("wo/hard-link-to-blocked"),
    );
    assert_eq!(ran.denials("target_write"), 5, "{:#?}", ran.violations);
    assert_eq!(
        std::fs::read_to_string(root.join("wo/hard-link-to-blocked")).unwrap(),
        "replaced"
    );

    for (rel, text) in [
        ("ro/file", "read-only"),
        ("rw/file", "read-write"),
        ("protected/protected-file.md", "BLOCKED"),
        ("protected-file.md", "BLOCKED"),
    ] {
        assert_eq!(std::fs::read_to_string(root.join(rel)).unwrap(), text);
    }
    assert!(!root.join("blocked/new-file").exists());
}

/// Node's wildcard test and the advisory on wildcards in the middle of a pattern: `/slower`
/// grants neither `/slow` nor `/slows`, `foo*` stays within one segment, and `*.pub` keeps
/// its suffix (Node once ignored everything after the `*`). Node also granted `/home/foo`
/// for `/home/foo/*`; in aether `dir/*` matches the entries of `dir`, not `dir` itself.
///
/// See: nodejs/node test/parallel/test-permission-fs-wildcard.js with
/// test/fixtures/permission/fs-wildcard.js (CVE-2024-21890).
#[test]
fn node_fs_wildcards_match_exactly_what_they_say() {
    let ws = Ws::new();
    for f in [
        "w/slow",
        "w/slows",
        "w/slower",
        "w/slown",
        "w/example/foo",
        "w/example/foobar",
        "w/example/fo",
        "w/example/foo-dir/deep",
        "w/home/foo/x",
        "w/home/fo",
        "w/keys/id.pub",
        "w/keys/id",
        "w/keys/id.pub.bak",
    ] {
        ws.write(f, f);
    }
    let root = ws.real();
    let ops = json!([
        ["readText", "w/slow"],
        ["readText", "w/slows"],
        ["readText", "w/slower"],
        ["readText", "w/slown"],
        ["readText", "w/example/foo"],
        ["readText", "w/example/foobar"],
        ["readText", "w/example/fo"],
        ["readText", "w/example/foo-dir/deep"],
        ["readText", "w/home/foo/x"],
        ["list", "w/home/foo"],
        ["readText", "w/home/fo"],
        ["readText", "w/keys/id.pub"],
        ["readText", "w/keys/id"],
        ["readText", "w/keys/id.pub.bak"],
    ]);
    let read = json!([
        "./w/example/foo*",
        "./w/slower",
        "./w/slown",
        "./w/home/foo/*",
        "./w/keys/*.pub"
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./w/**\"]\n",
        &[Step::new(
            "wildcard",
            json!({ "filesystem": { "read": read } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    let t = |rel: &str| s(&root.join(rel));
    let id = "wildcard";
    ran.denied(id, 0, "filesystem.read", &t("w/slow"));
    ran.denied(id, 1, "filesystem.read", &t("w/slows"));
    ran.ok(id, 2, json!("w/slower"));
    ran.ok(id, 3, json!("w/slown"));
    ran.ok(id, 4, json!("w/example/foo"));
    ran.ok(id, 5, json!("w/example/foobar"));
    ran.denied(id, 6, "filesystem.read", &t("w/example/fo"));
    ran.denied(id, 7, "filesystem.read", &t("w/example/foo-dir/deep"));
    ran.ok(id, 8, json!("w/home/foo/x"));
    ran.denied(id, 9, "filesystem.read", &t("w/home/foo"));
    ran.denied(id, 10, "filesystem.read", &t("w/home/fo"));
    ran.ok(id, 11, json!("w/keys/id.pub"));
    ran.denied(id, 12, "filesystem.read", &t("w/keys/id"));
    ran.denied(id, 13, "filesystem.read", &t("w/keys/id.pub.bak"));
    assert_eq!(ran.denials(id), 8, "{:#?}", ran.violations);
}

/// Node's read and write fixtures call every `fs` function on a blocked path, and
/// `test-permission-fs-supported.js` checks that no `fs` function escapes the model. Here:
/// every member of `aether.fs` on a blocked path is refused with its capability, whatever the
/// path holds (a file, a directory, nothing); Deno's `read_partial_ancestor_of_deny`: removing
/// a folder whose content is not granted is refused and the content survives.
///
/// See: nodejs/node test/fixtures/permission/fs-read.js, test/fixtures/permission/fs-write.js,
/// test/parallel/test-permission-fs-read.js, test/parallel/test-permission-fs-write.js,
/// test/parallel/test-permission-fs-supported.js; denoland/deno
/// tests/specs/permission/read_partial_ancestor_of_deny/.
#[test]
fn node_fs_every_call_on_a_blocked_path_is_denied() {
    let ws = Ws::new();
    ws.write("blocked/file.md", "BLOCKED");
    ws.write("parent/denied/keep.txt", "keep");
    ws.write("parent/other.txt", "other");
    let root = ws.real();
    let t = |rel: &str| s(&root.join(rel));
    let ops = json!([
        ["readText", "blocked/file.md"],
        ["readBytes", "blocked/file.md"],
        ["list", "blocked"],
        ["stat", "blocked/file.md"],
        ["exists", "blocked/file.md"],
        ["exists", "blocked/missing.md"],
        ["writeText", "blocked/file.md", "x"],
        ["writeBytes", "blocked/file.md", { "u8": "x" }],
        ["appendText", "blocked/file.md", "x"],
        ["mkdir", "blocked/new"],
        ["remove", "blocked/file.md"],
        ["remove", "parent"],
        ["remove", "parent/denied/keep.txt"],
        ["remove", "parent/other.txt"],
        ["stat", "."],
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./**\"]\nwrite = [\"./**\"]\n",
        &[Step::new(
            "every",
            json!({ "filesystem": { "read": ["./allowed/**"], "write": ["./parent/other.txt"] } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    let id = "every";
    let file = t("blocked/file.md");
    for i in 0..5 {
        let target = if i == 2 { t("blocked") } else { file.clone() };
        ran.denied(id, i, "filesystem.read", &target);
    }
    ran.denied(id, 5, "filesystem.read", &t("blocked/missing.md"));
    for i in 6..10 {
        let target = if i == 9 {
            t("blocked/new")
        } else {
            file.clone()
        };
        ran.denied(id, i, "filesystem.write", &target);
    }
    ran.denied(id, 10, "filesystem.write", &file);
    ran.denied(id, 11, "filesystem.write", &t("parent"));
    ran.denied(id, 12, "filesystem.write", &t("parent/denied/keep.txt"));
    ran.ok(id, 13, Value::Null);
    ran.denied(id, 14, "filesystem.read", &s(&root));
    assert_eq!(ran.denials(id), 14, "{:#?}", ran.violations);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "BLOCKED");
    assert_eq!(
        std::fs::read_to_string(root.join("parent/denied/keep.txt")).unwrap(),
        "keep"
    );
    assert!(!root.join("parent/other.txt").exists());
}

/// Deno's special files: with read access to everything, aether's own process files are
/// still refused, including through the no-follow operations (`stat`, `list`, `exists`) that
/// once skipped the guard; `/dev/null` is granted (it fails only as a non-regular file).
///
/// See: denoland/deno tests/specs/permission/special/main.js (GHSA-m87g-7g5m-wpx4),
/// tests/specs/permission/proc_self_fd/.
#[test]
fn deno_special_files_of_aethers_process_are_refused_under_a_full_grant() {
    let ws = Ws::new();
    let ops = json!([
        ["readText", "/dev/null"],
        ["readText", "/proc/self/environ"],
        ["readBytes", "/proc/self/mem"],
        ["stat", "/proc/self/root/etc/shadow"],
        ["list", "/proc/self/root"],
        ["exists", "/proc/self/environ"],
        ["readText", "/dev/fd/63"],
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"/**\"]\n",
        &[Step::new(
            "special",
            json!({ "filesystem": { "read": ["/**"] } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    let id = "special";
    // Granted: whatever fails now is not about the grant (aether reads regular files only).
    assert_eq!(ran.results(id)[0]["err"]["name"], "Error");
    ran.denied(id, 1, "filesystem.read", "/proc/self/environ");
    ran.denied(id, 2, "filesystem.read", "/proc/self/mem");
    ran.denied(id, 3, "filesystem.read", "/proc/self/root/etc/shadow");
    ran.denied(id, 4, "filesystem.read", "/proc/self/root");
    ran.denied(id, 5, "filesystem.read", "/proc/self/environ");
    ran.denied(id, 6, "filesystem.read", "/dev/fd/63");
}

// ---------------------------------------------------------------------------------------------
// Network

/// Deno's resolved-IP, resolved-port and numeric-hostname tests, in aether's allow-list
/// terms: a domain that resolves to a non-public address is refused unless `allow_private`
/// covers the address actually connected to; numeric spellings of an address are that
/// address (refused where it is refused, reaching it where it is granted); a grant of one
/// port is not a grant of another on the same address; an ungranted `aether.listen` is
/// refused synchronously; no refused request completes even a TCP handshake.
///
/// See: denoland/deno tests/specs/permission/deny_net_fetch_resolved_ip/,
/// deny_net_fetch_resolved_port/, deny_net_numeric_hostname/,
/// deny_net_numeric_hostname_subnet/, deny_ip/main.ts; nodejs/node
/// test/parallel/test-permission-net-fetch.js with test/fixtures/permission/net-http.js and
/// net-tcp.js (CVE-2026-21636: a Unix socket instead of a host).
#[test]
fn deno_resolved_ips_ports_and_numeric_hostnames_are_checked_on_the_address() {
    let granted = Server::start();
    let other = Server::start();
    let (p, q) = (granted.port, other.port);
    let ws = Ws::new();
    let spellings = [
        format!("http://127.0.0.1:{p}/ok"),
        format!("http://localhost:{p}/ok"),
        format!("http://2130706433:{p}/ok"),
        format!("http://0x7f000001:{p}/ok"),
        format!("http://0x7f.1:{p}/ok"),
        format!("http://127.1:{p}/ok"),
        format!("http://[::ffff:127.0.0.1]:{p}/ok"),
        format!("http://127.0.0.1.:{p}/ok"),
    ];
    let mut no_private: Vec<Value> = spellings.iter().map(|u| json!(["fetch", u])).collect();
    no_private.push(json!(["listen", { "hostname": "127.0.0.1", "port": q }]));
    no_private.push(json!(["fetch", "unix:/var/run/docker.sock"]));
    no_private.push(json!([
        "fetch",
        format!("http+unix://%2Fvar%2Frun%2Fdocker.sock/ok")
    ]));
    let with_private = json!([
        ["fetch", &spellings[0]],
        ["fetch", &spellings[2]],
        ["fetch", &spellings[3]],
        ["fetch", &spellings[5]],
        ["fetch", &spellings[6]],
        ["fetch", format!("http://127.0.0.1:{q}/ok")],
        ["fetch", format!("http://localhost:{q}/ok")],
        ["fetch", &spellings[1]],
    ]);
    let domains = json!([format!("127.0.0.1:{p}"), format!("localhost:{p}")]);
    pipeline(
        &ws,
        &format!(
            "[network]\ndomains = {domains}\nallow_private = [\"10.0.0.0/8\", \"127.0.0.1/32\"]\n"
        ),
        &[
            Step::new(
                "no_private",
                json!({ "network": { "domains": domains } }),
                json!(no_private),
            ),
            Step::new(
                "with_private",
                json!({ "network": { "domains": domains } }),
                with_private,
            ),
        ],
    );
    // `no_private` runs under a policy whose `allow_private` leaves out loopback: the same
    // domain grant, only the address check differs.
    let policy_no_private = ws.path().join("aether-policy.toml");
    let text = std::fs::read_to_string(&policy_no_private).unwrap();
    assert!(text.contains("127.0.0.1/32"));

    // First run: loopback not covered by `allow_private` (the subnet variant: only 10/8).
    std::fs::write(&policy_no_private, text.replace(", \"127.0.0.1/32\"", "")).unwrap();
    let ran = run(&ws, &[]);
    let id = "no_private";
    for (i, url) in spellings.iter().enumerate() {
        let got = &ran.results(id)[i];
        assert_eq!(got["err"]["name"], "PermissionDenied", "{url}: {got}");
        assert_eq!(got["err"]["capability"], "network", "{url}: {got}");
        ran.recorded(id, "network", got["err"]["target"].as_str().unwrap());
    }
    let n = spellings.len();
    ran.denied(id, n, "network", &format!("127.0.0.1:{q}"));
    ran.denied(id, n + 1, "network", "unix:/var/run/docker.sock");
    ran.denied(
        id,
        n + 2,
        "network",
        "http+unix://%2Fvar%2Frun%2Fdocker.sock/ok",
    );
    assert_eq!(granted.hits(), 0, "a refused fetch opened a connection");
    assert_eq!(other.hits(), 0);

    // Second run: loopback covered. Every spelling of 127.0.0.1 reaches the granted port;
    // the other port is refused by name and by address.
    std::fs::write(&policy_no_private, &text).unwrap();
    let ran = run(&ws, &[]);
    let id = "with_private";
    let hello = |i: usize| ran.results(id)[i]["ok"]["text"].clone();
    for i in 0..5 {
        assert_eq!(hello(i), json!("hello"), "{:#?}", ran.results(id));
    }
    ran.denied(id, 5, "network", &format!("http://127.0.0.1:{q}/ok"));
    ran.denied(id, 6, "network", &format!("http://localhost:{q}/ok"));
    assert_eq!(hello(7), json!("hello"));
    assert_eq!(other.hits(), 0, "the ungranted port was reached");
}

/// Redirects are checked hop by hop, on the address of each hop: a granted server that
/// redirects to an ungranted port, to `localhost` on an ungranted port, or to a scheme other
/// than http(s) is refused at that hop, and the ungranted server sees no connection; a
/// redirect to a granted hop is followed.
///
/// See: denoland/deno tests/specs/permission/allow_import_not_on_redirect/,
/// deny_import_resolved_ip/redirect.ts; nodejs/node test/fixtures/permission/net-http.js.
#[test]
fn deno_redirect_hops_are_each_checked_like_the_first() {
    let granted = Server::start();
    let hop = Server::start();
    let ungranted = Server::start();
    let (p, g, u) = (granted.port, hop.port, ungranted.port);
    let ws = Ws::new();
    let via = |to: &str| format!("http://127.0.0.1:{p}/redirect/{to}");
    let ops = json!([
        ["fetch", via(&format!("http://127.0.0.1:{u}/ok"))],
        ["fetch", via(&format!("http://localhost:{u}/ok"))],
        ["fetch", via("file:///etc/passwd")],
        ["fetch", via(&format!("http://127.0.0.1:{g}/ok"))],
        ["fetch", via(&via(&format!("http://127.0.0.1:{u}/ok")))],
    ]);
    let domains = json!([format!("127.0.0.1:{p}"), format!("127.0.0.1:{g}")]);
    pipeline(
        &ws,
        &format!("[network]\ndomains = {domains}\nallow_private = [\"127.0.0.1/32\"]\n"),
        &[Step::new(
            "redirects",
            json!({ "network": { "domains": domains } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    let id = "redirects";
    ran.denied(id, 0, "network", &format!("http://127.0.0.1:{u}/ok"));
    ran.denied(id, 1, "network", &format!("http://localhost:{u}/ok"));
    ran.denied(id, 2, "network", "file:///etc/passwd");
    ran.ok(
        id,
        3,
        json!({ "status": 200, "url": format!("http://127.0.0.1:{g}/ok"), "text": "hello" }),
    );
    ran.denied(id, 4, "network", &format!("http://127.0.0.1:{u}/ok"));
    assert_eq!(ungranted.hits(), 0);
    assert_eq!(hop.hits(), 1);
}

/// SPEC §5 "the grant is checked first": a URL with userinfo whose host is not granted is a
/// `PermissionDenied` (`network`), directly or as a redirect hop, and reaches nothing.
///
/// See: denoland/deno tests/specs/permission/deny_net_fetch_resolved_ip/ (the check is on
/// the host actually connected to, whatever the URL's other parts say); issue 15 "What is
/// wrong" 3.
#[test]
fn issue_15_deno_userinfo_does_not_hide_an_ungranted_host() {
    let granted = Server::start();
    let ungranted = Server::start();
    let (p, u) = (granted.port, ungranted.port);
    let ws = Ws::new();
    let ops = json!([
        ["fetch", format!("http://127.0.0.1:{p}@127.0.0.1:{u}/ok")],
        [
            "fetch",
            format!("http://127.0.0.1:{p}/redirect/http://granted.example@127.0.0.1:{u}/ok")
        ],
    ]);
    let domains = json!([format!("127.0.0.1:{p}"), "granted.example"]);
    pipeline(
        &ws,
        &format!("[network]\ndomains = {domains}\nallow_private = [\"127.0.0.1/32\"]\n"),
        &[Step::new(
            "userinfo",
            json!({ "network": { "domains": domains } }),
            ops,
        )],
    );
    let ran = run(&ws, &[]);
    for (i, got) in ran.results("userinfo").iter().enumerate() {
        assert_eq!(got["err"]["name"], "PermissionDenied", "op {i}: {got}");
        assert_eq!(got["err"]["capability"], "network", "op {i}: {got}");
        let target = got["err"]["target"].as_str().unwrap();
        assert!(target.contains(&format!("127.0.0.1:{u}")), "op {i}: {got}");
        ran.recorded("userinfo", "network", target);
    }
    assert_eq!(ungranted.hits(), 0);
}

// ---------------------------------------------------------------------------------------------
// Environment

/// Deno's environment allow-lists: a prefix grant reads its variables (values exactly, tabs
/// and commas included) and nothing else; there is no default allow-list (`TERM`, `LC_ALL`,
/// `NO_COLOR`, CI variables) and credential-shaped names are refused like any other; names are
/// case-sensitive; a variable granted but unset is `undefined`.
///
/// See: denoland/deno tests/specs/permission/env_allowlist/,
/// tests/specs/permission/process_env_permissions/, tests/specs/permission/ignore_env/.
#[test]
fn deno_env_allowlists_grant_exactly_their_names() {
    let ws = Ws::new();
    let names = [
        "MYAPP_HELLO",
        "MYAPP_GOODBYE",
        "MYAPP_UNSET",
        "OTHER_VAR",
        "TERM",
        "LC_ALL",
        "NO_COLOR",
        "GITHUB_ACTIONS",
        "AWS_SECRET_ACCESS_KEY",
        "myapp_hello",
        "MYAPP",
    ];
    let ops: Vec<Value> = names.iter().map(|n| json!(["env", n])).collect();
    pipeline(
        &ws,
        "[env]\nallow = [\"MYAPP_*\"]\n",
        &[Step::new("env", json!({ "env": ["MYAPP_*"] }), json!(ops))],
    );
    let env = [
        ("MYAPP_HELLO", "Hello\tworld,"),
        ("MYAPP_GOODBYE", "farewell"),
        ("OTHER_VAR", "ignore"),
        ("TERM", "xterm-256color"),
        ("LC_ALL", "en_US.UTF-8"),
        ("NO_COLOR", "1"),
        ("GITHUB_ACTIONS", "true"),
        ("AWS_SECRET_ACCESS_KEY", "shhh"),
        ("myapp_hello", "lower"),
        ("MYAPP", "bare"),
    ];
    let ran = run(&ws, &env);
    ran.ok("env", 0, json!("Hello\tworld,"));
    ran.ok("env", 1, json!("farewell"));
    ran.ok("env", 2, Value::Null);
    for (i, name) in names.iter().enumerate().skip(3) {
        ran.denied("env", i, "env", name);
    }
    assert_eq!(ran.denials("env"), names.len() - 3);
    assert!(!ran.out.stdout.contains("shhh") && !ran.out.stderr.contains("shhh"));
}

/// SPEC §2: `"env": ["*"]` means every variable, granted only under a policy `allow = ["*"]`.
///
/// See: denoland/deno tests/specs/permission/process_env_permissions/ (`--allow-env` with no
/// list reads every variable); issue 15 "What is wrong" 5.
#[test]
fn issue_15_deno_env_star_grants_every_variable() {
    let ws = Ws::new();
    let ops = json!([
        ["env", "MYAPP_HELLO"],
        ["env", "OTHER_VAR"],
        ["env", "UNSET_VAR"]
    ]);
    pipeline(
        &ws,
        "[env]\nallow = [\"*\"]\n",
        &[Step::new("env_star", json!({ "env": ["*"] }), ops)],
    );
    let ran = run(&ws, &[("MYAPP_HELLO", "Hello"), ("OTHER_VAR", "other")]);
    assert_eq!(ran.out.code, Some(0), "{}", ran.out.stderr);
    ran.ok("env_star", 0, json!("Hello"));
    ran.ok("env_star", 1, json!("other"));
    ran.ok("env_star", 2, Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Children, workers, modules

/// Children and workers: an ungranted program is refused by name, by absolute path and by a
/// workspace copy of a granted program (Deno's `PATH` tricks); a granted child inherits the
/// plugin's limits (Node's inherited permission flags): it reads only granted files, even
/// through `..`, sees only granted variables, and passes that confinement on to any program it
/// starts itself; a working directory outside the grant is refused. There are no workers: `worker_threads`,
/// `diagnostics_channel` and every `node:` module are `module` violations and `Worker` is not
/// a global.
///
/// See: nodejs/node test/parallel/test-permission-child-process-cli.js with
/// test/fixtures/permission/child-process-test.js,
/// test/parallel/test-permission-child-process-inherit-flags.js,
/// test/parallel/test-permission-worker-threads-cli.js (CVE-2023-30587),
/// test/parallel/test-permission-dc-worker-threads.js (CVE-2025-23083),
/// test/parallel/test-permission-processbinding.js (CVE-2023-32558); denoland/deno
/// tests/specs/permission/deny_run_binary_absolute_path/, path_not_permitted/.
#[test]
fn node_children_inherit_the_grant_and_workers_do_not_exist() {
    let ws = Ws::new();
    ws.write("allowed/ok.txt", "ok");
    ws.write("file.md", "BLOCKED");
    let cat = which("cat");
    std::fs::create_dir_all(ws.path().join("bin")).unwrap();
    std::fs::copy(&cat, ws.path().join("bin/sh")).unwrap();
    let ops = json!([
        ["run", "sh", ["-c", "echo hi"]],
        ["run", "/bin/sh", ["-c", "echo hi"]],
        ["run", "./bin/sh", []],
        ["run", "cat", ["allowed/ok.txt"]],
        ["run", "cat", ["allowed/../file.md"]],
        ["run", "env", []],
        ["import", "node:worker_threads"],
        ["import", "worker_threads"],
        ["import", "node:diagnostics_channel"],
        ["import", "node:child_process"],
        ["typeof", "Worker"],
        ["typeof", "process"],
        // A working directory outside the grant, existing or not, is refused before the child
        // starts (no existence oracle).
        ["run", "cat", [], { "cwd": "/etc" }],
        ["run", "cat", [], { "cwd": "/no-such-dir" }],
        // A granted program that starts another (`env cat …`) passes its confinement on.
        ["run", "env", ["cat", "file.md"]],
    ]);
    pipeline(
        &ws,
        "[filesystem]\nread = [\"./allowed/**\"]\n[env]\nallow = [\"AETHER_PEER_*\"]\n\
         [process]\ncommands = [\"cat\", \"env\"]\n[isolation]\nhigh_risk = \"thread\"\n",
        &[Step::new(
            "children",
            json!({
                "filesystem": { "read": ["./allowed/**"] },
                "env": ["AETHER_PEER_*"],
                "process": { "commands": ["cat", "env"] },
            }),
            ops,
        )],
    );
    let ran = run(
        &ws,
        &[("AETHER_PEER_OK", "visible"), ("AETHER_HIDDEN", "hidden")],
    );
    let id = "children";
    ran.denied(id, 0, "process", "sh");
    ran.denied(id, 1, "process", "/bin/sh");
    ran.denied(id, 2, "process", &s(&ws.real().join("bin/sh")));
    ran.ok(id, 3, json!({ "code": 0, "stdout": "ok" }));
    let r = &ran.results(id)[4]["ok"];
    assert_ne!(r["code"], 0, "{r}");
    assert_eq!(r["stdout"], "", "{r}");
    ran.ok(
        id,
        5,
        json!({ "code": 0, "stdout": "AETHER_PEER_OK=visible\n" }),
    );
    for (i, m) in [
        "node:worker_threads",
        "worker_threads",
        "node:diagnostics_channel",
        "node:child_process",
    ]
    .iter()
    .enumerate()
    {
        ran.denied(id, 6 + i, "module", m);
    }
    ran.ok(id, 10, json!("undefined"));
    ran.ok(id, 11, json!("undefined"));
    ran.denied(id, 12, "filesystem.read", "/etc");
    ran.denied(id, 13, "filesystem.read", "/no-such-dir");
    let r = &ran.results(id)[14]["ok"];
    assert_ne!(r["code"], 0, "{r}");
    assert_eq!(r["stdout"], "", "{r}");
    assert_eq!(ran.denials(id), 9, "{:#?}", ran.violations);
}

/// Node's entry-point and `require` tests and Deno's import permissions, for `import()`:
/// only files inside the plugin load; `../` out, absolute paths, URLs and remote imports are
/// `module` violations whether or not the target exists.
///
/// See: nodejs/node test/parallel/test-permission-fs-require.js,
/// test/parallel/test-permission-fs-read-entrypoint.js, test/fixtures/permission/main-module.mjs,
/// required-module.mjs; denoland/deno tests/specs/permission/allow_import/,
/// deny_import_resolved_ip/, allow_import_worker/.
#[test]
fn node_imports_outside_the_plugin_are_module_violations() {
    let ws = Ws::new();
    ws.write("outside/secret.js", "export const secret = 1;\n");
    ws.write("plugins/imports/lib/ok.js", "export const ok = 1;\n");
    let root = ws.real();
    let ops = json!([
        ["import", "./lib/ok.js"],
        ["import", "../../outside/secret.js"],
        ["import", "../../outside/missing.js"],
        ["import", s(&root.join("outside/secret.js"))],
        [
            "import",
            format!("file://{}", s(&root.join("outside/secret.js")))
        ],
        ["import", "http://localhost:4545/add.ts"],
    ]);
    pipeline(&ws, "", &[Step::new("imports", json!({}), ops)]);
    let ran = run(&ws, &[]);
    let id = "imports";
    ran.ok(id, 0, json!(["ok"]));
    let results = ran.results(id);
    for (i, got) in results.iter().enumerate().skip(1) {
        assert_eq!(got["err"]["name"], "PermissionDenied", "op {i}: {got}");
        assert_eq!(got["err"]["capability"], "module", "op {i}: {got}");
        ran.recorded(id, "module", got["err"]["target"].as_str().unwrap());
    }
    assert_eq!(ran.denials(id), 5, "{:#?}", ran.violations);
}

/// SPEC §5: a dynamic `import()` through a symlink inside the plugin that leads out of it is
/// a `module` violation (the real path leaves the plugin), found or not.
///
/// See: nodejs/node test/parallel/test-permission-fs-symlink.js (a link inside the allowed
/// folder pointing out); denoland/deno tests/specs/permission/deny_module/; issue 15 "What is
/// wrong" 3.
#[test]
fn issue_15_node_import_through_a_symlink_out_of_the_plugin_is_a_violation() {
    let ws = Ws::new();
    ws.write("outside/secret.js", "export const secret = 1;\n");
    ws.symlink("../../outside", "plugins/linked/link-to-other");
    let ops = json!([
        ["import", "./link-to-other/secret.js"],
        ["import", "./link-to-other/missing.js"],
    ]);
    pipeline(&ws, "", &[Step::new("linked", json!({}), ops)]);
    let ran = run(&ws, &[]);
    for i in 0..2 {
        let got = &ran.results("linked")[i];
        assert_eq!(got["err"]["name"], "PermissionDenied", "op {i}: {got}");
        assert_eq!(got["err"]["capability"], "module", "op {i}: {got}");
        ran.recorded("linked", "module", got["err"]["target"].as_str().unwrap());
    }
}

/// The absolute path of `name` found through `PATH`.
fn which(name: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found in PATH"))
}
