//! `report.html`: one self-contained page (inline CSS, JS and SVG, a CSP that forbids every
//! fetch), and the least-privilege gap it shows per step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use aether_policy::{DomainPattern, EnvPattern, PathPattern, parse_host};

use crate::{
    EventRecord, RunReport, StepReport, heatmap_svg, human_bytes, human_ms, interactions_svg,
    url_host_port, xml,
};

/// Decisions in the order the report lists them; any other value found is appended.
const DECISIONS: [&str; 5] = [
    "allowed",
    "denied",
    "virtualized",
    "killed",
    "allowed-unsafe",
];

/// The granted entries of a step that no `allowed` event used: what could be removed from its
/// manifest without changing this run. One run is one sample: an entry unused here may be
/// needed by another input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivilegeGap {
    /// `filesystem.read` patterns matched by no allowed read.
    pub filesystem_read: Vec<String>,
    /// `filesystem.write` patterns matched by no allowed write.
    pub filesystem_write: Vec<String>,
    /// `network.domains` patterns matched by no allowed fetch.
    pub domains: Vec<String>,
    /// `network.listen` addresses no allowed `network` event names.
    pub listen: Vec<String>,
    /// `env` names or prefixes matched by no allowed read.
    pub env: Vec<String>,
    /// `process.commands` no allowed `process` event ran.
    pub commands: Vec<String>,
}

/// Whether a granted path pattern matches a filesystem event's target, by the rules enforcement
/// uses ([`PathPattern`]): both are read relative to the same directory (as the grant and the
/// plugin wrote them), so `./data/*.log` matches `./data/app.log` and `data/app.log`.
pub fn path_match(pattern: &str, target: &str) -> bool {
    let root = Path::new("/");
    PathPattern::parse(pattern, root).is_ok_and(|p| p.matches(&root.join(target)))
}

/// Whether a granted `network.domains` pattern matches a fetch's URL, by the rules enforcement
/// uses ([`DomainPattern::matches`]: IDN, case, trailing dot, IPv4 spellings, default ports).
pub(crate) fn domain_match(pattern: &str, url: &str) -> bool {
    let default = if url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        80
    } else {
        443
    };
    let (host, port) = url_host_port(url);
    // `url_host_port` strips an IPv6 literal's brackets; `parse_host` reads it with them.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    match (DomainPattern::parse(pattern), parse_host(&host)) {
        (Ok(p), Ok(host)) => p.matches(&host, port.unwrap_or(default), default),
        _ => false,
    }
}

/// Whether a granted `env` entry (`NAME`, `PREFIX*`, or `*` for every variable) matches a
/// variable read, by the rules enforcement uses ([`EnvPattern::matches`]).
pub(crate) fn env_match(pattern: &str, name: &str) -> bool {
    EnvPattern::parse(pattern).is_ok_and(|p| p.matches(name))
}

/// A granted command against a `process` target (`/usr/bin/gzip -9 x` or `gzip`): the
/// program, by path or by bare name.
fn command_match(command: &str, target: &str) -> bool {
    let program = target.split_whitespace().next().unwrap_or_default();
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    target == command || program == command || base(program) == command || base(command) == program
}

