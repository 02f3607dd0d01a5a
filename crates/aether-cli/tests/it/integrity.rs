//! Integrity end to end (issue 10, SPEC §9): `aether lock` and its verification by `run` and
//! `check`, the bytes verified being the bytes run, minisign signatures under the policy's
//! `[integrity]`, and `aether verify-log` on the hash-chained `events.jsonl`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::run::{output, run};
use crate::{Out, Ws};

fn manifest(name: &str, permissions: &Value) -> String {
    json!({ "name": name, "version": "1.0.0", "permissions": permissions }).to_string()
}

/// A workspace with two plugins (`echo` with a helper module, `other`) and a pipeline using
/// both, no policy.
fn workspace() -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "echo",
        &manifest("echo", &json!({})),
        "import { tag } from \"./lib.js\";\nexport default () => tag;\n",
    );
    ws.write("plugins/echo/lib.js", "export const tag = \"original\";\n");
    ws.js_plugin(
        "other",
        &manifest("other", &json!({})),
        "export default () => 2;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n  - id: b\n    plugin: ./plugins/other\n",
    );
    ws
}

fn refused(out: &Out) {
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("refused: nothing ran"),
        "{}",
        out.stderr
    );
}

fn lock(ws: &Ws) {
    let out = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn lock_then_run_succeeds_and_frozen_needs_a_lock() {
    let ws = workspace();
    let out = ws.aether(&["run", "pipeline.yaml", "--frozen"]);
    refused(&out);
    assert!(out.stderr.contains("`--frozen`"), "{}", out.stderr);
    assert!(
        out.stderr.contains("aether lock pipeline.yaml"),
        "{}",
        out.stderr
    );

    lock(&ws);
    let text = std::fs::read_to_string(ws.path().join("aether.lock")).unwrap();
    for needle in [
        "version = 1",
        "dir = \"plugins/echo\"",
        "name = \"echo\"",
        "\"lib.js\" = ",
        "\"aether-plugin.json\" = ",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let out = ws.aether(&["run", "pipeline.yaml", "--frozen", "--output", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&out.json(), "a"), "original");
    // Locking again changes nothing.
    let again = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(again.stderr.contains("up to date"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("aether.lock")).unwrap(),
        text
    );
}

#[test]
fn every_edit_addition_removal_and_unlocked_plugin_is_listed_at_once() {
    let ws = workspace();
    lock(&ws);
    ws.write("plugins/echo/index.js", "export default () => \"evil\";\n");
    ws.write("plugins/echo/extra.js", "export const x = 1;\n");
    std::fs::remove_file(ws.path().join("plugins/echo/lib.js")).unwrap();
    ws.js_plugin(
        "new",
        &manifest("new", &json!({})),
        "export default () => 3;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n  - id: b\n    plugin: ./plugins/other\n  - id: c\n    plugin: ./plugins/new\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    let e = &out.stderr;
    assert!(e.contains("`index.js` changed: locked sha256 "), "{e}");
    assert!(e.contains("`extra.js` was added"), "{e}");
    assert!(e.contains("`lib.js` was removed"), "{e}");
    assert!(
        e.contains("plugin `new` (`plugins/new`) is not in the lock"),
        "{e}"
    );
    assert!(e.contains("aether lock --update pipeline.yaml"), "{e}");
    // The whole-file digests are those of the bytes on disk.
    let locked = sha256_hex(b"import { tag } from \"./lib.js\";\nexport default () => tag;\n");
    assert!(e.contains(&locked[..16]), "{e}");

    // `check` lists the same differences as error findings (exit 1).
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let findings: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "integrity")
        .collect();
    assert_eq!(findings.len(), 4, "{findings:#?}");
    assert!(findings.iter().all(|f| f["level"] == "error"));

    // `lock` without `--update` writes nothing; with it, the run goes.
    let before = std::fs::read(ws.path().join("aether.lock")).unwrap();
    let out = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(ws.path().join("aether.lock")).unwrap(),
        before
    );
    let out = ws.aether(&["lock", "--update", "pipeline.yaml"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&v, "a"), "evil");
}

#[test]
fn widening_a_grant_is_a_change_to_the_lock() {
    let ws = workspace();
    lock(&ws);
    ws.write(
        "plugins/other/aether-plugin.json",
        &manifest("other", &json!({ "env": ["HOME"] })),
    );
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr
            .contains("plugin `other` (`plugins/other`): `aether-plugin.json` changed"),
        "{}",
        out.stderr
    );
    // Refused before anything starts: no report directory, the lock as it was (SPEC §7).
    let lock_before = std::fs::read(ws.path().join("aether.lock")).unwrap();
    let out = ws.aether(&["run", "pipeline.yaml", "--inspect-security=report"]);
    refused(&out);
    assert!(!ws.path().join("report").exists());
    assert_eq!(
        std::fs::read(ws.path().join("aether.lock")).unwrap(),
        lock_before
    );
    // `--unsafe` turns checks off, never integrity (SPEC §6).
    let out = ws.aether(&["run", "pipeline.yaml", "--unsafe"]);
    refused(&out);
    assert!(
        out.stderr.contains("`aether-plugin.json` changed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_malformed_lock_is_refused_with_its_location() {
    let ws = workspace();
    ws.write("aether.lock", "version = 1\nplugins = 3\n");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr.contains("aether.lock:2:11: invalid lock"),
        "{}",
        out.stderr
    );
    let out = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    // `lock` does not overwrite it unasked.
    let out = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("aether.lock:2:11"), "{}", out.stderr);
    assert_eq!(
        ws.aether(&["lock", "--update", "pipeline.yaml"]).code,
        Some(0)
    );
    // A hand edit of one digest no longer matches the plugin's whole-digest.
    let path = ws.path().join("aether.lock");
    let text = std::fs::read_to_string(&path).unwrap();
    let digest = sha256_hex(b"export default () => 2;\n");
    std::fs::write(&path, text.replace(&digest, &sha256_hex(b"x"))).unwrap();
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(out.stderr.contains("edited by hand"), "{}", out.stderr);
}

