//! The transformer decoder for the llama family as GGUF stores it (llama, qwen2, qwen3): the
//! layers follow candle-transformers' `quantized_llama` / `quantized_qwen2`, but the KV cache lives
//! outside the weights. That is what lets the worker keep a prefix cache per conversation, and
//! fork one prefill into N suggestions, while the weights stay shared and immutable.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::q8::{self, PackedQ8};

type CResult<T> = candle_core::Result<T>;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DecoderConfig {
    pub arch: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub context_length: usize,
    /// Qwen rotates halves (NeoX style); GGUF llama weights are permuted for interleaved pairs.
    pub rope_neox: bool,
}

/// The keys and values of every layer for the tokens seen so far, written in place into buffers
/// with room to spare (`[1, kv_heads, capacity, head_dim]` per layer), so a decode step appends
/// one position instead of copying the whole cache. Cloning copies the positions held into fresh
/// buffers: that is how one prefill serves several suggestions, and how the prefix cache hands
/// out entries, without one writer clobbering another.
#[derive(Debug)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    capacity: usize,
}

/// Buffers grow in steps of this many positions (and at least double).
const KV_STEP: usize = 256;

impl KvCache {
    pub(crate) fn new(n_layer: usize) -> Self {
        Self { layers: vec![None; n_layer], len: 0, capacity: 0 }
    }

    /// Keeps the first `len` positions (the buffers stay; later writes overwrite the rest).
    pub(crate) fn truncate(&mut self, len: usize) -> CResult<()> {
        self.len = self.len.min(len);
        Ok(())
    }

    /// Memory held, in bytes (f32 keys and values, the spare room included).
    pub(crate) fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * DType::F32.size_in_bytes())
            .sum()
    }

    /// Room for `needed` positions in every layer's buffers, keeping what they hold.
    fn reserve(&mut self, needed: usize, limit: usize) -> CResult<()> {
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed.max(self.capacity * 2).div_ceil(KV_STEP) * KV_STEP;
        let capacity = capacity.min(limit.max(needed));
        let len = self.len;
        for layer in self.layers.iter_mut().flatten() {
            layer.0 = regrow(&layer.0, len, capacity)?;
            layer.1 = regrow(&layer.1, len, capacity)?;
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Writes the keys and values of positions `len..len + seq` of one layer and returns views
    /// of positions `0..len + seq`.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> CResult<(Tensor, Tensor)> {
        let (b, heads, seq, d) = k.dims4()?;
        let end = self.len + seq;
        debug_assert!(end <= self.capacity, "reserve before append");
        let slot = &mut self.layers[layer];
        if slot.is_none() {
            let zeros = || Tensor::zeros((b, heads, self.capacity, d), DType::F32, k.device());
            *slot = Some((zeros()?, zeros()?));
        }
        let Some((ck, cv)) = slot.as_ref() else { unreachable!("just filled") };
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((ck.narrow(2, 0, end)?, cv.narrow(2, 0, end)?))
    }
}

/// A buffer of `capacity` positions holding the first `len` of `t`.
fn regrow(t: &Tensor, len: usize, capacity: usize) -> CResult<Tensor> {
    let (b, heads, _, d) = t.dims4()?;
    let fresh = Tensor::zeros((b, heads, capacity, d), t.dtype(), t.device())?;
    if len > 0 {
        fresh.slice_set(&t.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
    }
    Ok(fresh)
}

impl KvCache {
    /// An independent copy of the positions held (with room for a reply on top), for a second
    /// writer: a suggestion of several, or an entry of the prefix cache.
    pub(crate) fn fork(&self) -> CResult<Self> {
        if self.len == 0 {
            return Ok(Self::new(self.layers.len()));
        }
        let capacity = ((self.len + KV_STEP).div_ceil(KV_STEP) * KV_STEP).min(self.capacity);
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Some((k, v)) => {
                    Ok(Some((regrow(k, self.len, capacity)?, regrow(v, self.len, capacity)?)))
                }
                None => Ok(None),
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self { layers, len: self.len, capacity })
    }
}

#[derive(Debug)]
struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    bq: Option<Tensor>,
    bk: Option<Tensor>,
    bv: Option<Tensor>,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The weights of a loaded model; immutable once loaded.
#[derive(Debug)]
pub(crate) struct Decoder {
    pub cfg: DecoderConfig,
    embed: QuantizedEmbedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    neg_inf: Tensor,
    device: Device,
}

