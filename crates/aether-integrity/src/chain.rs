//! The hash chain of `events.jsonl` (SPEC §8, §9).
//!
//! Every record is one line of JSON carrying `prev`: the SHA-256 hex of the previous line
//! (without its newline), or [`GENESIS`] for the first. `summary.json`'s `events_head` is the
//! SHA-256 of the last line ([`GENESIS`] when there is none), so that a record removed,
//! edited, inserted, reordered or cut off at the end breaks the chain. The chain detects
//! tampering by someone who cannot also rewrite `summary.json` consistently: it is
//! tamper-evident, not tamper-proof (there is no secret; see docs/integrity.md).

use serde_json::Value;

use crate::digest::sha256_hex;

/// The `prev` of the first record (and the head of an empty log).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The name of the field that links a record to the line before it.
pub const PREV_FIELD: &str = "prev";

/// The digest that the next record's `prev` (or the head) must hold for `line` (a record
/// without its trailing newline).
pub fn line_digest(line: &[u8]) -> String {
    sha256_hex(line)
}

/// Where and how a log's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A line is not a JSON object.
    #[error("record {line} is not a JSON object")]
    NotARecord {
        /// 1-based line number.
        line: usize,
    },
    /// A record has no string `prev`.
    #[error("record {line} has no `prev` field")]
    MissingPrev {
        /// 1-based line number.
        line: usize,
    },
    /// A record's `prev` is not the digest of the line before it: that line, or one before
    /// it, was removed, edited, inserted or moved.
    #[error(
        "record {line} does not follow the record before it: its `prev` is {}, the line before hashes to {expected}",
        shown(found)
    )]
    Broken {
        /// 1-based line number.
        line: usize,
        /// The digest of the previous line (or [`GENESIS`]).
        expected: String,
        /// The `prev` the record holds.
        found: String,
    },
    /// The file does not end with a newline: its last record was cut short or edited.
    #[error("record {line} is not terminated by a newline: it was cut short or edited")]
    Unterminated {
        /// 1-based line number.
        line: usize,
    },
    /// A line ends in a carriage return: the file's line endings were converted (by git's
    /// `core.autocrlf`, an editor), so its records no longer hash as they were written.
    #[error(
        "record {line} ends in CRLF, not LF: the file's line endings were converted (by git's `core.autocrlf` or an editor), so its records no longer hash as written"
    )]
    CarriageReturn {
        /// 1-based line number.
        line: usize,
    },
    /// The head anchors an earlier record than the last: records were added after the run
    /// ended, from `line` on.
    #[error("{}", appended(*line, *records))]
    Appended {
        /// 1-based line number of the first record added.
        line: usize,
        /// How many records the file holds.
        records: usize,
    },
    /// The last line is not the one the head anchors: records were removed from (or added to)
    /// the end, or the last record was edited.
    #[error(
        "the log ends at record {records} but `events_head` anchors another record: records were removed from or added to the end, or the last one was edited"
    )]
    Head {
        /// How many records the file holds.
        records: usize,
        /// The digest of the last line (or [`GENESIS`]).
        found: String,
        /// The anchored head.
        expected: String,
    },
}

/// A `prev` as a message shows it: the tamperer wrote it, so at most 64 characters of it
/// (a digest's length), escaped (no terminal escapes or line breaks of theirs).
fn shown(prev: &str) -> String {
    let mut out: String = prev
        .chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .collect();
    if prev.chars().nth(64).is_some() {
        out.push('…');
    }
    format!("`{out}`")
}

/// The message of [`ChainBreak::Appended`].
fn appended(line: usize, records: usize) -> String {
    let what = if line == records {
        format!("record {line} was")
    } else {
        format!("records {line} to {records} were")
    };
    format!(
        "{what} added after the run ended: `events_head` anchors the record before, as the last"
    )
}

impl ChainBreak {
    /// The 1-based line number of the first bad record (for a head mismatch: the record after
    /// the last one present, where the missing or extra records are).
    pub fn line(&self) -> usize {
        match self {
            ChainBreak::NotARecord { line }
            | ChainBreak::MissingPrev { line }
            | ChainBreak::Broken { line, .. }
            | ChainBreak::Unterminated { line }
            | ChainBreak::CarriageReturn { line }
            | ChainBreak::Appended { line, .. } => *line,
            ChainBreak::Head { records, .. } => records + 1,
        }
    }
}

