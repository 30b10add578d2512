//! The tokenizer rebuilt from GGUF metadata, checked against the official Qwen `tokenizer.json`
//! on a bilingual sales corpus, on SmolLM2's file, and on a small SentencePiece vocabulary made
//! here; the streaming decoder never hands out half a character; bad metadata is a typed error.
//!
//! Nothing skips. Missing files fail, naming the command that provides them:
//! - the Qwen and SmolLM2 GGUFs: `closer models fetch <id>` (into `$CLOSER_MODELS_DIR`), or
//!   `CLOSER_TEST_QWEN_GGUF` / `CLOSER_TEST_SMOLLM_GGUF` pointing at a file;
//! - the official Qwen tokenizer: `bash .ci/fixtures` (`$CLOSER_QWEN_TOKENIZER_JSON`, else
//!   `$CLOSER_CACHE/fixtures/qwen-tokenizer.json`, else `~/.cache/closer/fixtures/…`).

use candle_core::quantized::gguf_file::{self, Content, Value, VersionedMagic};
use closer_llm::tokenizer::{self, GgufTokenizer};
use closer_llm::{LlmError, catalog};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CORPUS: &str = include_str!("data/tokenizer_corpus.txt");

fn corpus_lines() -> Vec<&'static str> {
    let lines: Vec<&str> = CORPUS.strip_suffix('\n').unwrap_or(CORPUS).split('\n').collect();
    assert!(lines.len() >= 1000, "the corpus has only {} lines", lines.len());
    lines
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// A model file: `$override_var`, else the installed `id` in the models directory.
fn model_file(override_var: &str, id: &str) -> PathBuf {
    let path =
        env_path(override_var).unwrap_or_else(|| catalog::model_path(&catalog::models_dir(), id));
    assert!(
        path.is_file(),
        "{} is missing: run `closer models fetch {id}` (or set {override_var} to a GGUF file)",
        path.display()
    );
    path
}

fn qwen_tokenizer_json() -> PathBuf {
    let path = env_path("CLOSER_QWEN_TOKENIZER_JSON").unwrap_or_else(|| {
        env_path("CLOSER_CACHE")
            .or_else(|| dirs::home_dir().map(|home| home.join(".cache").join("closer")))
            .expect("neither CLOSER_CACHE nor a home directory is set")
            .join("fixtures")
            .join("qwen-tokenizer.json")
    });
    assert!(
        path.is_file(),
        "{} is missing: run `bash .ci/fixtures` (or set CLOSER_QWEN_TOKENIZER_JSON)",
        path.display()
    );
    path
}

fn read_content(path: &Path) -> Content {
    let mut file = std::fs::File::open(path).expect("the GGUF file opens");
    Content::read(&mut file).expect("the GGUF header reads")
}

/// A real model's tokenizer, its token list as written in the GGUF, and how long it took.
struct Model {
    tokenizer: GgufTokenizer,
    tokens: Vec<String>,
    read: Duration,
    built: Duration,
}

/// Loaded once per test binary.
fn load(cell: &'static OnceLock<Model>, override_var: &str, id: &str) -> &'static Model {
    cell.get_or_init(|| {
        let path = model_file(override_var, id);
        let started = Instant::now();
        let content = read_content(&path);
        let read = started.elapsed();
        let tokenizer =
            tokenizer::from_gguf(&content, &path).expect("the tokenizer builds from the GGUF");
        let built = started.elapsed() - read;
        let tokens = match &content.metadata["tokenizer.ggml.tokens"] {
            Value::Array(values) => {
                values.iter().map(|v| v.to_string().expect("tokens are strings").clone()).collect()
            }
            other => panic!("tokenizer.ggml.tokens is {other:?}"),
        };
        Model { tokenizer, tokens, read, built }
    })
}

fn qwen() -> &'static Model {
    static QWEN: OnceLock<Model> = OnceLock::new();
    load(&QWEN, "CLOSER_TEST_QWEN_GGUF", "qwen2.5-coder-0.5b-instruct")
}

