//! `--inspect-security` (SPEC §8, §9): the audit trail streamed to disk while the run goes, and
//! the report written when it ends.
//!
//! `events.jsonl` gets every capability use and `violations.jsonl` every violation, one line
//! each, written (one `write` per line, no buffering) as the broker records it: a crashed step
//! or a killed aether loses at most the record being written. Each `events.jsonl` record carries
//! `prev`, the SHA-256 of the previous line (64 zeros for the first), so that an edited, removed
//! or truncated record breaks the chain that `summary.json`'s `events_head` anchors
//! (`aether_integrity::chain` hashes, and `aether verify-log` checks, exactly this format).
//!
//! When the run ends, the last record of `events.jsonl` is its seal
//! (`aether_integrity::seal`): the digests of `summary.json`'s fields and of
//! `violations.jsonl`, so that `events_head` anchors them too. Nothing is appended after it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use aether_host::events::Event;
use aether_pipeline::StepRecord;
use aether_policy::Tier;
use aether_report::{EventRecord, GrantView, RunReport, StepReport};
use serde_json::Value;

use crate::runner::{Kept, Metrics};
use crate::workspace::{StepInfo, Workspace};
use aether_integrity::chain::{GENESIS, PREV_FIELD, line_digest};
use aether_integrity::seal::{
    HEAD_FIELD, SEAL_CAPABILITY, SEAL_FIELD, Seal, ViolationsDigest, summary_digest,
};

/// The streaming half of the report directory: `events.jsonl` and `violations.jsonl`.
pub struct AuditLog {
    dir: PathBuf,
    run_id: String,
    /// The most bytes one step's events may take in the two files (`--audit-limit`).
    step_limit: u64,
    state: Mutex<State>,
}

/// What one step caused to be written, and what it caused past its limit.
#[derive(Default)]
struct StepAudit {
    plugin: String,
    written: u64,
    /// Events counted, not written.
    omitted: u64,
    /// Of those, violations.
    omitted_violations: u64,
}

struct State {
    events: File,
    violations: File,
    /// SHA-256 hex of the last `events.jsonl` line written.
    head: String,
    /// Digest of the `violations.jsonl` lines written.
    violations_digest: ViolationsDigest,
    /// The seal is written: an event coming later (from a thread that outlived its step's
    /// bound) is dropped rather than break the chain after its seal.
    sealed: bool,
    /// The first write error, reported when the run ends.
    failed: Option<io::Error>,
    /// Per step id.
    steps: BTreeMap<String, StepAudit>,
}

impl AuditLog {
    /// Creates `dir` if needed and starts both files afresh. Each step's events take at most
    /// `step_limit` bytes in them; past it they are counted, and the counts are written as one
    /// `audit.omitted` record per such step when the run is sealed.
    pub fn create(dir: &Path, run_id: &str, step_limit: u64) -> io::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            run_id: run_id.to_owned(),
            step_limit,
            state: Mutex::new(State {
                events: File::create(dir.join("events.jsonl"))?,
                violations: File::create(dir.join("violations.jsonl"))?,
                head: GENESIS.to_owned(),
                violations_digest: ViolationsDigest::default(),
                sealed: false,
                failed: None,
                steps: BTreeMap::new(),
            }),
        })
    }

    /// The report directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `event` (and, if it is a violation, its `violations.jsonl` record).
    pub fn append(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.sealed {
            return;
        }
        let mut record =
            serde_json::to_value(event_record(&self.run_id, event)).unwrap_or(Value::Null);
        let violation = event.decision.is_violation().then(|| record.to_string());
        record[PREV_FIELD] = Value::String(state.head.clone());
        let line = record.to_string();
        let size = (line.len() + violation.as_ref().map_or(0, String::len) + 2) as u64;
        let step = state.steps.entry(event.step.clone()).or_default();
        if step.written.saturating_add(size) > self.step_limit {
            if step.omitted == 0 {
                step.plugin.clone_from(&event.plugin);
            }
            step.omitted += 1;
            step.omitted_violations += u64::from(violation.is_some());
            return;
        }
        step.written += size;
        let head = line_digest(line.as_bytes());
        let mut written = state.events.write_all(format!("{line}\n").as_bytes());
        if written.is_ok()
            && let Some(v) = violation
        {
            let v = format!("{v}\n");
            written = state.violations.write_all(v.as_bytes());
            if written.is_ok() {
                state.violations_digest.update(v.as_bytes());
            }
        }
        match written {
            Ok(()) => state.head = head,
            Err(e) => {
                state.failed.get_or_insert(e);
            }
        }
    }

    /// Appends the seal of a run whose summary digests to `summary_sha256` and returns the
    /// SHA-256 hex of its line (`summary.json`'s `events_head`) and the seal; or the first
    /// write error. Later events are dropped.
    pub fn seal(&self, summary_sha256: String) -> io::Result<(String, Seal)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = state.failed.take() {
            return Err(e);
        }
        self.write_omitted(&mut state)?;
        let seal = state.violations_digest.seal(summary_sha256);
        // SPEC §8's fields, so that a reader expecting them in every record finds them: an
        // allowed use of `audit.seal` by no step, on `summary.json`.
        let record = serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "run_id": self.run_id,
            "step": "",
            "plugin": "",
            "capability": SEAL_CAPABILITY,
            "target": "summary.json",
            "decision": "allowed",
            "reason": "",
            SEAL_FIELD: seal,
            PREV_FIELD: state.head,
        });
        let line = record.to_string();
        state.events.write_all(format!("{line}\n").as_bytes())?;
        state.sealed = true;
        state.head = line_digest(line.as_bytes());
        Ok((state.head.clone(), seal))
    }
}

