//! `aether verify-log DIR`: check an `--inspect-security` directory's trail (SPEC §9): the
//! hash chain of `events.jsonl` against `summary.json`'s `events_head`, every record's `run_id`
//! against the summary's, and the seal (the last record) against `summary.json`'s fields and
//! `violations.jsonl` (issue 15; `aether::integrity::seal`).
//!
//! Exit 0 when intact, 1 when tampered (naming the file, and the line where it can), 2 when a
//! file cannot be read, `summary.json` has no `events_head` (without the anchor, records cut
//! off at the end could not be detected), or the trail has no seal (written by an older
//! aether: its summary cannot be verified, so the trail is not called intact).

use std::io::Write;
use std::path::PathBuf;

use aether::integrity::seal::{self, TrailError};
use clap::Args;

use crate::Outcome;

/// The most bytes of `events.jsonl` (or `summary.json`) `verify-log` reads: 4 GiB. The log is
/// verified in memory; the bound keeps a FIFO or a symlink to `/dev/zero` given as the log from
/// reading without end (issue 16), and is far above what a run writes (`--inspect-security`
/// caps what a step may write).
const MAX_LOG_BYTES: u64 = 4 << 30;

/// Arguments of `aether verify-log`.
#[derive(Args)]
pub struct VerifyLogArgs {
    /// The report directory (`--inspect-security=DIR`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Runs `aether verify-log`.
pub fn verify_log(args: VerifyLogArgs) -> anyhow::Result<Outcome> {
    let events_path = args.dir.join("events.jsonl");
    let summary_path = args.dir.join("summary.json");
    let read = |path: &PathBuf| {
        aether::manifest::read_regular(path, MAX_LOG_BYTES, aether::manifest::Symlinks::Follow)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read `{}`: {e}\n\nhint: give the directory that `--inspect-security` wrote",
                    path.display(),
                )
            })
    };
    let events = read(&events_path)?;
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&summary_path)?).map_err(|e| {
            anyhow::anyhow!(
                "`{}` is not JSON ({e}): the anchor of the chain is unreadable, so the log cannot be verified",
                summary_path.display()
            )
        })?;
    let Some(head) = summary.get("events_head").and_then(|h| h.as_str()) else {
        anyhow::bail!(
            "`{}` has no `events_head`: without the anchor, records cut off at the end of `{}` cannot be detected",
            summary_path.display(),
            events_path.display()
        );
    };
    let violations_path = args.dir.join("violations.jsonl");
    let violations = match std::fs::read(&violations_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(read(&violations_path)?),
    };
    match seal::verify_trail(&events, head, &summary, violations.as_deref()) {
        Ok(verified) => {
            writeln!(
                std::io::stdout(),
                "`{}` is intact: {} records, chained and anchored by `events_head`; `summary.json` and `violations.jsonl` ({} line{}) match its seal",
                events_path.display(),
                verified.records,
                verified.violations,
                if verified.violations == 1 { "" } else { "s" }
            )?;
            Ok(Outcome::Success)
        }
        Err(e @ TrailError::Unsealed { .. }) => anyhow::bail!(
            "`{}`: {e}\n\nhint: a run of this aether with `--inspect-security` writes a sealed trail",
            args.dir.display()
        ),
        Err(broken) => {
            let (file, line) = broken.location();
            let at = match line {
                Some(line) => format!("{}:{line}", args.dir.join(file.name()).display()),
                None => args.dir.join(file.name()).display().to_string(),
            };
            let from = match (&broken, line) {
                (TrailError::Chain(_), Some(line)) => format!(" from record {line} on"),
                _ => String::new(),
            };
            writeln!(
                std::io::stderr(),
                "error: {at}: tampered: {}\n\nhint: the audit trail cannot be trusted{from}; keep this copy as evidence and compare it with any other copy",
                // The tamperer wrote the trail: nothing of it reaches the terminal unescaped.
                crate::render::terminal_safe(&broken.to_string()),
            )?;
            Ok(Outcome::Failure)
        }
    }
}