fn smollm() -> &'static Model {
    static SMOLLM: OnceLock<Model> = OnceLock::new();
    load(&SMOLLM, "CLOSER_TEST_SMOLLM_GGUF", "smollm2-135m-instruct")
}

/// Streams `ids` one at a time; returns the pieces and how many ids produced no text yet.
fn stream_pieces(tokenizer: &GgufTokenizer, ids: &[u32]) -> (Vec<String>, usize) {
    let mut stream = tokenizer.stream();
    let mut pieces = Vec::new();
    let mut held = 0;
    for &id in ids {
        match stream.next(tokenizer, id).expect("a known id streams") {
            Some(piece) => pieces.push(piece),
            None => held += 1,
        }
    }
    let tail = stream.flush(tokenizer).expect("the stream flushes");
    if !tail.is_empty() {
        pieces.push(tail);
    }
    (pieces, held)
}

#[test]
fn qwen_matches_the_official_tokenizer_on_the_corpus() {
    let qwen = qwen();
    let ours = &qwen.tokenizer;
    let official =
        tokenizers::Tokenizer::from_file(qwen_tokenizer_json()).expect("the official file loads");
    // Taken literally, control tokens are text (as in llama.cpp). The GGUF marks the FIM and
    // repo tokens as control tokens where tokenizer.json calls them not special: say so here too.
    let mut literal = official.clone();
    let control = [
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
    ]
    .map(|t| tokenizers::AddedToken::from(t, true).normalized(false));
    literal.add_special_tokens(control).expect("marking control tokens special");
    literal.set_encode_special_tokens(true);

    // Every line, then the corpus as chat transcripts of 8 lines (newlines inside the text).
    let lines = corpus_lines();
    let transcripts: Vec<String> = lines.chunks(8).map(|chunk| chunk.join("\n")).collect();
    let texts: Vec<&str> =
        lines.iter().copied().chain(transcripts.iter().map(String::as_str)).collect();

    let encode_started = Instant::now();
    let (mut tokens, mut mismatches, mut round_trip_failures) = (0usize, Vec::new(), Vec::new());
    for text in &texts {
        let expected = official.encode(*text, true).expect("official encode").get_ids().to_vec();
        let got = ours.encode(text, true).expect("our encode");
        tokens += expected.len();
        if got != expected {
            mismatches.push(format!("{text:?}\n  official {expected:?}\n  ours     {got:?}"));
        }
        let decoded = ours.decode(&got).expect("our decode");
        let official_decoded = official.decode(&expected, false).expect("official decode");
        if decoded != *text || decoded != official_decoded {
            round_trip_failures
                .push(format!("{text:?} -> {decoded:?} (official {official_decoded:?})"));
        }
        // Taken literally: as the official tokenizer with special tokens switched off.
        let expected = literal.encode(*text, true).expect("official encode").get_ids().to_vec();
        if ours.encode(text, false).expect("our literal encode") != expected {
            mismatches.push(format!("{text:?} (literal)"));
        }
    }
    eprintln!(
        "qwen tokenizer vs official tokenizer.json: {} lines + {} transcripts, {tokens} tokens \
         compared, {} mismatches, {} round-trip failures (metadata read in {:.0} ms, tokenizer \
         built in {:.0} ms, compared in {:.0} ms)",
        lines.len(),
        transcripts.len(),
        mismatches.len(),
        round_trip_failures.len(),
        qwen.read.as_secs_f64() * 1000.0,
        qwen.built.as_secs_f64() * 1000.0,
        encode_started.elapsed().as_secs_f64() * 1000.0,
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches; first:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
    assert!(
        round_trip_failures.is_empty(),
        "{}",
        round_trip_failures[..round_trip_failures.len().min(5)].join("\n")
    );
}

#[test]
fn qwen_specials_and_stop_ids() {
    let qwen = &qwen().tokenizer;
    assert_eq!(qwen.vocab_size(), 151_936);
    assert_eq!(qwen.token_id("<|endoftext|>"), Some(151_643));
    assert_eq!(qwen.token_id("<|im_start|>"), Some(151_644));
    assert_eq!(qwen.token_id("<|im_end|>"), Some(151_645));
    assert_eq!(qwen.eos_id(), Some(151_645));
    assert!(!qwen.adds_bos(), "Qwen adds no BOS");
    assert_eq!(qwen.stop_ids(), [151_645]);

    let prompt = "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n";
    let ids = qwen.encode(prompt, true).expect("encode");
    assert_eq!(ids[0], 151_644);
    assert_eq!(ids.iter().filter(|&&id| id == 151_644).count(), 2);
    assert_eq!(ids.iter().filter(|&&id| id == 151_645).count(), 1);
    assert_eq!(qwen.decode(&ids).expect("decode"), prompt);

    // A customer who types a special token gets text, not a control token.
    let literal = qwen.encode(prompt, false).expect("encode");
    assert!(literal.iter().all(|id| *id < 151_643), "{literal:?}");
    assert_eq!(qwen.decode(&literal).expect("decode"), prompt);

    assert!(matches!(qwen.decode(&[200_000]), Err(LlmError::Tokenizer(_))));
}

#[test]
fn smollm2_round_trips_and_keeps_its_specials_whole() {
    let Model { tokenizer: smollm, tokens, .. } = smollm();
    assert_eq!(smollm.vocab_size(), tokens.len());
    for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        let id = smollm.token_id(special).expect("a special token of SmolLM2");
        assert_eq!(tokens[id as usize], special, "id {id} in the GGUF's token list");
        assert_eq!(smollm.encode(special, true).expect("encode"), [id]);
    }
    let im_start = smollm.token_id("<|im_start|>").expect("<|im_start|>");
    let im_end = smollm.token_id("<|im_end|>").expect("<|im_end|>");
    assert_eq!((im_start, im_end), (1, 2));
    assert_eq!(smollm.eos_id(), Some(im_end));
    assert!(smollm.stop_ids().contains(&im_end));
    assert!(!smollm.adds_bos());

    // The smollm pre-tokenizer splits digits one by one; spaces are `Ġ`. These ids agree with
    // the token strings in the GGUF and with an independent GGUF tokenizer's self-check.
    let known: [(&str, &[u32]); 4] = [
        ("Hello, we can use", &[19556, 28, 392, 416, 722]),
        ("The capital of France is", &[504, 3575, 282, 4649, 314]),
        ("Hello world! 123", &[19556, 905, 17, 216, 33, 34, 35]),
        ("  multiple   spaces", &[216, 2701, 256, 5600]),
    ];
    for (text, ids) in known {
        assert_eq!(smollm.encode(text, true).expect("encode"), ids, "{text:?}");
    }

    for text in [
        "Hi! I'm looking for a CRM that integrates with our e-shop. What's the price for 50 seats?",
        "Our budget is $15,000/yr — can you do 12 months at $1,199.99?\n\tThanks, Zoë.",
        "   leading and trailing spaces   ",
        "<|im_start|>system\nYou are a helpful sales assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>",
        "价格是多少？¥5,299 😀",
    ] {
        let ids = smollm.encode(text, true).expect("encode");
        assert_eq!(smollm.decode(&ids).expect("decode"), text);
        let (pieces, _) = stream_pieces(smollm, &ids);
        assert_eq!(pieces.concat(), text);
    }
    let chat = smollm.encode("<|im_start|>user\nHi<|im_end|>", true).expect("encode");
    assert_eq!((chat[0], chat[chat.len() - 1]), (im_start, im_end));
    let literal = smollm.encode("<|im_start|>user", false).expect("encode");
    assert!(!literal.contains(&im_start), "{literal:?}");
}

