//! Findings people can read (issue 24): the findings of one cause in one file are one
//! [`Group`] with a repeat count and the other places, ordered so that what matters comes
//! first, and optionally capped. Every output format (`human`, `json`, `sarif`) renders the
//! same groups.

use std::collections::HashMap;
use std::path::PathBuf;

use aether::manifest::Loc;

use aether::workspace::{Finding, Level};

/// The most other places a group lists (its count is always the full count). 20 keeps one
/// group of a minified bundle readable; a reviewer needing every place fixes the first ones
/// and checks again.
pub const MAX_RELATED: usize = 20;

/// One cause (rule, level, message, capability, target) in one file, found `count` times.
#[derive(Debug)]
pub struct Group<'a> {
    /// The first occurrence, in source order.
    pub finding: &'a Finding,
    /// How many times the cause occurs in the file (at least 1).
    pub count: usize,
    /// The other places, in source order, at most [`MAX_RELATED`].
    pub related: Vec<Loc>,
}

type Key<'a> = (
    Option<&'a PathBuf>,
    &'static str,
    Level,
    &'a str,
    Option<aether::policy::Capability>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Groups `findings`: errors first, then the files in the order they first appear, then
/// source order. Findings without a location are never merged with others' locations.
pub fn group(findings: &[Finding]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    for f in findings {
        let key: Key<'_> = (
            f.file.as_ref(),
            f.rule,
            f.level,
            f.message.as_str(),
            f.capability,
            f.target.as_deref(),
            f.plugin.as_deref(),
        );
        match index.get(&key) {
            Some(&i) if f.loc.is_some() => {
                let g = &mut groups[i];
                g.count += 1;
                if g.related.len() < MAX_RELATED
                    && let Some(loc) = f.loc
                {
                    g.related.push(loc);
                }
            }
            _ => {
                index.insert(key, groups.len());
                groups.push(Group {
                    finding: f,
                    count: 1,
                    related: Vec::new(),
                });
            }
        }
    }
    // Files in order of first appearance; errors first, within them and overall.
    let mut file_order: HashMap<Option<&PathBuf>, usize> = HashMap::new();
    for g in &groups {
        let next = file_order.len();
        file_order.entry(g.finding.file.as_ref()).or_insert(next);
    }
    groups.sort_by_key(|g| {
        (
            g.finding.level != Level::Error,
            file_order
                .get(&g.finding.file.as_ref())
                .copied()
                .unwrap_or(usize::MAX),
        )
    });
    groups
}

/// `groups` cut to at most `max` (all when `None`), and what was left out: groups and
/// occurrences.
pub fn cap(mut groups: Vec<Group<'_>>, max: Option<usize>) -> (Vec<Group<'_>>, Omitted) {
    let mut omitted = Omitted::default();
    if let Some(max) = max
        && groups.len() > max
    {
        for g in groups.drain(max..) {
            omitted.findings += 1;
            omitted.occurrences += g.count;
        }
    }
    (groups, omitted)
}

/// What `--max-findings` left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Omitted {
    /// Grouped findings not shown.
    pub findings: usize,
    /// Their occurrences.
    pub occurrences: usize,
}

impl Omitted {
    /// The summary line, if anything was left out.
    pub fn summary(self) -> Option<String> {
        (self.findings > 0).then(|| {
            format!(
                "{} more finding{} ({} occurrence{}) not shown; raise or drop `--max-findings` to see them",
                self.findings,
                if self.findings == 1 { "" } else { "s" },
                self.occurrences,
                if self.occurrences == 1 { "" } else { "s" },
            )
        })
    }
}
