//! The zygote's image (issue 23, the one-step cold run): aether starts its process tier's
//! zygote from the small `aether-zygote` binary next to its own when it trusts it, and from its
//! own binary otherwise (missing, not a zygote of this build, or writable by others), with the
//! same result.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Ws;
use crate::tier_pool::{eventually, family};

/// A one-step process-tier run whose step takes a while (the zygote can be looked at meanwhile).
fn sleepy() -> Ws {
    let ws = Ws::new();
    ws.js_plugin(
        "sleep",
        r#"{ "name": "sleep", "version": "1.0.0" }"#,
        "export default (i) => new Promise((r) => setTimeout(() => r(i), 600));\n",
    );
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    ws.write(
        "pipeline.yaml",
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/sleep\n    with: {\"n\": 1}\n",
    );
    ws
}

/// Runs `aether` (this binary) on `ws`'s pipeline: the binary its zygote and that zygote's
/// worker run (`/proc/PID/exe`), and the step's output.
fn zygote_exe(aether: &Path, ws: &Ws) -> (PathBuf, Option<PathBuf>, serde_json::Value) {
    let child = Command::new(aether)
        .args(["run", "pipeline.yaml", "--output", "json"])
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let me = child.id();
    let mut exe = None;
    let mut worker_exe = None;
    eventually(|| {
        let Some((zygote, workers)) = family(me) else {
            return false;
        };
        exe = std::fs::read_link(format!("/proc/{zygote}/exe")).ok();
        worker_exe = workers
            .first()
            .and_then(|w| std::fs::read_link(format!("/proc/{w}/exe")).ok());
        exe.is_some() && worker_exe.is_some()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        exe.expect("no zygote seen"),
        worker_exe,
        report["steps"][0]["output"].clone(),
    )
}

/// A directory holding a hard link to the `aether` under test (and, if `image`, one to its
/// `aether-zygote`), with `mode`.
fn bin_dir(ws: &Ws, name: &str, image: bool, mode: u32) -> PathBuf {
    let dir = ws.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    let link = |from: &str, to: &str| {
        if std::fs::hard_link(from, dir.join(to)).is_err() {
            std::fs::copy(from, dir.join(to)).unwrap();
        }
    };
    link(env!("CARGO_BIN_EXE_aether"), "aether");
    if image {
        link(env!("CARGO_BIN_EXE_aether-zygote"), "aether-zygote");
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

/// Built next to `aether`, the small image is the zygote's (and so its workers') binary.
#[test]
fn issue_23_the_small_zygote_image_is_the_one_used() {
    let ws = sleepy();
    let (exe, worker, output) = zygote_exe(Path::new(env!("CARGO_BIN_EXE_aether")), &ws);
    let image = std::fs::canonicalize(env!("CARGO_BIN_EXE_aether-zygote")).unwrap();
    assert_eq!(exe, image);
    assert_eq!(worker.as_ref(), Some(&image));
    assert_eq!(output, serde_json::json!({ "n": 1 }));
}

/// No image, a program that is not a zygote, an image in a directory others may write to, or one
/// of another build: aether starts its own binary, and the run is the same.
#[test]
fn issue_23_a_missing_foreign_untrusted_or_stale_zygote_image_falls_back_to_aethers_binary() {
    let ws = sleepy();
    let missing = bin_dir(&ws, "missing", false, 0o755);
    let foreign = bin_dir(&ws, "foreign", false, 0o755);
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(foreign.join("aether-zygote"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        foreign.join("aether-zygote"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    let untrusted = bin_dir(&ws, "untrusted", true, 0o775);
    // An image of another build (as `cargo build --bin aether` leaves one): its build id
    // differs in its last byte.
    let stale = bin_dir(&ws, "stale", false, 0o755);
    let mut image = std::fs::read(env!("CARGO_BIN_EXE_aether-zygote")).unwrap();
    let id = aether::worker::BUILD_ID.as_bytes();
    // The section comes before `.rodata`, in the first megabytes (a whole scan is slow here).
    let ats: Vec<usize> = (0..image.len().min(64 << 20) - id.len())
        .filter(|&at| image[at] == id[0] && image[at..].starts_with(id))
        .collect();
    assert!(!ats.is_empty());
    for at in ats {
        image[at + id.len() - 1] ^= 1;
    }
    std::fs::write(stale.join("aether-zygote"), image).unwrap();
    std::fs::set_permissions(
        stale.join("aether-zygote"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for dir in [missing, foreign, untrusted, stale] {
        let aether = std::fs::canonicalize(dir.join("aether")).unwrap();
        let (exe, worker, output) = zygote_exe(&aether, &ws);
        assert_eq!(exe, aether, "{}", dir.display());
        assert_eq!(worker.as_ref(), Some(&aether), "{}", dir.display());
        assert_eq!(output, serde_json::json!({ "n": 1 }), "{}", dir.display());
    }
}