#[test]
fn streaming_never_splits_a_character() {
    let (qwen, smollm) = (&qwen().tokenizer, &smollm().tokenizer);
    let texts = [
        "您好！这款智能门锁 X3 现在特价 ¥5,299，今天下单送安装。",
        "罕见字：𠀀𪚥龘靐齉㐀䶵鿏𡃁𨭎𠮷𩸽 — 繁體：請問這款產品還有現貨嗎？",
        "表情：😀👍🏽🇨🇳👨‍👩‍👧‍👦🏳️‍🌈 价格 💰💰💰",
        "Mixed 中文 and English, ＡＢＣ１２３，全角标点。",
    ];
    for (name, tokenizer) in [("qwen", qwen), ("smollm2", smollm)] {
        let mut held_total = 0;
        for text in texts {
            let ids = tokenizer.encode(text, false).expect("encode");
            let (pieces, held) = stream_pieces(tokenizer, &ids);
            held_total += held;
            for piece in &pieces {
                assert!(!piece.contains('\u{FFFD}'), "{name}: a partial character in {piece:?}");
            }
            assert_eq!(pieces.concat(), text, "{name}");
            assert_eq!(tokenizer.decode(&ids).expect("decode"), text, "{name}");
        }
        // Rare characters and emoji take several byte tokens: the stream waited for them.
        assert!(held_total > 0, "{name}: no character spanned two tokens, so nothing was tested");
    }

    // The whole corpus, streamed by Qwen: pieces join to the line, never a partial character.
    let mut held_total = 0;
    for line in corpus_lines() {
        let ids = qwen.encode(line, true).expect("encode");
        let (pieces, held) = stream_pieces(qwen, &ids);
        held_total += held;
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{line:?}");
        assert_eq!(pieces.concat(), line);
    }
    eprintln!("streamed the corpus: {held_total} tokens ended inside a character and were held");
    assert!(held_total > 0);
}

