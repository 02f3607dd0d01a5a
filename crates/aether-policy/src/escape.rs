//! The one escaper of text a plugin controls (paths, URLs, variable names, messages, logs)
//! before it reaches a terminal or an HTML report.
//!
//! A character is escaped as `\u{…}` (lowercase hex, Rust's `char::escape_unicode` form) when
//! it can change what a reader sees without being seen itself:
//! - general category `Cc` (C0 controls, DEL, C1 controls: terminal escape sequences, carriage
//!   return, backspace), which is all deno's permission prompter escapes;
//! - general category `Cf` (bidi embeddings, overrides, isolates and marks, zero-width space,
//!   joiners, word joiner, invisible operators U+2061–U+2064, BOM, soft hyphen, tags
//!   U+E0000–U+E007F, interlinear annotations, ...);
//! - `Zl` and `Zp` (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR: a line break that
//!   `str::lines` does not split on);
//! - `Default_Ignorable_Code_Point` (renders as nothing: U+2065, variation selectors
//!   U+FE00–U+FE0F and U+E0100–U+E01EF, which can smuggle data, Hangul fillers, the combining
//!   grapheme joiner, Mongolian free variation selectors, unassigned code points reserved as
//!   ignorable).
//!
//! The classes come from the Unicode Character Database as compiled into `icu_properties`
//! (already built for IDNA), not from a hand-kept list: the two hand-kept lists this replaces
//! disagreed (issue 15: the CLI's let U+2060–U+2065 through).
//!
//! Not escaped: the backslash (a plugin can write the text `\u{202e}`; it is then visible as
//! text and harmless), private-use characters (they render as a glyph or a box), and
//! characters of ordinary categories that merely look alike (homoglyphs: a reviewer compares
//! against the grant, which the operator wrote).

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};