impl AuditLog {
    /// Per step id, the events counted but not written (the step reached `--audit-limit`).
    pub fn omitted(&self) -> BTreeMap<String, u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .steps
            .iter()
            .filter(|(_, s)| s.omitted > 0)
            .map(|(id, s)| (id.clone(), s.omitted))
            .collect()
    }

    /// Writes one chained `audit.omitted` record per step whose events were counted, not
    /// written.
    fn write_omitted(&self, state: &mut State) -> io::Result<()> {
        let omitted: Vec<(String, String, u64, u64)> = state
            .steps
            .iter()
            .filter(|(_, s)| s.omitted > 0)
            .map(|(id, s)| {
                (
                    id.clone(),
                    s.plugin.clone(),
                    s.omitted,
                    s.omitted_violations,
                )
            })
            .collect();
        for (step, plugin, events, violations) in omitted {
            let record = serde_json::json!({
                "time": jiff::Timestamp::now().to_string(),
                "run_id": self.run_id,
                "step": step,
                "plugin": plugin,
                "capability": OMITTED_CAPABILITY,
                "target": step,
                "decision": "allowed",
                "reason": format!(
                    "{events} more events of this step ({violations} of them violations) were counted, not written: the step reached the audit limit of {} bytes (--audit-limit)",
                    self.step_limit
                ),
                "omitted": { "events": events, "violations": violations },
                PREV_FIELD: state.head,
            });
            let line = record.to_string();
            state.events.write_all(format!("{line}\n").as_bytes())?;
            state.head = line_digest(line.as_bytes());
        }
        Ok(())
    }
}

/// The capability of the record that counts a step's events past `--audit-limit`.
pub const OMITTED_CAPABILITY: &str = "audit.omitted";

/// What the end of a run hands the report.
pub struct RunData<'a> {
    /// The run's id.
    pub run_id: &'a str,
    /// The validated workspace.
    pub ws: &'a Workspace,
    /// The records of the steps that ran (or were decided), in pipeline order, with the index
    /// of each in the workspace's steps: every step for a full run, one for `run --step`.
    pub records: &'a [(usize, StepRecord<Metrics>)],
    /// The events the run kept ([`Kept`]: each distinct one once, with its repeats), in order.
    pub events: &'a [Kept],
    /// When the run started.
    pub started: jiff::Timestamp,
    /// `--unsafe`.
    pub unsafe_run: bool,
    /// Whether every step succeeded.
    pub ok: bool,
}

