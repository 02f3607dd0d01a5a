//! `aether exec PLUGIN_DIR`: runs one plugin once, for an author's edit-run loop (SPEC §7).
//!
//! The plugin runs as a one-step pipeline whose workspace is the current directory, through
//! exactly the machinery of `aether run` ([`aether::workspace::load_workspace`] and
//! [`super::run::execute`]): the same validation, policy, integrity and window checks, the
//! same containment, exit codes and `--output json` shape. The input is given to the plugin
//! verbatim: `${{` in it is text, never a template (there are no other steps to refer to).

use std::path::{Path, PathBuf};

use aether::manifest::{FileError, Loc, MANIFEST_FILE, PipelineFile, SourceFile};
use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use super::run::{ExecutionArgs, Printed, execute};
use crate::Outcome;

/// The name of the one-step pipeline's (virtual) file in the current directory, in messages.
const VIRTUAL_PIPELINE: &str = "(aether exec)";

/// Arguments of `aether exec`.
#[derive(Args)]
pub struct ExecArgs {
    /// The plugin directory (holding `aether-plugin.json`).
    #[arg(value_name = "PLUGIN_DIR")]
    plugin: PathBuf,
    /// The plugin's input: JSON text, or `@FILE` to read it from FILE (default `null`).
    #[arg(long, value_name = "JSON|@FILE", allow_hyphen_values = true)]
    input: Option<String>,
    #[command(flatten)]
    execution: ExecutionArgs,
}

/// Runs `aether exec`.
pub fn exec(args: ExecArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let input = match args.input.as_deref() {
        None => Value::Null,
        Some(text) => match parse_input(text, &cwd) {
            Ok(v) => v,
            Err(e) => {
                crate::render::print_diagnostics(&[e], &[])?;
                eprintln!("refused: nothing ran");
                return Ok(Outcome::Refused);
            }
        },
    };
    let dir = match std::fs::canonicalize(&args.plugin) {
        Ok(d) if d.join(MANIFEST_FILE).is_file() => d,
        _ => bail!(
            "`{}` is not a plugin directory: it holds no `{MANIFEST_FILE}`\n\nhint: create one with `aether new plugin NAME`",
            args.plugin.display()
        ),
    };
    let pipeline = one_step_pipeline(&cwd, &dir, input)?;
    let loaded = aether::workspace::load_workspace(
        pipeline,
        args.execution.policy.as_deref(),
        jiff::Timestamp::now(),
        args.execution.unsafe_,
        aether::workspace::Analysis::RunGate,
        false,
    );
    execute(loaded, &args.execution, None, Printed::StepOutput, None)
}

/// `--input`: JSON text, or `@FILE` (relative to the current directory).
fn parse_input(text: &str, cwd: &Path) -> Result<Value, FileError> {
    let (origin, text) = match text.strip_prefix('@') {
        Some(file) => {
            let path = cwd.join(file);
            let file = SourceFile::read(&path)?;
            (file.path, file.text)
        }
        None => (PathBuf::from("--input"), text.to_owned()),
    };
    serde_json::from_str(&text).map_err(|e| {
        let loc = (e.line() > 0).then(|| Loc {
            line: u32::try_from(e.line()).unwrap_or(u32::MAX),
            col: u32::try_from(e.column()).unwrap_or(u32::MAX),
        });
        let message = e.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i]);
        FileError::new(
            &origin,
            loc,
            format!("the input is not valid JSON: {message}"),
        )
        .with_hint(
            "`--input` takes JSON text (quote it for the shell), or `@FILE` to read it from FILE",
        )
    })
}

/// The one-step pipeline that runs `dir` with `input`, its workspace `cwd`. Built through the
/// pipeline parser (JSON is YAML), so the step is validated like any other; the input is set
/// afterwards, escaped so that it reaches the plugin verbatim.
fn one_step_pipeline(cwd: &Path, dir: &Path, input: Value) -> anyhow::Result<PipelineFile> {
    let id = step_id(dir);
    let Some(plugin) = dir.to_str() else {
        bail!(
            "the plugin directory `{}` is not valid UTF-8\n\nhint: rename it",
            dir.display()
        );
    };
    let text = serde_json::json!({
        "name": id,
        "steps": [{ "id": id, "plugin": plugin }],
    })
    .to_string();
    let file = SourceFile {
        path: cwd.join(VIRTUAL_PIPELINE),
        text,
    };
    let mut pipeline = PipelineFile::parse(file).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("cannot run `{}`: {}", dir.display(), text.join("; "))
    })?;
    if let Some(step) = pipeline.steps.first_mut() {
        step.with = escape_templates(input);
    }
    Ok(pipeline)
}

/// The step id for `dir`: its name in lowercase, each character outside `[a-z0-9_-]`
/// replaced by `-` (`plugin` if nothing is left). The plugin sees it as `context.step`.
fn step_id(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let id: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    if id.is_empty() { "plugin".into() } else { id }
}

/// `value` with every `${{` in its strings written `$${{`, which the template engine renders
/// back as `${{`: an input (or `new pipeline`'s sample input) is data, not a template.
pub(crate) fn escape_templates(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains("${{") => Value::String(s.replace("${{", "$${{")),
        Value::Array(items) => Value::Array(items.into_iter().map(escape_templates).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, escape_templates(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_are_valid() {
        assert_eq!(step_id(Path::new("/x/demo")), "demo");
        assert_eq!(step_id(Path::new("/x/My Plugin.v2")), "my-plugin-v2");
        assert_eq!(step_id(Path::new("/")), "plugin");
    }

    #[test]
    fn input_templates_render_verbatim() {
        let input = serde_json::json!({"a": "${{ steps.x.output }}", "b": ["$${{", 1]});
        let escaped = escape_templates(input.clone());
        let template = aether::pipeline::Template::parse_all(&escaped).unwrap();
        assert!(template.is_literal());
        let rendered = template.render(|_| None).unwrap();
        let rendered: Value = serde_json::from_str(rendered.get()).unwrap();
        assert_eq!(rendered, input);
    }
}
