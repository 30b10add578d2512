//! Re-quantizing the tensor types candle runs slowly into one it runs fast.
//!
//! candle's CPU kernels have AVX2 dot products for Q4_0, Q8_0 and the K-quants, but Q4_1, Q5_0
//! and Q5_1 take a generic scalar path. Turning those tensors into Q8_0 (dequantize, then candle's
//! own `QTensor::quantize`) made decoding 1.7–1.8× faster for a file a third bigger, and loses
//! almost nothing: Q8_0 holds the 4- and 5-bit values nearly exactly. K-quants would need rows that
//! are multiples of 256, which Qwen's width 896 is not; Q8_0 needs multiples of 32.
//!
//! The output is deterministic: tensors keep their order in the source file, metadata is written
//! sorted by key and otherwise unchanged, and the quantizer is single-threaded per block. So the
//! sha256 of a re-quantized catalog model can be recorded and checked.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use closer_registry::HashingWriter;

use crate::LlmError;
use crate::gguf::{self, GgufInfo, dtype_name, parse_dtype};

/// Which tensor types to convert, and into what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub from: Vec<GgmlDType>,
    pub to: GgmlDType,
}

impl Plan {
    /// What imports get: every type candle has no fast kernel for, into Q8_0.
    pub fn slow_types() -> Self {
        Self { from: vec![GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1], to: GgmlDType::Q8_0 }
    }

    /// Parses `Q4_1,Q5_0 -> Q8_0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (from, to) =
            text.split_once("->").ok_or_else(|| format!("{text:?}: expected `A,B -> C`"))?;
        let dtype = |name: &str| parse_dtype(name).ok_or_else(|| format!("unknown type {name:?}"));
        let from = from.split(',').map(dtype).collect::<Result<Vec<_>, _>>()?;
        let to = dtype(to)?;
        if from.contains(&to) {
            return Err(format!("{text:?} converts {} into itself", dtype_name(to)));
        }
        Ok(Self { from, to })
    }

    /// Whether the file has any tensor of a type this plan converts.
    pub fn applies_to(&self, info: &GgufInfo) -> bool {
        self.from.iter().any(|&t| info.tensor_types.contains_key(dtype_name(t)))
    }

    /// Whether a tensor of this type and shape is converted: its type is listed and its rows
    /// (the innermost dimension) split into whole blocks of the target type.
    pub fn converts(&self, dtype: GgmlDType, dims: &[usize]) -> bool {
        self.from.contains(&dtype)
            && dims.last().is_some_and(|&row| row > 0 && row.is_multiple_of(self.to.block_size()))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from: Vec<_> = self.from.iter().map(|&t| dtype_name(t)).collect();
        write!(f, "{} -> {}", from.join(","), dtype_name(self.to))
    }
}

/// What a re-quantization did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Tensors converted, per source type.
    pub converted: BTreeMap<String, usize>,
    /// Tensors copied as they were.
    pub kept: usize,
    /// Tensors of a listed type left alone because their rows do not split into target blocks.
    pub left_for_shape: usize,
    /// Size and sha256 of the written file.
    pub size: u64,
    pub sha256: String,
}

/// Writes `dst`: `src` with the tensors `plan` selects re-quantized. `progress(done, total,
/// tensor)` is called before each tensor.
pub fn requantize(
    src: &Path,
    dst: &Path,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Report, LlmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LlmError::Io { path, source }
    };
    let failed = |message: String| LlmError::Requantize { path: src.to_path_buf(), message };
    let mut reader = BufReader::new(std::fs::File::open(src).map_err(io(src))?);
    let file_size = reader.get_ref().metadata().map_err(io(src))?.len();
    let content = gguf_file::Content::read(&mut reader).map_err(|e| LlmError::NotGguf {
        path: src.to_path_buf(),
        reason: format!("the header is damaged or cut short: {e}"),
    })?;
    gguf::check(src, &content, file_size)?;

    let mut infos: Vec<_> = content.tensor_infos.iter().collect();
    infos.sort_by_key(|(name, t)| (t.offset, name.as_str()));
    let total = infos.len();
    let mut report = Report {
        converted: BTreeMap::new(),
        kept: 0,
        left_for_shape: 0,
        size: 0,
        sha256: String::new(),
    };
    let mut tensors = Vec::with_capacity(total);
    for (done, (name, info)) in infos.into_iter().enumerate() {
        progress(done, total, name);
        let tensor = info
            .read(&mut reader, content.tensor_data_offset, &Device::Cpu)
            .map_err(|e| failed(format!("reading tensor {name}: {e}")))?;
        let dims = info.shape.dims();
        let tensor = if plan.converts(info.ggml_dtype, dims) {
            let values = tensor
                .dequantize(&Device::Cpu)
                .map_err(|e| failed(format!("dequantizing tensor {name}: {e}")))?;
            let converted = QTensor::quantize(&values, plan.to)
                .map_err(|e| failed(format!("quantizing tensor {name}: {e}")))?;
            *report.converted.entry(dtype_name(info.ggml_dtype).to_owned()).or_insert(0) += 1;
            converted
        } else {
            if plan.from.contains(&info.ggml_dtype) {
                tracing::debug!(tensor = %name, ?dims, "left as is: rows do not fit the target blocks");
                report.left_for_shape += 1;
            }
            report.kept += 1;
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    progress(total, total, "");

    // The writer pads tensors to 32 bytes; a file that declared another alignment keeps every
    // other key as it was.
    let aligned = Value::U32(gguf_file::DEFAULT_ALIGNMENT as u32);
    let metadata: BTreeMap<&str, &Value> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), if k == "general.alignment" { &aligned } else { v }))
        .collect();
    let metadata: Vec<(&str, &Value)> = metadata.into_iter().collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();

    let file = std::fs::File::create(dst).map_err(io(dst))?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    gguf_file::write(&mut out, &metadata, &tensor_refs)
        .map_err(|e| failed(format!("writing {}: {e}", dst.display())))?;
    let (writer, size, sha256) = out.finish();
    let file = writer.into_inner().map_err(|e| io(dst)(e.into_error()))?;
    file.sync_all().map_err(io(dst))?;
    report.size = size;
    report.sha256 = sha256;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_print() {
        let plan = Plan::parse("Q4_1, Q5_0 -> Q8_0").expect("valid plan");
        assert_eq!(plan.from, vec![GgmlDType::Q4_1, GgmlDType::Q5_0]);
        assert_eq!(plan.to, GgmlDType::Q8_0);
        assert_eq!(plan.to_string(), "Q4_1,Q5_0 -> Q8_0");
        assert!(Plan::parse("Q4_1 Q8_0").is_err());
        assert!(Plan::parse("Q9_9 -> Q8_0").is_err());
        assert!(Plan::parse("Q8_0 -> Q8_0").is_err());
    }

    #[test]
    fn only_whole_rows_of_target_blocks_are_converted() {
        let plan = Plan::slow_types();
        assert!(plan.converts(GgmlDType::Q4_1, &[896, 4864]));
        assert!(!plan.converts(GgmlDType::Q4_1, &[2, 48]));
        assert!(!plan.converts(GgmlDType::Q6K, &[896, 4864]));
        assert!(!plan.converts(GgmlDType::Q5_0, &[]));
    }
}
