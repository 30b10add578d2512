//! The encoders' tokenizers, from their `tokenizer.json`, through the `tokenizers` crate.
//!
//! A unigram (SentencePiece) model is swapped for [`CompactUnigram`]: the `tokenizers` crate's
//! own `Unigram` keeps its 250,002 XLM-R pieces in a byte trie whose every node holds a hash map,
//! 250–290 MB of memory for e5's tokenizer alone. `CompactUnigram` runs the same Viterbi search
//! (the crate's `encode_optimized`, step for step: same candidate order, ties, unknown-character
//! penalty and fusing of unknowns) over one hash map of pieces, about 25 MB. Everything else —
//! the normalizer (XLM-R's Precompiled charsmap), the Metaspace pre-tokenizer, the special tokens,
//! the `<s> … </s>` template, truncation — is the crate's own, read from the same file. A test
//! checks both give the same ids on a mixed corpus.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Token, Tokenizer, TokenizerImpl, Trainer, TruncationParams,
};

type Result<T> = tokenizers::Result<T>;

/// The unknown-character penalty of SentencePiece and the `tokenizers` crate.
const UNK_PENALTY: f64 = 10.0;

/// A tokenizer as the encoder uses it: text in, ids out (special tokens added, truncated).
pub(crate) enum TextTokenizer {
    /// Any model the `tokenizers` crate reads (MiniLM's WordPiece).
    Full(Box<Tokenizer>),
    /// A unigram model, held compactly.
    Unigram(
        Box<
            TokenizerImpl<
                CompactUnigram,
                NormalizerWrapper,
                PreTokenizerWrapper,
                PostProcessorWrapper,
                DecoderWrapper,
            >,
        >,
    ),
}

impl TextTokenizer {
    /// Reads a `tokenizer.json`; padding is turned off and inputs are truncated to `max_tokens`
    /// (special tokens included).
    pub(crate) fn from_bytes(bytes: &[u8], max_tokens: usize) -> Result<Self> {
        let mut json: serde_json::Value = serde_json::from_slice(bytes)?;
        let truncation = Some(TruncationParams { max_length: max_tokens, ..Default::default() });
        let unigram = json["model"]["type"] == "Unigram"
            && json["model"]["byte_fallback"].as_bool() != Some(true);
        if !unigram {
            let mut full = Tokenizer::from_bytes(bytes)?;
            full.with_truncation(truncation)?;
            full.with_padding(None);
            return Ok(Self::Full(Box::new(full)));
        }
        let model = json["model"].take();
        let vocab: Vec<(String, f64)> = serde_json::from_value(model["vocab"].clone())?;
        let unk_id = model["unk_id"].as_u64().map(|id| id as usize);
        let added: Vec<AddedToken> = serde_json::from_value(json["added_tokens"].take())
            .map_err(|e| format!("added_tokens: {e}"))?;
        // The rest of the file, around a one-piece model, gives the crate's own normalizer,
        // pre-tokenizer, post-processor and decoder.
        json["model"] =
            serde_json::json!({ "type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]] });
        json["added_tokens"] = serde_json::json!([]);
        let shell = Tokenizer::from_bytes(serde_json::to_vec(&json)?)?;
        let mut tokenizer = TokenizerImpl::new(CompactUnigram::new(vocab, unk_id)?);
        tokenizer.with_normalizer(shell.get_normalizer().cloned())?;
        tokenizer.with_pre_tokenizer(shell.get_pre_tokenizer().cloned());
        tokenizer.with_post_processor(shell.get_post_processor().cloned());
        tokenizer.with_decoder(shell.get_decoder().cloned());
        let (special, plain): (Vec<_>, Vec<_>) = added.into_iter().partition(|t| t.special);
        tokenizer.add_special_tokens(special)?;
        tokenizer.add_tokens(plain)?;
        tokenizer.with_truncation(truncation)?;
        tokenizer.with_padding(None);
        Ok(Self::Unigram(Box::new(tokenizer)))
    }

    /// The ids of `text`, with the special tokens, truncated.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = match self {
            Self::Full(t) => t.encode_fast(text, true)?,
            Self::Unigram(t) => t.encode_fast(text, true)?,
        };
        Ok(encoding.get_ids().to_vec())
    }

    /// Tokens in the vocabulary, added tokens included.
    pub(crate) fn vocab_size(&self) -> usize {
        match self {
            Self::Full(t) => t.get_vocab_size(true),
            Self::Unigram(t) => t.get_vocab_size(true),
        }
    }
}

/// A SentencePiece unigram model giving the `tokenizers` crate's `Unigram` results (without
/// byte fallback) from a hash map of its pieces.
#[derive(Debug, Clone)]
pub(crate) struct CompactUnigram {
    ids: HashMap<Box<str>, u32>,
    pieces: Vec<(Box<str>, f64)>,
    unk_id: Option<usize>,
    min_score: f64,
    /// The longest piece, in bytes.
    max_piece: usize,
}

impl CompactUnigram {
    pub(crate) fn new(vocab: Vec<(String, f64)>, unk_id: Option<usize>) -> Result<Self> {
        if unk_id.is_some_and(|id| id >= vocab.len()) {
            return Err("unk_id is not in the vocabulary".into());
        }
        let mut ids = HashMap::with_capacity(vocab.len());
        let mut min_score = f64::INFINITY;
        let mut max_piece = 0;
        let mut pieces = Vec::with_capacity(vocab.len());
        for (id, (piece, score)) in vocab.into_iter().enumerate() {
            // Like the crate: a repeated piece maps to its last id.
            ids.insert(piece.clone().into_boxed_str(), id as u32);
            min_score = min_score.min(score);
            max_piece = max_piece.max(piece.len());
            pieces.push((piece.into_boxed_str(), score));
        }
        Ok(Self { ids, pieces, unk_id, min_score, max_piece })
    }