/// Writes `resources.json`, `summary.json`, `heatmap.svg`, `interactions.mmd`,
/// `interactions.svg` and `report.html` beside the streamed logs, and returns the terminal
/// summary.
pub fn write_report(audit: &AuditLog, run: &RunData<'_>) -> io::Result<String> {
    let omitted = audit.omitted();
    let mut report = RunReport {
        run_id: run.run_id.to_owned(),
        pipeline: run.ws.pipeline.name.clone(),
        unsafe_run: run.unsafe_run,
        started: run.started.to_string(),
        duration_ms: millis(
            jiff::Timestamp::now()
                .duration_since(run.started)
                .unsigned_abs(),
        ),
        status: if run.ok { "succeeded" } else { "failed" }.to_owned(),
        steps: run
            .records
            .iter()
            .map(|(index, record)| {
                step_report(run.ws, *index, &run.ws.steps[*index], record, &omitted)
            })
            .collect(),
        events: run
            .events
            .iter()
            .map(|k| EventRecord {
                repeats: k.repeats,
                targets_omitted: k.targets_omitted,
                ..event_record(run.run_id, &k.event)
            })
            .collect(),
        // Set once the summary is sealed: the head is the seal's digest.
        events_head: String::new(),
        report_dir: audit.dir().display().to_string(),
    };
    let mut summary = aether_report::summary_json(&report);
    let (events_head, seal) = audit.seal(summary_digest(&summary))?;
    if let Some(fields) = summary.as_object_mut() {
        fields.insert(HEAD_FIELD.to_owned(), Value::String(events_head.clone()));
        fields.insert(
            SEAL_FIELD.to_owned(),
            serde_json::to_value(seal).unwrap_or(Value::Null),
        );
    }
    report.events_head = events_head;
    let dir = audit.dir();
    let json = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    for (name, text) in [
        (
            "resources.json",
            json(&aether_report::resources_json(&report)),
        ),
        ("summary.json", json(&summary)),
        ("heatmap.svg", aether_report::heatmap_svg(&report)),
        ("interactions.mmd", aether_report::interactions_mmd(&report)),
        ("interactions.svg", aether_report::interactions_svg(&report)),
        ("report.html", aether_report::report_html(&report)),
    ] {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(aether_report::terminal_summary(&report))
}

fn millis(d: std::time::Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn step_report(
    ws: &Workspace,
    index: usize,
    step: &StepInfo,
    record: &StepRecord<Metrics>,
    omitted: &BTreeMap<String, u64>,
) -> StepReport {
    let metrics = record.extra.clone().unwrap_or_default();
    let grant = &step.grant;
    let p = grant.permissions();
    StepReport {
        id: step.decl.id.clone(),
        plugin: ws.plugins[step.plugin].manifest.name.clone(),
        tier: match step.tier {
            Tier::Thread => "thread",
            Tier::Process => "process",
        }
        .to_owned(),
        status: record.status.as_str().to_owned(),
        error: record.error.as_ref().map(ToString::to_string),
        start_ms: millis(metrics.start),
        duration_ms: millis(metrics.duration),
        peak_memory_bytes: metrics.peak_memory_bytes,
        cpu_ms: metrics.cpu_ms,
        events_not_written: omitted.get(&step.decl.id).copied().unwrap_or(0),
        samples: metrics
            .samples
            .iter()
            .map(|s| aether_report::Sample {
                t_ms: s.t_ms,
                heap_bytes: s.heap_bytes,
                cpu_ms: s.cpu_ms,
            })
            .collect(),
        inputs_from: {
            let mut from: Vec<String> = ws
                .plan
                .template(index)
                .references()
                .map(|r| r.step().to_owned())
                .collect();
            from.sort();
            from.dedup();
            from
        },
        grant: GrantView {
            filesystem_read: p.fs_read.iter().map(|x| x.source().to_owned()).collect(),
            filesystem_write: p.fs_write.iter().map(|x| x.source().to_owned()).collect(),
            domains: p.domains.iter().map(ToString::to_string).collect(),
            listen: p.listen.iter().map(ToString::to_string).collect(),
            env: p.env.iter().map(ToString::to_string).collect(),
            commands: p.commands.iter().map(|c| c.display().to_string()).collect(),
            process_network: p.process_network,
            memory_bytes: grant.limits().memory.0,
            timeout_ms: millis(grant.limits().timeout),
        },
    }
}

/// One record of SPEC §8: `time` (RFC 3339), `run_id`, `step`, `plugin`, `capability`,
/// `target`, `decision`, `reason`; for a request the gateway sent or a listener received, also
/// `address`, `status`, `bytes_sent` and `bytes_received`; for a received one, also `peer`,
/// `method` and `path`.
fn event_record(run_id: &str, e: &Event) -> EventRecord {
    let traffic = e.traffic.as_ref();
    let inbound = traffic.and_then(|t| t.inbound.as_ref());
    let time = jiff::Timestamp::try_from(e.time)
        .map(|t| t.to_string())
        .unwrap_or_default();
    EventRecord {
        time,
        run_id: run_id.to_owned(),
        step: e.step.clone(),
        plugin: e.plugin.clone(),
        capability: e.capability.as_str().to_owned(),
        target: e.target.clone(),
        decision: e.decision.as_str().to_owned(),
        reason: e.reason.clone(),
        address: traffic.map(|t| t.address.to_string()),
        status: traffic.map(|t| t.status),
        bytes_sent: traffic.map(|t| t.bytes_sent),
        bytes_received: traffic.map(|t| t.bytes_received),
        peer: inbound.map(|i| i.peer.to_string()),
        method: inbound.map(|i| i.method.clone()),
        path: inbound.map(|i| i.path.clone()),
        repeats: 0,
        targets_omitted: false,
    }
}
