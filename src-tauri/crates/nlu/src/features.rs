//! Surface features of a message: hashed n-grams of its characters and words.
//!
//! The encoder's embedding carries meaning; these carry the exact wording (keywords, question
//! particles, typos' neighbours) that a frozen encoder blurs. A head sees both. Chinese is written
//! without spaces, so each Han character is a token and character bigrams and trigrams stand in
//! for words; Latin-script words are tokens, with their character trigrams for robustness to
//! typos. Digit runs become their shape (`#3` for three digits) so numbers generalise.

/// Hash space of the sparse features (buckets), a power of two.
pub const BUCKETS: u32 = 1 << 20;

/// A sparse feature vector: bucket indices in increasing order, with their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }
}

/// Folds full-width ASCII to half-width, the ideographic space to a space, and lower-cases.
pub fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `c` is a Han character (CJK unified ideographs and their extensions A, compatibility).
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// The main language of a message: `zh` if it has Han characters and they are not outnumbered by
/// Latin-script words, else `en`.
pub fn language(text: &str) -> &'static str {
    let han = text.chars().filter(|&c| is_han(c)).count();
    let words = text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 2).count();
    if han > 0 && han * 2 >= words { "zh" } else { "en" }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Han(char),
    Word(String),
    Number(usize),
    Symbol(char),
}

impl Token {
    fn write(&self, out: &mut String) {
        match self {
            Token::Han(c) | Token::Symbol(c) => out.push(*c),
            Token::Word(w) => out.push_str(w),
            Token::Number(n) => {
                out.push('#');
                out.push_str(&n.to_string());
            }
        }
    }
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_han(c) {
            out.push(Token::Han(c));
        } else if c.is_alphabetic() {
            let mut word = String::from(c);
            while let Some(&n) = chars.peek() {
                if n.is_alphabetic() && !is_han(n) || n == '\'' {
                    word.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(word));
        } else if c.is_ascii_digit() {
            let mut n = 1;
            while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                n += 1;
                chars.next();
            }
            out.push(Token::Number(n.min(12)));
        } else if c.is_whitespace() {
            continue;
        } else if matches!(c, '?' | '!' | '？' | '！' | '~' | '…') || !c.is_ascii() {
            // Question and exclamation marks, emoji and CJK punctuation carry intent and tone.
            out.push(Token::Symbol(c));
        }
    }
    out
}

/// FNV-1a, 64 bit: stable across platforms and releases (the hash is part of a saved head).
fn fnv1a(namespace: u8, text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(namespace).chain(text.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The hashed n-gram features of `text`, binary and scaled to unit length.
pub fn ngrams(text: &str) -> SparseVec {
    let norm = normalise(text);
    let toks = tokens(&norm);
    let mut buckets: Vec<u32> = Vec::with_capacity(toks.len() * 4);
    let mut key = String::new();
    let mut push = |namespace: u8, key: &str| {
        buckets.push((fnv1a(namespace, key) % u64::from(BUCKETS)) as u32);
    };
    // Token 1-, 2- and 3-grams with sentence boundaries, so "吗" at the end differs from inside.
    let n = toks.len();
    for i in 0..n {
        for len in 1..=3 {
            if i + len > n {
                break;
            }
            key.clear();
            for t in &toks[i..i + len] {
                t.write(&mut key);
                key.push(' ');
            }
            push(len as u8, &key);
        }
    }
    if let Some(first) = toks.first() {
        key.clear();
        key.push('^');
        first.write(&mut key);
        push(4, &key);
    }
    if let Some(last) = toks.last() {
        key.clear();
        last.write(&mut key);
        key.push('$');
        push(4, &key);
    }
    // Character trigrams of Latin words, padded, for typos and inflections.
    for t in &toks {
        if let Token::Word(w) = t {
            let padded: Vec<char> = std::iter::once('<').chain(w.chars()).chain(['>']).collect();
            for tri in padded.windows(3) {
                key.clear();
                key.extend(tri);
                push(5, &key);
            }
        }
    }
    if n == 0 {
        push(6, "<empty>");
    }
    buckets.sort_unstable();
    buckets.dedup();
    let value = 1.0 / (buckets.len() as f32).sqrt();
    SparseVec { values: vec![value; buckets.len()], indices: buckets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_unique_and_unit_length() {
        for text in
            ["性价比高的云服务器，还要支持异地备份", "How much is the PRO plan?", "", "🙂🙂"]
        {
            let f = ngrams(text);
            assert!(!f.is_empty(), "{text}");
            assert!(f.indices.windows(2).all(|w| w[0] < w[1]), "{text}");
            let norm: f32 = f.values.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-4, "{text}: {norm}");
        }
    }

    #[test]
    fn full_width_and_case_fold_to_the_same_features() {
        // `？` folds to `?`, so the two spellings are identical.
        assert_eq!(ngrams("ＳＳＯ支持吗？"), ngrams("sso支持吗?"));
        assert_eq!(ngrams("Price PLEASE"), ngrams("price please"));
    }

    #[test]
    fn numbers_generalise_by_shape() {
        assert_eq!(ngrams("预算 5000"), ngrams("预算 8000"));
        assert_ne!(ngrams("预算 5000"), ngrams("预算 50000"));
    }

    #[test]
    fn language_follows_the_script() {
        assert_eq!(language("这个plan支持SSO吗"), "zh");
        assert_eq!(language("Do you support SSO?"), "en");
        assert_eq!(language("ok 好的"), "zh");
        assert_eq!(language("123"), "en");
    }
}
