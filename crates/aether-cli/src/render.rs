//! Rendering for people and machines: grants, findings, JSON documents.
//!
//! Text that a plugin or a file controls goes through [`terminal_safe`] before it reaches a
//! terminal, so that control, bidi and zero-width characters cannot forge or hide output.

use std::io::{self, Write};

use aether::manifest::FileError;
use aether::policy::{RiskClass, Tier, TierReason};
use aether::workspace::{Finding, PluginInfo};
use serde_json::{Value, json};

/// The one escaper of plugin-controlled text ([`aether::policy::escape_untrusted_lines`]):
/// control, format (bidi, zero-width, invisible operators), line/paragraph separator and
/// default-ignorable characters become `\u{…}` (CVE-2021-42574 "Trojan Source" shows what
/// bidi controls do to a reviewer's terminal); newlines and tabs are kept. The report's HTML
/// and terminal summary use the same classification.
pub use aether::policy::escape_untrusted_lines as terminal_safe;

fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Thread => "thread",
        Tier::Process => "process",
    }
}

/// Which layers protect a plugin or a step on this machine, and why it has its tier (issue 23
/// item 4): what `check` prints under each plugin and step, and its JSON `isolation` object.
pub struct Isolation {
    /// The tier it runs in.
    pub tier: Tier,
    /// Why it has that tier.
    pub reason: TierReason,
    /// The manifest fields that make its plugin high risk ([`RiskClass::raised_by`]), when it
    /// is high risk.
    pub high_risk: Option<Vec<&'static str>>,
    /// `FILE:LINE:COL` of the step's `isolation: process`, for [`TierReason::StepIsolation`].
    pub at: Option<String>,
    /// For the process tier: what this machine lacks to run it (`aether run` then refuses).
    /// Always `None` for the thread tier, which runs anywhere.
    pub unavailable: Option<String>,
}

/// The layers of the process tier, in the order they stand between a plugin and the host: the
/// engine (as in the thread tier), the worker process, its seccomp allowlist, its Landlock
/// domain (no file, no TCP, scoped signals) and its namespaces (an empty network namespace,
/// a user namespace when not root).
const PROCESS_LAYERS: [&str; 5] = ["engine", "process", "seccomp", "landlock", "namespaces"];

impl Isolation {
    /// The isolation of `info` when no step raises its tier; `unavailable` is what this machine
    /// lacks for the process tier (asked only when the tier is `process`).
    pub fn of_plugin(info: &PluginInfo, unavailable: impl FnOnce() -> Option<String>) -> Self {
        Isolation::new(info, info.tier, info.tier_reason, None, unavailable)
    }

    /// The isolation of a step of `info`'s plugin with `tier` for `reason`.
    pub fn new(
        info: &PluginInfo,
        tier: Tier,
        reason: TierReason,
        at: Option<String>,
        unavailable: impl FnOnce() -> Option<String>,
    ) -> Self {
        Isolation {
            tier,
            reason,
            high_risk: (info.risk == RiskClass::High)
                .then(|| RiskClass::raised_by(&info.manifest.permissions)),
            at,
            unavailable: if tier == Tier::Process {
                unavailable()
            } else {
                None
            },
        }
    }

