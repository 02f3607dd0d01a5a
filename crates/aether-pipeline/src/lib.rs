//! The engine-agnostic core of an aether pipeline (SPEC §4): the step graph, `${{ }}`
//! templates, and a scheduler generic over [`StepRunner`].
//!
//! Flow: build a [`Graph`] from the steps' ids and `needs` (every error at once), parse each
//! step's `with` into a [`Template`], pair them into a [`Plan`] (which rejects references to
//! steps that are not transitively needed), then [`Scheduler::run`] it with a runner that
//! actually executes plugins.
//!
//! This crate must never perform I/O, read the environment or the clock, or know about
//! JavaScript: it decides *when* a step runs and *what input* it gets, never *how* it runs.
//! Containment (limits, grants) belongs to the runner.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod graph;
pub mod scheduler;
pub mod template;

pub use graph::{Cycle, Graph, GraphError, Plan, StepNode, check_references};
pub use scheduler::{
    Observer, Scheduler, StepError, StepOutcome, StepRecord, StepRunner, StepStatus,
};
pub use template::{Found, Reference, RenderError, Template, TemplateError};
