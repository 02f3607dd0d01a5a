//! aether as a library: run untrusted JavaScript plugins under zero trust from a host
//! application.
//!
//! Two entry points:
//!
//! - **Pipelines.** [`Workspace::load`] validates a `pipeline.yaml` and everything it uses
//!   (every file, grant, lock and signature check; all problems at once, with their
//!   positions), and [`Workspace::run`] runs it, handing events to a [`Subscriber`] as they
//!   happen and returning the [`RunReport`] that `aether run --output json` prints.
//! - **One plugin, many calls.** [`Sandbox::builder`] sets a policy, limits and a tier;
//!   [`Sandbox::load_plugin`] verifies a plugin directory once; [`Plugin::call`] runs it, each
//!   call in a fresh engine instance with its own grant, limits, overlay and events.
//!
//! The `aether` command is a thin client of this crate: what it checks and enforces, this crate
//! checks and enforces, through the same code. The building blocks are re-exported as modules
//! ([`policy`], [`manifest`], [`pipeline`], [`host`], [`sandbox`], [`integrity`] (with the lock and signature checks),
//! [`report`], [`analyze`], [`worker`]) for hosts that need more than the façade.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # aether::doc_fixture(dir.path())?;
//! // A plugin `hello` whose default export returns `{ greeting: "hello, " + input.name }`.
//! let sandbox = aether::Sandbox::builder().workspace(dir.path()).build()?;
//! let plugin = sandbox.load_plugin(dir.path().join("hello"))?;
//! let out = plugin.call(&serde_json::json!({ "name": "ada" }), &aether::CallContext::default())?;
//! assert_eq!(out.output.get(), r#"{"greeting":"hello, ada"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The process isolation tier runs steps in workers forked from a zygote: this is the host
//! binary itself, started again with a hidden argument. A host that may use it calls
//! [`run_zygote_if_asked`] first thing in `main`.
#![forbid(unsafe_code)]

mod compile_cache;
mod embed;
mod events;
pub mod inspect;
pub mod integrity;
mod load;
mod run;
pub mod runner;
pub mod workspace;

pub use aether_analyze as analyze;
pub use aether_host as host;
pub use aether_manifest as manifest;
pub use aether_pipeline as pipeline;
pub use aether_policy as policy;
pub use aether_report as report;
pub use aether_sandbox as sandbox;
pub use aether_worker as worker;

pub use aether_host::events::Event;
pub use aether_manifest::PolicyFile;
pub use aether_policy::{ByteSize, Capability, Decision, Grant, Limits, Policy, Tier};
pub use embed::{
    BuildError, CallContext, CallError, CallFuture, CallOutput, Plugin, PluginError, Sandbox,
    SandboxBuilder,
};
#[cfg(feature = "tracing")]
pub use events::TracingSubscriber;
pub use events::{ChannelSubscriber, RunEvent, Subscriber, Warning};
pub use load::{LoadError, LoadOptions, parse_manifest, parse_policy};
pub use run::{
    CancelToken, DEFAULT_AUDIT_LIMIT, OnlyStep, Run, RunError, RunHandle, RunOptions, RunReport,
    SecurityReport, StepReport,
};
pub use runner::{Kept, Metrics};
pub use workspace::{Analysis, Finding, Level, Loaded, PluginInfo, Workspace};

/// Escapes text a plugin controls (control, bidi and zero-width characters) before it reaches
/// a terminal or HTML; line breaks are kept.
///
/// ```
/// assert!(!aether::escape_untrusted("a\u{1b}[2Jb").contains('\u{1b}'));
/// ```
pub fn escape_untrusted(text: &str) -> String {
    aether_policy::escape_untrusted_lines(text)
}

/// Becomes the process tier's zygote when this process was started as one (with a hidden
/// argument), and never returns then; otherwise returns at once. Call it first thing in `main`
/// of a host that may use the process tier, before any thread starts.
///
/// ```
/// aether::run_zygote_if_asked(); // a doc test is not a zygote: returns at once
/// ```
pub fn run_zygote_if_asked() {
    aether_worker::run_zygote_if_asked();
}

/// Writes the plugin `hello` and a one-step `pipeline.yaml` using it into `dir`, for the
/// examples of this documentation.
#[doc(hidden)]
pub fn doc_fixture(dir: &std::path::Path) -> std::io::Result<()> {
    let plugin = dir.join("hello");
    std::fs::create_dir_all(&plugin)?;
    std::fs::write(
        plugin.join("aether-plugin.json"),
        r#"{ "name": "hello", "version": "1.0.0" }"#,
    )?;
    std::fs::write(
        plugin.join("index.js"),
        "export default (input) => ({ greeting: `hello, ${input.name}` });\n",
    )?;
    std::fs::write(
        dir.join("pipeline.yaml"),
        "name: hello\nsteps:\n  - id: greet\n    plugin: ./hello\n    with:\n      name: world\n",
    )?;
    Ok(())
}