fn md_u32(ct: &gguf_file::Content, key: &str) -> CResult<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("missing metadata {key}"),
    }
}

impl Decoder {
    /// Reads a llama / qwen2 / qwen3 GGUF. `on_layer(done, total)` reports loading progress.
    pub(crate) fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        on_layer: &mut dyn FnMut(usize, usize),
    ) -> CResult<Self> {
        Self::from_gguf_with(ct, reader, device, Kernels::detect(), on_layer)
    }

    /// [`Decoder::from_gguf`] with the kernels chosen by the caller.
    pub(crate) fn from_gguf_with<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        kernels: Kernels,
        on_layer: &mut dyn FnMut(usize, usize),
    ) -> CResult<Self> {
        let arch = match ct.metadata.get("general.architecture") {
            Some(v) => v.to_string()?.clone(),
            None => candle_core::bail!("missing metadata general.architecture"),
        };
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = md_u32(ct, &key("attention.head_count"))?;
        let n_kv_head = md_u32(ct, &key("attention.head_count_kv")).unwrap_or(n_head);
        let embedding_length = md_u32(ct, &key("embedding_length"))?;
        let head_dim =
            md_u32(ct, &key("attention.key_length")).unwrap_or(embedding_length / n_head);
        let n_layer = md_u32(ct, &key("block_count"))?;
        let context_length = md_u32(ct, &key("context_length"))?;
        let rms_eps = ct
            .metadata
            .get(&key("attention.layer_norm_rms_epsilon"))
            .map(|v| v.to_f32())
            .transpose()?
            .unwrap_or(1e-6) as f64;
        let rope_base = ct
            .metadata
            .get(&key("rope.freq_base"))
            .map(|v| v.to_f32())
            .transpose()?
            .unwrap_or(10_000.0);
        let rope_neox = arch != "llama";
        let cfg = DecoderConfig {
            arch: arch.clone(),
            n_layer,
            n_head,
            n_kv_head,
            head_dim,
            context_length,
            rope_neox,
        };

        let tensor = |reader: &mut R, name: &str| ct.tensor(reader, name, device);
        let embed_q = Arc::new(tensor(reader, "token_embd.weight")?);
        let (embed, output) = match tensor(reader, "output.weight") {
            Ok(w) => {
                (QuantizedEmbedding::new(embed_q, embedding_length)?, Linear::new(w, kernels)?)
            }
            // Tied embeddings (SmolLM2, small Qwens): the table is also the output matrix.
            Err(_) => {
                let output = Linear::shared(embed_q.clone(), kernels)?;
                let embed = match output.packed() {
                    Some(packed) if packed.dims().1 == embedding_length => {
                        QuantizedEmbedding::tied(packed.clone())
                    }
                    _ => QuantizedEmbedding::new(embed_q, embedding_length)?,
                };
                (embed, output)
            }
        };
        let norm = RmsNorm::from_qtensor(tensor(reader, "output_norm.weight")?, rms_eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let q = |reader: &mut R, n: &str| -> CResult<Linear> {
                Linear::new(tensor(reader, &format!("{p}.{n}.weight"))?, kernels)
            };
            let bias = |reader: &mut R, n: &str| -> CResult<Option<Tensor>> {
                match tensor(reader, &format!("{p}.{n}.bias")) {
                    Ok(t) => Ok(Some(t.dequantize(device)?)),
                    Err(_) => Ok(None),
                }
            };
            let norm = |reader: &mut R, n: &str| -> CResult<RmsNorm> {
                RmsNorm::from_qtensor(tensor(reader, &format!("{p}.{n}.weight"))?, rms_eps)
            };
            let optional_norm = |reader: &mut R, n: &str| -> CResult<Option<RmsNorm>> {
                match tensor(reader, &format!("{p}.{n}.weight")) {
                    Ok(t) => Ok(Some(RmsNorm::from_qtensor(t, rms_eps)?)),
                    Err(_) => Ok(None),
                }
            };
            layers.push(Layer {
                wq: q(reader, "attn_q")?,
                wk: q(reader, "attn_k")?,
                wv: q(reader, "attn_v")?,
                wo: q(reader, "attn_output")?,
                bq: bias(reader, "attn_q")?,
                bk: bias(reader, "attn_k")?,
                bv: bias(reader, "attn_v")?,
                q_norm: optional_norm(reader, "attn_q_norm")?,
                k_norm: optional_norm(reader, "attn_k_norm")?,
                attn_norm: norm(reader, "attn_norm")?,
                ffn_norm: norm(reader, "ffn_norm")?,
                gate: q(reader, "ffn_gate")?,
                up: q(reader, "ffn_up")?,
                down: q(reader, "ffn_down")?,
            });
            on_layer(i + 1, n_layer);
        }

        let (cos, sin) = rope_tables(head_dim, rope_base, context_length, device)?;
        Ok(Self {
            cfg,
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
            neg_inf: Tensor::new(f32::NEG_INFINITY, device)?,
            device: device.clone(),
        })
    }

    /// Runs `tokens` after what `cache` holds, appends their keys and values to it, and returns
    /// the logits (f32, `[vocab]`) for the last token.
    pub(crate) fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> CResult<Tensor> {
        let seq = tokens.len();
        let index_pos = cache.len;
        if seq == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        if index_pos + seq > self.cfg.context_length {
            candle_core::bail!(
                "{} tokens exceed the context of {}",
                index_pos + seq,
                self.cfg.context_length
            );
        }
        let mask = if seq == 1 {
            None
        } else {
            Some(candle_transformers::utils::build_causal_mask(seq, index_pos, &self.device)?)
        };
        let cos = self.cos.narrow(0, index_pos, seq)?;
        let sin = self.sin.narrow(0, index_pos, seq)?;
        let mut x = self.embed.forward(tokens)?;
        cache.reserve(index_pos + seq, self.cfg.context_length)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer_forward(layer, &x, mask.as_ref(), (&cos, &sin), cache, i)?;
        }
        cache.len = index_pos + seq;
        let last = x.i((.., seq - 1, ..))?;
        let logits = self.output.forward(&self.norm.forward(&last)?)?;
        logits.squeeze(0)?.to_dtype(DType::F32)
    }

    fn layer_forward(
        &self,
        l: &Layer,
        x: &Tensor,
        mask: Option<&Tensor>,
        (cos, sin): (&Tensor, &Tensor),
        cache: &mut KvCache,
        index: usize,
    ) -> CResult<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let (n_head, n_kv, d) = (self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim);
        let h = l.attn_norm.forward(x)?;
        let [q, k, v] = Linear::forward_shared([&l.wq, &l.wk, &l.wv], &h)?;
        let project = |t: Tensor, bias: &Option<Tensor>, heads: usize| -> CResult<Tensor> {
            let t = match bias {
                Some(bias) => t.broadcast_add(bias)?,
                None => t,
            };
            t.reshape((b, seq, heads, d))?.transpose(1, 2)?.contiguous()
        };
        let mut q = project(q, &l.bq, n_head)?;
        let mut k = project(k, &l.bk, n_kv)?;
        let v = project(v, &l.bv, n_kv)?;
        if let Some(norm) = &l.q_norm {
            q = norm.forward(&q)?;
        }
        if let Some(norm) = &l.k_norm {
            k = norm.forward(&k)?;
        }
        let rope = |t: &Tensor| {
            if self.cfg.rope_neox {
                candle_nn::rotary_emb::rope(t, cos, sin)
            } else {
                candle_nn::rotary_emb::rope_i(t, cos, sin)
            }
        };
        let q = rope(&q)?;
        let k = rope(&k)?;
        let (k, v) = cache.append(index, &k, &v)?;
        // Grouped-query attention without copying keys and values n_rep times: the query heads
        // that share a key/value head are stacked along the sequence axis instead.
        let n_rep = n_head / n_kv;
        let kv_len = k.dim(2)?;
        let q = q.reshape((b, n_kv, n_rep * seq, d))?;
        let att = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(mask) => {
                let att = att.reshape((b, n_kv, n_rep, seq, kv_len))?;
                let mask = mask.broadcast_as(att.shape())?;
                mask.where_cond(&self.neg_inf.broadcast_as(att.shape())?, &att)?.reshape((
                    b,
                    n_kv,
                    n_rep * seq,
                    kv_len,
                ))?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?.reshape((b, n_head, seq, d))?.transpose(1, 2)?.reshape((
            b,
            seq,
            n_head * d,
        ))?;
        let x = (l.wo.forward(&y)? + x)?;
        let h = l.ffn_norm.forward(&x)?;
        let [gate, up] = Linear::forward_shared([&l.gate, &l.up], &h)?;
        let mlp = l.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)?;
        x + mlp
    }
}

