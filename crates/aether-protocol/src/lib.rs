//! The values that cross between the engine (`aether-sandbox`, in a thread or a jailed worker)
//! and the broker (`aether-host`): host calls and their replies ([`HostRequest`],
//! [`HostValue`], [`HostError`], the [`Host`] trait), the step to run ([`StepSpec`], its
//! [`Limits`]) and what came of it ([`StepOutcome`], [`StepError`], [`Sample`]).
//!
//! Both sides depend on this crate and on nothing of each other, so the engine crate links no
//! HTTP client, server or jail, and each of these types exists once. Their serde forms are the
//! worker socket's wire format (postcard) and, for [`Sample`], part of `summary.json`: a change
//! to a field is a change to both.
//!
//! What it must never do: perform I/O, run JavaScript, or decide a grant. It holds data and the
//! few pure functions that describe it (a request's size, an error's SPEC §6 wording).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod host;
mod step;
mod text;

/// The step's limits: the policy's own type, so that what the grant gives and what the engine
/// enforces are one value with one wire form.
pub use aether_policy::Limits;
pub use host::{
    BytecodeStore, Host, HostError, HostRequest, HostValue, ResolveMode, panic_message,
};
pub use step::{Sample, Sampler, StepError, StepOutcome, StepSpec};
pub use text::cap_text;
