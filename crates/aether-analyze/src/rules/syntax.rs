//! ## What it does
//! Reports a module that does not parse as an ECMAScript module (or nests deeper than the
//! analyzer accepts), at the parser's line and column.
//!
//! ## Why is this bad?
//! The runtime loads every plugin file as an ES module (SPEC §5): a module that does not parse
//! fails the step before any of its code runs. Nothing else can be said about such a module, so
//! the other rules skip it and `capability-unused` stays silent.
//!
//! ## Example
//! ```js
//! export default async function (input {  // missing `)`
//! ```
//!
//! ## References
//! - SPEC §5 (modules), §7 (`aether check` exits 2 on syntax errors)
//! - CWE: none (a correctness problem, not a weakness)

use super::Site;
use crate::{Finding, Level, RuleInfo};

/// `syntax`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "syntax",
    level: Level::Error,
    name: "SyntaxError",
    summary: "a module does not parse (as an ES module, CommonJS, TypeScript or JSON, per its kind)",
    help: "fix the syntax error at the reported line and column",
    cwe: None,
};

/// One parse error.
pub(crate) fn finding(site: &Site<'_>, offset: u32, message: &str) -> Finding {
    let mut finding = site.finding(
        &INFO,
        offset,
        format!(
            "syntax error: {}\n\nhint: fix the code at this position (a module is parsed as the runtime loads it: an ES module, CommonJS, TypeScript or JSON; see docs/modules.md)",
            aether_policy::escape_untrusted(message)
        ),
        None,
        None,
    );
    finding.refuses_run = true;
    finding
}

/// A module whose bytes are not UTF-8 text (QuickJS bytecode, a binary, another encoding), at
/// the first byte that is not: the runtime loads JavaScript source only (SPEC §5, "no
/// bytecode"), so the run is refused like any syntax error (SPEC §4).
pub(crate) fn not_text(site: &Site<'_>, offset: u32) -> Finding {
    let mut finding = site.finding(
        &INFO,
        offset,
        "syntax error: the module is not UTF-8 text\n\nhint: plugin modules are JavaScript source; aether loads no bytecode or binary files".to_owned(),
        None,
        None,
    );
    finding.refuses_run = true;
    finding
}
