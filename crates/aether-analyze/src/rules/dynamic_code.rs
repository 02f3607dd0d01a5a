//! ## What it does
//! Reports `eval(…)`, `Function(…)` / `new Function(…)` (and either used as a value, which
//! allows an indirect call), and `import()` whose argument is not a literal.
//!
//! ## Why is this bad?
//! Code built at run time is invisible to this analysis and to a reviewer: it can call any
//! host function with any argument, or import any module of the plugin. The runtime still
//! confines it (SPEC §5: `eval` works in the plugin's own realm, and every call is checked), but
//! nothing can be said ahead of the run, so `capability-unused` stays silent for the plugin.
//!
//! ## Example
//! ```js
//! const op = eval(input.expression);
//! const mod = await import(`./handlers/${input.kind}.js`);
//! ```
//! Use instead: a table of functions, and literal imports.
//!
//! ## References
//! - SPEC §5 (`eval` and `Function` work, confined to the plugin's realm)
//! - [CWE-95](https://cwe.mitre.org/data/definitions/95.html): Improper Neutralization of
//!   Directives in Dynamically Evaluated Code ('Eval Injection')

use super::Site;
use crate::scan::DynamicCode;
use crate::{Finding, Level, RuleInfo};

/// `dynamic-code`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "dynamic-code",
    level: Level::Warning,
    name: "DynamicCode",
    summary: "code is built or imported at run time (eval, Function, non-literal import())",
    help: "replace it with ordinary code, a table of functions, or literal imports",
    cwe: Some(95),
};

/// One dynamic-code site.
pub(crate) fn finding(site: &Site<'_>, offset: u32, kind: DynamicCode) -> Finding {
    let message = match kind {
        DynamicCode::Eval => {
            "`eval` runs code built at run time, which no analysis can see\n\nhint: replace it with ordinary code or a table of functions"
        }
        DynamicCode::Function => {
            "`Function` builds code at run time, which no analysis can see\n\nhint: replace it with ordinary functions"
        }
        DynamicCode::Import => {
            "`import()` with a computed specifier loads modules no analysis can see\n\nhint: import each module with a literal path and choose among them in code"
        }
    };
    site.finding(&INFO, offset, message.to_owned(), None, None)
}
