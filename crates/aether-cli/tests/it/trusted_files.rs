//! Every file aether reads itself is read bounded and only if it is a regular file (issue 16,
//! "What is wrong" 3): `aether.lock`, the policy, the pipeline. A FIFO must not hang aether, and
//! a symlink to `/dev/zero` must not be read until memory runs out. Each run has a deadline, so
//! that a hang fails the test instead of blocking it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Out, Ws};

/// How long a refusal may take: it happens before anything starts, so a few seconds on a
/// loaded machine; a hang is far longer.
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `aether ARGS` in the workspace under an address-space limit of 2 GiB (so that an
/// unbounded read fails there rather than exhausting the machine), killed at [`DEADLINE`].
/// `None` when it had to be killed.
fn aether_bounded(ws: &Ws, args: &[&str]) -> Option<Out> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .current_dir(ws.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Some(Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A workspace with one plugin and a pipeline using it, no policy.
fn workspace() -> Ws {
    let ws = Ws::new();
    ws.plugin("echo", r#"{"name":"echo","version":"1.0.0"}"#);
    ws.write(
        "pipeline.yaml",
        "name: t\nsteps:\n  - id: a\n    plugin: ./plugins/echo\n",
    );
    ws
}

fn mkfifo(ws: &Ws, rel: &str) {
    let status = Command::new("mkfifo")
        .arg(ws.path().join(rel))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Asserts a refusal (exit 2) naming `file` as not a regular file / too large.
fn refused_naming(out: Option<Out>, code: i32, file: &str, what: &str) {
    let out = out.unwrap_or_else(|| panic!("aether hung on `{file}` ({what})"));
    out.no_panic();
    assert_eq!(out.code, Some(code), "{}", out.stderr);
    assert!(out.stderr.contains(file), "{}", out.stderr);
    assert!(out.stderr.contains(what), "{}", out.stderr);
}

#[test]
fn issue_16_a_fifo_lock_is_refused_not_waited_on() {
    // See: issue 16, "an `aether.lock` that is a FIFO hangs `run --frozen`".
    let ws = workspace();
    mkfifo(&ws, "aether.lock");
    let out = aether_bounded(&ws, &["run", "pipeline.yaml", "--frozen"]);
    refused_naming(out, 2, "aether.lock", "not a regular file (it is a FIFO)");
}

#[test]
fn issue_16_a_lock_linked_to_dev_zero_is_refused_not_read() {
    // See: issue 16, "one that is a symlink to `/dev/zero` is read until memory runs out".
    let ws = workspace();
    ws.symlink("/dev/zero", "aether.lock");
    let out = aether_bounded(&ws, &["run", "pipeline.yaml", "--frozen"]);
    refused_naming(
        out,
        2,
        "aether.lock",
        "not a regular file (it is a character device)",
    );
}

#[test]
fn issue_16_a_lock_larger_than_the_bound_is_refused() {
    // A sparse file claiming 1 GiB: refused from its size, before a byte is read.
    let ws = workspace();
    let lock = std::fs::File::create(ws.path().join("aether.lock")).unwrap();
    lock.set_len(1 << 30).unwrap();
    let out = aether_bounded(&ws, &["run", "pipeline.yaml"]);
    refused_naming(out, 2, "aether.lock", "larger than 16 MiB");
}

#[test]
fn issue_16_a_fifo_policy_is_refused_by_check() {
    // See: issue 16, "a policy file that is a FIFO hangs `check`".
    let ws = workspace();
    mkfifo(&ws, "aether-policy.toml");
    let out = aether_bounded(
        &ws,
        &["check", "pipeline.yaml", "--policy", "aether-policy.toml"],
    );
    refused_naming(
        out,
        2,
        "aether-policy.toml",
        "not a regular file (it is a FIFO)",
    );
}

#[test]
fn issue_16_a_fifo_pipeline_is_refused() {
    let ws = workspace();
    mkfifo(&ws, "fifo.yaml");
    let out = aether_bounded(&ws, &["run", "fifo.yaml"]);
    refused_naming(out, 2, "fifo.yaml", "not a regular file (it is a FIFO)");
    let out = aether_bounded(&ws, &["check", "fifo.yaml"]);
    refused_naming(out, 2, "fifo.yaml", "not a regular file (it is a FIFO)");
}

#[test]
fn a_fifo_manifest_is_refused_as_before() {
    let ws = workspace();
    std::fs::remove_file(ws.path().join("plugins/echo/aether-plugin.json")).unwrap();
    mkfifo(&ws, "plugins/echo/aether-plugin.json");
    let out = aether_bounded(&ws, &["run", "pipeline.yaml"]);
    let out = out.unwrap_or_else(|| panic!("aether hung on a FIFO manifest"));
    out.no_panic();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("aether-plugin.json"), "{}", out.stderr);
}

#[test]
fn issue_16_a_fifo_secret_key_is_refused_by_sign() {
    let ws = workspace();
    mkfifo(&ws, "key");
    let out = aether_bounded(&ws, &["sign", "plugins/echo", "--key", "key"]);
    let out = out.unwrap_or_else(|| panic!("aether sign hung on a FIFO key"));
    out.no_panic();
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}
