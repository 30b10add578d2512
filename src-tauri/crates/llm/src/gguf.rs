//! Reading and validating a GGUF file's header before anything loads it.
//!
//! `inspect` reads only the header (metadata and the tensor directory) with candle's own parser,
//! then checks what candle would otherwise find out halfway through loading: that every tensor's
//! bytes lie inside the file, that the architecture is one we run, and that the hyper-parameters
//! and the tokenizer are there. Every failure is a typed [`LlmError`] naming the file; no input
//! makes it panic.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, Value};
use serde::Serialize;

use crate::LlmError;

/// The architectures Closer can load (`general.architecture`).
pub const SUPPORTED_ARCHITECTURES: [&str; 4] = ["qwen2", "qwen3", "llama", "gemma3"];

/// What a GGUF file's header says about the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GgufInfo {
    pub path: PathBuf,
    /// `general.architecture`, one of [`SUPPORTED_ARCHITECTURES`].
    pub arch: String,
    /// `general.name`, else the file stem.
    pub name: String,
    /// The number of weights over all tensors.
    pub parameters: u64,
    pub context_length: u64,
    pub layers: u64,
    pub embedding_length: u64,
    pub head_count: u64,
    /// Tensor count per type, with ggml's names (`Q4_1`, `Q8_0`, `Q6_K`, `F32`…).
    pub tensor_types: BTreeMap<String, usize>,
    pub tensor_count: usize,
    pub file_size: u64,
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE), `llama` (sentencepiece)…
    pub tokenizer_model: String,
    pub vocab_size: usize,
}

impl GgufInfo {
    /// The tensor types as `Q5_0 ×133, Q8_0 ×13`, most frequent first.
    pub fn tensor_types_summary(&self) -> String {
        let mut types: Vec<_> = self.tensor_types.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        types.iter().map(|(t, n)| format!("{t} ×{n}")).collect::<Vec<_>>().join(", ")
    }
}

/// Reads and validates the header of the GGUF file at `path`.
pub fn inspect(path: &Path) -> Result<GgufInfo, LlmError> {
    let io = |source| LlmError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_size = file.metadata().map_err(io)?.len();
    let not_gguf = |reason: String| LlmError::NotGguf { path: path.to_path_buf(), reason };
    if file_size == 0 {
        return Err(not_gguf("the file is empty".into()));
    }
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut file, &mut magic).map_err(io)?;
    if got < 4 || &magic != b"GGUF" {
        return Err(not_gguf(format!("bad magic {:02x?}", &magic[..got])));
    }
    file.rewind().map_err(io)?;
    let content = Content::read(&mut BufReader::new(file))
        .map_err(|e| not_gguf(format!("the header is damaged or cut short: {e}")))?;
    check(path, &content, file_size)
}

/// Validates a header already read by candle; `file_size` is the length of its file.
pub fn check(path: &Path, content: &Content, file_size: u64) -> Result<GgufInfo, LlmError> {
    let not_gguf = |reason: String| LlmError::NotGguf { path: path.to_path_buf(), reason };
    let mut tensor_types = BTreeMap::new();
    let mut parameters = 0u64;
    let mut end = content.tensor_data_offset;
    for (name, t) in &content.tensor_infos {
        // Computed here with checks: a crafted header can declare dimensions whose product
        // overflows.
        let elems = t
            .shape
            .dims()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| not_gguf(format!("tensor {name} has impossible dimensions")))?;
        let block = t.ggml_dtype.block_size();
        // candle refuses a quantized tensor whose rows do not split into whole blocks.
        let row = t.shape.dims().last().copied().unwrap_or(1);
        if !elems.is_multiple_of(block) || !row.is_multiple_of(block) {
            return Err(not_gguf(format!(
                "tensor {name} {:?} does not split into {} blocks of {block} values",
                t.shape.dims(),
                dtype_name(t.ggml_dtype)
            )));
        }
        let tensor_end = ((elems / block) as u64)
            .checked_mul(t.ggml_dtype.type_size() as u64)
            .and_then(|bytes| bytes.checked_add(t.offset))
            .and_then(|n| n.checked_add(content.tensor_data_offset))
            .ok_or_else(|| not_gguf(format!("tensor {name} has an impossible offset")))?;
        end = end.max(tensor_end);
        parameters += elems as u64;
        *tensor_types.entry(dtype_name(t.ggml_dtype).to_owned()).or_insert(0) += 1;
    }
    if end > file_size {
        return Err(LlmError::Truncated {
            path: path.to_path_buf(),
            expected: end,
            actual: file_size,
        });
    }

    let missing =
        |key: &str| LlmError::MissingMetadata { path: path.to_path_buf(), key: key.into() };
    let string = |key: &str| match content.metadata.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(missing(key)),
    };
    let arch = string("general.architecture")?;
    if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
        return Err(LlmError::UnsupportedArchitecture { path: path.to_path_buf(), arch });
    }
    let number = |suffix: &str| {
        let key = format!("{arch}.{suffix}");
        content.metadata.get(&key).and_then(|v| v.to_u64().ok()).ok_or_else(|| missing(&key))
    };
    let layers = number("block_count")?;
    let embedding_length = number("embedding_length")?;
    let head_count = number("attention.head_count")?;
    let context_length = number("context_length")?;
    let vocab_size = match content.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(tokens)) if !tokens.is_empty() => tokens.len(),
        _ => return Err(missing("tokenizer.ggml.tokens")),
    };
    let tokenizer_model = string("tokenizer.ggml.model")?;
    let name = match content.metadata.get("general.name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    Ok(GgufInfo {
        path: path.to_path_buf(),
        arch,
        name,
        parameters,
        context_length,
        layers,
        embedding_length,
        head_count,
        tensor_count: content.tensor_infos.len(),
        tensor_types,
        file_size,
        tokenizer_model,
        vocab_size,
    })
}

/// ggml's name for a tensor type (`Q6_K`, not candle's `Q6K`).
pub fn dtype_name(dtype: GgmlDType) -> &'static str {
    match dtype {
        GgmlDType::F32 => "F32",
        GgmlDType::F16 => "F16",
        GgmlDType::BF16 => "BF16",
        GgmlDType::Q4_0 => "Q4_0",
        GgmlDType::Q4_1 => "Q4_1",
        GgmlDType::Q5_0 => "Q5_0",
        GgmlDType::Q5_1 => "Q5_1",
        GgmlDType::Q8_0 => "Q8_0",
        GgmlDType::Q8_1 => "Q8_1",
        GgmlDType::Q2K => "Q2_K",
        GgmlDType::Q3K => "Q3_K",
        GgmlDType::Q4K => "Q4_K",
        GgmlDType::Q5K => "Q5_K",
        GgmlDType::Q6K => "Q6_K",
        GgmlDType::Q8K => "Q8_K",
    }
}

/// The inverse of [`dtype_name`]; also accepts candle's spelling (`Q6K`).
pub fn parse_dtype(name: &str) -> Option<GgmlDType> {
    const ALL: [GgmlDType; 15] = [
        GgmlDType::F32,
        GgmlDType::F16,
        GgmlDType::BF16,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q8_1,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
        GgmlDType::Q8K,
    ];
    let wanted = name.trim().to_ascii_uppercase().replace('_', "");
    ALL.into_iter().find(|&t| dtype_name(t).replace('_', "") == wanted)
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_names_round_trip() {
        for name in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K"] {
            let t = parse_dtype(name).expect("known type");
            assert_eq!(dtype_name(t), name);
        }
        assert_eq!(parse_dtype("q6k"), Some(GgmlDType::Q6K));
        assert_eq!(parse_dtype("Q7_0"), None);
    }
}