/// Which matrix-vector kernels run the Q8_0 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// Closer's own AVX-512 VNNI kernel (`q8`) for every Q8_0 matrix of whole 16-row tiles, at
    /// its stored size: activations quantized per 32 values as llama.cpp does, so no padding.
    /// Other matrices as [`Kernels::Vnni`].
    Packed,
    /// Q8_0 matrices whose inner size is not a multiple of 256 get zero columns up to one, so
    /// candle takes its repacked int8 AVX-512 VNNI / AVX-VNNI kernels for every matrix (it only
    /// has them for inner sizes in whole 256-blocks). The padding costs a little bandwidth and
    /// memory; the integer kernels are about twice as fast as the AVX2 dot products on 2 cores.
    Vnni,
    /// The weights as stored; candle chooses per shape.
    Stored,
}

impl Kernels {
    /// The environment variable that overrides the choice (`packed`, `vnni` or `stored`).
    pub const ENV: &'static str = "CLOSER_LLM_KERNELS";

    /// Padding costs bandwidth; above this fraction of extra columns the stored form is kept.
    const MAX_PADDING: f64 = 0.20;

    /// `packed` where the CPU has AVX-512 VNNI, else `vnni` where candle has VNNI kernels on
    /// this CPU (AVX-VNNI), else `stored`; [`Kernels::ENV`] overrides.
    pub fn detect() -> Self {
        match std::env::var(Self::ENV).as_deref() {
            Ok("packed") if crate::q8::available() => return Self::Packed,
            Ok("vnni") => return Self::Vnni,
            Ok("stored") => return Self::Stored,
            _ => {}
        }
        if crate::q8::available() {
            Self::Packed
        } else if crate::cpu::has_vnni() {
            Self::Vnni
        } else {
            Self::Stored
        }
    }
}

