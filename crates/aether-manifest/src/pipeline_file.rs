//! `pipeline.yaml`: steps, each running one plugin with an input (SPEC §4).
//!
//! This module parses the file and checks what can be checked in it alone (step fields, limits,
//! paths); the graph (`needs`, cycles, `${{ }}` references) is `aether-pipeline`'s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aether_policy::{ByteSize, Tier};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::source::{FileError, Loc, SourceFile};

type S<T> = Spanned<T>;

/// `pipeline.yaml` as written. The JSON Schema of `aether schema pipeline` is derived from
/// these definitions (doc comments become descriptions), so parser and schema agree.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "pipeline.yaml",
    description = "An aether pipeline: steps, each running one plugin with an input."
)]
struct RawPipeline {
    /// The pipeline's name.
    #[schemars(with = "String")]
    name: S<String>,
    /// The policy file, relative to the pipeline's directory (`--policy` overrides it).
    #[schemars(with = "Option<String>")]
    policy: Option<S<String>>,
    /// The steps.
    #[schemars(with = "Vec<RawStep>")]
    steps: Vec<S<RawStep>>,
}

/// One step.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
struct RawStep {
    /// The step's id: lowercase letters, digits, `_` and `-`; unique in the pipeline.
    #[schemars(with = "String", pattern(r"^[a-z0-9_-]+$"))]
    id: S<String>,
    /// The plugin directory, relative to the pipeline's directory.
    #[schemars(with = "String")]
    plugin: S<String>,
    /// The plugin's input: any value; `${{ steps.ID.output[.field...] }}` is replaced by an
    /// earlier step's output, `$${{` is a literal `${{`.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    with: Option<S<serde_json::Value>>,
    /// Steps that must succeed before this one starts.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    needs: Vec<S<String>>,
    /// Lowers the plugin's time limit: an integer with `ms`, `s`, `m` or `h`.
    #[schemars(with = "Option<String>", pattern(crate::schema::DURATION))]
    timeout: Option<S<String>>,
    /// Lowers the plugin's memory ceiling: an integer with `B`, `KB`, `MB`, `GB`, `KiB`,
    /// `MiB`, `GiB`, or plain bytes.
    #[schemars(with = "Option<String>", pattern(crate::schema::SIZE))]
    memory: Option<S<String>>,
    /// `process` raises the step's isolation tier; `thread` never lowers it.
    #[schemars(with = "Option<String>", extend("enum" = ["thread", "process", null]))]
    isolation: Option<S<String>>,
}

/// The JSON Schema of `pipeline.yaml`, derived from the definitions the parser uses.
pub(crate) fn schema() -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<RawPipeline>()
}

/// A parsed pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// The file as read.
    pub file: SourceFile,
    /// The directory holding the pipeline file: relative paths resolve against it.
    pub workspace: PathBuf,
    /// `name`.
    pub name: String,
    /// `policy`, resolved against the workspace, and where it was written.
    pub policy: Option<(PathBuf, Loc)>,
    /// `steps`, in file order.
    pub steps: Vec<StepDecl>,
}

/// One step as declared in the pipeline file.
#[derive(Debug, Clone)]
pub struct StepDecl {
    /// `id`.
    pub id: String,
    /// Where the step's `id` was written.
    pub loc: Loc,
    /// `plugin`, resolved against the workspace.
    pub plugin: PathBuf,
    /// Where `plugin` was written.
    pub plugin_loc: Loc,
    /// `with` (`null` when absent): the plugin's input, before `${{ }}` substitution.
    pub with: serde_json::Value,
    /// Where `with` was written (the step's location when absent).
    pub with_loc: Loc,
    /// `needs`, with where each was written.
    pub needs: Vec<(String, Loc)>,
    /// `timeout`, which may only lower the manifest's.
    pub timeout: Option<(Duration, Loc)>,
    /// `memory`, which may only lower the manifest's.
    pub memory: Option<(ByteSize, Loc)>,
    /// `isolation: process` raises the tier; `thread` is accepted and never lowers it.
    pub isolation: Option<(Tier, Loc)>,
}

