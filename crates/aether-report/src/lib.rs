//! Renderers for `aether run --inspect-security` (SPEC §8): a finished run in, text out.
//!
//! Every function here is pure: no file, clock, environment or network access (enforced by this
//! crate's `clippy.toml`). The CLI collects a [`RunReport`], calls the renderers and writes the
//! files; it also writes `events.jsonl`/`violations.jsonl` itself and passes `events_head` in.
//!
//! Everything a plugin controls (step ids are the pipeline author's, but targets, reasons and
//! errors are the plugin's) is escaped before it reaches a terminal, SVG, Mermaid or HTML:
//! control, bidi and zero-width characters become visible `\u{..}` escapes, and markup
//! characters become entities. The rendered documents never reference anything external.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod heatmap;
mod html;
mod interactions;
mod terminal;
#[cfg(test)]
mod tests;

pub use heatmap::heatmap_svg;
pub use html::{PrivilegeGap, least_privilege_gap, path_match, report_html};
pub use interactions::{interactions_mmd, interactions_svg};
pub use terminal::terminal_summary;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A finished run, as the CLI observed it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id (also in every event).
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Whether containment was disabled (`--unsafe`); the HTML report shows a banner.
    pub unsafe_run: bool,
    /// Start of the run, RFC 3339.
    pub started: String,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The steps, in pipeline order.
    pub steps: Vec<StepReport>,
    /// Every capability use, in order, allowed ones included.
    pub events: Vec<EventRecord>,
    /// SHA-256 hex of the last line of `events.jsonl` (computed by the CLI).
    pub events_head: String,
    /// The report directory, shown by the terminal summary.
    pub report_dir: String,
}

/// One step of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's id in `pipeline.yaml`.
    pub id: String,
    /// The plugin it ran.
    pub plugin: String,
    /// Isolation tier: `thread` or `process`.
    pub tier: String,
    /// `succeeded`, `failed` or `skipped`.
    pub status: String,
    /// The step's error, if it failed (plugin-controlled text).
    pub error: Option<String>,
    /// Start, as an offset from the run's start.
    pub start_ms: u64,
    /// Wall time of the step.
    pub duration_ms: u64,
    /// Peak heap of the step's engine.
    pub peak_memory_bytes: u64,
    /// CPU time used by the step.
    pub cpu_ms: u64,
    /// Events of the step counted but not written to the audit trail: it reached the audit
    /// limit (`--audit-limit`). Its counts stay exact.
    pub events_not_written: u64,
    /// Resource samples over the step's run (may be empty for very short steps).
    pub samples: Vec<Sample>,
    /// Ids of steps whose outputs its `with:` references.
    pub inputs_from: Vec<String>,
    /// What the step was granted.
    pub grant: GrantView,
}

/// One resource sample of a step (the engine's own type: `summary.json` writes it as the
/// sandbox measured it).
pub use aether_protocol::Sample;

/// A step's effective grant, as patterns (the manifest's words).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GrantView {
    /// `filesystem.read` patterns.
    pub filesystem_read: Vec<String>,
    /// `filesystem.write` patterns.
    pub filesystem_write: Vec<String>,
    /// `network.domains` patterns.
    pub domains: Vec<String>,
    /// `network.listen` addresses.
    pub listen: Vec<String>,
    /// `env` names and `X*` prefixes.
    pub env: Vec<String>,
    /// `process.commands`.
    pub commands: Vec<String>,
    /// `process.network`.
    pub process_network: bool,
    /// Memory ceiling.
    pub memory_bytes: u64,
    /// Timeout.
    pub timeout_ms: u64,
}