/// Values per Q8_0 block.
const QK8_0: usize = 32;

/// The inner size candle's repacked kernels need a multiple of.
const REPACK_BLOCK: usize = 256;

/// A weight matrix, `x · wᵀ`: packed for Closer's kernel, or candle's, maybe padded with zero
/// columns (see [`Kernels`]).
#[derive(Debug)]
struct Linear {
    w: Weights,
    /// Zero columns appended to the stored matrix (and to every input).
    pad: usize,
}

#[derive(Debug)]
enum Weights {
    Candle(QMatMul),
    Packed(Arc<PackedQ8>),
}

impl Linear {
    fn new(w: QTensor, kernels: Kernels) -> CResult<Self> {
        Self::shared(Arc::new(w), kernels)
    }

    fn shared(w: Arc<QTensor>, kernels: Kernels) -> CResult<Self> {
        if kernels == Kernels::Packed
            && let Some(packed) = PackedQ8::pack(&w)?
        {
            return Ok(Self { w: Weights::Packed(Arc::new(packed)), pad: 0 });
        }
        let (n, k) = w.shape().dims2()?;
        let pad = k.next_multiple_of(REPACK_BLOCK) - k;
        let worth = pad as f64 <= Kernels::MAX_PADDING * k as f64;
        let vnni = matches!(kernels, Kernels::Vnni | Kernels::Packed);
        if vnni && w.dtype() == GgmlDType::Q8_0 && pad > 0 && worth {
            // Each row gets whole zero blocks (scale 0, values 0) appended: exact, no
            // re-quantization.
            let block = GgmlDType::Q8_0.type_size();
            let (row, zeros) = (k / QK8_0 * block, vec![0u8; pad / QK8_0 * block]);
            let data = w.data()?;
            let mut bytes = Vec::with_capacity(n * (row + zeros.len()));
            for r in data.chunks_exact(row) {
                bytes.extend_from_slice(r);
                bytes.extend_from_slice(&zeros);
            }
            drop(data);
            let padded = candle_core::quantized::ggml_file::qtensor_from_ggml(
                GgmlDType::Q8_0,
                &bytes,
                vec![n, k + pad],
                &Device::Cpu,
            )?;
            return Ok(Self { w: Weights::Candle(QMatMul::from_qtensor(padded)?), pad });
        }
        Ok(Self { w: Weights::Candle(QMatMul::from_arc(w)?), pad: 0 })
    }

    fn packed(&self) -> Option<&Arc<PackedQ8>> {
        match &self.w {
            Weights::Packed(p) => Some(p),
            Weights::Candle(_) => None,
        }
    }