/// A lock that is there but cannot be read (a dangling symlink: its target was moved, or a
/// mount is missing) is not "no lock": verification must not quietly switch off (fail closed).
#[test]
fn a_lock_that_exists_but_cannot_be_read_is_not_a_missing_lock() {
    let ws = workspace();
    ws.symlink("locks/aether.lock", "aether.lock");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(out.stderr.contains("aether.lock"), "{}", out.stderr);
    let out = ws.aether(&["check", "pipeline.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

/// Two plugin directories whose names are not UTF-8 (`\xff`, `\xfe`; reached through
/// symlinks, as YAML cannot name them) were one lock entry (`plugins/\u{fffd}`) once decoded
/// lossily: the second plugin was never pinned nor compared, and ran whatever it held while
/// the first matched the lock.
#[test]
fn plugin_directories_that_are_not_utf8_cannot_share_a_lock_entry() {
    use std::os::unix::ffi::OsStrExt;
    let ws = Ws::new();
    for (name, bytes, code) in [
        ("a", &b"plugins/\xff"[..], "export default () => 'a';\n"),
        ("b", b"plugins/\xfe", "export default () => 'b';\n"),
    ] {
        let dir = ws.path().join(std::ffi::OsStr::from_bytes(bytes));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("aether-plugin.json"), manifest(name, &json!({}))).unwrap();
        std::fs::write(dir.join("index.js"), code).unwrap();
        std::os::unix::fs::symlink(&dir, ws.path().join(format!("{name}-link"))).unwrap();
    }
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./a-link\n  - id: b\n    plugin: ./b-link\n",
    );
    let out = ws.aether(&["lock", "pipeline.yaml"]);
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not UTF-8"), "{}", out.stderr);
    assert!(!ws.path().join("aether.lock").exists());
    // Even with a lock that pins the first: the second is not waved through.
    ws.write("aether.lock", "version = 1\n");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(out.stderr.contains("not UTF-8"), "{}", out.stderr);
}

#[test]
fn a_pipeline_inside_its_plugin_cannot_be_locked() {
    let ws = Ws::new();
    ws.js_plugin("p", &manifest("p", &json!({})), "export default () => 1;\n");
    ws.write(
        "plugins/p/pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: .\n",
    );
    let out = ws.aether(&["lock", "plugins/p/pipeline.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("which it pins"), "{}", out.stderr);
    assert!(!ws.path().join("plugins/p/aether.lock").exists());
}

/// A plugin earlier in the pipeline rewrites a later plugin's files through its granted
/// filesystem write (the overlay commits when it succeeds, before the later step starts): the
/// later steps still run the bytes verified at load time, in both tiers.
#[test]
fn a_file_swapped_after_verification_is_not_executed() {
    let ws = Ws::new();
    ws.js_plugin(
        "swapper",
        &manifest(
            "swapper",
            &json!({ "filesystem": { "write": ["./plugins/victim/**"] } }),
        ),
        "export default () => {\n  aether.fs.writeText(\"plugins/victim/index.js\", \"export default () => 'swapped';\\n\");\n  aether.fs.writeText(\"plugins/victim/lib.js\", \"export const v = 'swapped';\\n\");\n  aether.fs.writeText(\"plugins/victim/aether-plugin.json\", JSON.stringify({ name: \"victim\", version: \"1.0.0\", permissions: { env: [\"PATH\"] } }));\n  return true;\n};\n",
    );
    ws.js_plugin(
        "victim",
        &manifest("victim", &json!({})),
        "export default async () => {\n  let env;\n  try { env = aether.env.get(\"PATH\"); } catch (e) { env = e.name; }\n  return [(await import(\"./lib.js\")).v, 'original', env];\n};\n",
    );
    ws.write("plugins/victim/lib.js", "export const v = 'original';\n");
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: swap\n    plugin: ./plugins/swapper\n  - id: thread\n    plugin: ./plugins/victim\n    needs: [swap]\n  - id: process\n    plugin: ./plugins/victim\n    needs: [swap]\n    isolation: process\n",
    );
    lock(&ws);
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for step in ["thread", "process"] {
        // The grant too is the one the lock verified: the rewritten manifest's `env` is not.
        assert_eq!(
            output(&v, step),
            &json!(["original", "original", "PermissionDenied"]),
            "{step}"
        );
    }
    // The swap did reach the disk; the next run sees it and refuses.
    let on_disk = std::fs::read_to_string(ws.path().join("plugins/victim/index.js")).unwrap();
    assert!(on_disk.contains("swapped"), "{on_disk}");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(out.stderr.contains("`index.js` changed"), "{}", out.stderr);
    assert!(out.stderr.contains("`lib.js` changed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`aether-plugin.json` changed"),
        "{}",
        out.stderr
    );
}

/// The signature file is the one file of a plugin that neither the lock nor the signature pins
/// (a signature cannot sign itself), so it must never be what runs: otherwise a reviewed plugin
/// that imports it (here by a computed dynamic import, easy to miss in review) runs whatever
/// bytes are put there later, with the lock still matching. Only the top-level file is exempt:
/// `sub/aether-plugin.minisig` is an ordinary, pinned module.
#[test]
fn the_unpinned_signature_file_is_never_executed() {
    let ws = Ws::new();
    ws.js_plugin(
        "echo",
        &manifest("echo", &json!({})),
        "export default async () => {\n  let top;\n  try { top = (await import(\"./aether-\" + \"plugin.minisig\")).v; } catch (e) { top = e.name; }\n  return [top, (await import(\"./sub/aether-plugin.minisig\")).v];\n};\n",
    );
    ws.write(
        "plugins/echo/aether-plugin.minisig",
        "export const v = 'reviewed';\n",
    );
    ws.write(
        "plugins/echo/sub/aether-plugin.minisig",
        "export const v = 'pinned';\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n",
    );
    lock(&ws);
    let text = std::fs::read_to_string(ws.path().join("aether.lock")).unwrap();
    assert!(text.contains("\"sub/aether-plugin.minisig\" = "), "{text}");
    ws.write(
        "plugins/echo/aether-plugin.minisig",
        "export const v = 'evil';\n",
    );
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&v, "a"), &json!(["PermissionDenied", "pinned"]));
    // The pinned one is verified like any other file.
    ws.write(
        "plugins/echo/sub/aether-plugin.minisig",
        "export const v = 'evil';\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr.contains("`sub/aether-plugin.minisig` changed"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// `aether keygen` into the workspace; returns the public key (`RW…`).
fn keygen(ws: &Ws, name: &str) -> String {
    let out = ws.aether(&["keygen", name]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.stdout.trim().to_owned()
}

fn sign(ws: &Ws, plugin: &str, key: &str) {
    let out = ws.aether(&["sign", &format!("plugins/{plugin}"), "--key", key]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

fn policy(ws: &Ws, keys: &[&str], require: bool) {
    ws.write(
        "aether-policy.toml",
        &format!(
            "[integrity]\ntrusted_keys = {}\nrequire_signatures = {require}\n",
            serde_json::to_string(keys).unwrap()
        ),
    );
    ws.write(
        "pipeline.yaml",
        "name: t\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n  - id: b\n    plugin: ./plugins/other\n",
    );
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites() {
    let ws = Ws::new();
    let public = keygen(&ws, "signer.key");
    assert!(public.starts_with("RW") && public.len() == 56, "{public}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.path().join("signer.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pubfile = std::fs::read_to_string(ws.path().join("signer.key.pub")).unwrap();
    assert!(pubfile.ends_with(&format!("{public}\n")), "{pubfile}");
    let before = std::fs::read(ws.path().join("signer.key")).unwrap();
    let out = ws.aether(&["keygen", "signer.key"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(std::fs::read(ws.path().join("signer.key")).unwrap(), before);
}

/// Runs `aether ARGS` in the workspace with `stdin` on standard input.
fn aether_stdin(ws: &Ws, args: &[&str], stdin: &str) -> Out {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .current_dir(ws.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn an_encrypted_key_takes_its_password_from_stdin_and_never_prompts() {
    let ws = workspace();
    let out = aether_stdin(&ws, &["keygen", "k.key", "--password-stdin"], "s3cret\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let public = out.stdout.trim().to_owned();
    // Without the password: a clear error, no prompt (stdin is closed, nothing waits).
    let out = aether_stdin(&ws, &["sign", "plugins/echo", "--key", "k.key"], "");
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("`--password-stdin`"), "{}", out.stderr);
    let out = aether_stdin(
        &ws,
        &["sign", "plugins/echo", "--key", "k.key", "--password-stdin"],
        "wrong\n",
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("password"), "{}", out.stderr);
    let out = aether_stdin(
        &ws,
        &["sign", "plugins/echo", "--key", "k.key", "--password-stdin"],
        "s3cret\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = aether_stdin(
        &ws,
        &[
            "sign",
            "plugins/other",
            "--key",
            "k.key",
            "--password-stdin",
        ],
        "s3cret\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    policy(&ws, &[&public], true);
    let (out, _) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn signed_plugins_run_and_unsigned_tampered_or_untrusted_ones_are_refused() {
    let ws = workspace();
    let trusted = keygen(&ws, "trusted.key");
    let _untrusted = keygen(&ws, "untrusted.key");
    policy(&ws, &[&trusted], true);
    sign(&ws, "echo", "trusted.key");
    sign(&ws, "other", "trusted.key");
    let (out, v) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(output(&v, "a"), "original");
    // Signing does not change the lock: the signature file is not pinned.
    lock(&ws);
    sign(&ws, "other", "trusted.key");
    let (out, _) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    // Tampered after signing (the lock is updated too: the signature alone must catch it).
    ws.write("plugins/echo/lib.js", "export const tag = \"evil\";\n");
    assert_eq!(
        ws.aether(&["lock", "--update", "pipeline.yaml"]).code,
        Some(0)
    );
    // Signed by a key the policy does not trust.
    sign(&ws, "other", "untrusted.key");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr
            .contains("the signature of plugin `echo` by trusted key")
            && out.stderr.contains("does not match its files"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("plugin `other` is signed by key")
            && out.stderr.contains("which the policy does not trust"),
        "{}",
        out.stderr
    );
    // Unsigned.
    std::fs::remove_file(ws.path().join("plugins/other/aether-plugin.minisig")).unwrap();
    let out = ws.aether(&["run", "pipeline.yaml", "--unsafe"]);
    refused(&out);
    assert!(
        out.stderr.contains("plugin `other` is not signed"),
        "{}",
        out.stderr
    );
    // `check` reports them as error findings.
    let out = ws.aether(&["check", "pipeline.yaml", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let rules: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "signature")
        .map(|f| (f["plugin"].as_str().unwrap(), f["level"].as_str().unwrap()))
        .collect();
    assert_eq!(rules, [("echo", "error"), ("other", "error")]);
    let out = ws.aether(&["check", "plugins/other", "--policy", "aether-policy.toml"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
}

#[test]
fn without_require_signatures_a_bad_trusted_signature_still_refuses() {
    let ws = workspace();
    let trusted = keygen(&ws, "trusted.key");
    keygen(&ws, "untrusted.key");
    policy(&ws, &[&trusted], false);
    // Unsigned runs; signed by an unknown key is a warning.
    sign(&ws, "other", "untrusted.key");
    let (out, _) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("warning:"), "{}", out.stderr);
    assert!(out.stderr.contains("counts for nothing"), "{}", out.stderr);
    // Signed by a trusted key, then changed: refused even though signatures are optional.
    sign(&ws, "echo", "trusted.key");
    ws.write("plugins/echo/index.js", "export default () => 'evil';\n");
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr.contains("does not match its files"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_policy_key_that_is_not_a_key_is_a_located_error() {
    let ws = workspace();
    policy(&ws, &["RWnot-a-key"], true);
    let out = ws.aether(&["run", "pipeline.yaml"]);
    refused(&out);
    assert!(
        out.stderr
            .contains("aether-policy.toml:2:17: invalid `integrity.trusted_keys` entry"),
        "{}",
        out.stderr
    );
}

/// The lowercase hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest list of a plugin directory as SPEC §9 defines it, computed independently.
fn digest_list(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel != "aether-plugin.minisig" {
                    files.push((rel, sha256_hex(&std::fs::read(&path).unwrap())));
                }
            }
        }
    }
    files.sort();
    files.iter().map(|(p, d)| format!("{d}  {p}\n")).collect()
}

/// The reference `minisign` (Debian's package) verifies what `aether sign` writes against the
/// digest list, and `aether` accepts what `minisign -S` signs. Skipped when `minisign` is not
/// installed, unless `AETHER_REQUIRE_MINISIGN` is set (CI installs it).
#[test]
fn the_reference_minisign_interoperates() {
    if Command::new("minisign").arg("-v").output().is_err() {
        assert!(
            std::env::var_os("AETHER_REQUIRE_MINISIGN").is_none(),
            "minisign is required but not installed"
        );
        eprintln!("skipped: `minisign` is not installed");
        return;
    }
    let ws = workspace();
    let public = keygen(&ws, "aether.key");
    sign(&ws, "echo", "aether.key");
    let list = ws.write("echo.list", &digest_list(&ws.path().join("plugins/echo")));
    let out = Command::new("minisign")
        .args(["-V", "-m"])
        .arg(&list)
        .arg("-x")
        .arg(ws.path().join("plugins/echo/aether-plugin.minisig"))
        .args(["-P", &public])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The other way: a key and a signature made by minisign itself, and minisign signing
    // with aether's key.
    let status = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(ws.path().join("ms.pub"))
        .arg("-s")
        .arg(ws.path().join("ms.key"))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let minisign_sign = |plugin: &str, key: &str| {
        let list = ws.write(
            &format!("{plugin}.list"),
            &digest_list(&ws.path().join("plugins").join(plugin)),
        );
        let out = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(ws.path().join(key))
            .arg("-m")
            .arg(&list)
            .arg("-x")
            .arg(
                ws.path()
                    .join(format!("plugins/{plugin}/aether-plugin.minisig")),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    minisign_sign("other", "ms.key");
    let ms_public = std::fs::read_to_string(ws.path().join("ms.pub")).unwrap();
    let ms_public = ms_public.lines().last().unwrap().to_owned();
    policy(&ws, &[&public, &ms_public], true);
    let (out, _) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    minisign_sign("echo", "aether.key");
    let (out, _) = run(&ws);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // A signature made for other bytes is refused.
    ws.write("plugins/echo/lib.js", "export const tag = 1;\n");
    refused(&ws.aether(&["run", "pipeline.yaml"]));
}

// ---------------------------------------------------------------------------------------------
// verify-log

/// A run with `--inspect-security=report` that records a few events; returns the lines of
/// `events.jsonl`.
fn audited_run(ws: &Ws) -> Vec<String> {
    ws.js_plugin(
        "probe",
        &manifest("probe", &json!({ "env": ["A", "B"] })),
        "export default () => [aether.env.get('A'), aether.env.get('B'), (() => { try { return aether.env.get('C'); } catch (e) { return e.name; } })()];\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: p\n    plugin: ./plugins/probe\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--inspect-security=report"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = std::fs::read_to_string(ws.path().join("report/events.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines.len() >= 3, "{text}");
    lines
}

fn verify_log_with(ws: &Ws, lines: &[String]) -> Out {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(ws.path().join("report/events.jsonl"), text).unwrap();
    let out = ws.aether(&["verify-log", "report"]);
    out.no_panic();
    out
}

#[test]
fn verify_log_names_the_first_bad_record() {
    let ws = Ws::new();
    let lines = audited_run(&ws);
    let out = verify_log_with(&ws, &lines);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("is intact"), "{}", out.stdout);

    // Record 2 deleted: record 3, now line 2, no longer follows.
    let mut deleted = lines.clone();
    deleted.remove(1);
    let out = verify_log_with(&ws, &deleted);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("events.jsonl:2: tampered"),
        "{}",
        out.stderr
    );
    // Record 1 edited (a denial made to look allowed): record 2 breaks.
    let mut edited = lines.clone();
    edited[0] = edited[0].replacen("\"step\":\"p\"", "\"step\":\"q\"", 1);
    assert_ne!(edited, lines);
    let out = verify_log_with(&ws, &edited);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("events.jsonl:2: tampered"),
        "{}",
        out.stderr
    );
    // Records swapped.
    let mut swapped = lines.clone();
    swapped.swap(0, 1);
    let out = verify_log_with(&ws, &swapped);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("events.jsonl:1: tampered"),
        "{}",
        out.stderr
    );
    // The last record removed: only the anchor in summary.json tells.
    let out = verify_log_with(&ws, &lines[..lines.len() - 1]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("events.jsonl:{}: tampered", lines.len())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("events_head"), "{}", out.stderr);

    // The tamperer controls the text of the log: a forged `prev` holding terminal escapes
    // (here: erase the line, then claim the log is intact) must not reach the terminal as
    // such, nor a `prev` of a megabyte in full (CWE-150).
    let mut forged = lines.clone();
    let fake = format!(
        "\u{1b}[2K\r`events.jsonl` is intact: 9 records{}",
        "x".repeat(1 << 20)
    );
    let mut record: Value = serde_json::from_str(&forged[1]).unwrap();
    record["prev"] = Value::String(fake);
    forged[1] = record.to_string();
    let out = verify_log_with(&ws, &forged);
    let head: String = out.stderr.chars().take(400).collect();
    assert_eq!(out.code, Some(1), "{head}");
    assert!(!out.stderr.contains('\u{1b}'), "{head}");
    assert!(
        out.stderr.len() < 4096,
        "{} bytes: {head}",
        out.stderr.len()
    );
    assert!(out.stderr.contains("events.jsonl:2: tampered"), "{head}");

    // Unreadable: no summary, or no directory at all.
    verify_log_with(&ws, &lines);
    std::fs::remove_file(ws.path().join("report/summary.json")).unwrap();
    let out = ws.aether(&["verify-log", "report"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = ws.aether(&["verify-log", "nowhere"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
}
