//! The engine-agnostic core of an aether pipeline (SPEC §4): the step graph, `${{ }}`
//! templates, and a scheduler generic over [`StepRunner`].
//!
//! Flow: build a [`Graph`] from the steps' ids and `needs` (every error at once), parse each
//! step's `with` into a [`Template`], pair them into a [`Plan`] (which rejects references to
//! steps that are not transitively needed), then [`Scheduler::run`] it with a runner that
//! actually executes plugins.
//!
//! ```
//! use std::num::NonZeroUsize;
//! use aether_pipeline::{Graph, JsonText, Plan, Scheduler, StepNode, StepOutcome, StepRunner, Template};
//! use serde_json::json;
//!
//! struct Echo;
//! impl StepRunner for Echo {
//!     type Extra = ();
//!     fn run(&self, _index: usize, input: JsonText) -> StepOutcome<()> {
//!         StepOutcome::succeeded(input, ())
//!     }
//! }
//!
//! let graph = Graph::new(&[
//!     StepNode { id: "read".into(), needs: vec![] },
//!     StepNode { id: "summarize".into(), needs: vec!["read".into()] },
//! ])
//! .map_err(|errors| format!("{} graph errors", errors.len()))?;
//! let templates = vec![
//!     Template::parse(&json!({ "file": "app.log" }))?,
//!     Template::parse(&json!("Digest of ${{ steps.read.output.file }}"))?,
//! ];
//! let plan = Plan::new(graph, templates).map_err(|errors| format!("{} graph errors", errors.len()))?;
//! let records = Scheduler::new(NonZeroUsize::MIN).run(&plan, &Echo, &());
//! assert_eq!(records[1].output.as_ref().map(|o| o.get()), Some(r#""Digest of app.log""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate must never perform I/O, read the environment or the clock, or know about
//! JavaScript: it decides *when* a step runs and *what input* it gets, never *how* it runs.
//! Containment (limits, grants) belongs to the runner.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod argo;
pub mod graph;
pub mod json;
pub mod scheduler;
pub mod template;

pub use graph::{Cycle, Graph, GraphError, Plan, StepNode, check_references};
pub use json::JsonText;
pub use scheduler::{
    Observer, Scheduler, StepError, StepOutcome, StepRecord, StepRunner, StepStatus,
};
pub use template::{Found, Reference, RenderError, Template, TemplateError};
