//! A step's `with` written as one line of JSON, read as JSON (issue 19).
//!
//! A pipeline carrying its data inline (`with: {"orders": [...]}` on one line, as a generator
//! writes it) spent about 850 instructions per byte in serde-saphyr's scanner and event layer
//! for values that are plain JSON. Here such a value is read with serde_json and replaced in the
//! text by an empty collection of the same kind before serde-saphyr parses the rest; the
//! caller then puts the value back in the step whose `with` sits exactly where the placeholder
//! was. Nothing here decides anything YAML could decide differently: each value is taken only
//! when its YAML value is known to be the same, and everything else is left to serde-saphyr:
//!
//! - the line must be `with:` (after indentation and `- `), a space, then one JSON array or
//!   object up to the end of the line: no tab, no control character, no character YAML does
//!   not print or treats as a line break or byte-order mark, no `\u` escape of a surrogate;
//! - numbers are read from their text as YAML's core schema reads them: an integer within
//!   `i64` as that integer (`-0` is the integer 0), anything with a fraction or exponent as the
//!   correctly rounded `f64` when finite; other numbers (beyond `i64`, `1e400`) leave the value
//!   to serde-saphyr;
//! - a duplicate key, a key longer than YAML's simple-key limit or nesting deeper than
//!   [`MAX_DEPTH`] leaves the value to serde-saphyr (which refuses or reads it as before);
//! - serde-saphyr's budget still covers every node: the caller lowers it by what the JSON
//!   values hold (nodes, events, depth, bytes), and any error of the shortened document, or a
//!   placeholder that is not a step's `with`, sends the whole original text to serde-saphyr.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// Values shorter than this are left to serde-saphyr: the fast path is for large data, and a
/// short value costs little there.
pub(crate) const MIN_BYTES: usize = 4096;

/// Deepest nesting read here; deeper values are left to serde-saphyr (whose budget allows 64).
const MAX_DEPTH: usize = 32;

/// Longest text between one member's value and the next value (separator, key, colon): well
/// under YAML's 1024-character limit on an implicit key.
const MAX_KEY_GAP: usize = 512;

/// What the values read here would have cost serde-saphyr's budget (upper bounds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Nodes: every scalar (keys included) and every collection.
    pub nodes: usize,
    /// Events: one per scalar, two per collection.
    pub events: usize,
    /// Deepest nesting of collections (a flat `{}` is 1).
    pub depth: usize,
    /// Bytes of the JSON texts (at least the bytes of their scalars).
    pub bytes: usize,
}

/// One value read as JSON.
#[derive(Debug)]
pub(crate) struct Inline {
    /// Line of the value's first character, from 1.
    pub line: usize,
    /// Column of the value's first character, from 1 (the line before it is ASCII).
    pub col: usize,
    /// The value.
    pub value: Value,
    /// `true` for an object (the placeholder is `{}`), `false` for an array (`[]`).
    pub object: bool,
}

/// The text with every value read here replaced by its placeholder.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The shortened text, line for line the original.
    pub text: String,
    /// The values taken out, in text order.
    pub inlines: Vec<Inline>,
    /// What they would have cost serde-saphyr's budget, together.
    pub cost: Cost,
}