/// A small SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, a control token, the 256 byte
/// tokens, then pieces whose scores set the merge order.
fn sentencepiece_gguf(add_space_prefix: bool) -> Vec<u8> {
    let mut tokens: Vec<(String, f32, i32)> = vec![
        ("<unk>".into(), 0.0, 2),
        ("<s>".into(), 0.0, 3),
        ("</s>".into(), 0.0, 3),
        ("<start_of_turn>".into(), 0.0, 3),
    ];
    tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
    let pieces: [(&str, f32); 24] = [
        // "bc" comes first in the vocabulary but "ab" scores better: "abc" is [ab, c].
        ("bc", -2.0),
        ("ab", -1.5),
        ("he", -1.0),
        ("ll", -2.0),
        ("llo", -3.0),
        ("hello", -4.0),
        ("▁hello", -5.0),
        ("or", -6.0),
        ("▁w", -7.0),
        ("▁wor", -8.0),
        ("ld", -9.0),
        ("▁world", -10.0),
        ("中文", -11.0),
        ("▁▁", -12.0),
        ("▁", -100.0),
        ("h", -101.0),
        ("e", -102.0),
        ("l", -103.0),
        ("o", -104.0),
        ("w", -105.0),
        ("r", -106.0),
        ("d", -107.0),
        ("中", -108.0),
        ("文", -109.0),
    ];
    tokens.extend(pieces.iter().map(|(piece, score)| ((*piece).to_owned(), *score, 1)));
    tokens.extend(["a", "b", "c"].map(|piece| (piece.to_owned(), -200.0, 1)));

    let array = |values: Vec<Value>| Value::Array(values);
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("tokenizer.ggml.model", Value::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            array(tokens.iter().map(|t| Value::String(t.0.clone())).collect()),
        ),
        ("tokenizer.ggml.scores", array(tokens.iter().map(|t| Value::F32(t.1)).collect())),
        ("tokenizer.ggml.token_type", array(tokens.iter().map(|t| Value::I32(t.2)).collect())),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_space_prefix", Value::Bool(add_space_prefix)),
    ];
    let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let mut file = Cursor::new(Vec::new());
    gguf_file::write(&mut file, &refs, &[]).expect("the GGUF writes");
    file.into_inner()
}

