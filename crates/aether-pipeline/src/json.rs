//! JSON text carried between steps exactly as a plugin's `JSON.stringify` wrote it (SPEC §4).
//!
//! A step's output is kept as text, never as a parsed tree. Parsing it into Rust numbers and
//! strings would change data on its way to the next step: serde_json's default float parser is
//! not exact (`98.01666666666667` came back as `…668`), an integer beyond 2^53 would be
//! written back in another form (`123456789012345680000` as `1.2345678901234567e20`), and a
//! string holding a lone surrogate, which `JSON.stringify` writes as a `\uXXXX` escape, cannot
//! be a Rust `String` at all. So templates look into the text one level at a time
//! (`Shape`) and splice the sub-texts they select verbatim.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
pub use serde_json::value::RawValue;

/// A JSON value as text, exactly as written: no surrounding whitespace, numbers and string
/// escapes untouched. Build one with [`RawValue::from_string`] (which checks the syntax and
/// accepts lone-surrogate escapes) or [`from_value`].
pub type JsonText = Box<RawValue>;

/// The text of `value` (compact JSON; serde_json writes every double in its shortest form, so
/// it reads back as the same double).
pub fn from_value(value: &Value) -> JsonText {
    // Serializing a `Value` cannot fail and always yields valid JSON.
    RawValue::from_string(value.to_string()).unwrap_or_else(|_| null())
}

/// The text `null`.
pub fn null() -> JsonText {
    RawValue::NULL.to_owned()
}

/// A JSON text seen one level deep: the members of an object or array as sub-texts.
#[derive(Debug)]
pub(crate) enum Shape<'a> {
    /// An object's members in order; keys as WTF-8 bytes (a key may hold a lone surrogate).
    Object(Vec<(Vec<u8>, &'a RawValue)>),
    /// An array's elements in order.
    Array(Vec<&'a RawValue>),
    /// Anything else, by its JSON type: `"string"`, `"number"`, `"boolean"` or `"null"`.
    Scalar(&'static str),
}

impl<'a> Shape<'a> {
    /// Looks one level into `text`.
    pub(crate) fn of(text: &'a RawValue) -> Shape<'a> {
        let json = text.get().trim_start();
        let kind = match json.as_bytes().first() {
            Some(b'{' | b'[') => {
                // Only this level is parsed: members stay borrowed text, so nesting depth costs
                // nothing here, and serde_json's recursion limit never applies.
                return serde_json::from_str::<Level<'a>>(json)
                    .map(|level| level.0)
                    .unwrap_or(Shape::Scalar("null"));
            }
            Some(b'"') => "string",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            _ => "number",
        };
        Shape::Scalar(kind)
    }
}

/// Deserializes one level of an object or array into a [`Shape`].
struct Level<'a>(Shape<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Level<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LevelVisitor(std::marker::PhantomData))
    }
}

struct LevelVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LevelVisitor<'a> {
    type Value = Level<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Level<'a>, M::Error> {
        let mut members = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Level(Shape::Object(members)))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Level<'a>, S::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Level(Shape::Array(items)))
    }
}

/// An object key as bytes: read as a byte string, serde_json accepts lone-surrogate escapes
/// (encoding them as WTF-8) where a Rust `String` would be refused.
struct Key(Vec<u8>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Key, E> {
                Ok(Key(v.to_vec()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.as_bytes().to_vec()))
            }
        }
        deserializer.deserialize_bytes(KeyVisitor)
    }
}

/// Appends the content of a JSON string literal holding `text` (escaped, without the quotes).
pub(crate) fn push_string_content(out: &mut String, text: &str) {
    let quoted = Value::from(text).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Appends `value` as the content of a JSON string literal: a string's own content verbatim
/// (escapes included, so lone surrogates survive), anything else as its JSON text.
pub(crate) fn push_as_text(out: &mut String, value: &RawValue) {
    let json = value.get().trim();
    match json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(content) => out.push_str(content),
        None => push_string_content(out, json),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test set-up")]
    use super::*;

    fn text(s: &str) -> JsonText {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn members_are_the_exact_sub_texts() {
        let t =
            text(r#"{"a":98.01666666666667,"b":[123456789012345680000,"x\ud800y"],"\udc00":1}"#);
        let Shape::Object(members) = Shape::of(&t) else {
            panic!("an object")
        };
        assert_eq!(members[0].0, b"a");
        assert_eq!(members[0].1.get(), "98.01666666666667");
        assert_eq!(members[1].1.get(), r#"[123456789012345680000,"x\ud800y"]"#);
        // WTF-8 of U+DC00.
        assert_eq!(members[2].0, [0xED, 0xB0, 0x80]);
        let Shape::Array(items) = Shape::of(members[1].1) else {
            panic!("an array")
        };
        assert_eq!(items[0].get(), "123456789012345680000");
        assert_eq!(items[1].get(), r#""x\ud800y""#);
        assert!(matches!(Shape::of(items[1]), Shape::Scalar("string")));
    }

    #[test]
    fn deep_nesting_is_no_limit() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let t = text(&deep);
        let Shape::Array(items) = Shape::of(&t) else {
            panic!("an array")
        };
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn text_interpolation_keeps_escapes_and_quotes_json() {
        let mut out = String::new();
        push_as_text(&mut out, &text(r#""a\ud800\"b""#));
        push_as_text(&mut out, &text(r#"{"k":"\ud800"}"#));
        push_as_text(&mut out, &text("1e+21"));
        assert_eq!(out, r#"a\ud800\"b{\"k\":\"\\ud800\"}1e+21"#);
    }
}
