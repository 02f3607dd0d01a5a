//! A step's `with` written as one line of JSON, read as JSON (issue 19).
//!
//! A pipeline carrying its data inline (`with: {"orders": [...]}` on one line, as a generator
//! writes it) spent about 850 instructions per byte in serde-saphyr's scanner and event layer
//! for values that are plain JSON. Here such a value is read with serde_json and replaced in the
//! text by a placeholder: a plain scalar holding a random nonce of this process and the value's
//! index. serde-saphyr then parses the shortened text, and the caller takes the JSON value only
//! where serde-saphyr itself put the placeholder, so no value can land anywhere serde-saphyr
//! would not have put it:
//!
//! - the nonce must not occur in the original text, and each placeholder must occur exactly
//!   once in the deserialized document, as the whole value of a step's `with` (found by walking
//!   the result, not by counting lines): a placeholder inside a key, a block scalar, a quoted or
//!   multi-line scalar, a comment (missing), or copied by an alias or merge key (repeated, or
//!   an alias replayed at all) sends the whole original text to serde-saphyr;
//! - the JSON text is taken only when YAML reads it as the same value: one line, no tab, no
//!   control character, no character YAML does not print or treats as a line break or
//!   byte-order mark, no `\u` escape of a surrogate, no duplicate key, no key longer than YAML's
//!   simple-key limit, nesting at most [`MAX_DEPTH`]; numbers read from their text as
//!   serde-saphyr reads them (a non-negative integer within `u64`, a negative one within `i64`,
//!   `-0` the integer 0, anything with a fraction or exponent the correctly rounded finite
//!   `f64`); any other number leaves the value to serde-saphyr;
//! - serde-saphyr's budget still covers every node: the caller lowers it by what the JSON values
//!   hold (nodes, events, depth, bytes) and refuses the fast path when the shortened document
//!   defines an anchor or replays an alias or merge key (their copies of the value would be
//!   charged by the original parse, not by this one).
//!
//! Any error of the shortened document also sends the original text to serde-saphyr, whose
//! errors (file:line:col) are the ones users see.
//!
//! Bounds: a line that might hold more nodes than serde-saphyr's budget is not read here (its
//! separators counted first), so the values built never exceed what the budget allows. A file
//! whose values end up refused costs at most about twice serde-saphyr's parse (the JSON reads,
//! each nesting level re-scanning its subtree, at most [`MAX_DEPTH`] times; the shortened
//! text's parse; then the original's).

use std::sync::OnceLock;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// Values shorter than this are left to serde-saphyr: the fast path is for large data, and a
/// short value costs little there.
pub(crate) const MIN_BYTES: usize = 4096;

/// Deepest nesting read here; deeper values are left to serde-saphyr (whose budget allows 64).
const MAX_DEPTH: usize = 32;

/// Longest text between one member's value and the next value (separator, key, colon): well
/// under YAML's 1024-character limit on an implicit key, past which granit-parser stops
/// treating the text as a key even in a flow mapping.
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

/// The text with every value read here replaced by its placeholder.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The shortened text, line for line the original.
    pub text: String,
    /// The nonce every placeholder starts with (absent from the original text).
    pub nonce: &'static str,
    /// The values taken out, in text order: value `i`'s placeholder is [`placeholder`]`(nonce,
    /// i)`.
    pub values: Vec<Value>,
    /// What they would have cost serde-saphyr's budget, together.
    pub cost: Cost,
}

/// The nonce of this process: `aether_inline_` and 128 random bits in hex. `None` when the
/// system gives no randomness (then there is no fast path).
fn nonce() -> Option<&'static str> {
    static NONCE: OnceLock<Option<String>> = OnceLock::new();
    NONCE
        .get_or_init(|| {
            let mut bytes = [0u8; 16];
            getrandom::getrandom(&mut bytes).ok()?;
            let mut s = String::from("aether_inline_");
            for b in bytes {
                s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
            }
            Some(s)
        })
        .as_deref()
}

/// The placeholder of value `index`: a plain scalar YAML reads as that string (letters, digits
/// and `_`), the index fixed-width so that no placeholder is a prefix of another.
pub(crate) fn placeholder(nonce: &str, index: usize) -> String {
    format!("{nonce}_{index:08}")
}

/// Finds the `with:` lines holding one JSON value of at least `min_bytes`, reads them, and
/// returns the shortened text; `None` when there is none (or the original text holds the nonce).
/// The values taken hold at most `max_nodes` nodes together, counted before any is read: a line
/// that might hold more is left to serde-saphyr, which stops at its budget as it streams, so
/// the fast path never builds more values than that budget allows.
pub(crate) fn prepare(text: &str, min_bytes: usize, max_nodes: usize) -> Option<Prepared> {
    let nonce = nonce()?;
    if text.contains(nonce) {
        return None;
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut values = Vec::new();
    let mut cost = Cost::default();
    let mut start = 0;
    // Lines end at `\n` or `\r`, as in the YAML scanner (a lone `\r` is a line break there).
    for line in text.split(['\n', '\r']) {
        let line_start = start;
        start += line.len() + 1;
        let Some(offset) = value_offset(line) else {
            continue;
        };
        let json = line[offset..].trim_end_matches(' ');
        if json.len() < min_bytes || !yaml_reads_as_json(json) {
            continue;
        }
        if cost.nodes.saturating_add(node_bound(json)) > max_nodes {
            continue;
        }
        let mut this = Cost::default();
        let Some(value) = read(json, &mut this) else {
            continue;
        };
        let from = line_start + offset;
        out.push_str(&text[copied..from]);
        out.push_str(&placeholder(nonce, values.len()));
        copied = from + json.len();
        cost.nodes += this.nodes;
        cost.events += this.events;
        cost.depth = cost.depth.max(this.depth);
        cost.bytes += json.len();
        values.push(value);
    }
    if values.is_empty() {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(Prepared {
        text: out,
        nonce,
        values,
        cost,
    })
}

/// An upper bound of the nodes [`read`] makes of `json`, counted without reading it: every
/// value and key but the first follows a `[` or `{` that does not close at once, a `,` or a `:`,
/// outside a string (strings lexed as JSON lexes them, so a prefix serde_json accepts is
/// counted as it reads it).
fn node_bound(json: &str) -> usize {
    let bytes = json.as_bytes();
    let mut count = 1usize;
    let mut in_string = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b':' => count += 1,
                b'[' | b'{' if !matches!(bytes.get(i + 1), Some(b']' | b'}')) => count += 1,
                _ => {}
            }
        }
        i += 1;
    }
    count
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