/// Verifies the chain of `text` (the whole `events.jsonl`, as bytes: a byte that is not UTF-8
/// is tampering too) against `head` (`events_head`). Returns how many records it holds, or the
/// first break.
pub fn verify(text: &[u8], head: &str) -> Result<usize, ChainBreak> {
    let mut expected = GENESIS.to_owned();
    let mut records = 0;
    // The digest of every line but the last, to name records appended after the head.
    let mut earlier = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        records += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(ChainBreak::Unterminated { line: records });
        };
        let (line, after) = (&rest[..end], &rest[end + 1..]);
        if line.ends_with(b"\r") {
            return Err(ChainBreak::CarriageReturn { line: records });
        }
        let record: Value = serde_json::from_slice(line)
            .ok()
            .filter(Value::is_object)
            .ok_or(ChainBreak::NotARecord { line: records })?;
        let prev = record
            .get(PREV_FIELD)
            .and_then(Value::as_str)
            .ok_or(ChainBreak::MissingPrev { line: records })?;
        if prev != expected {
            return Err(ChainBreak::Broken {
                line: records,
                expected,
                found: prev.to_owned(),
            });
        }
        earlier.push(std::mem::replace(&mut expected, line_digest(line)));
        rest = after;
    }
    if expected != head {
        // `earlier[i]` is the digest of line `i` (1-based; `earlier[0]` is the genesis, the
        // head of a run without events).
        if let Some(i) = earlier.iter().position(|d| d == head) {
            return Err(ChainBreak::Appended {
                line: i + 1,
                records,
            });
        }
        return Err(ChainBreak::Head {
            records,
            found: expected,
            expected: head.to_owned(),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A chained log of `n` records and its head.
    fn log(n: usize) -> (String, String) {
        let mut text = String::new();
        let mut head = GENESIS.to_owned();
        for i in 0..n {
            let line =
                serde_json::json!({ "step": format!("s{i}"), "target": "x", PREV_FIELD: head })
                    .to_string();
            head = line_digest(line.as_bytes());
            text.push_str(&line);
            text.push('\n');
        }
        (text, head)
    }

    #[test]
    fn an_intact_log_verifies() {
        for n in [0, 1, 5] {
            let (text, head) = log(n);
            assert_eq!(verify(text.as_bytes(), &head), Ok(n));
        }
    }

    #[test]
    fn removal_edit_reorder_and_truncation_are_named() {
        let (text, head) = log(4);
        let lines: Vec<&str> = text.lines().collect();
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        // Line 2 removed: line 3 (now 2) no longer follows.
        assert_eq!(
            verify(join(&[lines[0], lines[2], lines[3]]).as_bytes(), &head).map_err(|e| e.line()),
            Err(2)
        );
        // Line 2 edited: line 3 breaks.
        let edited = text.replacen("\"s1\"", "\"s9\"", 1);
        assert_eq!(
            verify(edited.as_bytes(), &head).map_err(|e| e.line()),
            Err(3)
        );
        // Lines 2 and 3 swapped.
        assert_eq!(
            verify(
                join(&[lines[0], lines[2], lines[1], lines[3]]).as_bytes(),
                &head
            )
            .map_err(|e| e.line()),
            Err(2)
        );
        // The last record removed, or the last one edited: only the head tells.
        assert!(matches!(
            verify(join(&lines[..3]).as_bytes(), &head),
            Err(ChainBreak::Head { records: 3, .. })
        ));
        let last_edited = text.replacen("\"s3\"", "\"s8\"", 1);
        assert!(matches!(
            verify(last_edited.as_bytes(), &head),
            Err(ChainBreak::Head { .. })
        ));
        // Everything removed.
        assert!(matches!(
            verify(b"", &head),
            Err(ChainBreak::Head { records: 0, .. })
        ));
        // Cut mid-record; garbage; no `prev`.
        assert_eq!(
            verify(&text.as_bytes()[..text.len() - 5], &head),
            Err(ChainBreak::Unterminated { line: 4 })
        );
        assert_eq!(
            verify(format!("{}x\n", join(&lines[..1])).as_bytes(), &head).map_err(|e| e.line()),
            Err(2)
        );
        assert_eq!(
            verify(b"{}\n", &head),
            Err(ChainBreak::MissingPrev { line: 1 })
        );
    }

    #[test]
    fn records_appended_after_the_head_are_named_at_the_first_one() {
        // Correctly chained records added after the run ended: the head still anchors the
        // last genuine record, so the first bad one is the record after it (not the line
        // after the end of the file).
        let (text, head) = log(3);
        let (longer, _) = log(5);
        assert!(longer.starts_with(&text));
        let err = verify(longer.as_bytes(), &head).unwrap_err();
        assert!(
            matches!(
                err,
                ChainBreak::Appended {
                    line: 4,
                    records: 5
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.line(), 4);
        // After a run without events, every record was added.
        assert_eq!(
            verify(longer.as_bytes(), GENESIS),
            Err(ChainBreak::Appended {
                line: 1,
                records: 5
            })
        );
    }

    #[test]
    fn crlf_line_endings_are_named_as_such() {
        // A checkout with `core.autocrlf` (or an editor) rewrote the line endings: the records
        // no longer hash as written. Tampering still (the bytes changed), but say what it is.
        let (text, head) = log(3);
        let crlf = text.replace('\n', "\r\n");
        let err = verify(crlf.as_bytes(), &head).unwrap_err();
        assert_eq!(err, ChainBreak::CarriageReturn { line: 1 });
        assert!(err.to_string().contains("CRLF"), "{err}");
    }

    proptest! {
        /// Any single-byte change or deletion anywhere in the log is detected.
        #[test]
        fn any_single_byte_edit_or_deletion_is_detected(n in 1usize..6, at in any::<prop::sample::Index>(), byte in any::<u8>(), delete in any::<bool>()) {
            let (text, head) = log(n);
            let mut bytes = text.clone().into_bytes();
            let i = at.index(bytes.len());
            if delete {
                bytes.remove(i);
            } else {
                prop_assume!(bytes[i] != byte);
                bytes[i] = byte;
            }
            prop_assert!(verify(&bytes, &head).is_err());
        }
    }
}
