//! The three files users write — `aether-plugin.json`, `aether-policy.toml`, `pipeline.yaml` —
//! parsed strictly into validated values.
//!
//! Guarantees: unknown fields are errors; every pattern, size and duration is compiled once
//! here; every error names its file, line and column and says what was expected; a file is read
//! once and the values come from exactly the bytes read.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod command;
mod inline_json;
pub mod pipeline_file;
pub mod plugin;
pub mod policy_file;
pub mod schema;
pub mod source;

pub use pipeline_file::{InlineJson, PipelineFile, StepDecl, YamlRead};
pub use plugin::{MANIFEST_FILE, Manifest};
pub use policy_file::{PolicyFile, load_policy, parse_policy};
pub use schema::SchemaKind;
pub use source::{
    FileError, Loc, MAX_TEXT_FILE_BYTES, ReadError, SourceFile, Symlinks, read_regular,
};