fn sentencepiece(add_space_prefix: bool) -> GgufTokenizer {
    let bytes = sentencepiece_gguf(add_space_prefix);
    let content = Content::read(&mut Cursor::new(bytes)).expect("the GGUF reads back");
    tokenizer::from_gguf(&content, Path::new("spm-test.gguf")).expect("the SPM tokenizer builds")
}

#[test]
fn sentencepiece_vocabulary_merges_by_score_with_byte_fallback() {
    let spm = sentencepiece(true);
    let id =
        |piece: &str| spm.token_id(piece).unwrap_or_else(|| panic!("{piece} in the vocabulary"));
    assert_eq!((spm.bos_id(), spm.eos_id()), (Some(1), Some(2)));
    assert!(spm.adds_bos());
    assert_eq!(spm.stop_ids(), [2]);

    // A space goes in front; BOS first, and decode drops both again.
    let ids = spm.encode("hello world", true).expect("encode");
    assert_eq!(ids, [1, id("▁hello"), id("▁world")]);
    assert_eq!(spm.decode(&ids).expect("decode"), "hello world");
    assert_eq!(spm.encode("hello world", false).expect("encode"), [id("▁hello"), id("▁world")]);

    // "价" is not a piece: its three UTF-8 bytes are.
    let ids = spm.encode("中文价", false).expect("encode");
    assert_eq!(ids, [id("▁"), id("中文"), id("<0xE4>"), id("<0xBB>"), id("<0xB7>")]);
    assert_eq!(spm.decode(&ids).expect("decode"), "中文价");
    let mut stream = spm.stream();
    let pieces: Vec<Option<String>> =
        ids.iter().map(|&i| stream.next(&spm, i).expect("stream")).collect();
    assert_eq!(pieces, [None, Some("中文".into()), None, None, Some("价".into())]);

    // Leading spaces survive the round trip; only the prepended one is dropped.
    let ids = spm.encode("  hello", false).expect("encode");
    assert_eq!(ids, [id("▁▁"), id("▁hello")]);
    assert_eq!(spm.decode(&ids).expect("decode"), "  hello");

    // Merge order follows the score, not the vocabulary order.
    let gemma_like = sentencepiece(false);
    let id = |piece: &str| gemma_like.token_id(piece).expect("in the vocabulary");
    assert_eq!(gemma_like.encode("abc", false).expect("encode"), [id("ab"), id("c")]);

    // Without the space prefix (Gemma), control tokens in the text are single tokens.
    let text = "<start_of_turn>hello world";
    let ids = gemma_like.encode(text, true).expect("encode");
    assert_eq!(ids, [1, id("<start_of_turn>"), id("hello"), id("▁world")]);
    assert_eq!(gemma_like.decode(&ids).expect("decode"), text);
    // …and a BOS already written in the text is not doubled.
    assert_eq!(gemma_like.encode("<s>hello", true).expect("encode"), [1, id("hello")]);
    let literal = gemma_like.encode(text, false).expect("encode");
    assert!(!literal.contains(&id("<start_of_turn>")), "{literal:?}");
    assert_eq!(gemma_like.decode(&literal).expect("decode"), text);
}

fn content(entries: Vec<(&str, Value)>) -> Content {
    Content {
        magic: VersionedMagic::GgufV3,
        metadata: entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<HashMap<_, _>>(),
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    }
}

fn strings(values: &[&str]) -> Value {
    Value::Array(values.iter().map(|s| Value::String((*s).to_owned())).collect())
}

