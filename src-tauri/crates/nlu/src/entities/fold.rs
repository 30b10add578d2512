//! Matching text: an NFKC-like folding that maps every character of the message to exactly one
//! character (full-width ASCII → ASCII, ideographic and no-break spaces → space, dash and wave
//! variants → `-` / `~`, `￥` → `¥`), so detectors match one alphabet while every match maps back
//! to byte offsets on character boundaries of the original text.

/// A message folded for matching, with the way back to the original's byte offsets.
#[derive(Debug)]
pub(crate) struct Folded<'a> {
    pub(crate) original: &'a str,
    /// The folded text the detectors read.
    pub(crate) text: String,
    /// For each byte of `text` (and one past the end), the byte offset in `original` of the
    /// character it came from.
    origin: Vec<usize>,
    /// Whether the message has Han characters (then unspecified money is CNY).
    pub(crate) zh: bool,
}

impl<'a> Folded<'a> {
    pub(crate) fn new(original: &'a str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len() + 1);
        let mut zh = false;
        for (at, c) in original.char_indices() {
            let folded = fold_char(c);
            zh |= is_han(folded);
            let before = text.len();
            text.push(folded);
            origin.resize(origin.len() + (text.len() - before), at);
        }
        origin.push(original.len());
        Self { original, text, origin, zh }
    }

    /// The original byte range of the folded range `start..end` (both on folded char boundaries).
    pub(crate) fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let at = |i: usize| self.origin.get(i).copied().unwrap_or(self.original.len());
        (at(start), at(end))
    }

    /// The character just before byte `at` of the folded text.
    pub(crate) fn before(&self, at: usize) -> Option<char> {
        self.text.get(..at).and_then(|s| s.chars().next_back())
    }

    /// The character at byte `at` of the folded text.
    pub(crate) fn after(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|s| s.chars().next())
    }
}

/// The folding of one character (always exactly one character out).
pub(crate) fn fold_char(c: char) -> char {
    match c {
        // Full-width ASCII block.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' | '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => ' ',
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
        '\u{301C}' | '\u{223C}' => '~',
        '\u{FFE5}' => '¥',
        '\u{FFE1}' => '£',
        _ => c,
    }
}

pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// Clause punctuation (after folding): where a phrase ends.
pub(crate) fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        ',' | '.'
            | '!'
            | '?'
            | ';'
            | '\n'
            | '\r'
            | '。'
            | '、'
            | '…'
            | '~'
            | '('
            | ')'
            | '"'
            | '“'
            | '”'
            | '「'
            | '」'
            | '《'
            | '》'
            | '【'
            | '】'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_folds_and_maps_back() {
        let f = Folded::new("电话：１３８　１２３４");
        assert_eq!(f.text, "电话:138 1234");
        let start = f.text.find("138").unwrap_or(0);
        let (s, e) = f.original_range(start, f.text.len());
        assert_eq!(&f.original[s..e], "１３８　１２３４");
        assert!(f.zh);
    }
}
