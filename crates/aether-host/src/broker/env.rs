//! `env` and `secrets` (SPEC §5): `aether.env.get` reads a granted variable through its
//! [`CheckedEnv`] witness; `aether.secret` hands out a granted secret's placeholder, never its
//! value.
//!
//! What it must never do: read a variable that is the source of a secret (the grant refuses
//! it, `--unsafe` or not), or give a plugin a secret's value.

use aether_policy::{Capability, CheckedEnv};

use super::{Problem, Record, StepHost, never, overridable, reject_problem, type_error};
use crate::protocol::{HostError, HostValue};

impl StepHost {
    /// `aether.env.get(name)`. SPEC §5, the grant first: a name outside `env` is a violation
    /// whatever it holds; only a covered name may then fail: one that no variable can have
    /// (empty, `=`, NUL), then `problem` (see [`crate::HostRequest::Malformed`]), is a
    /// `TypeError`.
    pub(super) fn env_get(&self, name: &str, problem: Problem<'_>) -> Result<HostValue, HostError> {
        let checked = self.decide(
            (Capability::Env, name),
            self.grant.check_env(name),
            overridable(|mode| Some(Ok(CheckedEnv::unchecked(name, mode)))),
            Record::Allowed,
            || {
                if name.is_empty() || name.contains(['=', '\0']) {
                    Err(type_error(format!(
                        "aether.env.get: `{}` is not a variable name",
                        name.escape_debug()
                    )))
                } else {
                    reject_problem(problem)
                }
            },
        )?;
        Ok(HostValue::Text {
            value: std::env::var(checked.name()).ok(),
        })
    }

    /// `aether.secret(name)`: the placeholder of a granted secret. Never overridden by
    /// `--unsafe`: an ungranted secret has no hosts to go to, so it stays denied.
    pub(super) fn secret(&self, name: &str) -> Result<HostValue, HostError> {
        let no_value = || {
            type_error(format!(
                "aether.secret: no value was read for secret `{name}`"
            ))
        };
        self.decide(
            (Capability::Secrets, name),
            self.grant.check_secret(name),
            never(),
            Record::Allowed,
            || match self.placeholders.placeholder(name) {
                Some(_) => Ok(()),
                None => Err(no_value()),
            },
        )?;
        let text = self.placeholders.placeholder(name).ok_or_else(no_value)?;
        Ok(HostValue::Text { value: Some(text) })
    }
}