    /// The layers that protect it here: `engine` in the thread tier; in the process tier
    /// `engine`, `process`, `seccomp`, `landlock`, `namespaces`, or none when this machine
    /// cannot run it (its steps are refused).
    pub fn layers(&self) -> &'static [&'static str] {
        match (self.tier, &self.unavailable) {
            (Tier::Thread, _) => &PROCESS_LAYERS[..1],
            (Tier::Process, None) => &PROCESS_LAYERS,
            (Tier::Process, Some(_)) => &[],
        }
    }

    /// Why it has its tier, as a phrase.
    pub fn why(&self) -> String {
        let tier = tier_name(self.tier);
        let high = self.high_risk.as_ref().map(|fields| {
            let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            format!("high risk ({})", fields.join(", "))
        });
        match self.reason {
            TierReason::PolicyDefault => {
                format!("the policy's `[isolation] default` is `{tier}`")
            }
            TierReason::PolicyHighRisk => format!(
                "{}, and the policy's `[isolation] high_risk` is `{tier}`",
                high.unwrap_or_else(|| "high risk".to_owned())
            ),
            TierReason::NoPolicy => match high {
                Some(high) => {
                    format!("{high}, and with no policy high-risk plugins run in the process tier")
                }
                None => "no policy, and with none only high-risk plugins run in the process tier"
                    .to_owned(),
            },
            TierReason::StepIsolation => match &self.at {
                Some(at) => format!("the step asks for `isolation: process` ({at})"),
                None => "a step asks for `isolation: process`".to_owned(),
            },
            TierReason::Unsafe => "`--unsafe` runs every plugin in the thread tier".to_owned(),
        }
    }

    /// The layers as a line for people.
    fn layers_human(&self) -> String {
        match (self.tier, &self.unavailable) {
            (Tier::Thread, _) => {
                "engine only (in aether's own process; no process, seccomp, Landlock or namespace layer)"
                    .to_owned()
            }
            (Tier::Process, None) => {
                "engine, process, seccomp, Landlock, namespaces (a confined worker process)"
                    .to_owned()
            }
            (Tier::Process, Some(missing)) => format!(
                "none: the process tier cannot run on this machine: {missing}; `aether run` refuses its steps"
            ),
        }
    }

    /// `check --format json`'s `isolation` object: `{tier, layers, reason, why, unavailable}`.
    pub fn json(&self) -> Value {
        json!({
            "tier": tier_name(self.tier),
            "layers": self.layers(),
            "reason": self.reason.as_str(),
            "why": self.why(),
            "unavailable": self.unavailable,
        })
    }
}

/// Prints malformed-file errors and findings to stderr, one per line (plus hints); the
/// findings of one cause in one file once, with their count ([`crate::grouped`]).
pub fn print_diagnostics(malformed: &[FileError], findings: &[Finding]) -> io::Result<()> {
    print_groups(
        malformed,
        &crate::grouped::group(findings),
        crate::grouped::Omitted::default(),
    )
}

/// Prints malformed-file errors, then the groups (errors first, per file), each with its code
/// excerpt and, when repeated, its count and other places; then what `--max-findings` left out.
pub fn print_groups(
    malformed: &[FileError],
    groups: &[crate::grouped::Group<'_>],
    omitted: crate::grouped::Omitted,
) -> io::Result<()> {
    let mut stderr = io::stderr().lock();
    for e in malformed {
        writeln!(stderr, "error: {}", terminal_safe(&e.to_string()))?;
    }
    let mut file = None;
    for g in groups {
        let f = g.finding;
        if f.file.is_some() && f.file.as_ref() != file {
            // One heading per file (the groups of a file are together, errors first overall).
            if let Some(path) = &f.file {
                writeln!(stderr, "--> {}", terminal_safe(&path.display().to_string()))?;
            }
            file = f.file.as_ref();
        }
        writeln!(
            stderr,
            "{}: {}",
            f.level.as_str(),
            terminal_safe(&f.to_string())
        )?;
        if let (Some(path), Some(loc)) = (&f.file, f.loc) {
            excerpt(&mut stderr, path, loc)?;
        }
        if g.count > 1 {
            let places: Vec<String> = g
                .related
                .iter()
                .map(|l| format!("{}:{}", l.line, l.col))
                .collect();
            let more = g.count - 1 - g.related.len();
            writeln!(
                stderr,
                "  = {} more time{} in this file, at {}{}",
                g.count - 1,
                if g.count == 2 { "" } else { "s" },
                places.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )?;
        }
    }
    if let Some(line) = omitted.summary() {
        writeln!(stderr, "{line}")?;
    }
    Ok(())
}

/// The line of plugin code a finding points at, with a caret under its column (JavaScript
/// modules only: manifests and policies carry their own context in the message).
fn excerpt(
    out: &mut impl io::Write,
    file: &std::path::Path,
    loc: aether::manifest::Loc,
) -> io::Result<()> {
    let is_code = file.extension().is_some_and(|e| e == "js" || e == "mjs");
    let Some(line) = is_code
        .then(|| {
            aether::manifest::read_regular(
                file,
                aether::manifest::MAX_TEXT_FILE_BYTES,
                aether::manifest::Symlinks::Follow,
            )
            .ok()
        })
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.lines()
                .nth(loc.line.saturating_sub(1) as usize)
                .map(str::to_owned)
        })
    else {
        return Ok(());
    };
    let number = loc.line.to_string();
    let pad = " ".repeat(number.len());
    let line: String = line.chars().take(160).collect();
    let caret = " ".repeat(loc.col.saturating_sub(1).min(160) as usize);
    writeln!(out, "  {number} | {}", terminal_safe(&line))?;
    writeln!(out, "  {pad} | {caret}^")
}