    /// The best segmentation of `sentence` into pieces (unknown characters fused), as strings.
    fn encode(&self, sentence: &str) -> Result<Vec<(usize, usize, Option<u32>)>> {
        #[derive(Clone, Copy)]
        struct Best {
            id: Option<u32>,
            score: f64,
            starts_at: Option<usize>,
        }
        let size = sentence.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![Best { id: None, score: 0.0, starts_at: None }; size + 1];
        let mut starts_at = 0;
        while starts_at < size {
            let here = best[starts_at].score;
            let rest = &sentence[starts_at..];
            let first_char = rest.chars().next().map_or(1, char::len_utf8);
            let mut has_single = false;
            // Every prefix of `rest` that is a piece, shortest first (the trie's order).
            let ends = rest.char_indices().skip(1).map(|(i, _)| i).chain([rest.len()]);
            for end in ends.take_while(|&end| end <= self.max_piece) {
                let Some(&id) = self.ids.get(&rest[..end]) else { continue };
                let candidate = self.pieces[id as usize].1 + here;
                let target = &mut best[starts_at + end];
                if target.starts_at.is_none() || candidate > target.score {
                    *target = Best { id: Some(id), score: candidate, starts_at: Some(starts_at) };
                }
                has_single |= end == first_char;
            }
            if !has_single {
                let unk = self.unk_id.ok_or("the unigram model has no unk_id")?;
                let candidate = unk_score + here;
                let target = &mut best[starts_at + first_char];
                if target.starts_at.is_none() || candidate > target.score {
                    *target =
                        Best { id: Some(unk as u32), score: candidate, starts_at: Some(starts_at) };
                }
            }
            starts_at += first_char;
        }
        // Back from the end; runs of unknowns become one piece.
        let unk = self.unk_id.map(|id| id as u32);
        let mut out = Vec::new();
        let mut ends_at = size;
        let mut unknown_run: Option<(usize, usize)> = None;
        while ends_at > 0 {
            let node = best[ends_at];
            let starts_at = node.starts_at.ok_or("unreachable position in the lattice")?;
            if unk.is_some() && node.id == unk {
                let end = unknown_run.map_or(ends_at, |(_, end)| end);
                unknown_run = Some((starts_at, end));
            } else {
                if let Some((s, e)) = unknown_run.take() {
                    out.push((s, e, unk));
                }
                out.push((starts_at, ends_at, node.id));
            }
            ends_at = starts_at;
        }
        if let Some((s, e)) = unknown_run {
            out.push((s, e, unk));
        }
        out.reverse();
        Ok(out)
    }
}

impl Model for CompactUnigram {
    type Trainer = NoTrainer;

    fn tokenize(&self, sentence: &str) -> Result<Vec<Token>> {
        let mut tokens = Vec::new();
        for (start, end, _) in self.encode(sentence)? {
            let piece = &sentence[start..end];
            // As the crate does: a piece string maps to its id (the last of repeats); a fused run
            // of unknowns is not a piece and becomes `unk`.
            let id = match self.ids.get(piece) {
                Some(&id) => id,
                None => self.unk_id.ok_or("the unigram model has no unk_id")? as u32,
            };
            tokens.push(Token::new(id, piece.to_owned(), (start, end)));
        }
        Ok(tokens)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.pieces.get(id as usize).map(|(piece, _)| piece.to_string())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        self.ids.iter().map(|(piece, &id)| (piece.to_string(), id)).collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.pieces.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> Result<Vec<PathBuf>> {
        Err("the compact unigram model is read-only".into())
    }

    fn get_trainer(&self) -> NoTrainer {
        NoTrainer
    }
}

/// The compact model is never trained.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoTrainer;

impl Trainer for NoTrainer {
    type Model = CompactUnigram;

    fn should_show_progress(&self) -> bool {
        false
    }

    fn train(&self, _model: &mut CompactUnigram) -> Result<Vec<AddedToken>> {
        Err("the compact unigram model is read-only".into())
    }

    fn feed<I, S, F>(&mut self, _iterator: I, _process: F) -> Result<()>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
        F: Fn(&str) -> Result<Vec<String>> + Sync,
    {
        Err("the compact unigram model is read-only".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::unigram::Unigram;

    /// The crate's own unigram model on the same vocabulary.
    fn reference(vocab: Vec<(String, f64)>, unk_id: Option<usize>) -> Unigram {
        Unigram::from(vocab, unk_id, false).expect("unigram")
    }

    fn vocab() -> Vec<(String, f64)> {
        [
            ("<unk>", 0.0),
            ("▁", -2.0),
            ("a", -3.0),
            ("b", -3.5),
            ("ab", -4.0),
            ("▁ab", -4.5),
            ("abc", -9.0),
            ("c", -6.0),
            ("你", -5.0),
            ("你好", -5.5),
            ("好", -5.2),
            ("ab", -1.0), // a repeat: the crate maps "ab" to this id
        ]
        .into_iter()
        .map(|(p, s)| (p.to_owned(), s))
        .collect()
    }

    #[test]
    fn segments_like_the_crates_unigram() {
        let ours = CompactUnigram::new(vocab(), Some(0)).expect("compact");
        let theirs = reference(vocab(), Some(0));
        for text in ["▁abc", "abab", "▁你好ab", "xyz", "a×b÷c", "", "好你", "▁▁ab✓✓c", "c"]
        {
            let a = ours.tokenize(text).expect("ours");
            let b = theirs.tokenize(text).expect("theirs");
            assert_eq!(a, b, "{text:?}");
        }
        assert!(CompactUnigram::new(vocab(), Some(99)).is_err());
    }
}
