//! A guard in front of the parser: oxc's parser and visitor recurse once per nesting level and
//! have no depth limit of their own, so `((((…` or `!!!!…` a million deep would overflow the
//! stack (an abort, not a panic). Before parsing, [`too_deep`] estimates the nesting with a
//! light scan and refuses sources past [`MAX_DEPTH`]; the parse itself also runs on a thread with
//! a large stack (see `lib.rs`) for the nesting this estimate cannot see.
//!
//! The estimate counts open brackets (`(`, `[`, `{`, `${`) outside strings, comments, template
//! text and regular expressions (told from division by the previous significant character, the
//! usual heuristic), and runs of prefix operators (`!`, `~`, `+`, `-`). A regular expression
//! mistaken for division can only miscount brackets inside that one literal.

/// The deepest nesting analyzed. Real code stays far below it; QuickJS refuses much less deep
/// nesting at load time (its parser has a stack limit), so nothing loadable is refused here.
pub(crate) const MAX_DEPTH: usize = 1000;

/// The byte offset where the estimated nesting first exceeds [`MAX_DEPTH`], if it does.
pub(crate) fn too_deep(source: &str) -> Option<u32> {
    let b = source.as_bytes();
    let mut i = 0;
    let mut depth: usize = 0;
    // Brace depths at which a template literal's `${` was opened, to resume template text.
    let mut templates: Vec<usize> = Vec::new();
    let mut prefix_run: usize = 0;
    // Whether a `/` here would start a regular expression.
    let mut regex_ok = true;
    let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    while i < b.len() {
        let c = b[i];
        // Template text: after its opening backtick, or after the `}` closing a `${`.
        let closes_substitution = c == b'}' && templates.last() == Some(&depth);
        if c == b'`' || closes_substitution {
            if closes_substitution {
                templates.pop();
                depth = depth.saturating_sub(1);
            }
            i = skip_template(b, i + 1);
            if b.get(i.wrapping_sub(2)) == Some(&b'$') && b.get(i.wrapping_sub(1)) == Some(&b'{') {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(at(i));
                }
                templates.push(depth);
            }
            regex_ok = false;
            prefix_run = 0;
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'/' if regex_ok => {
                i = skip_regex(b, i + 1);
                regex_ok = false;
                prefix_run = 0;
                continue;
            }
            b'\'' | b'"' => {
                i = skip_string(b, i + 1, c);
                regex_ok = false;
                prefix_run = 0;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(at(i));
                }
                regex_ok = true;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                regex_ok = c == b'}';
            }
            b'!' | b'~' | b'+' | b'-' => {
                prefix_run += 1;
                if prefix_run > MAX_DEPTH {
                    return Some(at(i));
                }
                regex_ok = true;
                i += 1;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                regex_ok = false;
            }
            _ => regex_ok = true,
        }
        prefix_run = 0;
        i += 1;
    }
    None
}

fn skip_string(b: &[u8], mut i: usize, quote: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return i + 1,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Skips template text; returns the index after the closing backtick or after `${`.
fn skip_template(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => return i + 2,
            _ => i += 1,
        }
    }
    i
}

fn skip_regex(b: &[u8], mut i: usize) -> usize {
    let mut class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return i + 1,
            b'[' => {
                class = true;
                i += 1;
            }
            b']' => {
                class = false;
                i += 1;
            }
            b'/' if !class => return i + 1,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, too_deep};

    #[test]
    fn refuses_deep_nesting_only() {
        assert!(too_deep(&"(".repeat(MAX_DEPTH + 1)).is_some());
        assert!(too_deep(&"!".repeat(MAX_DEPTH + 1)).is_some());
        assert!(too_deep(&"(".repeat(MAX_DEPTH)).is_none());
        let strings = "'((((('; \"[[[[\"; /(((/; `${`(`}`; // ((((\n".repeat(MAX_DEPTH);
        assert_eq!(too_deep(&strings), None);
    }

    /// Substitutions nest (`${` opens, its `}` resumes the template text): counted, and
    /// closed again, so that many shallow templates in a row are fine.
    #[test]
    fn template_substitutions_nest_and_close() {
        let nested = |n: usize| format!("{}0{}", "`${".repeat(n), "}`".repeat(n));
        assert!(too_deep(&nested(MAX_DEPTH + 1)).is_some());
        assert_eq!(too_deep(&nested(MAX_DEPTH)), None);
        assert_eq!(
            too_deep(&format!("{};", nested(10)).repeat(MAX_DEPTH)),
            None
        );
    }
}