/// Whether YAML reads every character of `json` as JSON does: printable, no tab or line break
/// (JSON strings escape them; outside strings YAML's rules differ), no byte-order mark, no `\u`
/// escape of a surrogate (YAML escapes name code points, not UTF-16 units).
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

/// A JSON number's value as serde-saphyr reads it: a negative integer within `i64` (`-0` is the
/// integer 0), a non-negative one within `u64`, or a finite correctly rounded `f64` (Rust's
/// `f64::from_str`, which serde-saphyr also uses); `None` for anything else.
fn number(text: &str) -> Option<Number> {
    if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
    } else if text.starts_with('-') {
        text.parse::<i64>().ok().map(Number::from)
    } else {
        text.parse::<u64>().ok().map(Number::from)
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
    fn a_lone_carriage_return_ends_the_line() {
        let json = format!("[{}0]", "1, ".repeat(2000));
        let text = format!("a: 1\r    with: {json}\r    b: 2\n");
        let prepared = prepare(&text, MIN_BYTES, usize::MAX).expect("the value is taken");
        let expected = format!(
            "a: 1\r    with: {}\r    b: 2\n",
            placeholder(prepared.nonce, 0)
        );
        assert_eq!(prepared.text, expected);
    }

    #[test]
    fn placeholders_are_not_prefixes_of_each_other() {
        let a = placeholder("n", 1);
        let b = placeholder("n", 10);
        assert!(!b.starts_with(&a) && !a.starts_with(&b));
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn refuses_what_yaml_may_read_otherwise() {
        assert!(yaml_reads_as_json(r#"{"a": "é ☃ 😀"}"#));
        assert!(!yaml_reads_as_json("{\"a\":\t1}"));
        assert!(!yaml_reads_as_json("{\"a\":\r1}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{85}\"}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{2028}\"}"));
        assert!(!yaml_reads_as_json("{\"a\": \"\u{7f}\"}"));
        assert!(!yaml_reads_as_json(r#"{"a": "\ud83d\ude00"}"#));
        assert!(!yaml_reads_as_json(r#"{"a": "\uDC00"}"#));
        let mut cost = Cost::default();
        assert!(read(r#"{"a": 1, "a": 2}"#, &mut cost).is_none());
        assert!(read("[1e400]", &mut cost).is_none());
        assert!(read("[123456789012345678901]", &mut cost).is_none());
        assert!(read("[-9223372036854775809]", &mut cost).is_none());
        assert!(read(&format!("{}1{}", "[".repeat(40), "]".repeat(40)), &mut cost).is_none());
    }

    #[test]
    fn reads_integers_as_serde_saphyr_does() {
        let mut cost = Cost::default();
        let v = read(
            "[-0, 18446744073709551615, -9223372036854775808, -0.0]",
            &mut cost,
        );
        assert_eq!(
            v.map(|v| v.to_string()).as_deref(),
            Some("[0,18446744073709551615,-9223372036854775808,-0.0]")
        );
    }

    #[test]
    fn a_line_that_may_exceed_the_node_budget_is_not_read() {
        let line = |zeros: usize| format!("    with: [{}0]\n", "0,".repeat(zeros));
        let text = format!("steps:\n  - id: a\n{}", line(300_000));
        assert!(prepare(&text, MIN_BYTES, 250_000).is_none());
        assert!(prepare(&text, MIN_BYTES, 300_002).is_some());
        // Two lines under the budget alone, over it together: the first is taken, not the second.
        let text = format!("{}{}", line(150_000), line(150_000));
        let prepared = prepare(&text, MIN_BYTES, 250_000).expect("the first line is taken");
        assert_eq!(prepared.values.len(), 1);
        assert!(prepared.cost.nodes <= 250_000);
    }

    #[test]
    fn the_node_bound_is_never_below_what_is_read() {
        for json in [
            "[]",
            "{}",
            "[[], {}, [[]]]",
            r#"{"a": [1, {"b": "x,:[{"}], "c\\\"": ":", "d": {}}"#,
            r#"[0, 1.5, true, null, "\u005b,"]"#,
            r#"{"k": [{}, []], "t": [true, false, null]}"#,
        ] {
            let mut cost = Cost::default();
            read(json, &mut cost).expect(json);
            let bound = node_bound(json);
            assert!(cost.nodes <= bound, "{json}: {} > {bound}", cost.nodes);
            assert!(bound <= cost.nodes + 2, "{json}: {bound} is tight");
        }
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
