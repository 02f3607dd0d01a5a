//! The seal of an audit trail (issue 15): `summary.json` and `violations.jsonl` are covered by
//! the chain of `events.jsonl`, not only its records.
//!
//! When a run ends, aether appends one last chained record to `events.jsonl`, the **seal**: it
//! has SPEC §8's fields (`step` and `plugin` empty, `capability` [`SEAL_CAPABILITY`], `target`
//! `summary.json`, `decision` `allowed`), and `seal`:
//! `{"summary_sha256", "violations_sha256", "violations"}`, and `prev` like every record.
//! `summary_sha256` is the SHA-256 of `summary.json`'s fields other than `events_head` and
//! `seal`, in canonical JSON ([`summary_digest`]); `violations_sha256` the SHA-256 of
//! `violations.jsonl` as written, and `violations` its number of lines. `summary.json` then gets
//! `events_head` (the digest of the seal's line, as SPEC §8 defines it: the last line) and a copy
//! of the seal. Editing a field of the summary, a line of `violations.jsonl` or the seal itself
//! therefore breaks the chain or no longer matches what it sealed, and [`verify_trail`] says
//! which file is at fault and where.
//!
//! Like the chain, the seal has no secret: whoever rewrites the whole trail consistently (every
//! record's `prev`, the seal, `events_head`) forges it. It is tamper-evident, not tamper-proof.
//! What it adds is that `events_head` alone now commits to everything the trail says, so that
//! shipping that one value somewhere append-only protects all of it.
//!
//! This module computes and compares; the CLI reads and writes the files.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chain::{self, ChainBreak, PREV_FIELD};
use crate::digest::sha256_hex;

/// The field of the seal record (the last of `events.jsonl`) and of `summary.json` that holds
/// the [`Seal`].
pub const SEAL_FIELD: &str = "seal";

/// The `capability` of the seal record: not a capability a plugin can use, but a record aether
/// makes about its own trail, so that every record of `events.jsonl` has SPEC §8's fields.
pub const SEAL_CAPABILITY: &str = "audit.seal";

/// The field of `summary.json` that anchors the chain (SPEC §8).
pub const HEAD_FIELD: &str = "events_head";

/// What the last record of `events.jsonl` seals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// SHA-256 hex of `summary.json`'s fields other than `events_head` and `seal`, in
    /// canonical JSON ([`summary_digest`]).
    pub summary_sha256: String,
    /// SHA-256 hex of `violations.jsonl`, byte for byte.
    pub violations_sha256: String,
    /// How many lines `violations.jsonl` holds.
    pub violations: u64,
}

/// The digest of a summary's fields other than `events_head` and `seal` (those two are made
/// from the seal, after it): SHA-256 of the summary as canonical JSON, every object's keys in
/// byte order, no whitespace, strings and numbers as `serde_json` writes them. The same summary
/// parsed back and digested again gives the same digest, whatever the file's layout.
pub fn summary_digest(summary: &Value) -> String {
    let mut fields = summary.clone();
    if let Some(object) = fields.as_object_mut() {
        object.remove(HEAD_FIELD);
        object.remove(SEAL_FIELD);
    }
    let mut text = String::new();
    canonical(&fields, &mut text);
    sha256_hex(text.as_bytes())
}

/// `value` as canonical JSON (see [`summary_digest`]).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The SHA-256 and line count of `violations.jsonl`, computed as its lines are written.
#[derive(Default, Clone)]
pub struct ViolationsDigest {
    hasher: Sha256,
    lines: u64,
}

impl ViolationsDigest {
    /// Counts one line written to the file (`line` with its newline).
    pub fn update(&mut self, line: &[u8]) {
        self.hasher.update(line);
        self.lines += 1;
    }

    /// The [`Seal`] of a run whose summary digests to `summary_sha256` and whose
    /// `violations.jsonl` holds what was counted.
    pub fn seal(&self, summary_sha256: String) -> Seal {
        Seal {
            summary_sha256,
            violations_sha256: hex(&self.hasher.clone().finalize()),
            violations: self.lines,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One of the trail's files, as an error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailFile {
    /// `events.jsonl`.
    Events,
    /// `violations.jsonl`.
    Violations,
    /// `summary.json`.
    Summary,
}

impl TrailFile {
    /// The file's name in the report directory.
    pub fn name(self) -> &'static str {
        match self {
            TrailFile::Events => "events.jsonl",
            TrailFile::Violations => "violations.jsonl",
            TrailFile::Summary => "summary.json",
        }
    }
}

/// How a line of `violations.jsonl` differs from the violations the chain recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange {
    /// The chain has a violation here that the file lacks.
    Removed,
    /// The file's line is not the violation the chain has here.
    Edited,
    /// The file has a line past the chain's last violation.
    Added,
}