/// The effective grant as JSON (the shape of `check --format json`'s `grant`).
pub fn grant_json(info: &PluginInfo) -> Value {
    let p = &info.manifest.permissions;
    let limits = info.grant.limits();
    json!({
        "filesystem": {
            "read": p.fs_read.iter().map(|x| x.as_str().to_owned()).collect::<Vec<_>>(),
            "write": p.fs_write.iter().map(|x| x.as_str().to_owned()).collect::<Vec<_>>(),
        },
        "network": {
            "domains": p.domains.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "listen": p.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "env": p.env.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "secrets": p.secrets.iter().map(|s| (s.name.clone(), json!(s.hosts.iter().map(ToString::to_string).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>(),
        "process": if p.process {
            json!({
                "commands": p.commands.iter().map(|c| c.display().to_string()).collect::<Vec<_>>(),
                "network": p.process_network,
            })
        } else { Value::Null },
        "limits": {
            "memory_bytes": limits.memory.0,
            "memory": limits.memory.to_string(),
            "timeout_ms": u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            "timeout": aether::policy::HumanDuration(limits.timeout).to_string(),
        },
    })
}

/// `check --format json`: `{plugins: [...], findings: [...]}` (SPEC §7). Each plugin and step
/// also has an `isolation` object ([`Isolation::json`]).
pub fn check_json(
    plugins: &[(PluginInfo, Isolation)],
    steps: &[StepTier],
    malformed: &[FileError],
    groups: &[crate::grouped::Group<'_>],
    omitted: crate::grouped::Omitted,
) -> Value {
    let plugins: Vec<Value> = plugins
        .iter()
        .map(|(info, isolation)| {
            json!({
                "name": info.manifest.name,
                "version": info.manifest.version.to_string(),
                "dir": info.manifest.dir.display().to_string(),
                "risk": info.risk.to_string(),
                "tier": tier_name(isolation.tier),
                "isolation": isolation.json(),
                "grant": grant_json(info),
            })
        })
        .collect();
    let mut out: Vec<Value> = malformed
        .iter()
        .map(|e| {
            json!({
                "rule": "malformed", "level": "error", "message": e.message,
                "plugin": null, "capability": null, "target": null,
                "file": e.file.display().to_string(),
                "line": e.loc.map(|l| l.line), "column": e.loc.map(|l| l.col),
            })
        })
        .collect();
    out.extend(groups.iter().map(|g| {
        let f = g.finding;
        json!({
            "rule": f.rule, "level": f.level.as_str(), "message": f.message,
            "plugin": f.plugin, "capability": f.capability.map(|c| c.as_str()), "target": f.target,
            "file": f.file.as_ref().map(|p| p.display().to_string()),
            "line": f.loc.map(|l| l.line), "column": f.loc.map(|l| l.col),
            "count": g.count,
            "related": g.related.iter().map(|l| json!({ "line": l.line, "column": l.col })).collect::<Vec<_>>(),
        })
    }));
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "plugin": s.plugin, "tier": tier_name(s.isolation.tier),
                "isolation": s.isolation.json(),
            })
        })
        .collect();
    json!({
        "plugins": plugins, "steps": steps, "findings": out,
        "omitted": { "findings": omitted.findings, "occurrences": omitted.occurrences },
    })
}

/// A pipeline step and the isolation tier it runs in (`check` shows it; SPEC §4 lets a step
/// ask for a stronger tier than its plugin's).
pub struct StepTier {
    /// The step's id.
    pub id: String,
    /// Its plugin's name.
    pub plugin: String,
    /// Its tier, the layers that protect it and why.
    pub isolation: Isolation,
}

/// `check`'s human listing of steps and their tiers (nothing for a plugin directory).
pub fn steps_human(out: &mut impl std::io::Write, steps: &[StepTier]) -> std::io::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    writeln!(out, "steps:")?;
    let width = steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in steps {
        let layers = s.isolation.layers();
        writeln!(
            out,
            "  {:width$}  {}  tier: {}  layers: {}  why: {}",
            terminal_safe(&s.id),
            terminal_safe(&s.plugin),
            tier_name(s.isolation.tier),
            if layers.is_empty() {
                "none (the process tier cannot run on this machine)".to_owned()
            } else {
                layers.join(", ").replace("landlock", "Landlock")
            },
            terminal_safe(&s.isolation.why())
        )?;
    }
    Ok(())
}

