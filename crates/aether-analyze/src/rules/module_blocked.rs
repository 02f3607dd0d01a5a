//! ## What it does
//! Reports an `import`, `export … from` or literal `import()` of a specifier the runtime
//! refuses: `node:` specifiers and capability-carrying built-ins (`fs`, `net`,
//! `child_process`, …, even where a package of that name is installed), absolute paths, URLs,
//! packages not installed in the plugin's `node_modules`, package targets leaving their package,
//! and paths that leave the plugin directory (by `../` or a symlink). Also reports every
//! `require(…)` call in an ES module (there `require` exists only to throw), and, in CommonJS,
//! each literal `require` the runtime would refuse (never refusing the run: it may be guarded).
//!
//! ## Why is this bad?
//! Plugins get no native modules and no code from outside their own directory (SPEC §5): such
//! an import fails the step with a `module` violation. It usually means the code was written for
//! Node.js (use `aether.fs`, `fetch` and `aether.process` instead), or that it tries to reach
//! files it was not given.
//!
//! ## Example
//! ```js
//! import { readFileSync } from "node:fs";
//! const cp = require("child_process");
//! ```
//! Use instead:
//! ```js
//! const text = aether.fs.readText("data/input.txt");
//! ```
//!
//! ## References
//! - SPEC §5 (imports)
//! - [CWE-829](https://cwe.mitre.org/data/definitions/829.html): Inclusion of Functionality
//!   from Untrusted Control Sphere

use aether_policy::{Capability, escape_untrusted};

use super::Site;
use crate::scan::{Import, ImportKind};
use crate::{Finding, Level, RuleInfo};

/// `module-blocked`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "module-blocked",
    level: Level::Error,
    name: "ModuleBlocked",
    summary: "an import or require of a module the runtime refuses (capability built-in, absolute, URL, not installed, outside the plugin)",
    help: "import only files of the plugin (`./lib/x.js`) and packages installed in its `node_modules`; use the `aether` host API instead of Node.js built-ins",
    cwe: Some(829),
};

/// A refused import.
pub(crate) fn import(site: &Site<'_>, import: &Import, why: &str) -> Finding {
    let how = match import.kind {
        ImportKind::Static => "import",
        ImportKind::ExportFrom => "export … from",
        ImportKind::Dynamic => "import()",
    };
    let mut finding = site.finding(
        &INFO,
        import.offset,
        format!(
            "module denied for `{}` ({how}): {}\n\nhint: only files inside the plugin directory (relative imports, or packages installed in its `node_modules`) may be imported; use the `aether` host API for files, network, environment and processes",
            escape_untrusted(&import.specifier),
            escape_untrusted(why),
        ),
        Some(Capability::Module),
        Some(import.specifier.clone()),
    );
    // A static import is linked before any code runs: the module can never load.
    finding.refuses_run = !matches!(import.kind, ImportKind::Dynamic);
    finding
}

/// A `require(…)` call.
pub(crate) fn require(site: &Site<'_>, offset: u32, arg: Option<&str>) -> Finding {
    let what = arg.map_or_else(
        || "`require(…)`".to_owned(),
        |a| format!("`require(\"{}\")`", escape_untrusted(a)),
    );
    site.finding(
        &INFO,
        offset,
        format!(
            "{what} always throws in aether: `require` exists only to refuse CommonJS modules\n\nhint: use `import` with a relative path for the plugin's own files, and the `aether` host API instead of Node.js modules"
        ),
        Some(Capability::Module),
        arg.map(str::to_owned),
    )
}

/// A literal `require(…)` in a CommonJS module that the runtime would refuse (a capability
/// built-in, a package not installed, outside the plugin). It never refuses the run: the call
/// may be guarded or never made.
pub(crate) fn commonjs_require(site: &Site<'_>, offset: u32, spec: &str, why: &str) -> Finding {
    site.finding(
        &INFO,
        offset,
        format!(
            "module denied for `{}` (require): {}\n\nhint: a CommonJS module may only require files of the plugin and packages installed in its `node_modules`; use the `aether` host API for files, network, environment and processes",
            escape_untrusted(spec),
            escape_untrusted(why),
        ),
        Some(Capability::Module),
        Some(spec.to_owned()),
    )
}
