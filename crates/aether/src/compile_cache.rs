//! Which compile-once cache a run uses (docs/cli.md, "Compile once"), from the environment:
//! `AETHER_COMPILE_CACHE` = `process` (the default: bytecode kept for the life of the process),
//! `off` (every step compiles, as before issue 19), or `disk` (also kept across runs, in
//! `AETHER_COMPILE_CACHE_DIR`, default `$XDG_CACHE_HOME/aether/compile` or
//! `$HOME/.cache/aether/compile`).
//!
//! The disk cache is off by default: it is one more place from which code runs, and the
//! per-process cache already gives a pipeline's fan-out its gain. When asked for, it is used
//! only if no plugin of the run could reach it: not under `--unsafe`, not if any step's grant
//! covers a write into the directory or a read of its key, and not if a step may run child
//! processes while it holds any write grant (a child gets whole directories, wider than the
//! patterns). Otherwise the run goes on with the per-process cache and a warning says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aether_host::compile_cache::DiskCache;
use aether_sandbox::CompileCache;

use crate::workspace::Workspace;

/// Applies `AETHER_COMPILE_CACHE` for this run; returns a warning (without its `warning: `
/// prefix) when the setting could not be followed as given.
pub fn configure(ws: &Workspace, unsafe_: bool) -> Option<String> {
    let mode = std::env::var("AETHER_COMPILE_CACHE").unwrap_or_default();
    match mode.as_str() {
        "off" => aether_sandbox::set_compile_cache(CompileCache::Off),
        "disk" => {
            aether_sandbox::set_compile_cache(CompileCache::Process);
            match disk_cache(ws, unsafe_) {
                Ok(cache) => aether_sandbox::set_bytecode_store_unchecked(Some(Arc::new(cache))),
                Err(why) => {
                    return Some(format!(
                        "the compile cache on disk is not used: {why}; modules are compiled once per run\n\nhint: set `AETHER_COMPILE_CACHE_DIR` to a directory of your own that no plugin may read or write"
                    ));
                }
            }
        }
        "" | "process" => aether_sandbox::set_compile_cache(CompileCache::Process),
        other => {
            return Some(format!(
                "`AETHER_COMPILE_CACHE={other}` is not one of `process`, `off`, `disk`; using `process`"
            ));
        }
    }
    None
}

/// The default directory of the disk cache.
fn default_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    base.is_absolute()
        .then(|| base.join("aether").join("compile"))
}

fn disk_cache(ws: &Workspace, unsafe_: bool) -> Result<DiskCache, String> {
    if unsafe_ {
        return Err("plugins run with aether's full authority under `--unsafe`".to_owned());
    }
    let dir = match std::env::var_os("AETHER_COMPILE_CACHE_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => default_dir().ok_or("neither `XDG_CACHE_HOME` nor `HOME` names a directory")?,
    };
    let cache = DiskCache::open(&dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    let real = std::fs::canonicalize(cache.dir()).map_err(|e| e.to_string())?;
    if let Some(step) = ws.steps.iter().find(|s| reaches(&s.grant, &real)) {
        return Err(format!(
            "step `{}` may reach `{}` (its grant covers it, or it runs child processes with a write grant)",
            step.decl.id,
            real.display()
        ));
    }
    Ok(cache)
}

/// Whether a plugin under `grant` could write into the cache at `dir` (or read its key).
fn reaches(grant: &aether_policy::Grant, dir: &Path) -> bool {
    let entry = dir.join("0".repeat(64));
    let key = dir.join("key");
    let permissions = grant.permissions();
    (permissions.process && !permissions.fs_write.is_empty())
        || grant.check_write(dir, dir).is_ok()
        || grant.check_write(&entry, &entry).is_ok()
        || grant.check_write(&key, &key).is_ok()
        || grant.check_read(&key, &key).is_ok()
}
