//! ## What it does
//! Reports a relative import (or the entry module itself) that names no file of the plugin.
//!
//! ## Why is this bad?
//! The runtime guesses neither extensions nor `index.js` (SPEC §5): `import "./util"` fails
//! when the file is `util.js`, and the step fails with it.
//!
//! ## Example
//! ```js
//! import { parse } from "./parse";      // the file is ./parse.js
//! ```
//! Use instead:
//! ```js
//! import { parse } from "./parse.js";
//! ```
//!
//! ## References
//! - SPEC §5 (no extension or index guessing)
//! - CWE: none (a correctness problem, not a weakness)

use aether_policy::{Capability, escape_untrusted};

use super::Site;
use crate::scan::Import;
use crate::{Finding, ImportSite, Level, RuleInfo};

/// `module-not-found`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "module-not-found",
    level: Level::Error,
    name: "ModuleNotFound",
    summary: "a relative import names no file of the plugin",
    help: "write the exact file name, with its extension; aether guesses neither extensions nor index files",
    cwe: None,
};

/// A relative import the resolver found nothing for.
///
/// `typescript`: the same specifier with `.ts` (`.mts`) for `.js` (`.mjs`), when that file
/// exists: `tsc` users write `./x.js` for `x.ts`, which aether (like Node and Deno) does not
/// map, so the hint names the file to import.
pub(crate) fn import(site: &Site<'_>, import: &Import, typescript: Option<&str>) -> Finding {
    let hint = match typescript {
        Some(ts) => format!(
            "`{}` is TypeScript: import it by its own name, `{}` (aether loads the file named; tsconfig.json: `allowImportingTsExtensions`)",
            escape_untrusted(ts),
            escape_untrusted(ts)
        ),
        None => "imports need the exact file name, with its extension".to_owned(),
    };
    site.finding(
        &INFO,
        import.offset,
        format!(
            "cannot find module `{}`\n\nhint: {hint}",
            escape_untrusted(&import.specifier)
        ),
        Some(Capability::Module),
        Some(import.specifier.clone()),
    )
}

/// A module that resolved (or the entry module) but has no source.
pub(crate) fn missing(name: &str, site: Option<&ImportSite>) -> Finding {
    match site {
        Some(s) => Finding {
            rule: INFO.id,
            level: INFO.level,
            message: format!(
                "cannot read module `{}` (imported as `{}`)\n\nhint: the file must exist inside the plugin directory and be UTF-8 text",
                escape_untrusted(name),
                escape_untrusted(&s.specifier)
            ),
            module: s.module.clone(),
            line: s.line,
            column: s.column,
            capability: Some(Capability::Module),
            target: Some(s.specifier.clone()),
            refuses_run: false,
        },
        None => Finding {
            rule: INFO.id,
            level: INFO.level,
            message: format!(
                "cannot read the entry module `{}`\n\nhint: check `main` in aether-plugin.json (default `index.js`)",
                escape_untrusted(name)
            ),
            module: name.to_owned(),
            line: 1,
            column: 1,
            capability: Some(Capability::Module),
            target: Some(name.to_owned()),
            refuses_run: false,
        },
    }
}
