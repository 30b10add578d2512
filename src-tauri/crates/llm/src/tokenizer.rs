//! The tokenizer, rebuilt from a GGUF file's own `tokenizer.ggml.*` metadata, so an imported
//! model needs no `tokenizer.json` beside it.
//!
//! Two vocabularies are understood, as llama.cpp reads them:
//! - `gpt2`: byte-level BPE (Qwen2/2.5/3, SmolLM2, Llama 3). Merges come from
//!   `tokenizer.ggml.merges`; the text is first split by the regexes llama.cpp uses for the
//!   file's `tokenizer.ggml.pre` (for `qwen2`, the exact regex and NFC normalizer of Qwen's own
//!   `tokenizer.json`).
//! - `llama`: SentencePiece BPE (Llama 2, Gemma). The merges are derived from the pieces' scores
//!   (a merge's rank is its result's score, as SentencePiece and llama.cpp merge), spaces become
//!   `▁`, and characters outside the vocabulary fall back to `<0xXX>` byte tokens.
//!
//! Control, user-defined and unknown tokens (`<|im_start|>`, `<tool_call>`, `<unk>`) become added
//! tokens, so they are never split when special tokens are recognised. The `tokenizers` crate
//! encodes; decoding goes through a table of the bytes each token stands for instead of its
//! decoders, which lets [`TokenStream`] hand out text as soon as its UTF-8 is complete, never
//! half a character, and makes the joined stream equal [`GgufTokenizer::decode`] exactly.

