//! ## What it does
//! Reports a call of a host function whose capability the manifest does not declare at all:
//! `aether.fs.readText/readBytes/list/stat/exists` without `filesystem.read`,
//! `aether.fs.writeText/writeBytes/appendText/mkdir/remove` without `filesystem.write`,
//! `fetch`/`aether.fetch` without `network.domains`, `aether.listen` without `network.listen`,
//! `aether.env.get` without `env`, `aether.process.run` without `process.commands`. Calls
//! through aliases (`const { readText } = aether.fs`) count; a local binding of the same name
//! (`function fetch() {}`) does not. A call through a name that may hold another value, or a
//! host function passed as a value, is reported at warning level with the reason.
//!
//! ## Why is this bad?
//! Everything not granted is denied (SPEC §2): the call throws `PermissionDenied` and records a
//! violation. Either the manifest forgot a permission, or the code does something its manifest
//! does not admit to.
//!
//! ## Example
//! ```js
//! // aether-plugin.json declares no "env"
//! const token = aether.env.get("API_TOKEN");
//! ```
//! Use instead: declare `"env": ["API_TOKEN"]`, or take the token from the step's input.
//!
//! ## References
//! - SPEC §2 (permissions), §5 (host API)
//! - [CWE-862](https://cwe.mitre.org/data/definitions/862.html): Missing Authorization

use super::Site;
use crate::scan::HostUse;
use crate::{Finding, Level, RuleInfo};
use aether_policy::Grant;

/// `capability-undeclared`.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "capability-undeclared",
    level: Level::Error,
    name: "CapabilityUndeclared",
    summary: "a host function is called whose capability the manifest does not declare",
    help: "declare the capability in aether-plugin.json `permissions`, or remove the call",
    cwe: Some(862),
};

/// A finding if `host_use`'s capability is not declared at all.
pub(crate) fn check(site: &Site<'_>, grant: &Grant, host_use: &HostUse) -> Option<Finding> {
    let class = host_use.api.class();
    if class.granted(grant) {
        return None;
    }
    let capability = class.capability();
    Some(site.finding(
        &INFO,
        host_use.offset,
        format!(
            "`{}` needs {capability}, but `{}` is not declared: every call would be denied\n\nhint: add `{}` to aether-plugin.json with what the plugin needs, or remove the call",
            host_use.api.display(),
            class.field(),
            class.field(),
        ),
        Some(capability),
        None,
    ))
}
