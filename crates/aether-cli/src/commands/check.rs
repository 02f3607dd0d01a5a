//! `aether check PATH...`: static validation without running anything (SPEC §7).
//!
//! A file is a pipeline (its directory is the workspace); a directory holding
//! `aether-plugin.json` is a plugin (the current directory is the workspace). Exit 0 when no
//! error-level finding, 1 with error-level findings, 2 when an input is unreadable or malformed.

use std::io::Write;
use std::path::PathBuf;

use aether::manifest::FileError;
use aether::workspace::{Finding, Level, PluginInfo};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::render;

/// Arguments of `aether check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Pipeline files or plugin directories.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The policy to check against (default: the pipeline's `policy:` key; none for a plugin).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// Runs `aether check`.
pub fn check(args: CheckArgs) -> anyhow::Result<Outcome> {
    let now = jiff::Timestamp::now();
    let cwd = std::env::current_dir()?;
    let mut plugins: Vec<(PluginInfo, Vec<aether::policy::Tier>)> = Vec::new();
    let mut malformed: Vec<FileError> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut steps: Vec<render::StepTier> = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let loaded = aether::workspace::load_plugin(path, &cwd, args.policy.as_deref(), now);
            malformed.extend(loaded.malformed);
            findings.extend(loaded.findings);
            if let Some(info) = loaded.value {
                let tier = info.tier;
                plugins.push((info, vec![tier]));
            }
        } else {
            let loaded = aether::workspace::load_pipeline(
                path,
                args.policy.as_deref(),
                now,
                false,
                aether::workspace::Analysis::Full,
                false,
            );
            malformed.extend(loaded.malformed);
            findings.extend(loaded.findings);
            if let Some(ws) = loaded.value {
                steps.extend(ws.steps.iter().map(|s| render::StepTier {
                    id: s.decl.id.clone(),
                    plugin: ws.plugins[s.plugin].manifest.name.clone(),
                    tier: s.tier,
                }));
                for (i, info) in ws.plugins.into_iter().enumerate() {
                    let tiers = ws
                        .steps
                        .iter()
                        .filter(|s| s.plugin == i)
                        .map(|s| s.tier)
                        .collect();
                    plugins.push((info, tiers));
                }
            }
        }
    }

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let doc = render::check_json(&plugins, &steps, &malformed, &findings);
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        Format::Sarif => {
            let rules = crate::sarif::all_rules();
            let doc = crate::sarif::check_sarif(&rules, &malformed, &findings);
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        Format::Human => {
            let mut stderr = std::io::stderr().lock();
            render::print_diagnostics(&malformed, &findings)?;
            for (info, tiers) in &plugins {
                render::plugin_human(&mut stdout, info, tiers)?;
            }
            render::steps_human(&mut stdout, &steps)?;
            let errors =
                malformed.len() + findings.iter().filter(|f| f.level == Level::Error).count();
            if errors > 0 {
                writeln!(
                    stderr,
                    "{errors} error{} found",
                    if errors == 1 { "" } else { "s" }
                )?;
            }
        }
    }
    Ok(if !malformed.is_empty() {
        Outcome::Refused
    } else if findings.iter().any(|f| f.level == Level::Error) {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}