/// Why a trail is not intact, or cannot be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailError {
    /// The chain of `events.jsonl` is broken (a record removed, edited, inserted, moved, cut
    /// off, or added after the anchor).
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    /// `summary.json` has no string `run_id`.
    #[error("`summary.json` has no `run_id`, so the records cannot be matched to the run")]
    NoRunId,
    /// A record belongs to another run than the summary's.
    #[error(
        "the record's `run_id` is {}, the summary's is `{expected}`: records of another run were mixed in, or the summary's `run_id` was edited",
        shown(found)
    )]
    RunId {
        /// The file holding the record.
        file: TrailFile,
        /// 1-based line number.
        line: usize,
        /// The record's `run_id` (empty when it has none).
        found: String,
        /// The summary's.
        expected: String,
    },
    /// Neither `summary.json` nor `events.jsonl` holds a seal: a trail written before aether
    /// sealed its summary (issue 15). Its chain is intact, but the summary and
    /// `violations.jsonl` cannot be verified.
    #[error(
        "the trail has no seal (it was written by an aether older than the seal): the chain of `events.jsonl` is intact ({records} records), but `summary.json` and `violations.jsonl` cannot be verified"
    )]
    Unsealed {
        /// How many records the chain holds.
        records: usize,
    },
    /// `summary.json` holds a seal but the last record of `events.jsonl` is not one (it was
    /// removed, and `events_head` moved to the record before).
    #[error(
        "`summary.json` has a seal but the last record is not the seal: it was removed and `events_head` rewritten"
    )]
    SealMissing {
        /// The last line of `events.jsonl` (0 when it is empty).
        line: usize,
    },
    /// A seal record that is not the last record (records were added after it and
    /// `events_head` rewritten), or one that is not a valid seal.
    #[error("record {line} is a seal that is not the last record, or not a valid seal")]
    SealMisplaced {
        /// 1-based line number of the seal.
        line: usize,
    },
    /// `summary.json`'s `seal` is missing or is not the one the chain holds.
    #[error("`summary.json`'s `seal` is not the one sealed in `events.jsonl` record {line}")]
    SummarySeal {
        /// 1-based line number of the seal record.
        line: usize,
    },
    /// `summary.json`'s fields no longer hash to the digest sealed in the chain.
    #[error("`summary.json` was edited after the run: its fields no longer hash to the digest sealed in `events.jsonl` record {line}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    SummaryEdited {
        /// 1-based line number of the seal record.
        line: usize,
        /// What the records contradict, when that can be told (a step's violation count,
        /// `unsafe`).
        detail: Option<String>,
    },
    /// `violations.jsonl` does not exist, though the trail is sealed.
    #[error("`violations.jsonl` is missing")]
    ViolationsMissing,
    /// A line of `violations.jsonl` is not the violation the chain recorded there.
    #[error("{}", violation_change(*change, *line))]
    Violations {
        /// 1-based line number in `violations.jsonl`.
        line: usize,
        /// How it differs.
        change: LineChange,
    },
    /// `violations.jsonl` is not what was sealed (its lines match the chain's violations but
    /// its bytes do not: line endings, a missing final newline).
    #[error(
        "`violations.jsonl` does not hash to the digest sealed in `events.jsonl` record {line}"
    )]
    ViolationsDigest {
        /// 1-based line number of the seal record.
        line: usize,
    },
}

/// A value the tamperer wrote, as a message shows it (at most 64 characters, escaped).
fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .collect();
    if text.chars().nth(64).is_some() {
        out.push('…');
    }
    format!("`{out}`")
}

fn violation_change(change: LineChange, line: usize) -> String {
    match change {
        LineChange::Removed => format!(
            "line {line} of `violations.jsonl` was removed: `events.jsonl` records a violation there"
        ),
        LineChange::Edited => format!(
            "line {line} of `violations.jsonl` is not the violation `events.jsonl` records there: it was edited"
        ),
        LineChange::Added => format!(
            "line {line} of `violations.jsonl` was added: `events.jsonl` records no violation there"
        ),
    }
}