/// One capability use (a line of `events.jsonl`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventRecord {
    /// RFC 3339.
    pub time: String,
    /// The run's id.
    pub run_id: String,
    /// The step's id.
    pub step: String,
    /// The plugin's name.
    pub plugin: String,
    /// `filesystem.read`, `filesystem.write`, `network`, `env`, `process`, `module`,
    /// `limit.memory` or `limit.timeout`.
    pub capability: String,
    /// The path, URL, variable, command or specifier (plugin-controlled).
    pub target: String,
    /// `allowed`, `denied`, `virtualized`, `killed` or `allowed-unsafe`.
    pub decision: String,
    /// Why (plugin-controlled text may be quoted in it).
    pub reason: String,
    /// The connected address, for network events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The HTTP status, for network events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Bytes sent, for network events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    /// Bytes received, for network events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    /// The client's address, for a request a plugin's listener received (inbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The method of a request a listener received (plugin-independent, client-controlled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The target of a request a listener received (client-controlled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How many more events, the same but for their time, this record stands for: a report
    /// keeps one record per distinct event (every one of them is in `events.jsonl`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u64,
    /// Whether this record stands for events whose targets were not kept (past the run's limit
    /// of distinct events it keeps in memory; `events.jsonl` has each of them): which grants
    /// they used is unknown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub targets_omitted: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl EventRecord {
    /// Whether this event is a violation (SPEC §8: every decision but `allowed`).
    pub fn is_violation(&self) -> bool {
        self.decision != "allowed"
    }

    /// How many events this record stands for (itself and its repeats).
    pub fn count(&self) -> u64 {
        self.repeats.saturating_add(1)
    }
}

/// How many events `records` stand for.
pub(crate) fn total<'a>(records: impl IntoIterator<Item = &'a EventRecord>) -> u64 {
    records
        .into_iter()
        .fold(0, |n, e| n.saturating_add(e.count()))
}

/// `resources.json`: per step, its samples of `{t_ms, heap_bytes, cpu_ms}` and its peaks.
pub fn resources_json(run: &RunReport) -> Value {
    let steps: Vec<Value> = run
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "plugin": s.plugin,
                "tier": s.tier,
                "start_ms": s.start_ms,
                "duration_ms": s.duration_ms,
                "peak_memory_bytes": s.peak_memory_bytes,
                "cpu_ms": s.cpu_ms,
                "samples": s.samples,
            })
        })
        .collect();
    json!({ "run_id": run.run_id, "steps": steps })
}

/// `summary.json`, exactly SPEC §8's shape: `{run_id, pipeline, unsafe, events_head, steps:
/// [{id, plugin, status, duration_ms, peak_memory_bytes, cpu_ms, violations}]}`, where
/// `violations` counts the step's events whose decision is not `allowed`.
pub fn summary_json(run: &RunReport) -> Value {
    let steps: Vec<Value> = run
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "plugin": s.plugin,
                "status": s.status,
                "duration_ms": s.duration_ms,
                "peak_memory_bytes": s.peak_memory_bytes,
                "cpu_ms": s.cpu_ms,
                "violations": violations_of(run, &s.id),
                "events_not_written": s.events_not_written,
            })
        })
        .collect();
    json!({
        "run_id": run.run_id,
        "pipeline": run.pipeline,
        "unsafe": run.unsafe_run,
        "events_head": run.events_head,
        "steps": steps,
    })
}

/// How many of `step`'s events are violations.
fn violations_of(run: &RunReport, step: &str) -> u64 {
    total(
        run.events
            .iter()
            .filter(|e| e.step == step && e.is_violation()),
    )
}

/// The one escape of control, bidi and zero-width characters (the policy crate's; pure).
pub(crate) use aether_policy::escape_untrusted;

/// Untrusted text made safe for XML/HTML text and attribute values.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_untrusted(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `1.5 MiB`-style byte sizes.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `850 ms` or `2.35 s`.
pub(crate) fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        let s = format!("{:.2}", ms as f64 / 1000.0);
        format!("{} s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// The host of a URL-ish target (`https://user@Api.Example.com:8443/x` → `api.example.com`).
pub(crate) fn url_host(target: &str) -> String {
    url_host_port(target).0
}

/// Host (lowercase, no trailing dot) and port (explicit, else the scheme's default) of a
/// URL-ish target. A lenient split, not a URL parser: good enough to group and match.
pub(crate) fn url_host_port(target: &str) -> (String, Option<u16>) {
    let (scheme, rest) = target.split_once("://").unwrap_or(("", target));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']').unwrap_or((v6, ""));
        (h, p.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let port = port.and_then(|p| p.parse().ok()).or(default);
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}