/// One plugin's effective grant, risk class and tier, for a person. Every line goes through
/// [`terminal_safe`]: path patterns, commands and the plugin's directory are the manifest's or
/// the disk's text, and a bidi override in a pattern would make the grant read as something
/// else (issue 15).
pub fn plugin_human(
    w: &mut impl Write,
    info: &PluginInfo,
    isolation: &Isolation,
) -> io::Result<()> {
    let mut text = Vec::new();
    plugin_text(&mut text, info, isolation)?;
    w.write_all(terminal_safe(&String::from_utf8_lossy(&text)).as_bytes())
}

fn plugin_text(w: &mut impl Write, info: &PluginInfo, isolation: &Isolation) -> io::Result<()> {
    let m = &info.manifest;
    let p = &m.permissions;
    writeln!(w, "{} {} ({})", m.name, m.version, m.dir.display())?;
    writeln!(
        w,
        "  risk: {}   tier: {}",
        info.risk,
        tier_name(isolation.tier)
    )?;
    writeln!(w, "  layers:           {}", isolation.layers_human())?;
    writeln!(w, "  tier because:     {}", isolation.why())?;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    writeln!(
        w,
        "  filesystem.read:  {}",
        list(p.fs_read.iter().map(|x| x.as_str().to_owned()).collect())
    )?;
    writeln!(
        w,
        "  filesystem.write: {}",
        list(p.fs_write.iter().map(|x| x.as_str().to_owned()).collect())
    )?;
    writeln!(
        w,
        "  network.domains:  {}",
        list(p.domains.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        w,
        "  network.listen:   {}",
        list(p.listen.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        w,
        "  env:              {}",
        list(p.env.iter().map(ToString::to_string).collect())
    )?;
    if !p.secrets.is_empty() {
        let secrets: Vec<String> = p
            .secrets
            .iter()
            .map(|s| {
                let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
                format!("{} -> {}", s.name, list(hosts))
            })
            .collect();
        writeln!(w, "  secrets:          {}", secrets.join("; "))?;
    }
    if p.process {
        let cmds = list(p.commands.iter().map(|c| c.display().to_string()).collect());
        writeln!(
            w,
            "  process:          {cmds} (network: {})",
            if p.process_network { "yes" } else { "no" }
        )?;
    } else {
        writeln!(w, "  process:          -")?;
    }
    let limits = info.grant.limits();
    writeln!(
        w,
        "  limits:           memory {}, timeout {}",
        limits.memory,
        aether::policy::HumanDuration(limits.timeout)
    )?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        // Trojan Source (CVE-2021-42574): a bidi override must not reach the terminal raw.
        assert_eq!(terminal_safe("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(terminal_safe("\x1b[2J"), "\\u{1b}[2J");
        assert_eq!(terminal_safe("ok\nline"), "ok\nline");
    }

    // See: https://nvd.nist.gov/vuln/detail/CVE-2021-42574 (the CLI's own list let the word
    // joiner and invisible operators U+2060–U+2065 through; the policy crate's did not).
    #[test]
    fn issue_15_terminal_and_policy_escapers_agree() {
        for c in [
            '\u{2060}',
            '\u{2061}',
            '\u{2064}',
            '\u{2065}',
            '\u{2028}',
            '\u{e0041}',
        ] {
            let text = format!("a{c}b");
            assert_eq!(
                terminal_safe(&text),
                format!("a\\u{{{:x}}}b", c as u32),
                "{:04X}",
                c as u32
            );
            assert_eq!(
                terminal_safe(&text),
                aether::policy::escape_untrusted(&text)
            );
        }
    }
}