impl TrailError {
    /// The file at fault, and the 1-based line in it where it can be named.
    pub fn location(&self) -> (TrailFile, Option<usize>) {
        match self {
            TrailError::Chain(c) => (TrailFile::Events, Some(c.line())),
            TrailError::RunId { file, line, .. } => (*file, Some(*line)),
            TrailError::NoRunId
            | TrailError::SummarySeal { .. }
            | TrailError::SummaryEdited { .. }
            | TrailError::Unsealed { .. } => (TrailFile::Summary, None),
            TrailError::SealMissing { line } | TrailError::SealMisplaced { line } => {
                (TrailFile::Events, Some(*line))
            }
            TrailError::ViolationsMissing | TrailError::ViolationsDigest { .. } => {
                (TrailFile::Violations, None)
            }
            TrailError::Violations { line, .. } => (TrailFile::Violations, Some(*line)),
        }
    }

    /// Whether the trail was tampered with (`false`: it cannot be verified, as a trail
    /// written before the seal).
    pub fn is_tampering(&self) -> bool {
        !matches!(self, TrailError::Unsealed { .. })
    }
}

/// What an intact trail holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Records in `events.jsonl`, the seal included.
    pub records: usize,
    /// Lines in `violations.jsonl`.
    pub violations: usize,
}

/// Verifies a whole trail: the chain of `events` against `head` (`events_head`), every
/// record's `run_id` against the summary's, the seal (the last record) against `summary` and
/// `violations` (`None`: the file does not exist), and `violations.jsonl` line by line against
/// the violations the chain recorded. Returns the first thing wrong.
pub fn verify_trail(
    events: &[u8],
    head: &str,
    summary: &Value,
    violations: Option<&[u8]>,
) -> Result<Verified, TrailError> {
    let records = chain::verify(events, head)?;
    let run_id = summary
        .get("run_id")
        .and_then(Value::as_str)
        .ok_or(TrailError::NoRunId)?;
    // The chain verified: every line is a JSON object ending in `\n`. Records are parsed one
    // at a time (twice at most) rather than held: a trail can have millions.
    let parsed = || {
        events
            .split(|&b| b == b'\n')
            .take(records)
            .map(|line| serde_json::from_slice::<Value>(line).unwrap_or(Value::Null))
            .enumerate()
            .map(|(i, record)| (i + 1, record))
    };
    let mut sealed = None;
    for (line, record) in parsed() {
        check_run_id(&record, run_id, TrailFile::Events, line)?;
        if let Some(seal) = record.get(SEAL_FIELD) {
            let seal = serde_json::from_value::<Seal>(seal.clone())
                .ok()
                .filter(|_| line == records)
                .ok_or(TrailError::SealMisplaced { line })?;
            sealed = Some((line, seal));
        }
    }
    let summary_seal = summary.get(SEAL_FIELD);
    let (line, seal) = match (sealed, summary_seal) {
        (None, None) => return Err(TrailError::Unsealed { records }),
        (None, Some(_)) => return Err(TrailError::SealMissing { line: records }),
        (Some(sealed), _) => sealed,
    };
    let summary_seal = summary_seal.and_then(|s| serde_json::from_value::<Seal>(s.clone()).ok());
    if summary_seal.as_ref() != Some(&seal) {
        return Err(TrailError::SummarySeal { line });
    }
    if summary_digest(summary) != seal.summary_sha256 {
        return Err(TrailError::SummaryEdited {
            line,
            detail: contradiction(summary, parsed().map(|(_, r)| r).take(line - 1)),
        });
    }
    let violations = violations.ok_or(TrailError::ViolationsMissing)?;
    // What `violations.jsonl` must hold: each record that is not `allowed`, without `prev`.
    let mut expected = parsed()
        .take(line - 1)
        .map(|(_, r)| r)
        .filter(|r| r.get("decision").and_then(Value::as_str) != Some("allowed"))
        .map(|mut r| {
            if let Some(object) = r.as_object_mut() {
                object.remove(PREV_FIELD);
            }
            r.to_string()
        })
        .peekable();
    let found: Vec<&[u8]> = violations
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut i = 0;
    while let Some(want) = expected.next() {
        let Some(got) = found.get(i) else {
            return Err(TrailError::Violations {
                line: i + 1,
                change: LineChange::Removed,
            });
        };
        if *got != want.as_bytes() {
            if let Ok(got) = serde_json::from_slice::<Value>(got) {
                check_run_id(&got, run_id, TrailFile::Violations, i + 1)?;
            }
            // A line that is the chain's next violation means this one was removed.
            let change = if expected.peek().map(String::as_bytes) == Some(*got) {
                LineChange::Removed
            } else {
                LineChange::Edited
            };
            return Err(TrailError::Violations {
                line: i + 1,
                change,
            });
        }
        i += 1;
    }
    if found.len() > i {
        return Err(TrailError::Violations {
            line: i + 1,
            change: LineChange::Added,
        });
    }
    if sha256_hex(violations) != seal.violations_sha256 || found.len() as u64 != seal.violations {
        return Err(TrailError::ViolationsDigest { line });
    }
    Ok(Verified {
        records,
        violations: found.len(),
    })
}

