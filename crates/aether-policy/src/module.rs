//! What a plugin's modules are (SPEC §5 "Imports"): the kinds of module the runtime loads, and
//! the specifiers that never reach a file whatever the plugin holds.
//!
//! Pure: deciding a module's kind from its bytes or its `package.json` happens in
//! `aether-host`'s resolver; the names here are the contract both the host and the analyzer use.

use serde::{Deserialize, Serialize};

/// How a module's source is run, decided by the host's resolver (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// An ES module (`.mjs`, `.mts`, the plugin's own `.js` and `.ts`, a package's under
    /// `"type": "module"` or written with ES module syntax).
    Esm,
    /// CommonJS (`.cjs`, `.cts`, a package's `.js` otherwise, or the plugin's own `.js` and
    /// `.ts` under `"type": "commonjs"`): run with `module`, `exports`, `require`, `__filename`,
    /// `__dirname`.
    CommonJs,
    /// A JSON document (`.json`): its value is the module's default export (`require`d, or
    /// imported `with { type: 'json' }`).
    Json,
}

impl ModuleKind {
    /// `esm`, `commonjs` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Esm => "esm",
            ModuleKind::CommonJs => "commonjs",
            ModuleKind::Json => "json",
        }
    }
}

/// Node's built-in modules that carry a capability (SPEC §5): a bare specifier naming one of
/// these (or a subpath of one, such as `fs/promises`) is a `module` violation even where a
/// package of that name is installed in `node_modules`, so that no polyfill can stand in for a
/// capability the grant does not give. Every other bare name resolves from `node_modules`.
pub const CAPABILITY_BUILTINS: &[&str] = &[
    "fs",
    "fs/promises",
    "net",
    "tls",
    "dgram",
    "dns",
    "http",
    "https",
    "http2",
    "child_process",
    "cluster",
    "worker_threads",
    "os",
    "process",
    "v8",
    "vm",
    "inspector",
    "module",
    "repl",
    "tty",
];

/// Whether `specifier` is never resolved to a file: a `node:` URL, or a capability-carrying
/// built-in's name or one of its subpaths (`fs`, `fs/promises`, `dns/promises`, …).
pub fn is_blocked_builtin(specifier: &str) -> bool {
    if specifier.starts_with("node:") {
        return true;
    }
    let first = specifier.split('/').next().unwrap_or(specifier);
    CAPABILITY_BUILTINS.contains(&first) || CAPABILITY_BUILTINS.contains(&specifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_builtins_are_blocked_and_polyfill_names_are_not() {
        for s in [
            "fs",
            "fs/promises",
            "node:events",
            "node:fs",
            "child_process",
            "dns/promises",
            "process",
            "module",
        ] {
            assert!(is_blocked_builtin(s), "{s}");
        }
        for s in [
            "events",
            "buffer",
            "path",
            "util",
            "fsx",
            "@scope/fs",
            "os-utils",
        ] {
            assert!(!is_blocked_builtin(s), "{s}");
        }
    }
}