#[test]
fn malformed_metadata_is_a_typed_error_naming_the_file() {
    let path = Path::new("/models/broken.gguf");
    let gpt2 = || {
        vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("qwen2".into())),
            ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
            ("tokenizer.ggml.merges", strings(&["a b"])),
        ]
    };
    let build = |entries: Vec<(&str, Value)>| tokenizer::from_gguf(&content(entries), path);
    // The minimal vocabulary with `key` removed, or set to `value`.
    let with = |key: &'static str, value: Option<Value>| {
        let mut entries: Vec<(&str, Value)> =
            gpt2().into_iter().filter(|(k, _)| *k != key).collect();
        entries.extend(value.map(|v| (key, v)));
        build(entries)
    };

    let ok = build(gpt2()).expect("the minimal vocabulary builds");
    assert_eq!(ok.encode("ab", true).expect("encode"), [2]);

    let missing_key = |result: Result<GgufTokenizer, LlmError>, expected: &str| {
        let e = result.expect_err("missing metadata is an error");
        assert!(e.to_string().contains("broken.gguf"), "{e}");
        assert!(matches!(&e, LlmError::MissingMetadata { key, .. } if key == expected), "{e:?}");
    };
    let bad_key = |result: Result<GgufTokenizer, LlmError>, expected: &str| {
        let e = result.expect_err("bad metadata is an error");
        assert!(e.to_string().contains("broken.gguf"), "{e}");
        assert!(matches!(&e, LlmError::TokenizerMetadata { key, .. } if key == expected), "{e:?}");
    };

    missing_key(with("tokenizer.ggml.tokens", None), "tokenizer.ggml.tokens");
    missing_key(with("tokenizer.ggml.model", None), "tokenizer.ggml.model");
    missing_key(with("tokenizer.ggml.merges", None), "tokenizer.ggml.merges");
    bad_key(
        with("tokenizer.ggml.merges", Some(Value::String("a b".into()))),
        "tokenizer.ggml.merges",
    );
    bad_key(
        with("tokenizer.ggml.merges", Some(Value::Array(vec![Value::U32(1), Value::U32(2)]))),
        "tokenizer.ggml.merges",
    );
    bad_key(with("tokenizer.ggml.merges", Some(strings(&["ab"]))), "tokenizer.ggml.merges");
    bad_key(with("tokenizer.ggml.merges", Some(strings(&["a x"]))), "tokenizer.ggml.merges");
    bad_key(with("tokenizer.ggml.tokens", Some(Value::U32(3))), "tokenizer.ggml.tokens");
    bad_key(with("tokenizer.ggml.tokens", Some(strings(&[]))), "tokenizer.ggml.tokens");
    bad_key(
        with("tokenizer.ggml.model", Some(Value::String("bert".into()))),
        "tokenizer.ggml.model",
    );
    bad_key(
        with("tokenizer.ggml.pre", Some(Value::String("no-such-pre".into()))),
        "tokenizer.ggml.pre",
    );
    bad_key(
        with("tokenizer.ggml.token_type", Some(Value::Array(vec![Value::I32(1)]))),
        "tokenizer.ggml.token_type",
    );
    bad_key(
        with("tokenizer.ggml.token_type", Some(Value::Array(vec![Value::I32(9); 3]))),
        "tokenizer.ggml.token_type",
    );
    let mut entries = gpt2();
    entries.push(("tokenizer.ggml.eos_token_id", Value::U32(99)));
    bad_key(build(entries), "tokenizer.ggml.eos_token_id");
    let mut entries = gpt2();
    entries.push(("tokenizer.ggml.add_bos_token", Value::Bool(true)));
    missing_key(build(entries), "tokenizer.ggml.bos_token_id");

    // SentencePiece needs scores, one per token.
    let spm = |scores: Option<Value>| {
        let mut entries = vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            ("tokenizer.ggml.tokens", strings(&["<unk>", "<s>", "a"])),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ];
        entries.extend(scores.map(|s| ("tokenizer.ggml.scores", s)));
        build(entries)
    };
    missing_key(spm(None), "tokenizer.ggml.scores");
    bad_key(spm(Some(Value::Array(vec![Value::F32(0.0)]))), "tokenizer.ggml.scores");
    bad_key(spm(Some(strings(&["0", "0", "0"]))), "tokenizer.ggml.scores");
    spm(Some(Value::Array(vec![Value::F32(0.0); 3]))).expect("scores of the right length build");
}
