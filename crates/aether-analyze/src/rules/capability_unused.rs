//! ## What it does
//! Reports a declared capability (`filesystem.read`, `filesystem.write`, `network.domains`,
//! `network.listen`, `env`, `process`) that no reachable module of the plugin references, by
//! call, alias or value. It stays silent when some reachable code cannot be looked at (a syntax
//! error, a missing module, `eval`, `Function`, a non-literal `import()`), and treats `aether`
//! (or a namespace) escaping as a value as using everything under it.
//!
//! The finding is placed at the entry module's 1:1; `aether check` may point it at the manifest.
//!
//! ## Why is this bad?
//! Authority nobody uses is pure risk: a compromised dependency or a bug can use it, and it
//! raises the plugin's risk class (SPEC §2), which decides its isolation tier and time windows.
//!
//! ## Example
//! ```json
//! "permissions": { "env": ["API_TOKEN"], "filesystem": { "read": ["data/**"] } }
//! ```
//! ```js
//! export default () => aether.fs.readText("data/x.txt");   // never reads the environment
//! ```
//! Use instead: drop `"env"` from the manifest.
//!
//! ## References
//! - SPEC §2 (risk class)
//! - [CWE-250](https://cwe.mitre.org/data/definitions/250.html): Execution with Unnecessary
//!   Privileges

use aether_policy::Grant;

use crate::scan::{Class, Classes};
use crate::{Finding, Level, RuleInfo};

/// `capability-unused`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "capability-unused",
    level: Level::Warning,
    name: "CapabilityUnused",
    summary: "a declared capability is never used by the plugin's code",
    help: "remove the unused permission from aether-plugin.json",
    cwe: Some(250),
};

/// One finding per declared, unreferenced capability.
pub(crate) fn check(main: &str, grant: &Grant, referenced: Classes) -> Vec<Finding> {
    let p = grant.permissions();
    Class::ALL
        .iter()
        .filter(|&&c| {
            let declared = c.granted(grant) || (c == Class::Process && p.process);
            declared && !referenced.contains(c)
        })
        .map(|&c| {
            let field = if c == Class::Process {
                "permissions.process"
            } else {
                c.field()
            };
            Finding {
                rule: INFO.id,
                level: INFO.level,
                message: format!(
                    "`{field}` is declared but no code of the plugin uses {}\n\nhint: remove it from aether-plugin.json: unused authority is only risk",
                    c.capability()
                ),
                module: main.to_owned(),
                line: 1,
                column: 1,
                capability: Some(c.capability()),
                target: None,
                refuses_run: false,
            }
        })
        .collect()
}