    fn input(&self, x: &Tensor) -> CResult<Tensor> {
        if self.pad == 0 { Ok(x.clone()) } else { x.pad_with_zeros(D::Minus1, 0, self.pad) }
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match &self.w {
            Weights::Packed(p) => {
                let [y] = packed_forward([p], x)?;
                Ok(y)
            }
            Weights::Candle(w) => w.forward(&self.input(x)?),
        }
    }

    /// Several matrices applied to the same input (query / key / value, gate / up): the input is
    /// quantized once and the matrices run in one parallel region, by Closer's kernel when all
    /// are packed, else by candle's fused kernel for one row.
    fn forward_shared<const N: usize>(ws: [&Self; N], x: &Tensor) -> CResult<[Tensor; N]> {
        if let Some(packed) = ws.iter().map(|w| w.packed()).collect::<Option<Vec<_>>>()
            && packed.iter().all(|p| p.dims().1 == packed[0].dims().1)
        {
            let packed: [&Arc<PackedQ8>; N] =
                packed.try_into().unwrap_or_else(|_| unreachable!("N matrices"));
            return packed_forward(packed, x);
        }
        let pad = ws[0].pad;
        let qtensors: Option<Vec<&QTensor>> = ws
            .iter()
            .map(|w| match &w.w {
                Weights::Candle(QMatMul::QTensor(t)) if w.pad == pad => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        if let Some(qtensors) = qtensors {
            let x = ws[0].input(x)?;
            if let Some(outs) = QTensor::gemv_fused_shared_lhs(&qtensors, &x)?
                && let Ok(outs) = <[Tensor; N]>::try_from(outs)
            {
                return Ok(outs);
            }
        }
        let mut outs = Vec::with_capacity(N);
        for w in ws {
            outs.push(w.forward(x)?);
        }
        Ok(outs.try_into().unwrap_or_else(|_| unreachable!("N outputs")))
    }
}

/// `x · wᵀ` for packed matrices of one inner size: `x` is `[.., k]` f32, each result `[.., n]`.
fn packed_forward<const N: usize>(ws: [&Arc<PackedQ8>; N], x: &Tensor) -> CResult<[Tensor; N]> {
    let mut dims = x.dims().to_vec();
    let k = ws[0].dims().1;
    if dims.last() != Some(&k) {
        candle_core::bail!("input {:?} for a matrix of {k} columns", x.shape());
    }
    let m = x.elem_count() / k;
    let data = x.flatten_all()?.to_vec1::<f32>()?;
    let refs: Vec<&PackedQ8> = ws.iter().map(|w| w.as_ref()).collect();
    let outs = q8::matmul(&refs, &data, m);
    let mut tensors = Vec::with_capacity(N);
    for (w, out) in ws.iter().zip(outs) {
        if let Some(last) = dims.last_mut() {
            *last = w.dims().0;
        }
        tensors.push(Tensor::from_vec(out, dims.as_slice(), x.device())?);
    }
    Ok(tensors.try_into().unwrap_or_else(|_| unreachable!("N outputs")))
}

/// The token embedding table kept in its stored (quantized) type; a lookup dequantizes only
/// the rows it needs, instead of holding the whole table in f32. With tied embeddings and a
/// packed output matrix the rows are read from that matrix, so the table is held once.
#[derive(Debug)]
struct QuantizedEmbedding {
    table: Table,
    rows: usize,
    dim: usize,
}

#[derive(Debug)]
enum Table {
    Stored { table: Arc<QTensor>, row_bytes: usize },
    Packed(Arc<PackedQ8>),
}

impl QuantizedEmbedding {
    fn new(table: Arc<QTensor>, dim: usize) -> CResult<Self> {
        let (rows, width) = table.shape().dims2()?;
        if width != dim {
            candle_core::bail!("token_embd.weight has {width} columns, the model {dim}");
        }
        let dtype = table.dtype();
        let row_bytes = dim / dtype.block_size() * dtype.type_size();
        Ok(Self { table: Table::Stored { table, row_bytes }, rows, dim })
    }

    /// The same table, read from the packed output matrix it is tied to.
    fn tied(packed: Arc<PackedQ8>) -> Self {
        let (rows, dim) = packed.dims();
        Self { table: Table::Packed(packed), rows, dim }
    }

    /// `[1, tokens.len(), dim]` f32.
    fn forward(&self, tokens: &[u32]) -> CResult<Tensor> {
        let mut out = Vec::with_capacity(tokens.len() * self.dim);
        for &t in tokens {
            let t = t as usize;
            if t >= self.rows {
                candle_core::bail!("token {t} is outside the vocabulary of {}", self.rows);
            }
            match &self.table {
                Table::Stored { table, row_bytes } => {
                    let data = table.data()?;
                    let raw = &data[t * row_bytes..(t + 1) * row_bytes];
                    let row = candle_core::quantized::ggml_file::qtensor_from_ggml(
                        table.dtype(),
                        raw,
                        vec![self.dim],
                        &Device::Cpu,
                    )?;
                    out.extend(row.dequantize(&Device::Cpu)?.to_vec1::<f32>()?);
                }
                Table::Packed(packed) => out.extend(packed.row(t)),
            }
        }
        Tensor::from_vec(out, (1, tokens.len(), self.dim), &Device::Cpu)
    }
}

fn rope_tables(
    head_dim: usize,
    base: f32,
    context_length: usize,
    device: &Device,
) -> CResult<(Tensor, Tensor)> {
    let theta: Vec<f32> =
        (0..head_dim).step_by(2).map(|i| 1f32 / base.powf(i as f32 / head_dim as f32)).collect();
    let theta = Tensor::new(theta.as_slice(), device)?;
    let positions = Tensor::arange(0, context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((context_length, 1))?;
    let angles = positions.matmul(&theta.reshape((1, head_dim / 2))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy(d: &Decoder, prompt: &[u32], steps: usize) -> (Tensor, Vec<u32>) {
        let mut cache = KvCache::new(d.cfg.n_layer);
        let first = d.forward(prompt, &mut cache).expect("prefill");
        let mut logits = first.clone();
        let mut out = Vec::new();
        for _ in 0..steps {
            let next = logits.argmax(0).and_then(|t| t.to_scalar::<u32>()).expect("argmax");
            out.push(next);
            logits = d.forward(&[next], &mut cache).expect("decode");
        }
        (first, out)
    }

    /// Logits for the prompt and then for each of `forced` fed in turn.
    fn forced(d: &Decoder, prompt: &[u32], forced: &[u32]) -> Vec<Vec<f32>> {
        let mut cache = KvCache::new(d.cfg.n_layer);
        let mut logits = vec![d.forward(prompt, &mut cache).expect("prefill")];
        for &t in forced {
            logits.push(d.forward(&[t], &mut cache).expect("decode"));
        }
        logits.iter().map(|l| l.to_vec1::<f32>().expect("logits")).collect()
    }

    /// The default model's Q8_0 matrices (inner size 896) packed for Closer's kernel, and padded
    /// for candle's VNNI kernels, compute what the stored ones do. Fed the stored weights' greedy
    /// continuation token by token, every step's logits stay within quantization noise (a tenth of the largest), and the
    /// top token is the same wherever the stored weights' choice is clear (a margin over the
    /// runner-up above 0.5; a near tie may go either way with any rounding).
    #[test]
    fn packed_and_padded_matrices_decode_like_the_stored_ones() {
        let path = crate::catalog::installed_model("qwen2.5-coder-0.5b-instruct")
            .expect("run `closer models fetch qwen2.5-coder-0.5b-instruct`");
        let mut f = std::fs::File::open(&path).expect("open");
        let ct = gguf_file::Content::read(&mut f).expect("read");
        let load = |f: &mut std::fs::File, kernels| {
            Decoder::from_gguf_with(&ct, f, &Device::Cpu, kernels, &mut |_, _| {}).expect("load")
        };
        let prompt: Vec<u32> = (9707..9747).collect();
        let stored = load(&mut f, Kernels::Stored);
        assert_eq!(stored.layers[0].up.pad, 0);
        assert!(stored.layers[0].up.packed().is_none());
        let (_, continuation) = greedy(&stored, &prompt, 16);
        let want = forced(&stored, &prompt, &continuation);
        drop(stored);
        let argmax = |l: &[f32]| (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap_or(0);
        let margin = |l: &[f32]| {
            let top = argmax(l);
            let second = (0..l.len()).filter(|&i| i != top).map(|i| l[i]).fold(f32::MIN, f32::max);
            l[top] - second
        };
        let clear: Vec<usize> = (0..want.len()).filter(|&i| margin(&want[i]) > 0.5).collect();
        assert!(clear.len() >= 10, "only {} of 17 steps have a clear top token", clear.len());
        let mut kernels = vec![Kernels::Vnni];
        if crate::q8::available() {
            kernels.push(Kernels::Packed);
        } else {
            eprintln!("this CPU has no AVX-512 VNNI: the packed kernel is not compared");
        }
        for kernel in kernels {
            let d = load(&mut f, kernel);
            match kernel {
                Kernels::Packed => {
                    let l = &d.layers[0];
                    for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &d.output] {
                        assert!(
                            w.packed().is_some() && w.pad == 0,
                            "Q8_0 matrices packed as stored"
                        );
                    }
                    assert!(l.down.packed().is_none(), "Q4_K / Q6_K stay with candle");
                }
                _ => {
                    assert!(d.layers[0].up.pad > 0 && d.output.pad > 0, "896 columns get padded");
                    assert_eq!(d.layers[0].down.pad, 0, "4864 columns are whole 256-blocks");
                }
            }
            let got = forced(&d, &prompt, &continuation);
            for (step, (g, w)) in got.iter().zip(&want).enumerate() {
                let spread = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let diff = g.iter().zip(w).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(diff < 0.1 * spread, "{kernel:?} step {step}: |Δlogit| {diff} of {spread}");
            }
            for &step in &clear {
                assert_eq!(argmax(&got[step]), argmax(&want[step]), "{kernel:?} step {step}");
            }
        }
    }

    /// A tied output matrix (SmolLM2) that is packed also serves the token embeddings: the
    /// table is held once, and gives the same logits as the stored table.
    #[test]
    fn a_tied_packed_table_embeds_like_the_stored_one() {
        if !crate::q8::available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, and nothing is packed");
            return;
        }
        let path = crate::catalog::installed_model("smollm2-135m-instruct")
            .expect("run `closer models fetch smollm2-135m-instruct`");
        let mut f = std::fs::File::open(&path).expect("open");
        let ct = gguf_file::Content::read(&mut f).expect("read");
        let d = Decoder::from_gguf_with(&ct, &mut f, &Device::Cpu, Kernels::Packed, &mut |_, _| {})
            .expect("load");
        assert!(matches!(d.embed.table, Table::Packed(_)), "the embedding reads the output matrix");
        let table = Arc::new(ct.tensor(&mut f, "token_embd.weight", &Device::Cpu).expect("table"));
        let stored = QuantizedEmbedding::new(table, d.embed.dim).expect("stored");
        let tokens = [0, 1, 15, 16, 17, 2_000, 49_151];
        let a =
            d.embed.forward(&tokens).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).expect("a");
        let b = stored.forward(&tokens).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).expect("b");
        assert_eq!(a, b);
    }

    /// Split on row-group boundaries, a prefix from the cache plus a batch of new tokens gives
    /// exactly what one batch gives.
    #[test]
    fn split_and_truncated_prefill_match_one_batch() {
        let path = crate::catalog::installed_model("smollm2-135m-instruct")
            .expect("run `closer models fetch smollm2-135m-instruct`");
        let mut f = std::fs::File::open(&path).expect("open");
        let ct = gguf_file::Content::read(&mut f).expect("read");
        let d = Decoder::from_gguf(&ct, &mut f, &Device::Cpu, &mut |_, _| {}).expect("load");
        // Splits on multiples of 16: rows are computed in groups, see the worker's prefill.
        let tokens: Vec<u32> = (100..160).collect();
        let max_diff = |a: &Tensor, b: &Tensor| -> f32 {
            (a - b)
                .and_then(|t| t.abs())
                .and_then(|t| t.max(0))
                .and_then(|t| t.to_scalar())
                .expect("diff")
        };
        let mut whole = KvCache::new(d.cfg.n_layer);
        let a = d.forward(&tokens, &mut whole).expect("whole");
        let mut split = KvCache::new(d.cfg.n_layer);
        d.forward(&tokens[..32], &mut split).expect("first");
        let b = d.forward(&tokens[32..], &mut split).expect("rest");
        assert_eq!(max_diff(&a, &b), 0.0);
        let mut truncated = whole.fork().expect("fork");
        truncated.truncate(16).expect("truncate");
        let c = d.forward(&tokens[16..], &mut truncated).expect("again");
        assert_eq!(max_diff(&a, &c), 0.0);
        assert!(truncated.bytes() > 0);
    }
}