fn check_run_id(
    record: &Value,
    run_id: &str,
    file: TrailFile,
    line: usize,
) -> Result<(), TrailError> {
    let found = record.get("run_id").and_then(Value::as_str).unwrap_or("");
    if found == run_id {
        return Ok(());
    }
    Err(TrailError::RunId {
        file,
        line,
        found: found.to_owned(),
        expected: run_id.to_owned(),
    })
}

/// The first summary field that the chained `records` contradict: a step's violation count,
/// or `unsafe` false with `allowed-unsafe` records. Only a diagnosis: the digest decides.
fn contradiction(summary: &Value, records: impl Iterator<Item = Value>) -> Option<String> {
    let mut unsafe_used = false;
    let mut recorded: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for r in records {
        match r.get("decision").and_then(Value::as_str) {
            Some("allowed") => continue,
            Some("allowed-unsafe") => unsafe_used = true,
            _ => {}
        }
        let step = r.get("step").and_then(Value::as_str).unwrap_or("");
        *recorded.entry(step.to_owned()).or_default() += 1;
    }
    if unsafe_used && summary.get("unsafe") != Some(&Value::Bool(true)) {
        return Some("`unsafe` is not true, but records are `allowed-unsafe`".to_owned());
    }
    for step in summary.get("steps")?.as_array()? {
        let id = step.get("id")?.as_str()?;
        let claimed = step.get("violations")?.as_u64()?;
        let recorded = recorded.get(id).copied().unwrap_or(0);
        if claimed != recorded {
            return Some(format!(
                "step {} claims {claimed} violations, `events.jsonl` records {recorded}",
                shown(id)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{GENESIS, line_digest};
    use serde_json::json;

    /// An edit of a summary's fields.
    type Edit = fn(&mut Value);

    /// A sealed trail as `aether run --inspect-security` writes it: events (those of
    /// `decisions`, step `s`), their violations, the seal, and the summary.
    struct Trail {
        events: Vec<String>,
        violations: Vec<String>,
        summary: Value,
    }

    impl Trail {
        fn new(decisions: &[&str]) -> Trail {
            let mut events = Vec::new();
            let mut violations = Vec::new();
            let mut digest = ViolationsDigest::default();
            let mut head = GENESIS.to_owned();
            for (i, decision) in decisions.iter().enumerate() {
                let mut record = json!({
                    "time": "2026-01-01T00:00:00Z", "run_id": "r1", "step": "s", "plugin": "p",
                    "capability": "env", "target": format!("V{i}"), "decision": decision,
                    "reason": "",
                });
                if *decision != "allowed" {
                    let line = record.to_string();
                    digest.update(format!("{line}\n").as_bytes());
                    violations.push(line);
                }
                record[PREV_FIELD] = json!(head);
                let line = record.to_string();
                head = line_digest(line.as_bytes());
                events.push(line);
            }
            let count = violations.len();
            let mut summary = json!({
                "run_id": "r1", "pipeline": "t", "unsafe": false,
                "steps": [{ "id": "s", "plugin": "p", "status": "succeeded", "duration_ms": 3,
                            "peak_memory_bytes": 10, "cpu_ms": 1, "violations": count }],
            });
            let seal = digest.seal(summary_digest(&summary));
            let record = json!({
                "time": "2026-01-01T00:00:01Z", "run_id": "r1", "step": "", "plugin": "",
                "capability": SEAL_CAPABILITY, "target": "summary.json", "decision": "allowed",
                "reason": "", SEAL_FIELD: seal, PREV_FIELD: head,
            });
            let line = record.to_string();
            summary[HEAD_FIELD] = json!(line_digest(line.as_bytes()));
            summary[SEAL_FIELD] = serde_json::to_value(&seal).unwrap();
            events.push(line);
            Trail {
                events,
                violations,
                summary,
            }
        }

        fn verify(&self) -> Result<Verified, TrailError> {
            let join = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
            let head = self.summary[HEAD_FIELD].as_str().unwrap_or("").to_owned();
            verify_trail(
                join(&self.events).as_bytes(),
                &head,
                &self.summary,
                Some(join(&self.violations).as_bytes()),
            )
        }
    }

    #[test]
    fn an_untouched_trail_verifies() {
        for decisions in [
            &[][..],
            &["allowed"],
            &["allowed", "denied", "killed", "allowed"],
        ] {
            let trail = Trail::new(decisions);
            let verified = trail.verify().unwrap();
            assert_eq!(verified.records, decisions.len() + 1);
            assert_eq!(verified.violations, trail.violations.len());
        }
    }

    #[test]
    fn the_digest_ignores_layout_and_the_anchor_but_not_a_value() {
        let trail = Trail::new(&["denied"]);
        let pretty = serde_json::to_string_pretty(&trail.summary).unwrap();
        let reparsed: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(summary_digest(&reparsed), summary_digest(&trail.summary));
        let mut other = trail.summary.clone();
        other[HEAD_FIELD] = json!("x");
        assert_eq!(summary_digest(&other), summary_digest(&trail.summary));
        other["steps"][0]["cpu_ms"] = json!(2);
        assert_ne!(summary_digest(&other), summary_digest(&trail.summary));
    }

    /// Every field of the summary that SPEC §8 names, edited alone, fails verification as an
    /// edited summary (issue 15: `unsafe`, violation counts, status and `pipeline` could be
    /// edited undetected; `run_id` was never compared with the records').
    // See: issue 15, "What is wrong" 10.
    #[test]
    fn issue_15_an_edited_summary_field_is_tampering() {
        let trail = Trail::new(&["allowed", "denied", "denied"]);
        let edits: [(&str, Edit); 7] = [
            ("unsafe", |s| s["unsafe"] = json!(true)),
            ("pipeline", |s| s["pipeline"] = json!("other")),
            ("status", |s| s["steps"][0]["status"] = json!("failed")),
            ("violations", |s| s["steps"][0]["violations"] = json!(0)),
            ("peak memory", |s| {
                s["steps"][0]["peak_memory_bytes"] = json!(1)
            }),
            ("a step removed", |s| s["steps"] = json!([])),
            ("a field added", |s| s["note"] = json!("fine")),
        ];
        for (what, edit) in edits {
            let mut edited = Trail::new(&["allowed", "denied", "denied"]);
            edit(&mut edited.summary);
            let err = edited.verify().unwrap_err();
            assert!(
                matches!(err, TrailError::SummaryEdited { line: 4, .. }),
                "{what}: {err:?}"
            );
            assert_eq!(err.location(), (TrailFile::Summary, None), "{what}");
            assert!(err.is_tampering());
        }
        // The records tell which count was edited.
        let mut edited = Trail::new(&["allowed", "denied", "denied"]);
        edited.summary["steps"][0]["violations"] = json!(0);
        let Err(TrailError::SummaryEdited { detail, .. }) = edited.verify() else {
            panic!("not detected");
        };
        assert!(detail.unwrap_or_default().contains("records 2"));
        // The summary's run_id: the records belong to another run.
        let mut edited = Trail::new(&["allowed"]);
        edited.summary["run_id"] = json!("r2");
        assert!(matches!(
            edited.verify(),
            Err(TrailError::RunId {
                file: TrailFile::Events,
                line: 1,
                ..
            })
        ));
        // The summary's copy of the seal edited, or removed.
        let mut edited = Trail::new(&["denied"]);
        edited.summary[SEAL_FIELD]["violations"] = json!(0);
        assert_eq!(edited.verify(), Err(TrailError::SummarySeal { line: 2 }));
        let mut edited = Trail::new(&["denied"]);
        edited.summary.as_object_mut().unwrap().remove(SEAL_FIELD);
        assert_eq!(edited.verify(), Err(TrailError::SummarySeal { line: 2 }));
        assert_eq!(trail.verify().map(|v| v.records), Ok(4));
    }

    /// `violations.jsonl` emptied, a line removed, edited or added: each is named by line.
    // See: issue 15, "What is wrong" 10.
    #[test]
    fn issue_15_an_edited_violations_file_is_tampering() {
        let decisions = ["denied", "allowed", "virtualized", "killed"];
        let check = |edit: fn(&mut Vec<String>), line: usize, change: LineChange| {
            let mut trail = Trail::new(&decisions);
            edit(&mut trail.violations);
            let err = trail.verify().unwrap_err();
            assert_eq!(err, TrailError::Violations { line, change });
            assert_eq!(err.location(), (TrailFile::Violations, Some(line)));
        };
        check(Vec::clear, 1, LineChange::Removed);
        check(|v| drop(v.remove(1)), 2, LineChange::Removed);
        check(|v| drop(v.pop()), 3, LineChange::Removed);
        check(
            |v| v[0] = v[0].replace("denied", "allowed-unsafe"),
            1,
            LineChange::Edited,
        );
        check(|v| v.push(v[0].clone()), 4, LineChange::Added);
        // Bytes that do not change the lines (a final newline removed) still break the seal.
        let trail = Trail::new(&decisions);
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let events = join(&trail.events);
        let violations = join(&trail.violations);
        let head = trail.summary[HEAD_FIELD].as_str().unwrap();
        assert_eq!(
            verify_trail(
                events.as_bytes(),
                head,
                &trail.summary,
                Some(violations.trim_end().as_bytes())
            ),
            Err(TrailError::ViolationsDigest { line: 5 })
        );
        assert_eq!(
            verify_trail(events.as_bytes(), head, &trail.summary, None),
            Err(TrailError::ViolationsMissing)
        );
        // A violation's run_id rewritten is named as such.
        let mut trail = Trail::new(&decisions);
        trail.violations[1] = trail.violations[1].replace("\"r1\"", "\"r9\"");
        assert!(matches!(
            trail.verify(),
            Err(TrailError::RunId {
                file: TrailFile::Violations,
                line: 2,
                ..
            })
        ));
    }

    #[test]
    fn the_seal_must_be_last_and_present() {
        // The seal removed and the head moved to the record before: a regenerated anchor, but
        // the summary still says it was sealed.
        let mut trail = Trail::new(&["denied"]);
        trail.events.pop();
        trail.summary[HEAD_FIELD] = json!(line_digest(trail.events[0].as_bytes()));
        assert_eq!(trail.verify(), Err(TrailError::SealMissing { line: 1 }));
        // A record chained after the seal, the head moved to it.
        let mut trail = Trail::new(&["denied"]);
        let mut extra: Value = serde_json::from_str(&trail.events[0]).unwrap();
        extra[PREV_FIELD] = json!(line_digest(trail.events[1].as_bytes()));
        let extra = extra.to_string();
        trail.summary[HEAD_FIELD] = json!(line_digest(extra.as_bytes()));
        trail.events.push(extra);
        assert_eq!(trail.verify(), Err(TrailError::SealMisplaced { line: 2 }));
        // A record of another run mixed into the chain.
        let mut trail = Trail::new(&["allowed", "allowed"]);
        let mut head = GENESIS.to_owned();
        for (i, line) in trail.events.iter_mut().enumerate() {
            let mut record: Value = serde_json::from_str(line).unwrap();
            if i == 1 {
                record["run_id"] = json!("r2");
            }
            record[PREV_FIELD] = json!(head);
            *line = record.to_string();
            head = line_digest(line.as_bytes());
        }
        trail.summary[HEAD_FIELD] = json!(head);
        assert!(matches!(
            trail.verify(),
            Err(TrailError::RunId { file: TrailFile::Events, line: 2, ref found, .. }) if found == "r2"
        ));
    }

    /// A trail written before the seal: its chain is checked (a break is still tampering),
    /// then it is called unverifiable, not intact.
    #[test]
    fn an_unsealed_trail_is_named_as_such() {
        let mut trail = Trail::new(&["denied", "allowed"]);
        trail.events.pop();
        trail.summary[HEAD_FIELD] = json!(line_digest(trail.events[1].as_bytes()));
        trail.summary.as_object_mut().unwrap().remove(SEAL_FIELD);
        let err = trail.verify().unwrap_err();
        assert_eq!(err, TrailError::Unsealed { records: 2 });
        assert!(!err.is_tampering());
        trail.events.remove(0);
        assert!(matches!(trail.verify(), Err(TrailError::Chain(_))));
    }
}
