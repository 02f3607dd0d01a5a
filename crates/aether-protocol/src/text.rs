//! Bounding text that a plugin controls before it is kept or shown.

use std::borrow::Cow;

/// `text` if it fits in `max` bytes; else its first `max` bytes or fewer (cut on a character
/// boundary) followed by `… (N bytes in all)`, so that the cut is visible and the full length
/// recorded.
pub fn cap_text(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes in all)", &text[..end], text.len()))
}
