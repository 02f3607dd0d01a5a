//! ## What it does
//! Reports uses of the host API this analysis cannot follow: a computed member with a
//! non-literal key on `aether`, its namespaces or `globalThis` (`aether[x]`, `aether.fs[op]`),
//! a destructuring with a computed key from them, one of them used as a value (passed to a
//! function, stored, returned), and assignment to `aether`, `fetch`, `globalThis`, to a host
//! member of them (`globalThis.fetch = …`), or to a computed key of them. Assigning another
//! member of the global object (`globalThis.MyLib = …`, every UMD wrapper) is not reported.
//!
//! ## Why is this bad?
//! Which capability such code uses, and with what argument, is decided at run time: the
//! analysis can neither check it against the grant nor call a capability unused. The runtime
//! still checks every call (and `aether` is frozen), but reviewers lose the static picture, and
//! code written this way often tries to hide what it does.
//!
//! ## Example
//! ```js
//! const op = input.write ? "writeText" : "readText";
//! aether.fs[op](input.path, input.text);
//! helper(aether.fs);
//! ```
//! Use instead:
//! ```js
//! if (input.write) aether.fs.writeText(input.path, input.text);
//! else aether.fs.readText(input.path);
//! ```
//!
//! ## References
//! - SPEC §5 (host API)
//! - [CWE-470](https://cwe.mitre.org/data/definitions/470.html): Use of Externally-Controlled
//!   Input to Select Classes or Code ('Unsafe Reflection')

use super::Site;
use crate::scan::DynamicAccess;
use crate::{Finding, Level, RuleInfo};

/// `dynamic-access`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "dynamic-access",
    level: Level::Warning,
    name: "DynamicAccess",
    summary: "the host API is reached in a way static analysis cannot follow",
    help: "call host functions by their literal names (`aether.fs.readText(…)`), and do not pass `aether` or its namespaces around",
    cwe: Some(470),
};

/// One dynamic-access site.
pub(crate) fn finding(site: &Site<'_>, offset: u32, what: &DynamicAccess) -> Finding {
    let message = match what {
        DynamicAccess::Computed(obj) => format!(
            "`{obj}` is indexed with a computed key: which host function runs is decided at run time\n\nhint: call host functions by their literal names"
        ),
        DynamicAccess::Escapes(obj) => format!(
            "`{obj}` is used as a value (passed, stored or returned): its uses can no longer be followed\n\nhint: call host functions where they are needed, or pass the single function the callee needs"
        ),
        DynamicAccess::Reassigned(obj) => format!(
            "`{obj}` is assigned to: the host API cannot be redefined (it is frozen), and code that tries hides what it calls\n\nhint: use a variable of your own"
        ),
    };
    site.finding(&INFO, offset, message, None, None)
}