/// Whether `c` is escaped by [`escape_untrusted`]: a control, format, line or paragraph
/// separator, or default-ignorable character (see the module documentation).
pub fn is_hidden_char(c: char) -> bool {
    // Printable ASCII is never hidden: answered without a property lookup, since nearly every
    // character escaped (a plugin's log line, a path) is one.
    if (' '..='~').contains(&c) {
        return false;
    }
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    let hidden = GeneralCategoryGroup::Control
        .union(GeneralCategoryGroup::Format)
        .union(GeneralCategoryGroup::LineSeparator)
        .union(GeneralCategoryGroup::ParagraphSeparator);
    hidden.contains(category) || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// `text` with every [`is_hidden_char`] character written as `\u{…}`, newlines and tabs
/// included: for one-line contexts (a target, a table cell, an attribute, a log line).
pub fn escape_untrusted(text: &str) -> String {
    escape(text, |_| false)
}

/// As [`escape_untrusted`], but `\n` and `\t` are kept: for messages that are several lines
/// by design (a denial and its hint). Carriage returns and every other control are escaped.
pub fn escape_untrusted_lines(text: &str) -> String {
    escape(text, |c| c == '\n' || c == '\t')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> String {
    // The common case, text with nothing to escape, is copied whole.
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) || (b == b'\n' || b == b'\t') && keep(char::from(b)))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden_char(c) && !keep(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two lists this function replaces (issue 15): the policy crate's and the CLI's.
    fn old_lists(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    }

    // See: https://nvd.nist.gov/vuln/detail/CVE-2021-42574 ("Trojan Source": bidi controls),
    // https://www.unicode.org/reports/tr9/ (bidi), https://www.unicode.org/reports/tr44/
    // (Default_Ignorable_Code_Point), and deno's `runtime/permissions/prompter.rs`
    // (`escape_control_characters`: every `char::is_control`).
    #[test]
    fn issue_15_every_code_point_is_classified() {
        let mut hidden = 0u32;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let h = is_hidden_char(c);
            hidden += u32::from(h);
            // The union of both old lists, and deno's prompter set, is escaped.
            if old_lists(c) {
                assert!(
                    h,
                    "{:04X} was escaped before and must stay escaped",
                    c as u32
                );
            }
            // Printable ASCII, and every letter, digit, mark, punctuation or symbol a reader
            // sees, is left alone (Hangul and Khmer fillers are letters/marks that render as
            // nothing: default-ignorable, escaped).
            if (' '..='~').contains(&c) {
                assert!(!h, "{:04X}", c as u32);
            }
            if h && c.is_alphanumeric() {
                assert!(
                    matches!(c as u32, 0x115F | 0x1160 | 0x3164 | 0xFFA0),
                    "{:04X} is a visible letter",
                    c as u32
                );
            }
            // One-line form: the escape is exactly `\u{hex}` of the character, or the character.
            let one = escape_untrusted(&c.to_string());
            if h {
                assert_eq!(one, format!("\\u{{{:x}}}", c as u32));
            } else {
                assert_eq!(one, c.to_string());
            }
            // Multi-line form differs only for newline and tab.
            let lines = escape_untrusted_lines(&c.to_string());
            if c == '\n' || c == '\t' {
                assert_eq!(lines, c.to_string());
            } else {
                assert_eq!(lines, one);
            }
        }
        // Cc (65) + Cf (~170) + Zl/Zp (2) + default-ignorables (~4,170, mostly the reserved
        // U+E0080–U+E0FFF block): a sanity bound, so an empty or inverted table fails here.
        assert!((4_000..6_000).contains(&hidden), "{hidden}");
    }

    // See: https://nvd.nist.gov/vuln/detail/CVE-2021-42574 and
    // https://embracethered.com/blog/posts/2024/hiding-and-finding-text-with-unicode-tags/
    #[test]
    fn issue_15_named_cases() {
        // (character, escaped, what it is)
        let cases: &[(char, bool, &str)] = &[
            ('\0', true, "NUL"),
            ('\x07', true, "BEL"),
            ('\x08', true, "backspace"),
            ('\t', true, "tab (one-line form)"),
            ('\n', true, "newline (one-line form)"),
            ('\r', true, "carriage return"),
            ('\x1b', true, "ESC, starts a terminal escape sequence"),
            ('\x7f', true, "DEL"),
            ('\u{85}', true, "NEL (C1)"),
            ('\u{9b}', true, "CSI (C1)"),
            ('\u{ad}', true, "soft hyphen"),
            ('\u{34f}', true, "combining grapheme joiner"),
            ('\u{61c}', true, "arabic letter mark"),
            ('\u{115f}', true, "hangul choseong filler"),
            ('\u{180e}', true, "mongolian vowel separator"),
            ('\u{200b}', true, "zero width space"),
            ('\u{200c}', true, "zero width non-joiner"),
            ('\u{200d}', true, "zero width joiner"),
            ('\u{200e}', true, "left-to-right mark"),
            ('\u{200f}', true, "right-to-left mark"),
            ('\u{2028}', true, "line separator"),
            ('\u{2029}', true, "paragraph separator"),
            ('\u{202a}', true, "left-to-right embedding"),
            ('\u{202e}', true, "right-to-left override"),
            ('\u{2060}', true, "word joiner"),
            ('\u{2061}', true, "function application"),
            ('\u{2062}', true, "invisible times"),
            ('\u{2063}', true, "invisible separator"),
            ('\u{2064}', true, "invisible plus"),
            ('\u{2065}', true, "reserved default-ignorable"),
            ('\u{2066}', true, "left-to-right isolate"),
            ('\u{2069}', true, "pop directional isolate"),
            ('\u{206a}', true, "inhibit symmetric swapping"),
            ('\u{3164}', true, "hangul filler"),
            ('\u{fe0f}', true, "variation selector 16"),
            ('\u{feff}', true, "byte order mark"),
            ('\u{fff9}', true, "interlinear annotation anchor"),
            ('\u{1d173}', true, "musical symbol begin beam"),
            ('\u{e0001}', true, "language tag"),
            ('\u{e0041}', true, "tag latin capital a"),
            ('\u{e0100}', true, "variation selector 17"),
            ('a', false, "letter"),
            (' ', false, "space"),
            ('\\', false, "backslash"),
            ('é', false, "accented letter"),
            (
                '\u{301}',
                false,
                "combining acute accent (visible on its base)",
            ),
            ('\u{a0}', false, "no-break space (visible width)"),
            ('\u{2003}', false, "em space"),
            (
                '\u{5d0}',
                false,
                "hebrew alef (right-to-left, but not a control)",
            ),
            ('\u{4e2d}', false, "CJK ideograph"),
            ('\u{1f600}', false, "emoji"),
            ('\u{e000}', false, "private use"),
            ('\u{fffd}', false, "replacement character"),
        ];
        for &(c, want, what) in cases {
            assert_eq!(is_hidden_char(c), want, "{what} ({:04X})", c as u32);
        }
        assert_eq!(
            escape_untrusted("a\u{202e}b\x1b[2J\n"),
            "a\\u{202e}b\\u{1b}[2J\\u{a}"
        );
        assert_eq!(
            escape_untrusted_lines("ok\n\tline\r\u{2028}x"),
            "ok\n\tline\\u{d}\\u{2028}x"
        );
    }
}
