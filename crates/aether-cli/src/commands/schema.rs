//! `aether schema manifest|policy|pipeline`: prints the JSON Schema (2020-12) of one of the
//! files users write (SPEC §7), derived from the definitions the parsers use.

use std::io::Write;

use aether::manifest::SchemaKind;
use clap::{Args, ValueEnum};

use crate::Outcome;

/// Arguments of `aether schema`.
#[derive(Args)]
pub struct SchemaArgs {
    /// Which file's schema to print.
    #[arg(value_enum, value_name = "FILE")]
    file: SchemaFile,
}

/// The files `aether schema` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SchemaFile {
    /// `aether-plugin.json`.
    Manifest,
    /// `aether-policy.toml`.
    Policy,
    /// `pipeline.yaml`.
    Pipeline,
}

/// Runs `aether schema`.
pub fn schema(args: SchemaArgs) -> anyhow::Result<Outcome> {
    let kind = match args.file {
        SchemaFile::Manifest => SchemaKind::Manifest,
        SchemaFile::Policy => SchemaKind::Policy,
        SchemaFile::Pipeline => SchemaKind::Pipeline,
    };
    std::io::stdout().lock().write_all(kind.text().as_bytes())?;
    Ok(Outcome::Success)
}
