//! Tests of aether-pipeline's public API: one binary, one module per area.

#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

mod graph;
mod properties;
mod scheduler;
mod template;