use crate::LlmError;
use candle_core::quantized::gguf_file::{Content, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::normalizers::utils::Sequence as NormalizerSequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// SentencePiece's visible space.
const SPIECE_SPACE: &str = "\u{2581}";

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(value: i64) -> Option<Self> {
        Some(match value {
            // 0 is "undefined" in llama.cpp; it treats such tokens as normal.
            0 | 1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Tokens matched in the raw text before the model runs, so they are never split.
    fn is_added(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// How pieces turn back into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// GPT-2 byte-level BPE: every character of a piece stands for one byte.
    ByteLevel,
    /// SentencePiece: `▁` is a space, `<0xXX>` is a byte; `strip_space` removes the space that
    /// encoding put in front of the text.
    SentencePiece { strip_space: bool },
}

/// The bytes each token id stands for, in one buffer.
#[derive(Debug)]
struct Pieces {
    bytes: Vec<u8>,
    /// `ends[id]` is where token `id`'s bytes end in `bytes`; they start at `ends[id - 1]`.
    ends: Vec<usize>,
}

impl Pieces {
    fn get(&self, id: u32) -> Option<&[u8]> {
        let id = id as usize;
        let end = *self.ends.get(id)?;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        Some(&self.bytes[start..end])
    }
}

/// A tokenizer built from a GGUF file: encode, decode, the special ids, and streaming decode.
#[derive(Debug)]
pub struct GgufTokenizer {
    /// Recognises the added tokens written in the text.
    inner: Tokenizer,
    /// The same tokenizer with special tokens treated as plain text; cloned on first use.
    literal: OnceLock<Tokenizer>,
    pieces: Pieces,
    style: Style,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    stop_ids: Vec<u32>,
}

impl GgufTokenizer {
    /// Token ids for `text`. With `with_special`, special tokens written in the text
    /// (`<|im_start|>`) become their ids and a BOS is put first when the model asks for one
    /// (`tokenizer.ggml.add_bos_token`) and the text does not already start with it. Without it,
    /// the text is taken literally: `<|im_start|>` is split like any other text (use this for
    /// text that came from a customer) and no BOS is added. Qwen's vocabulary normalizes the text
    /// to NFC first, as its own tokenizer does.
    pub fn encode(&self, text: &str, with_special: bool) -> Result<Vec<u32>, LlmError> {
        let tokenizer = if with_special { &self.inner } else { self.literal() };
        let encoding = tokenizer
            .encode_fast(text, false)
            .map_err(|e| LlmError::Tokenizer(format!("encoding failed: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        if with_special
            && self.add_bos
            && let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// Token ids for a prompt made of template markup (special tokens recognised) and message
    /// text (taken literally), with the BOS first when the model asks for one. The text of a
    /// message can therefore never produce a control token.
    pub fn encode_prompt(&self, parts: &[crate::chat::Part<'_>]) -> Result<Vec<u32>, LlmError> {
        let mut ids = Vec::new();
        for part in parts {
            let (tokenizer, text) = match part {
                crate::chat::Part::Markup(m) => (&self.inner, m.as_str()),
                crate::chat::Part::Text(t) => (self.literal(), *t),
            };
            if text.is_empty() {
                continue;
            }
            let encoding = tokenizer
                .encode_fast(text, false)
                .map_err(|e| LlmError::Tokenizer(format!("encoding failed: {e}")))?;
            ids.extend_from_slice(encoding.get_ids());
        }
        if self.add_bos
            && let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// The text of `ids`. Special tokens are written out (`<|im_end|>`), except a BOS the model
    /// adds by itself; bytes that are not valid UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        let mut stream = self.stream();
        let mut text = String::new();
        for &id in ids {
            if let Some(piece) = stream.next(self, id)? {
                text.push_str(&piece);
            }
        }
        text.push_str(&stream.flush(self)?);
        Ok(text)
    }

    /// A streaming decoder for ids produced one at a time.
    pub fn stream(&self) -> TokenStream {
        TokenStream { pending: Vec::new(), started: false }
    }

    /// The beginning-of-sequence id (`tokenizer.ggml.bos_token_id`), if the file names one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence id (`tokenizer.ggml.eos_token_id`), if the file names one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether [`encode`](Self::encode) with special tokens puts the BOS first.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Ids that end a generation: the EOS, the end-of-turn id if the file names one, and for
    /// ChatML models `<|im_end|>`.
    pub fn stop_ids(&self) -> Vec<u32> {
        self.stop_ids.clone()
    }

    /// The id of a token given by its text as it appears in the vocabulary (`<|im_end|>`,
    /// `Ġthe`, `▁the`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// How many ids there are (`tokenizer.ggml.tokens`).
    pub fn vocab_size(&self) -> usize {
        self.pieces.ends.len()
    }

    fn literal(&self) -> &Tokenizer {
        self.literal.get_or_init(|| {
            let mut literal = self.inner.clone();
            literal.set_encode_special_tokens(true);
            literal
        })
    }

    fn piece(&self, id: u32) -> Result<&[u8], LlmError> {
        self.pieces.get(id).ok_or_else(|| {
            LlmError::Tokenizer(format!(
                "token id {id} is outside the vocabulary of {} tokens",
                self.vocab_size()
            ))
        })
    }
}

/// Turns ids into text as they are generated, like candle-examples' `TokenOutputStream`, but on
/// bytes: a piece is handed out as soon as its UTF-8 is complete, so a character whose bytes
/// span several tokens (rare Chinese characters, emoji) is never split, and the pieces joined
/// are exactly [`GgufTokenizer::decode`] of the ids.
#[derive(Debug, Clone)]
pub struct TokenStream {
    /// Bytes not yet handed out: an incomplete UTF-8 sequence at the end.
    pending: Vec<u8>,
    /// Whether any byte has been seen (a SentencePiece decode drops the first space).
    started: bool,
}

impl TokenStream {
    /// Feeds one id; returns the text completed by it, if any.
    pub fn next(&mut self, tokenizer: &GgufTokenizer, id: u32) -> Result<Option<String>, LlmError> {
        if tokenizer.add_bos && tokenizer.bos == Some(id) {
            return Ok(None);
        }
        let mut bytes = tokenizer.piece(id)?;
        if !self.started && !bytes.is_empty() {
            self.started = true;
            if tokenizer.style == (Style::SentencePiece { strip_space: true }) {
                bytes = bytes.strip_prefix(b" ").unwrap_or(bytes);
            }
        }
        self.pending.extend_from_slice(bytes);
        let text = take_complete_utf8(&mut self.pending);
        Ok((!text.is_empty()).then_some(text))
    }

    /// Ends the stream: whatever bytes are left, an incomplete character as U+FFFD. (The
    /// tokenizer is taken like [`next`](Self::next)'s, though the bytes left need no table.)
    pub fn flush(&mut self, _tokenizer: &GgufTokenizer) -> Result<String, LlmError> {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        Ok(text)
    }
}

/// Removes and returns the longest prefix of `bytes` that is complete UTF-8, with invalid
/// sequences as U+FFFD (as `String::from_utf8_lossy` would); an incomplete sequence at the end
/// stays in `bytes`.
fn take_complete_utf8(bytes: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut rest: &[u8] = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                rest = &[];
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // `valid` was just checked.
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(len) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[len..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let kept = rest.len();
    bytes.drain(..bytes.len() - kept);
    text
}

/// Builds the tokenizer from `content`, the metadata of the GGUF file at `path` (named in
/// errors).
pub fn from_gguf(content: &Content, path: &Path) -> Result<GgufTokenizer, LlmError> {
    let meta = Metadata { content, path };
    let model = meta.string("tokenizer.ggml.model")?;
    let tokens = meta.strings("tokenizer.ggml.tokens")?;
    if tokens.is_empty() {
        return Err(meta.bad("tokenizer.ggml.tokens", "the vocabulary is empty".into()));
    }
    let types = meta.token_types(tokens.len())?;
    let bos = meta.optional_id("tokenizer.ggml.bos_token_id", tokens.len())?;
    let eos = meta.optional_id("tokenizer.ggml.eos_token_id", tokens.len())?;
    let eot = meta.optional_id("tokenizer.ggml.eot_token_id", tokens.len())?;

    let (mut inner, style, add_bos) = match model {
        "gpt2" => {
            let name = meta.optional_string("tokenizer.ggml.pre")?.unwrap_or("default");
            let pre = PreTokenizer::named(name).ok_or_else(|| {
                meta.bad(
                    "tokenizer.ggml.pre",
                    format!(
                        "pre-tokenizer {name:?} is not supported; supported: qwen2, llama-bpe, \
                         smollm, gpt-2, default and their aliases"
                    ),
                )
            })?;
            let add_bos =
                meta.optional_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(pre.add_bos);
            (byte_level_bpe(&meta, &tokens, pre)?, Style::ByteLevel, add_bos)
        }
        "llama" => {
            // llama.cpp's defaults for SentencePiece vocabularies.
            let add_bos = meta.optional_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(true);
            let add_space = meta.optional_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            let unk = meta.optional_id("tokenizer.ggml.unknown_token_id", tokens.len())?;
            let tokenizer = sentencepiece_bpe(&meta, &tokens, &types, unk, add_space)?;
            (tokenizer, Style::SentencePiece { strip_space: add_space }, add_bos)
        }
        other => {
            return Err(meta.bad(
                "tokenizer.ggml.model",
                format!("{other:?} is not supported; supported: gpt2 (byte-level BPE), llama (SentencePiece)"),
            ))
        }
    };
    if add_bos && bos.is_none() {
        return Err(LlmError::MissingMetadata {
            path: path.to_path_buf(),
            key: "tokenizer.ggml.bos_token_id".into(),
        });
    }

    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(token, kind)| kind.is_added() && !token.is_empty())
        .map(|(token, kind)| {
            AddedToken::from(*token, *kind != TokenType::UserDefined)
                .normalized(false)
                .single_word(false)
                .lstrip(false)
                .rstrip(false)
        })
        .collect();
    inner
        .add_special_tokens(added)
        .map_err(|e| meta.bad("tokenizer.ggml.token_type", format!("special tokens: {e}")))?;

    let mut stop_ids: Vec<u32> = [eos, eot].into_iter().flatten().collect();
    if let Some(im_end) = tokens.iter().position(|t| *t == "<|im_end|>")
        && types[im_end] == TokenType::Control
    {
        stop_ids.push(im_end as u32);
    }
    let mut seen = std::collections::HashSet::new();
    stop_ids.retain(|id| seen.insert(*id));

    Ok(GgufTokenizer {
        inner,
        literal: OnceLock::new(),
        pieces: pieces(&tokens, &types, style),
        style,
        bos,
        eos,
        add_bos,
        stop_ids,
    })
}

/// How a byte-level vocabulary splits text before BPE, by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy)]
struct PreTokenizer {
    /// Split regexes applied one after the other (each match and each gap becomes a piece).
    regexes: &'static [&'static str],
    /// Take a whole piece that is in the vocabulary without merging (Llama 3).
    ignore_merges: bool,
    /// Whether a BOS is added when the file does not say (`tokenizer.ggml.add_bos_token`).
    add_bos: bool,
    /// Normalize to NFC first, as Qwen's `tokenizer.json` does.
    nfc: bool,
}

impl PreTokenizer {
    /// The settings llama.cpp (`llama-vocab.cpp`) gives each `tokenizer.ggml.pre` it knows;
    /// `None` for one it does not. Where llama.cpp rewrote a `tokenizer.json` regex for its own
    /// regex engine (the case-insensitive contractions), the original is kept: the `tokenizers`
    /// crate runs it as is.
    fn named(pre: &str) -> Option<Self> {
        const GPT2: &str =
            r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
        const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        let split = |regexes: &'static [&'static str]| Self {
            regexes,
            ignore_merges: false,
            add_bos: false,
            nfc: false,
        };
        Some(match pre {
            "qwen2" => Self { nfc: true, ..split(&[QWEN2]) },
            "deepseek-r1-qwen" | "megrez" | "stablelm2" => split(&[QWEN2]),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => {
                Self { ignore_merges: true, add_bos: true, ..split(&[LLAMA3]) }
            }
            "dbrx" | "smaug-bpe" => split(&[LLAMA3]),
            // Digits one by one, then GPT-2's split.
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => split(&[r"\p{N}", GPT2]),
            "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "trillion" | "exaone4" => {
                split(&[GPT2])
            }
            "default" => split(&[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"]),
            _ => return None,
        })
    }
}

fn byte_level_bpe(
    meta: &Metadata,
    tokens: &[&str],
    pre: PreTokenizer,
) -> Result<Tokenizer, LlmError> {
    let merges = meta
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(left, right)| (left.to_owned(), right.to_owned()))
                .ok_or_else(|| {
                    meta.bad("tokenizer.ggml.merges", format!("{merge:?} is not two tokens"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vocab: Vocab =
        tokens.iter().enumerate().map(|(id, token)| (token.to_string(), id as u32)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(|e| meta.bad("tokenizer.ggml.merges", e.to_string()))?;

    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(pre.regexes.len() + 1);
    for regex in pre.regexes {
        let split = Split::new(
            SplitPattern::Regex((*regex).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| LlmError::Tokenizer(format!("pre-tokenizer regex {regex:?}: {e}")))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());

    let mut tokenizer = Tokenizer::new(bpe);
    if pre.nfc {
        tokenizer
            .with_normalizer(Some(NFC))
            .map_err(|e| LlmError::Tokenizer(format!("normalizer: {e}")))?;
    }
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    Ok(tokenizer)
}

fn sentencepiece_bpe(
    meta: &Metadata,
    tokens: &[&str],
    types: &[TokenType],
    unk: Option<u32>,
    add_space: bool,
) -> Result<Tokenizer, LlmError> {
    let scores = meta.floats("tokenizer.ggml.scores")?;
    if scores.len() != tokens.len() {
        return Err(meta.bad(
            "tokenizer.ggml.scores",
            format!("{} scores for {} tokens", scores.len(), tokens.len()),
        ));
    }
    let vocab: Vocab =
        tokens.iter().enumerate().map(|(id, token)| (token.to_string(), id as u32)).collect();

    // SentencePiece merges the adjacent pair whose union is the best-scoring normal piece. As BPE
    // merges: every split of a normal piece into two known pieces, ranked by the piece's score
    // (ties in vocabulary order, as Hugging Face's SentencePiece converter does).
    let mut merges: Vec<(f32, usize, u32, u32)> = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        if types[id] != TokenType::Normal {
            continue;
        }
        let mut splits: Vec<(u32, u32)> = token
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (left, right) = token.split_at(at);
                Some((*vocab.get(left)?, *vocab.get(right)?))
            })
            .collect();
        splits.sort_unstable();
        merges.extend(splits.into_iter().map(|(left, right)| (scores[id], id, left, right)));
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges = merges
        .into_iter()
        .map(|(_, _, left, right)| {
            (tokens[left as usize].to_owned(), tokens[right as usize].to_owned())
        })
        .collect();

    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(tokens[unk as usize].to_owned());
    }
    let bpe = builder.build().map_err(|e| meta.bad("tokenizer.ggml.scores", e.to_string()))?;

    let normalizer_error = |e: tokenizers::Error| LlmError::Tokenizer(format!("normalizer: {e}"));
    let replace_space = Replace::new(" ", SPIECE_SPACE).map_err(normalizer_error)?;
    let normalizer: NormalizerWrapper = if add_space {
        NormalizerSequence::new(vec![
            Prepend::new(SPIECE_SPACE.to_owned()).into(),
            replace_space.into(),
        ])
        .into()
    } else {
        replace_space.into()
    };
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_normalizer(Some(normalizer)).map_err(normalizer_error)?;
    Ok(tokenizer)
}

/// The bytes of every token, as the model's decoder would write them.
fn pieces(tokens: &[&str], types: &[TokenType], style: Style) -> Pieces {
    let byte_of_char = byte_level_decoding_table();
    let mut bytes = Vec::with_capacity(tokens.iter().map(|t| t.len()).sum());
    let mut ends = Vec::with_capacity(tokens.len());
    for (token, kind) in tokens.iter().zip(types) {
        match (style, kind) {
            (Style::ByteLevel, TokenType::Normal) => {
                let start = bytes.len();
                for c in token.chars() {
                    let Some(byte) = byte_of_char.get(c as usize).copied().flatten() else {
                        // A piece outside the byte alphabet is written as it is.
                        bytes.truncate(start);
                        bytes.extend_from_slice(token.as_bytes());
                        break;
                    };
                    bytes.push(byte);
                }
            }
            (Style::SentencePiece { .. }, TokenType::Byte) => match parse_byte_token(token) {
                Some(byte) => bytes.push(byte),
                None => bytes.extend_from_slice(token.as_bytes()),
            },
            (Style::SentencePiece { .. }, _) => {
                bytes.extend_from_slice(token.replace(SPIECE_SPACE, " ").as_bytes())
            }
            // Special and added tokens are written as their text.
            (Style::ByteLevel, _) => bytes.extend_from_slice(token.as_bytes()),
        }
        ends.push(bytes.len());
    }
    Pieces { bytes, ends }
}

/// `<0x41>` → 0x41.
fn parse_byte_token(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte-to-character alphabet, inverted: `table[c]` is the byte that character `c`
/// stands for. Printable Latin-1 bytes stand for themselves, the other 68 for U+0100 onwards.
fn byte_level_decoding_table() -> [Option<u8>; 0x144] {
    let mut table = [None; 0x144];
    let mut next = 0x100;
    for b in 0..=255u8 {
        if matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF) {
            table[usize::from(b)] = Some(b);
        } else {
            table[next] = Some(b);
            next += 1;
        }
    }
    table
}

/// Typed access to the metadata of one file.
struct Metadata<'a> {
    content: &'a Content,
    path: &'a Path,
}

impl<'a> Metadata<'a> {
    fn path(&self) -> PathBuf {
        self.path.to_path_buf()
    }

    fn bad(&self, key: &str, reason: String) -> LlmError {
        LlmError::TokenizerMetadata { path: self.path(), key: key.to_owned(), reason }
    }

    fn get(&self, key: &str) -> Result<&'a Value, LlmError> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| LlmError::MissingMetadata { path: self.path(), key: key.to_owned() })
    }

    fn string(&self, key: &str) -> Result<&'a str, LlmError> {
        match self.get(key)? {
            Value::String(s) => Ok(s),
            other => {
                Err(self.bad(key, format!("expected a string, found {:?}", other.value_type())))
            }
        }
    }

    fn optional_string(&self, key: &str) -> Result<Option<&'a str>, LlmError> {
        if self.content.metadata.contains_key(key) { self.string(key).map(Some) } else { Ok(None) }
    }

    fn optional_bool(&self, key: &str) -> Result<Option<bool>, LlmError> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => {
                Err(self.bad(key, format!("expected a bool, found {:?}", other.value_type())))
            }
        }
    }

    /// A token id that, when present, must name a token.
    fn optional_id(&self, key: &str, vocab_size: usize) -> Result<Option<u32>, LlmError> {
        let Some(value) = self.content.metadata.get(key) else { return Ok(None) };
        let id = integer(value)
            .ok_or_else(|| self.bad(key, format!("expected an integer, found {value:?}")))?;
        // llama.cpp writes -1 for "none".
        if id < 0 {
            return Ok(None);
        }
        if id as u64 >= vocab_size as u64 {
            return Err(self.bad(key, format!("id {id} is outside the {vocab_size} tokens")));
        }
        Ok(Some(id as u32))
    }

    fn array(&self, key: &str) -> Result<&'a [Value], LlmError> {
        match self.get(key)? {
            Value::Array(values) => Ok(values),
            other => {
                Err(self.bad(key, format!("expected an array, found {:?}", other.value_type())))
            }
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<&'a str>, LlmError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, value)| match value {
                Value::String(s) => Ok(s.as_str()),
                other => Err(self.bad(
                    key,
                    format!("element {i} is a {:?}, expected a string", other.value_type()),
                )),
            })
            .collect()
    }

    fn floats(&self, key: &str) -> Result<Vec<f32>, LlmError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, value)| match value {
                Value::F32(x) => Ok(*x),
                Value::F64(x) => Ok(*x as f32),
                other => Err(self.bad(
                    key,
                    format!("element {i} is a {:?}, expected a float", other.value_type()),
                )),
            })
            .collect()
    }

    /// `tokenizer.ggml.token_type`, or all normal when the file has none.
    fn token_types(&self, vocab_size: usize) -> Result<Vec<TokenType>, LlmError> {
        const KEY: &str = "tokenizer.ggml.token_type";
        if !self.content.metadata.contains_key(KEY) {
            return Ok(vec![TokenType::Normal; vocab_size]);
        }
        let values = self.array(KEY)?;
        if values.len() != vocab_size {
            return Err(self.bad(KEY, format!("{} types for {vocab_size} tokens", values.len())));
        }
        values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                integer(value).and_then(TokenType::from_gguf).ok_or_else(|| {
                    self.bad(KEY, format!("element {i} is {value:?}, not a token type"))
                })
            })
            .collect()
    }
}

