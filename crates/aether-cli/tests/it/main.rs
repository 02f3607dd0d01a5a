//! The single integration-test binary: drives the real `aether` binary on temporary
//! workspaces.
#![allow(
    clippy::unwrap_used,
    reason = "test set-up: a failure should panic with its cause"
)]

mod analyze;
mod architecture;
mod argo;
mod audit;
mod bounded;
mod check;
mod commit;
mod compile_cache;
mod corpus;
mod cts;
mod docs;
mod exact;
mod examples;
mod exec;
mod facade;
mod fetch;
mod grant_first;
mod integrity;
mod intl;
mod layers;
mod listen;
mod misc15;
mod modules;
mod npm;
mod peers;
mod process;
mod readable;
mod report;
mod run;
mod sarif;
mod scaffold;
mod schema;
mod secrets;
mod snapshots;
mod soak;
mod step;
mod streams;
mod tier;
mod tier_bound;
mod tier_cold;
mod tier_image;
mod tier_pool;
mod tier_prepared;
mod tier_relocs;
mod tier_start;
mod trusted_files;
mod typescript;
mod typings;
mod unsafe_mode;
mod wasm;
mod web;
mod web_rest;
mod witnesses;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary workspace with helpers to write files into it.
pub struct Ws {
    dir: tempfile::TempDir,
}

impl Default for Ws {
    fn default() -> Ws {
        Ws::new()
    }
}

impl Ws {
    /// A fresh, empty workspace.
    pub fn new() -> Ws {
        Ws {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The workspace directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel`, creating directories.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A plugin directory with a manifest and an `index.js`.
    pub fn plugin(&self, name: &str, manifest: &str) {
        self.write(&format!("plugins/{name}/aether-plugin.json"), manifest);
        self.write(
            &format!("plugins/{name}/index.js"),
            "export default (input) => input;\n",
        );
    }

    /// A plugin directory with a manifest and the given `index.js`.
    pub fn js_plugin(&self, name: &str, manifest: &str, index_js: &str) {
        self.write(&format!("plugins/{name}/aether-plugin.json"), manifest);
        self.write(&format!("plugins/{name}/index.js"), index_js);
    }

    /// Creates a symlink at `link` (relative to the workspace) pointing to `target` (as is).
    pub fn symlink(&self, target: &str, link: &str) {
        let p = self.dir.path().join(link);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    /// The workspace directory with symlinks resolved (what aether reports in targets).
    pub fn real(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap()
    }

    /// Runs `aether ARGS` in the workspace, with an environment holding only `PATH`.
    pub fn aether(&self, args: &[&str]) -> Out {
        self.aether_env(args, &[])
    }

    /// Runs `aether ARGS` in the workspace, with an environment holding only `PATH` and `env`.
    pub fn aether_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_aether"))
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// What a run of `aether` printed and returned.
#[derive(Debug)]
pub struct Out {
    /// The exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// The `--output json` document on stdout.
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            ),
        }
    }

    /// Asserts that the output has no panic or backtrace, whatever the outcome.
    pub fn no_panic(&self) -> &Out {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "{}", self.stderr);
        self
    }
}