/// The step's least-privilege gap: each granted entry that no `allowed` event of the step
/// matched. Listen addresses match a `network` target naming the address (with or without a
/// scheme); `process.network` and limits are not part of the gap. Requests a listener
/// received are what clients did, not what the plugin used, and binding a listener is not a
/// fetch: neither uses a `network.domains` grant of `127.0.0.1:9000`. A capability with uses
/// whose targets were not kept ([`EventRecord::targets_omitted`]) has no gap: what those uses
/// matched is unknown.
pub fn least_privilege_gap(step: &StepReport, events: &[EventRecord]) -> PrivilegeGap {
    let used: Vec<&EventRecord> = events
        .iter()
        .filter(|e| e.step == step.id && e.decision == "allowed" && e.peer.is_none())
        .collect();
    let unused = |granted: &[String], cap: &str, hit: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
        if used
            .iter()
            .any(|e| e.capability == cap && e.targets_omitted)
        {
            return Vec::new();
        }
        granted
            .iter()
            .filter(|g| {
                !used
                    .iter()
                    .any(|e| e.capability == cap && hit(g, &e.target))
            })
            .cloned()
            .collect()
    };
    let g = &step.grant;
    PrivilegeGap {
        filesystem_read: unused(&g.filesystem_read, "filesystem.read", &path_match),
        filesystem_write: unused(&g.filesystem_write, "filesystem.write", &path_match),
        // Fetches are URLs; a bind's target (`ip:port`) is no fetch.
        domains: unused(&g.domains, "network", &|d, t| {
            t.contains("://") && domain_match(d, t)
        }),
        listen: unused(&g.listen, "network", &|a, t| {
            t.split_once("://")
                .map_or(t, |(_, r)| r)
                .trim_end_matches('/')
                == a
        }),
        env: unused(&g.env, "env", &env_match),
        commands: unused(&g.commands, "process", &command_match),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 2em 3em;color:#222}\
h1{margin-top:.6em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f2f2f2}td.n{text-align:right}.bad{color:#b00;font-weight:bold}\
.banner{background:#b00;color:#fff;font-size:1.4em;font-weight:bold;padding:.6em 1em;margin:0 -1.6em}\
.gap{color:#a60}code{background:#f4f4f4;padding:0 2px;word-break:break-all}\
.svg{overflow:auto;max-height:80vh;border:1px solid #ddd}#filters{margin:.5em 0}\
#filters>*{margin-right:.5em}details{margin:.4em 0}pre{white-space:pre-wrap;background:#fdf0f0;padding:.5em}";

const SCRIPT: &str = "(function(){var f=document.getElementById('filters');if(!f)return;f.hidden=false;\
var rows=Array.prototype.slice.call(document.querySelectorAll('#violations tbody tr'));\
function apply(){var s=f.elements.step.value,c=f.elements.cap.value,d=f.elements.dec.value,\
q=f.elements.q.value.toLowerCase(),n=0;rows.forEach(function(r){var ok=(!s||r.dataset.step===s)&&\
(!c||r.dataset.cap===c)&&(!d||r.dataset.dec===d)&&(!q||r.textContent.toLowerCase().indexOf(q)>=0);\
r.hidden=!ok;if(ok)n++;});document.getElementById('shown').textContent=n+' shown';}\
f.addEventListener('input',apply);f.addEventListener('change',apply);\
f.addEventListener('submit',function(e){e.preventDefault();});})();";

/// `report.html`: the run summary (an unsafe run gets a red banner), capability uses by
/// decision, a violations table filterable by step, capability, decision and text (inline JS;
/// with JS disabled the filters stay hidden and every row shows), the heatmap and interaction
/// SVGs inline, and per step its grant beside what it used, its least-privilege gap and its
/// error. Every plugin-controlled string is HTML-escaped with invisible characters made
/// visible; a CSP meta tag (`default-src 'none'`) stops any fetch even if a mistake slipped in.
pub fn report_html(run: &RunReport) -> String {
    let violations: Vec<&EventRecord> = run.events.iter().filter(|e| e.is_violation()).collect();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>aether security report: {}</title><style>{STYLE}</style></head><body>",
        xml(&run.pipeline)
    );
    if run.unsafe_run {
        h.push_str(
            "<div class=\"banner\">UNSAFE RUN: containment was disabled (--unsafe); \
decisions marked allowed-unsafe were not enforced</div>",
        );
    }
    let status_class = if run.status == "succeeded" {
        ""
    } else {
        " class=\"bad\""
    };
    let _ = write!(
        h,
        "<h1>Security report: {}</h1><table><tr><th>run id</th><td><code>{}</code></td></tr>\
<tr><th>status</th><td{status_class}>{}</td></tr><tr><th>unsafe</th><td>{}</td></tr>\
<tr><th>started</th><td>{}</td></tr><tr><th>duration</th><td>{}</td></tr>\
<tr><th>steps</th><td>{}</td></tr><tr><th>capability uses</th><td>{}</td></tr>\
<tr><th>violations</th><td{}>{}</td></tr><tr><th>events head (SHA-256)</th><td><code>{}</code></td></tr></table>",
        xml(&run.pipeline),
        xml(&run.run_id),
        xml(&run.status),
        if run.unsafe_run {
            "<b class=\"bad\">yes</b>"
        } else {
            "no"
        },
        xml(&run.started),
        human_ms(run.duration_ms),
        run.steps.len(),
        crate::total(&run.events),
        if violations.is_empty() {
            ""
        } else {
            " class=\"bad\""
        },
        crate::total(violations.iter().copied()),
        xml(&run.events_head),
    );
    for step in run.steps.iter().filter(|s| s.events_not_written > 0) {
        let _ = write!(
            h,
            "<p class=\"bad\">Step <code>{}</code> reached the audit limit: {} of its events were counted but not written to <code>events.jsonl</code> and <code>violations.jsonl</code> (the counts in this report include them).</p>",
            xml(&step.id),
            step.events_not_written
        );
    }
    counts_table(&mut h, run);
    violations_table(&mut h, run, &violations);
    let _ = write!(
        h,
        "<h2>Resources</h2><div class=\"svg\">{}</div><h2>Interactions</h2><div class=\"svg\">{}</div><h2>Steps</h2>",
        heatmap_svg(run),
        interactions_svg(run)
    );
    for step in &run.steps {
        step_section(&mut h, step, &run.events);
    }
    let _ = writeln!(h, "<script>{SCRIPT}</script></body></html>");
    h
}

/// Capability × decision counts.
fn counts_table(h: &mut String, run: &RunReport) {
    let mut counts: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut decisions: Vec<&str> = DECISIONS.to_vec();
    for e in &run.events {
        *counts
            .entry(&e.capability)
            .or_default()
            .entry(&e.decision)
            .or_default() += e.count();
        if !decisions.contains(&e.decision.as_str()) {
            decisions.push(&e.decision);
        }
    }
    h.push_str("<h2>Capability uses by decision</h2><table><tr><th>capability</th>");
    for d in &decisions {
        let _ = write!(h, "<th>{}</th>", xml(d));
    }
    h.push_str("</tr>");
    for (cap, row) in &counts {
        let _ = write!(h, "<tr><td>{}</td>", xml(cap));
        for d in &decisions {
            let n = row.get(d).copied().unwrap_or(0);
            let class = if n > 0 && *d != "allowed" {
                "n bad"
            } else {
                "n"
            };
            let _ = write!(h, "<td class=\"{class}\">{n}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// The violations table and its (initially hidden, JS-enabled) filter form.
fn violations_table(h: &mut String, run: &RunReport, violations: &[&EventRecord]) {
    let _ = write!(
        h,
        "<h2>Violations ({})</h2>",
        crate::total(violations.iter().copied())
    );
    let options = |values: BTreeSet<&str>| -> String {
        values
            .into_iter()
            .map(|v| format!("<option value=\"{0}\">{0}</option>", xml(v)))
            .collect()
    };
    let steps: BTreeSet<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
    let caps: BTreeSet<&str> = violations.iter().map(|e| e.capability.as_str()).collect();
    let decs: BTreeSet<&str> = violations.iter().map(|e| e.decision.as_str()).collect();
    let _ = write!(
        h,
        "<form id=\"filters\" hidden><label>step <select name=\"step\"><option value=\"\">all</option>{}</select></label>\
<label>capability <select name=\"cap\"><option value=\"\">all</option>{}</select></label>\
<label>decision <select name=\"dec\"><option value=\"\">all</option>{}</select></label>\
<label>text <input name=\"q\" type=\"search\"></label><span id=\"shown\"></span></form>",
        options(steps),
        options(caps),
        options(decs)
    );
    h.push_str(
        "<table id=\"violations\"><thead><tr><th>time</th><th>step</th><th>plugin</th>\
<th>capability</th><th>target</th><th>decision</th><th>reason</th></tr></thead><tbody>",
    );
    for e in violations {
        let _ = write!(
            h,
            "<tr data-step=\"{step}\" data-cap=\"{cap}\" data-dec=\"{dec}\"><td>{}</td><td>{step}</td><td>{}</td>\
<td>{cap}</td><td><code>{}</code>{}</td><td class=\"bad\">{dec}</td><td>{}</td></tr>",
            xml(&e.time),
            xml(&e.plugin),
            xml(&e.target),
            if e.repeats > 0 {
                format!(" ×{} (first at this time)", e.count())
            } else {
                String::new()
            },
            xml(&e.reason),
            step = xml(&e.step),
            cap = xml(&e.capability),
            dec = xml(&e.decision),
        );
    }
    h.push_str("</tbody></table>");
}

/// A step's grant beside what it used, its least-privilege gap, and its error.
fn step_section(h: &mut String, step: &StepReport, events: &[EventRecord]) {
    let mine: Vec<&EventRecord> = events.iter().filter(|e| e.step == step.id).collect();
    let n_viol = crate::total(mine.iter().copied().filter(|e| e.is_violation()));
    let open = if n_viol > 0 || step.error.is_some() {
        " open"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<details{open}><summary><b>{}</b> ({}, {} tier): {}, {}, peak {} of {}, cpu {}, {} violations</summary>",
        xml(&step.id),
        xml(&step.plugin),
        xml(&step.tier),
        xml(&step.status),
        human_ms(step.duration_ms),
        human_bytes(step.peak_memory_bytes),
        human_bytes(step.grant.memory_bytes),
        human_ms(step.cpu_ms),
        n_viol,
    );
    if let Some(err) = &step.error {
        let _ = write!(h, "<pre>{}</pre>", xml(err));
    }
    let gap = least_privilege_gap(step, events);
    let g = &step.grant;
    let rows: [(&str, &str, &[String], &[String]); 6] = [
        (
            "filesystem.read",
            "filesystem.read",
            &g.filesystem_read,
            &gap.filesystem_read,
        ),
        (
            "filesystem.write",
            "filesystem.write",
            &g.filesystem_write,
            &gap.filesystem_write,
        ),
        ("network.domains", "network", &g.domains, &gap.domains),
        ("network.listen", "", &g.listen, &gap.listen),
        ("env", "env", &g.env, &gap.env),
        ("process.commands", "process", &g.commands, &gap.commands),
    ];
    h.push_str("<table><tr><th>permission</th><th>granted</th><th>used (allowed)</th><th>never used: least-privilege gap</th></tr>");
    let list = |items: &mut dyn Iterator<Item = &str>| -> String {
        let v: Vec<String> = items.map(|s| format!("<code>{}</code>", xml(s))).collect();
        if v.is_empty() {
            "–".to_string()
        } else {
            v.join(" ")
        }
    };
    for (field, cap, granted, unused) in rows {
        let used: BTreeSet<&str> = mine
            .iter()
            .filter(|e| !cap.is_empty() && e.capability == cap && e.decision == "allowed")
            .map(|e| e.target.as_str())
            .collect();
        let _ = write!(
            h,
            "<tr><td>{field}</td><td>{}</td><td>{}</td><td class=\"gap\">{}</td></tr>",
            list(&mut granted.iter().map(String::as_str)),
            list(&mut used.into_iter()),
            list(&mut unused.iter().map(String::as_str)),
        );
    }
    let _ = write!(
        h,
        "<tr><td>process.network</td><td>{}</td><td colspan=\"2\"></td></tr>\
<tr><td>limits</td><td>memory {}, timeout {}</td><td colspan=\"2\">peak {}, ran {}</td></tr></table></details>",
        g.process_network,
        human_bytes(g.memory_bytes),
        human_ms(g.timeout_ms),
        human_bytes(step.peak_memory_bytes),
        human_ms(step.duration_ms),
    );
}