fn loc(l: serde_saphyr::Location) -> Loc {
    Loc {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        col: u32::try_from(l.column()).unwrap_or(u32::MAX),
    }
}

fn at<T>(s: &S<T>) -> Loc {
    loc(s.referenced)
}

impl PipelineFile {
    /// Reads and parses a pipeline file. Returns every error found in it.
    pub fn load(path: &Path) -> Result<PipelineFile, Vec<FileError>> {
        let file = SourceFile::read(path).map_err(|e| vec![e])?;
        PipelineFile::parse(file)
    }

    /// Parses an already-read pipeline file; its directory is the workspace.
    pub fn parse(file: SourceFile) -> Result<PipelineFile, Vec<FileError>> {
        let workspace = absolute_dir_of(&file.path);
        let raw: RawPipeline = serde_saphyr::from_str(&file.text).map_err(|e| {
            let l = e.location().map(loc);
            vec![FileError::new(&file.path, l, yaml_message(&e))]
        })?;
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<FileError>, l: Loc, m: String| {
            errors.push(FileError::new(&file.path, Some(l), m));
        };
        let policy = raw
            .policy
            .as_ref()
            .map(|p| (workspace.join(&p.value), at(p)));
        let mut steps = Vec::with_capacity(raw.steps.len());
        // By value: a step's `with` (the whole input of a large inline data set) is moved into
        // its declaration, not copied (issue 19: aether's own cost around a step).
        for s in raw.steps {
            let s = s.value;
            let timeout =
                s.timeout
                    .as_ref()
                    .and_then(|t| match aether_policy::parse_duration(&t.value) {
                        Ok(d) => Some((d, at(t))),
                        Err(e) => {
                            err(
                                &mut errors,
                                at(t),
                                format!("invalid `timeout` of step `{}`: {e}", s.id.value),
                            );
                            None
                        }
                    });
            let memory =
                s.memory
                    .as_ref()
                    .and_then(|m| match aether_policy::parse_size(&m.value) {
                        Ok(v) => Some((v, at(m))),
                        Err(e) => {
                            err(
                                &mut errors,
                                at(m),
                                format!("invalid `memory` of step `{}`: {e}", s.id.value),
                            );
                            None
                        }
                    });
            let isolation = s.isolation.as_ref().and_then(|i| match i.value.as_str() {
                "process" => Some((Tier::Process, at(i))),
                "thread" => Some((Tier::Thread, at(i))),
                other => {
                    err(
                        &mut errors,
                        at(i),
                        format!("invalid `isolation` of step `{}`: expected `process` or `thread`, found `{other}`", s.id.value),
                    );
                    None
                }
            });
            steps.push(StepDecl {
                id: s.id.value.clone(),
                loc: at(&s.id),
                plugin: workspace.join(&s.plugin.value),
                plugin_loc: at(&s.plugin),
                with_loc: s.with.as_ref().map_or(at(&s.id), at),
                with: s.with.map_or(serde_json::Value::Null, |w| w.value),
                needs: s.needs.iter().map(|n| (n.value.clone(), at(n))).collect(),
                timeout,
                memory,
                isolation,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PipelineFile {
            name: raw.name.value,
            workspace,
            policy,
            steps,
            file,
        })
    }
}

/// The absolute directory holding `path` (the current directory for a bare file name).
pub fn absolute_dir_of(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir)
        .ok()
        .and_then(|d| aether_policy::normalize_lexically(&d, Path::new("/")))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// serde-saphyr's message, without the snippet and location it appends (we print the location
/// first, as `file:line:col:`).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let s = e.without_snippet().to_string();
    let first = s.lines().next().unwrap_or("malformed YAML").trim();
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    format!("invalid pipeline: {first}")
}
