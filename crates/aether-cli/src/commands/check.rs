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
    /// Show at most N findings (each one cause in one file, with its repeat count), errors
    /// first, and a summary of the rest. The exit code still counts every finding.
    #[arg(long, value_name = "N")]
    max_findings: Option<usize>,
    /// Print the narrowest `permissions` covering every capability use the analysis can see,
    /// and how they differ from the plugin's manifest.
    #[arg(long)]
    suggest: bool,
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
    let mut plugins: Vec<(PluginInfo, render::Isolation)> = Vec::new();
    // What this machine lacks for the process tier: asked only for a plugin or step in it.
    let unavailable = || aether::worker::process_tier_support().err();
    // The workspace each plugin's relative paths resolve against (for `--suggest`).
    let mut workspaces: Vec<PathBuf> = Vec::new();
    let mut malformed: Vec<FileError> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut steps: Vec<render::StepTier> = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let loaded = aether::workspace::load_plugin(path, &cwd, args.policy.as_deref(), now);
            malformed.extend(loaded.malformed);
            findings.extend(loaded.findings);
            if let Some(info) = loaded.value {
                let isolation = render::Isolation::of_plugin(&info, unavailable);
                plugins.push((info, isolation));
                workspaces.push(cwd.clone());
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
                let file = &ws.pipeline.file.path;
                // Where a step's `isolation: process` is, when it is what raised the tier.
                let at = |s: &aether::workspace::StepInfo| {
                    s.decl
                        .isolation
                        .filter(|_| s.tier_reason == aether::policy::TierReason::StepIsolation)
                        .map(|(_, loc)| format!("{}:{}:{}", file.display(), loc.line, loc.col))
                };
                steps.extend(ws.steps.iter().map(|s| {
                    let info = &ws.plugins[s.plugin];
                    render::StepTier {
                        id: s.decl.id.clone(),
                        plugin: info.manifest.name.clone(),
                        isolation: render::Isolation::new(
                            info,
                            s.tier,
                            s.tier_reason,
                            at(s),
                            unavailable,
                        ),
                    }
                }));
                for (i, info) in ws.plugins.iter().enumerate() {
                    // The strongest tier any of its steps runs in (a step may raise it).
                    let raised = ws
                        .steps
                        .iter()
                        .filter(|s| s.plugin == i && s.tier > info.tier)
                        .max_by_key(|s| s.tier);
                    let isolation = match raised {
                        Some(s) => {
                            render::Isolation::new(info, s.tier, s.tier_reason, at(s), unavailable)
                        }
                        None => render::Isolation::of_plugin(info, unavailable),
                    };
                    plugins.push((info.clone(), isolation));
                    workspaces.push(ws.pipeline.workspace.clone());
                }
            }
        }
    }

    let (groups, omitted) =
        crate::grouped::cap(crate::grouped::group(&findings), args.max_findings);
    let suggestions: Vec<aether::analyze::Suggestion> = if args.suggest {
        plugins
            .iter()
            .zip(&workspaces)
            .map(|((info, _), ws)| aether::workspace::suggest_permissions(info, ws))
            .collect()
    } else {
        Vec::new()
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let mut doc = render::check_json(&plugins, &steps, &malformed, &groups, omitted);
            if args.suggest {
                doc["suggestions"] = plugins
                    .iter()
                    .zip(&suggestions)
                    .map(|((info, _), s)| suggestion_json(info, s))
                    .collect();
            }
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        Format::Sarif => {
            let rules = crate::sarif::all_rules();
            let doc = crate::sarif::check_sarif(&rules, &malformed, &groups, omitted);
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        Format::Human => {
            let mut stderr = std::io::stderr().lock();
            render::print_groups(&malformed, &groups, omitted)?;
            for (info, isolation) in &plugins {
                render::plugin_human(&mut stdout, info, isolation)?;
            }
            render::steps_human(&mut stdout, &steps)?;
            for ((info, _), s) in plugins.iter().zip(&suggestions) {
                suggestion_human(&mut stdout, info, s)?;
            }
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

/// The suggested `permissions` object: `{"filesystem": {"read": […]}, "env": […], …}`.
fn permissions_json(s: &aether::analyze::Suggestion) -> serde_json::Value {
    let mut out = serde_json::json!({});
    for e in &s.entries {
        let path: Vec<&str> = e.field.split('.').skip(1).collect();
        let mut node = &mut out;
        for (i, key) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let next = if last {
                serde_json::json!([])
            } else {
                serde_json::json!({})
            };
            if node.get(*key).is_none() {
                node[*key] = next;
            }
            node = &mut node[*key];
        }
        if let Some(list) = node.as_array_mut() {
            list.push(serde_json::Value::String(e.value.clone()));
        }
    }
    out
}

fn place_file(info: &PluginInfo, place: &aether::analyze::Place) -> String {
    info.manifest.dir.join(&place.module).display().to_string()
}

/// `--suggest` in `--format json`: one object per plugin.
fn suggestion_json(info: &PluginInfo, s: &aether::analyze::Suggestion) -> serde_json::Value {
    use serde_json::json;
    json!({
        "plugin": info.manifest.name,
        "permissions": permissions_json(s),
        "undetermined": s.undetermined.iter().map(|u| json!({
            "field": u.field, "api": u.api, "why": u.why,
            "file": place_file(info, &u.place), "line": u.place.line, "column": u.place.column,
        })).collect::<Vec<_>>(),
        "opaque": s.opaque.iter().map(|(rule, p)| json!({
            "rule": rule, "file": place_file(info, p), "line": p.line, "column": p.column,
        })).collect::<Vec<_>>(),
        "used_not_asked": s.entries.iter().filter(|e| !e.granted).map(|e| json!({
            "field": e.field, "value": e.value,
            "file": place_file(info, &e.place), "line": e.place.line, "column": e.place.column,
        })).collect::<Vec<_>>(),
        "asked_not_used": s.unused.iter().map(|u| json!({
            "field": u.field, "value": u.value, "maybe_used": u.maybe_used,
        })).collect::<Vec<_>>(),
    })
}

/// `--suggest` for people: the permissions, then what could not be determined, then the
/// difference with the manifest. Plugin-controlled text is escaped.
fn suggestion_human(
    out: &mut impl Write,
    info: &PluginInfo,
    s: &aether::analyze::Suggestion,
) -> std::io::Result<()> {
    let safe = |t: &str| render::terminal_safe(t);
    writeln!(
        out,
        "suggested permissions for `{}` ({}):",
        safe(&info.manifest.name),
        safe(&info.manifest.file.path.display().to_string())
    )?;
    let perms = serde_json::json!({ "permissions": permissions_json(s) });
    let text = serde_json::to_string_pretty(&perms).unwrap_or_default();
    for line in text.lines() {
        writeln!(out, "  {}", safe(line))?;
    }
    for u in &s.undetermined {
        writeln!(
            out,
            "  undetermined: {}:{}:{}: `{}` ({}): {}",
            safe(&place_file(info, &u.place)),
            u.place.line,
            u.place.column,
            u.api,
            u.field,
            u.why
        )?;
    }
    if let Some((rule, p)) = s.opaque.first() {
        writeln!(
            out,
            "  opaque: {} finding{} ({rule} at {}:{}:{} first): the code may use capabilities nothing here shows",
            s.opaque.len(),
            if s.opaque.len() == 1 { "" } else { "s" },
            safe(&place_file(info, p)),
            p.line,
            p.column
        )?;
    }
    let mut same = true;
    for e in s.entries.iter().filter(|e| !e.granted) {
        same = false;
        writeln!(
            out,
            "  used, not asked for: {} `{}` ({}:{}:{})",
            e.field,
            safe(&e.value),
            safe(&place_file(info, &e.place)),
            e.place.line,
            e.place.column
        )?;
    }
    for u in &s.unused {
        same = false;
        if u.maybe_used {
            writeln!(
                out,
                "  asked for, not used where the analysis can see: {} `{}` (an undetermined call above may need it)",
                u.field,
                safe(&u.value)
            )?;
        } else {
            writeln!(
                out,
                "  asked for, not used: {} `{}`",
                u.field,
                safe(&u.value)
            )?;
        }
    }
    if same {
        writeln!(out, "  the manifest asks for exactly what the code uses")?;
    }
    Ok(())
}