fn integer(value: &Value) -> Option<i64> {
    Some(match *value {
        Value::U8(v) => v.into(),
        Value::I8(v) => v.into(),
        Value::U16(v) => v.into(),
        Value::I16(v) => v.into(),
        Value::U32(v) => v.into(),
        Value::I32(v) => v.into(),
        Value::U64(v) => i64::try_from(v).ok()?,
        Value::I64(v) => v,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_gpt2s_alphabet() {
        let table = byte_level_decoding_table();
        let byte = |c: char| table[c as usize];
        assert_eq!(byte('Ġ'), Some(b' '));
        assert_eq!(byte('Ċ'), Some(b'\n'));
        assert_eq!(byte('ĉ'), Some(b'\t'));
        assert_eq!(byte('A'), Some(b'A'));
        assert_eq!(byte('é'), Some(0xE9));
        assert_eq!(byte(' '), None);
        let mut bytes: Vec<u8> = table.iter().flatten().copied().collect();
        bytes.sort_unstable();
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
    }

    #[test]
    fn every_supported_pre_tokenizer_compiles() {
        let names = [
            "qwen2",
            "deepseek-r1-qwen",
            "megrez",
            "stablelm2",
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "pixtral",
            "dbrx",
            "smaug-bpe",
            "smollm",
            "starcoder",
            "refact",
            "command-r",
            "codeshell",
            "exaone",
            "minerva-7b",
            "gpt2",
            "gpt-2",
            "phi-2",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "exaone4",
            "default",
        ];
        for name in names {
            for regex in PreTokenizer::named(name).expect("listed").regexes {
                Split::new(
                    SplitPattern::Regex((*regex).to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{name}: {regex}: {e}"));
            }
        }
        assert!(PreTokenizer::named("no-such-pre").is_none());
    }

    #[test]
    fn complete_utf8_is_taken_and_the_incomplete_tail_kept() {
        let mut bytes = "价".as_bytes()[..2].to_vec();
        assert_eq!(take_complete_utf8(&mut bytes), "");
        assert_eq!(bytes.len(), 2);
        bytes.extend_from_slice(&"价".as_bytes()[2..]);
        bytes.extend_from_slice(&"😀".as_bytes()[..1]);
        assert_eq!(take_complete_utf8(&mut bytes), "价");
        assert_eq!(bytes, &"😀".as_bytes()[..1]);
        let mut invalid = vec![b'a', 0xFF, b'b', 0xE4];
        assert_eq!(take_complete_utf8(&mut invalid), "a\u{FFFD}b");
        assert_eq!(invalid, [0xE4]);
    }

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(b'\n'));
        assert_eq!(parse_byte_token("<0xE4>"), Some(0xE4));
        assert_eq!(parse_byte_token("<0x0A"), None);
        assert_eq!(parse_byte_token("<0x100>"), None);
    }
}
