//! The rules, one per file. Each file opens with ruff's headings (`## What it does`,
//! `## Why is this bad?`, `## Example`, `## References`) and holds its [`crate::RuleInfo`] as
//! `INFO` and the functions that turn scanned facts into [`crate::Finding`]s.

pub(crate) mod capability_undeclared;
pub(crate) mod capability_unused;
pub(crate) mod dynamic_access;
pub(crate) mod dynamic_code;
pub(crate) mod grant_mismatch;
pub(crate) mod module_blocked;
pub(crate) mod module_not_found;
pub(crate) mod syntax;

use aether_policy::Capability;

use crate::location::LineIndex;
use crate::scan::Doubt;
use crate::{Finding, Level, RuleInfo};

/// `finding` at warning level, its message saying why the analysis cannot decide it (issue 24:
/// `error` only where the code certainly makes the call).
pub(crate) fn undecided(mut finding: Finding, doubt: Doubt) -> Finding {
    let why = match doubt {
        Doubt::MaybeOther => {
            "(undecided: the name called here may also hold another value, through `?:`, `||` or another assignment)"
        }
        Doubt::Value => {
            "(undecided: the function is not called here but passed, stored or exported as a value)"
        }
    };
    finding.level = Level::Warning;
    match finding.message.find("\n\nhint:") {
        Some(at) => finding.message.insert_str(at, &format!(" {why}")),
        None => {
            finding.message.push(' ');
            finding.message.push_str(why);
        }
    }
    finding
}

/// The module a finding is in, and how to place an offset in it.
pub(crate) struct Site<'a> {
    pub(crate) module: &'a str,
    pub(crate) index: &'a LineIndex<'a>,
}

impl Site<'_> {
    /// A finding of `rule` at byte `offset`.
    pub(crate) fn finding(
        &self,
        rule: &RuleInfo,
        offset: u32,
        message: String,
        capability: Option<Capability>,
        target: Option<String>,
    ) -> Finding {
        let (line, column) = self.index.line_col(offset);
        Finding {
            rule: rule.id,
            level: rule.level,
            message,
            module: self.module.to_owned(),
            line,
            column,
            capability,
            target,
            refuses_run: false,
        }
    }
}

use aether_policy::Grant;

use crate::scan::Class;

impl Class {
    /// The manifest field that grants it.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Class::FsRead => "permissions.filesystem.read",
            Class::FsWrite => "permissions.filesystem.write",
            Class::Network => "permissions.network.domains",
            Class::Listen => "permissions.network.listen",
            Class::Env => "permissions.env",
            Class::Process => "permissions.process.commands",
        }
    }

    /// The capability, as the runtime names it in a denial.
    pub(crate) fn capability(self) -> Capability {
        match self {
            Class::FsRead => Capability::FilesystemRead,
            Class::FsWrite => Capability::FilesystemWrite,
            Class::Network | Class::Listen => Capability::Network,
            Class::Env => Capability::Env,
            Class::Process => Capability::Process,
        }
    }

    /// Whether the grant has anything for it (for `process`, a command to run).
    pub(crate) fn granted(self, grant: &Grant) -> bool {
        let p = grant.permissions();
        match self {
            Class::FsRead => !p.fs_read.is_empty(),
            Class::FsWrite => !p.fs_write.is_empty(),
            Class::Network => !p.domains.is_empty(),
            Class::Listen => !p.listen.is_empty(),
            Class::Env => !p.env.is_empty(),
            Class::Process => !p.commands.is_empty(),
        }
    }
}
