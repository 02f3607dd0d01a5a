//! The short security summary printed on stderr at the end of an inspected run.

use std::collections::BTreeMap;

use crate::{RunReport, escape_untrusted};

/// How many offending steps the summary names.
const TOP_OFFENDERS: usize = 3;

/// The stderr summary (SPEC §8): the violation count by capability and decision, the steps
/// with the most violations (top 3), and the report's path. Untrusted text is escaped so a step
/// id cannot move the cursor or reorder the line with bidi controls.
///
/// ```text
/// 3 violations: 2 filesystem.read denied, 1 limit.timeout killed
/// top offenders: fetch (2), build (1)
/// report: ./aether-security/report.html
/// ```
pub fn terminal_summary(run: &RunReport) -> String {
    let mut out = String::new();
    if run.unsafe_run {
        out.push_str("warning: unsafe run: containment was disabled\n");
    }
    let mut by_kind: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut by_step: Vec<(&str, u64)> = Vec::new();
    for e in run.events.iter().filter(|e| e.is_violation()) {
        *by_kind.entry((&e.capability, &e.decision)).or_default() += e.count();
        match by_step.iter_mut().find(|(s, _)| *s == e.step) {
            Some((_, n)) => *n += e.count(),
            None => by_step.push((&e.step, e.count())),
        }
    }
    let total: u64 = by_kind.values().sum();
    if total == 0 {
        out.push_str(&format!(
            "no violations ({} capability uses)\n",
            crate::total(&run.events)
        ));
    } else {
        let mut kinds: Vec<_> = by_kind.into_iter().collect();
        // Most frequent first; ties keep the alphabetical order of the map.
        kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
        let parts: Vec<String> = kinds
            .iter()
            .map(|((cap, dec), n)| {
                format!("{n} {} {}", escape_untrusted(cap), escape_untrusted(dec))
            })
            .collect();
        let noun = if total == 1 {
            "violation"
        } else {
            "violations"
        };
        out.push_str(&format!("{total} {noun}: {}\n", parts.join(", ")));
        // Stable sort: ties keep the order in which steps first offended.
        by_step.sort_by_key(|s| std::cmp::Reverse(s.1));
        let top: Vec<String> = by_step
            .iter()
            .take(TOP_OFFENDERS)
            .map(|(s, n)| format!("{} ({n})", escape_untrusted(s)))
            .collect();
        out.push_str(&format!("top offenders: {}\n", top.join(", ")));
    }
    let dir = run.report_dir.trim_end_matches('/');
    let path = if run.report_dir.is_empty() {
        "report.html".to_string()
    } else {
        format!("{dir}/report.html")
    };
    out.push_str(&format!("report: {}\n", escape_untrusted(&path)));
    out
}
