//! Byte offsets (what oxc reports) to the 1-based line and column people read. Columns count
//! characters (Unicode scalar values), not bytes. Lines end at `\n`, `\r\n`, a lone `\r`,
//! U+2028 and U+2029, as in ECMAScript.

/// Where each line of one source starts, so that many offsets convert in `O(log lines)`.
pub(crate) struct LineIndex<'s> {
    source: &'s str,
    /// Byte offset of the first character of each line; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `source`.
    pub(crate) fn new(source: &'s str) -> LineIndex<'s> {
        let mut starts = vec![0];
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\n' | '\u{2028}' | '\u{2029}' => starts.push(i + c.len_utf8()),
                '\r' => {
                    if chars.peek().is_some_and(|&(_, n)| n == '\n') {
                        continue;
                    }
                    starts.push(i + 1);
                }
                _ => {}
            }
        }
        LineIndex { source, starts }
    }

    /// The 1-based line and column of byte `offset`. An offset past the end is taken as the
    /// end; one inside a character as that character.
    pub(crate) fn line_col(&self, offset: u32) -> (u32, u32) {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self
            .source
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        (saturate(line + 1), saturate(column + 1))
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn lines_and_columns() {
        let src = "ab\ncé\r\nx\ry\u{2028}z";
        let ix = LineIndex::new(src);
        assert_eq!(ix.line_col(0), (1, 1));
        assert_eq!(ix.line_col(3), (2, 1));
        // `é` is two bytes: the character after it is column 3.
        assert_eq!(ix.line_col(6), (2, 3));
        assert_eq!(ix.line_col(8), (3, 1));
        assert_eq!(ix.line_col(10), (4, 1));
        assert_eq!(ix.line_col(14), (5, 1));
        assert_eq!(ix.line_col(10_000), (5, 2));
    }
}
