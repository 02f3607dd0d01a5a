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

use crate::inline_json;
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
        PipelineFile::parse_traced(file, InlineJson::Allowed).0
    }

    /// [`PipelineFile::parse`], saying how the YAML was read; with [`InlineJson::Off`],
    /// serde-saphyr reads the whole text (tests compare the two).
    pub fn parse_traced(
        file: SourceFile,
        inline: InlineJson,
    ) -> (Result<PipelineFile, Vec<FileError>>, YamlRead) {
        let (raw, read) = parse_yaml(&file.text, inline);
        (PipelineFile::from_raw(file, raw), read)
    }

    fn from_raw(
        file: SourceFile,
        raw: Result<RawPipeline, serde_saphyr::Error>,
    ) -> Result<PipelineFile, Vec<FileError>> {
        let workspace = absolute_dir_of(&file.path);
        let raw = raw.map_err(|e| {
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

/// How [`PipelineFile::parse_traced`] read the file's YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlRead {
    /// serde-saphyr read the whole text.
    Yaml,
    /// serde-saphyr read the text with this many large `with` values taken out and read as JSON.
    InlineJson(usize),
}

/// Whether [`PipelineFile::parse_traced`] may read a large `with` written as JSON with
/// serde_json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineJson {
    /// When serde-saphyr confirms where each value goes (the default of [`PipelineFile::parse`]).
    Allowed,
    /// Never: serde-saphyr reads the whole text (the reference the fast path is compared with).
    Off,
}

/// The file's YAML, with a large `with` written as one line of JSON read as JSON
/// ([`inline_json`]; the same values, errors and budget as serde-saphyr alone).
fn parse_yaml(
    text: &str,
    inline: InlineJson,
) -> (Result<RawPipeline, serde_saphyr::Error>, YamlRead) {
    if inline == InlineJson::Allowed
        && let Some(prepared) = inline_json::prepare(
            text,
            inline_json::MIN_BYTES,
            serde_saphyr::Budget::default().max_nodes,
        )
    {
        let count = prepared.values.len();
        if let Some(raw) = parse_shortened(prepared) {
            return (Ok(raw), YamlRead::InlineJson(count));
        }
    }
    (serde_saphyr::from_str(text), YamlRead::Yaml)
}

/// Parses the shortened text under a budget lowered by what the JSON values cost, and puts each
/// value where serde-saphyr put its placeholder. `None` (then the original text is parsed) for
/// any error; an anchor, alias or merge key anywhere (their copies of a value are charged by the
/// original parse only); or a placeholder that is not exactly once the whole value of a step's
/// `with`, or the nonce anywhere else in the document.
fn parse_shortened(prepared: inline_json::Prepared) -> Option<RawPipeline> {
    let cost = prepared.cost;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.checked_sub(cost.nodes)?;
    budget.max_events = budget.max_events.checked_sub(cost.events)?;
    budget.max_depth = budget.max_depth.checked_sub(cost.depth)?;
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.checked_sub(cost.bytes)?;
    let copies = std::rc::Rc::new(std::cell::Cell::new(None));
    let seen = std::rc::Rc::clone(&copies);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let options = options.with_budget_report(move |r| {
        seen.set(Some(r.anchors + r.aliases + r.merge_keys));
    });
    let mut raw: RawPipeline = serde_saphyr::from_str_with_options(&prepared.text, options).ok()?;
    if copies.get() != Some(0) {
        return None;
    }
    let nonce = prepared.nonce;
    let mut slots: Vec<Option<&mut serde_json::Value>> = Vec::new();
    slots.resize_with(prepared.values.len(), || None);
    let mut strays = 0usize;
    let mut stray = |s: &str| strays += usize::from(s.contains(nonce));
    stray(&raw.name.value);
    raw.policy.iter().for_each(|p| stray(&p.value));
    for step in &raw.steps {
        let s = &step.value;
        for text in [&s.id, &s.plugin].into_iter().chain(&s.needs) {
            stray(&text.value);
        }
        for text in [&s.timeout, &s.memory, &s.isolation].into_iter().flatten() {
            stray(&text.value);
        }
    }
    for step in &mut raw.steps {
        let Some(with) = step.value.with.as_mut() else {
            continue;
        };
        let index = match &with.value {
            serde_json::Value::String(s) if s.starts_with(nonce) => {
                (0..slots.len()).find(|&i| *s == inline_json::placeholder(nonce, i))
            }
            other => {
                strays += nonce_count(other, nonce);
                continue;
            }
        };
        match index.and_then(|i| slots.get_mut(i)) {
            Some(slot @ None) => *slot = Some(&mut with.value),
            _ => strays += 1,
        }
    }
    if strays != 0 || slots.iter().any(Option::is_none) {
        return None;
    }
    for (slot, value) in slots.into_iter().zip(prepared.values) {
        if let Some(slot) = slot {
            *slot = value;
        }
    }
    Some(raw)
}

/// How many strings of `value` (keys included) hold `nonce`.
fn nonce_count(value: &serde_json::Value, nonce: &str) -> usize {
    match value {
        serde_json::Value::String(s) => usize::from(s.contains(nonce)),
        serde_json::Value::Array(a) => a.iter().map(|v| nonce_count(v, nonce)).sum(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| usize::from(k.contains(nonce)) + nonce_count(v, nonce))
            .sum(),
        _ => 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's shape (`bench/run.py`'s `write_pipeline`): the whole input on the `with`
    /// line. It is read as JSON, not by serde-saphyr, and arrives the same, at the same place.
    #[test]
    fn a_large_inline_with_is_read_as_json() {
        let records: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    "{{\"id\": {i}, \"price\": {}.25, \"tags\": [\"a\", \"b\"]}}",
                    i * 3
                )
            })
            .collect();
        let text = format!(
            "name: p\nsteps:\n  - id: s\n    plugin: ./x\n    with: {{\"input\": [{}], \"runs\": 0}}\n    timeout: 1s\n",
            records.join(", ")
        );
        let file = SourceFile {
            path: PathBuf::from("p.yaml"),
            text,
        };
        let (fast, read) = PipelineFile::parse_traced(file.clone(), InlineJson::Allowed);
        assert_eq!(read, YamlRead::InlineJson(1));
        let (slow, read) = PipelineFile::parse_traced(file, InlineJson::Off);
        assert_eq!(read, YamlRead::Yaml);
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        assert!(fast.is_ok());
    }

    /// An error anywhere (here an unknown field after the value) is serde-saphyr's own, found
    /// in the original text.
    #[test]
    fn errors_come_from_the_original_text() {
        let text = format!(
            "name: p\nsteps:\n  - id: s\n    plugin: ./x\n    with: [{}0]\n    bogus: 1\n",
            "1, ".repeat(3000)
        );
        assert!(inline_json::prepare(&text, inline_json::MIN_BYTES, usize::MAX).is_some());
        let file = SourceFile {
            path: PathBuf::from("p.yaml"),
            text,
        };
        let Err(errors) = PipelineFile::parse(file) else {
            panic!("an unknown field is an error");
        };
        assert_eq!(errors[0].loc, Some(Loc { line: 6, col: 5 }));
        assert!(errors[0].message.contains("unknown field `bogus`"));
    }
}