/// Finds the `with:` lines holding one JSON value of at least `min_bytes`, reads them, and
/// returns the shortened text; `None` when there is none.
pub(crate) fn prepare(text: &str, min_bytes: usize) -> Option<Prepared> {
    let mut out = String::new();
    let mut copied = 0;
    let mut inlines = Vec::new();
    let mut cost = Cost::default();
    let mut start = 0;
    for (index, line) in text.split('\n').enumerate() {
        let line_start = start;
        start += line.len() + 1;
        let Some(offset) = value_offset(line) else {
            continue;
        };
        let json = line[offset..].trim_end_matches([' ', '\r']);
        if json.len() < min_bytes || !yaml_reads_as_json(json) {
            continue;
        }
        let mut this = Cost::default();
        let Some(value) = read(json, &mut this) else {
            continue;
        };
        let object = value.is_object();
        let from = line_start + offset;
        out.push_str(&text[copied..from]);
        out.push_str(if object { "{}" } else { "[]" });
        copied = from + json.len();
        cost.nodes += this.nodes;
        cost.events += this.events;
        cost.depth = cost.depth.max(this.depth);
        cost.bytes += json.len();
        inlines.push(Inline {
            line: index + 1,
            col: offset + 1,
            value,
            object,
        });
    }
    if inlines.is_empty() {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(Prepared {
        text: out,
        inlines,
        cost,
    })
}

/// Where the value of a `with:` line starting with `{` or `[` begins, in bytes.
fn value_offset(line: &str) -> Option<usize> {
    let mut rest = line.trim_start_matches(' ');
    while let Some(after) = rest.strip_prefix("- ") {
        rest = after.trim_start_matches(' ');
    }
    let after = rest.strip_prefix("with:")?;
    let value = after.trim_start_matches(' ');
    if value.len() == after.len() || !(value.starts_with('{') || value.starts_with('[')) {
        return None;
    }
    Some(line.len() - value.len())
}

/// Whether YAML reads every character of `json` as JSON does: printable, no tab or line
/// break (JSON strings escape them; outside strings YAML's rules differ), no byte-order mark,
/// no `\u` escape of a surrogate (YAML escapes name code points, not UTF-16 units).
fn yaml_reads_as_json(json: &str) -> bool {
    let bytes = json.as_bytes();
    let plain = bytes.iter().all(|&b| (0x20..0x7f).contains(&b));
    if !plain
        && !json.chars().all(|c| {
            matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
                && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
        })
    {
        return false;
    }
    // `\u` followed by d8..df: a surrogate escape (or an escaped backslash before `ud8..`,
    // refused too: only a missed fast path).
    json.match_indices("\\u").all(|(at, _)| {
        !matches!(
            bytes.get(at + 2..at + 4),
            Some([b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'])
        )
    })
}

/// Reads one JSON text, or `None` when it is not JSON or YAML might read it differently.
/// `json` starts with its value; reading the outermost level checks the whole text (one value,
/// nothing after it but whitespace).
fn read(json: &str, cost: &mut Cost) -> Option<Value> {
    value(json, 1, cost)
}

/// The value of `text` (a JSON value, no surrounding whitespace) at nesting `depth`.
fn value(text: &str, depth: usize, cost: &mut Cost) -> Option<Value> {
    cost.nodes += 1;
    match text.as_bytes().first()? {
        b'{' | b'[' if depth > MAX_DEPTH => None,
        b'{' => {
            cost.events += 2;
            cost.depth = cost.depth.max(depth);
            let members = serde_json::from_str::<Members<'_>>(text).ok()?.0;
            let mut map = Map::new();
            let mut end = text.as_ptr() as usize;
            for (key, raw) in members {
                let at = raw.get().as_ptr() as usize;
                if at.saturating_sub(end) > MAX_KEY_GAP {
                    return None;
                }
                end = at + raw.get().len();
                cost.nodes += 1;
                cost.events += 1;
                let v = value(raw.get(), depth + 1, cost)?;
                if map.insert(key, v).is_some() {
                    return None;
                }
            }
            Some(Value::Object(map))
        }
        b'[' => {
            cost.events += 2;
            cost.depth = cost.depth.max(depth);
            let elements = serde_json::from_str::<Vec<&RawValue>>(text).ok()?;
            elements
                .into_iter()
                .map(|raw| value(raw.get(), depth + 1, cost))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        first => {
            cost.events += 1;
            match first {
                b'"' => serde_json::from_str::<String>(text).ok().map(Value::String),
                b't' => Some(Value::Bool(true)),
                b'f' => Some(Value::Bool(false)),
                b'n' => Some(Value::Null),
                _ => number(text).map(Value::Number),
            }
        }
    }
}

/// A JSON number's YAML value: an integer within `i64` (YAML's `-0` is the integer 0), or a
/// finite correctly rounded `f64`; `None` for anything else.
fn number(text: &str) -> Option<Number> {
    if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
    } else {
        text.parse::<i64>().ok().map(Number::from)
    }
}

/// An object's members in order, each value as its text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_with_lines_only() {
        assert_eq!(value_offset("    with: {\"a\": 1}"), Some(10));
        assert_eq!(value_offset("  - with: [1]"), Some(10));
        assert_eq!(value_offset("    with:{}"), None);
        assert_eq!(value_offset("    with: 3"), None);
        assert_eq!(value_offset("    without: {}"), None);
        assert_eq!(value_offset("    \"with\": {}"), None);
    }

    #[test]
    fn refuses_what_yaml_may_read_otherwise() {
        assert!(yaml_reads_as_json(r#"{"a": "é ☃ 😀"}"#));
        assert!(!yaml_reads_as_json("{\"a\":\t1}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{85}\"}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{2028}\"}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{7f}\"}"));
        assert!(!yaml_reads_as_json(r#"{"a": "\ud83d\ude00"}"#));
        assert!(!yaml_reads_as_json(r#"{"a": "\uDC00"}"#));
        let mut cost = Cost::default();
        assert!(read(r#"{"a": 1, "a": 2}"#, &mut cost).is_none());
        assert!(read("[1e400]", &mut cost).is_none());
        assert!(read("[123456789012345678901]", &mut cost).is_none());
        assert!(read(&format!("{}1{}", "[".repeat(40), "]".repeat(40)), &mut cost).is_none());
    }

    #[test]
    fn counts_what_the_budget_counts() {
        let mut cost = Cost::default();
        let v = read(r#"{"a": [1, {"b": null}], "c": "x"}"#, &mut cost);
        assert!(v.is_some());
        // Nodes: {} a [] 1 {} b null c "x"; events: 3 collections × 2 + 6 scalars.
        assert_eq!((cost.nodes, cost.events, cost.depth), (9, 12, 3));
    }
}
