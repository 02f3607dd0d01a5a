//! `aether verify-log DIR`: check the hash chain of an `--inspect-security` directory's
//! `events.jsonl` against `summary.json`'s `events_head` (SPEC §9).
//!
//! Exit 0 when intact, 1 when tampered (naming the first bad record by its line), 2 when a
//! file cannot be read or `summary.json` has no `events_head` (without the anchor, records cut
//! off at the end could not be detected, so the log is not called intact).

use std::io::Write;
use std::path::PathBuf;

use aether_integrity::chain;
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
        aether_manifest::read_regular(path, MAX_LOG_BYTES, aether_manifest::Symlinks::Follow)
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
    match chain::verify(&events, head) {
        Ok(records) => {
            writeln!(
                std::io::stdout(),
                "`{}` is intact: {records} records, chained and anchored by `events_head`",
                events_path.display()
            )?;
            Ok(Outcome::Success)
        }
        Err(broken) => {
            writeln!(
                std::io::stderr(),
                "error: {}:{}: tampered: {}\n\nhint: the audit trail cannot be trusted from record {} on; keep this copy as evidence and compare it with any other copy",
                events_path.display(),
                broken.line(),
                // The tamperer wrote the log: nothing of it reaches the terminal unescaped.
                crate::render::terminal_safe(&broken.to_string()),
                broken.line()
            )?;
            Ok(Outcome::Failure)
        }
    }
}
