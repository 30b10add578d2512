//! The transformer decoder for the llama family as GGUF stores it (llama, qwen2, qwen3): the
//! layers follow candle-transformers' `quantized_llama` / `quantized_qwen2`, but the KV cache lives
//! outside the weights. That is what lets the worker keep a prefix cache per conversation, and
//! fork one prefill into N suggestions, while the weights stay shared and immutable.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::packed::{self, MatRef, Packed};

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
        let (_, heads, seq, d) = k.dims4()?;
        let (start, end) = (self.len, self.len + seq);
        debug_assert!(end <= self.capacity, "reserve before append");
        let (ck, cv) = self.buffers(layer, heads, d, k.device())?;
        ck.slice_set(&k.contiguous()?, 2, start)?;
        cv.slice_set(&v.contiguous()?, 2, start)?;
        Ok((ck.narrow(2, 0, end)?, cv.narrow(2, 0, end)?))
    }

    /// One layer's key and value buffers (`[1, heads, capacity, d]`), zeros at its first write.
    fn buffers(
        &mut self,
        layer: usize,
        heads: usize,
        d: usize,
        device: &Device,
    ) -> CResult<&(Tensor, Tensor)> {
        if self.layers[layer].is_none() {
            let zeros = || Tensor::zeros((1, heads, self.capacity, d), DType::F32, device);
            self.layers[layer] = Some((zeros()?, zeros()?));
        }
        match &self.layers[layer] {
            Some(buffers) => Ok(buffers),
            None => unreachable!("just filled"),
        }
    }
}

impl KvCache {
    /// Writes one position's keys and values (`[kv_heads · head_dim]` each) of one layer.
    fn write_one(
        &mut self,
        layer: usize,
        pos: usize,
        k: &[f32],
        v: &[f32],
        (heads, d): (usize, usize),
    ) -> CResult<()> {
        debug_assert!(pos < self.capacity, "reserve before write");
        let (ck, cv) = self.buffers(layer, heads, d, &Device::Cpu)?;
        ck.slice_set(&Tensor::from_slice(k, (1, heads, 1, d), &Device::Cpu)?, 2, pos)?;
        cv.slice_set(&Tensor::from_slice(v, (1, heads, 1, d), &Device::Cpu)?, 2, pos)?;
        Ok(())
    }

    /// Attention of one position's queries (`[heads · head_dim]`) over the first `len`
    /// positions of one layer, into `y` (`[heads · head_dim]`). The query heads that share a
    /// key/value head read the same rows.
    fn attend(
        &self,
        layer: usize,
        len: usize,
        q: &[f32],
        (n_head, n_kv, d): (usize, usize, usize),
        y: &mut [f32],
    ) -> CResult<()> {
        let Some((ck, cv)) = self.layers[layer].as_ref() else {
            candle_core::bail!("layer {layer} has no keys yet");
        };
        let (k_store, k_layout) = ck.storage_and_layout();
        let (v_store, v_layout) = cv.storage_and_layout();
        let (candle_core::Storage::Cpu(k_cpu), candle_core::Storage::Cpu(v_cpu)) =
            (&*k_store, &*v_store)
        else {
            candle_core::bail!("the KV cache lives on the CPU");
        };
        let (Some((k0, _)), Some((v0, _))) =
            (k_layout.contiguous_offsets(), v_layout.contiguous_offsets())
        else {
            candle_core::bail!("the KV cache buffers are contiguous");
        };
        let (keys, values) = (&k_cpu.as_slice::<f32>()?[k0..], &v_cpu.as_slice::<f32>()?[v0..]);
        let (n_rep, capacity, scale) = (n_head / n_kv, self.capacity, 1.0 / (d as f32).sqrt());
        // One unit per key/value head: its rows are read once for the query heads sharing it.
        // The weighted values are a small matrix product (`gemm`). The scores stay dot products
        // summed in the order below: a matrix product sums them in another order, and that alone
        // turned a SmolLM2 step of margin 0.26 the other way from llama.cpp's.
        packed::par_chunks_mut(y, n_rep * d, |g, out| {
            let (keys, values) =
                (&keys[g * capacity * d..][..len * d], &values[g * capacity * d..][..len * d]);
            let q = &q[g * n_rep * d..(g + 1) * n_rep * d];
            let mut scores = vec![0.0f32; n_rep * len];
            for (p, k) in keys.chunks_exact(d).enumerate() {
                for (r, q) in q.chunks_exact(d).enumerate() {
                    scores[r * len + p] = dot(q, k) * scale;
                }
            }
            for scores in scores.chunks_exact_mut(len) {
                let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                for s in scores.iter_mut() {
                    *s = exp(*s - max);
                }
                let sum: f32 = scores.iter().sum();
                for s in scores.iter_mut() {
                    *s /= sum;
                }
            }
            let p = MatRef { data: &scores, rows: n_rep, cols: len, rs: len, cs: 1 };
            let v = MatRef { data: values, rows: len, cols: d, rs: d, cs: 1 };
            packed::gemm_f32(out, p, v, 1.0);
        });
        Ok(())
    }
}

/// `a · b`, in 16 lanes so it vectorizes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; 16];
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// e^x in plain arithmetic, so the loops of a decode step (softmax, silu) vectorize: the
/// library's `exp` is a call per value, and a step takes about 300,000 of them. e^x = 2^n · e^r
/// with n = round(x / ln 2) and |r| ≤ ln 2 / 2, e^r by its Taylor series to r⁶ (relative error
/// under 1e-6); x is clamped to [-87, 88], where e^x stays a normal f32.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((n as i32 + 127) as u32) << 23) * p
}

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

/// Rotary embedding of one position, in place, for each head of `x` (`cos`/`sin`: `head_dim / 2`
/// values of that position); NeoX style rotates halves, the other style adjacent pairs.
fn rope_one(x: &mut [f32], d: usize, cos: &[f32], sin: &[f32], neox: bool) {
    let half = d / 2;
    for head in x.chunks_exact_mut(d) {
        for i in 0..half {
            let (a, b) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
            let (x1, x2) = (head[a], head[b]);
            head[a] = x1 * cos[i] - x2 * sin[i];
            head[b] = x1 * sin[i] + x2 * cos[i];
        }
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
    bq: Option<Bias>,
    bk: Option<Bias>,
    bv: Option<Bias>,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    attn_norm: Norm,
    ffn_norm: Norm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// An RMS norm: candle's for whole tensors, and its weights for [`Decoder::step`].
#[derive(Debug)]
struct Norm {
    candle: RmsNorm,
    w: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn new(w: QTensor, eps: f64) -> CResult<Self> {
        let weights = w.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?;
        Ok(Self { candle: RmsNorm::from_qtensor(w, eps)?, w: weights, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        self.candle.forward(x)
    }

    /// `x` normalized in place, in pieces of the weights' length (one per head for q/k norms).
    fn apply(&self, x: &mut [f32]) {
        for x in x.chunks_exact_mut(self.w.len()) {
            let mean = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
            let r = 1.0 / (mean + self.eps).sqrt();
            for (v, w) in x.iter_mut().zip(&self.w) {
                *v = *v * r * w;
            }
        }
    }
}

/// A bias: the tensor for whole batches, its values for [`Decoder::step`].
#[derive(Debug)]
struct Bias {
    t: Tensor,
    v: Vec<f32>,
}

/// The weights of a loaded model; immutable once loaded.
#[derive(Debug)]
pub(crate) struct Decoder {
    pub cfg: DecoderConfig,
    embed: QuantizedEmbedding,
    layers: Vec<Layer>,
    norm: Norm,
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
        let norm = Norm::new(tensor(reader, "output_norm.weight")?, rms_eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let q = |reader: &mut R, n: &str| -> CResult<Linear> {
                Linear::new(tensor(reader, &format!("{p}.{n}.weight"))?, kernels)
            };
            let bias = |reader: &mut R, n: &str| -> CResult<Option<Bias>> {
                match tensor(reader, &format!("{p}.{n}.bias")) {
                    Ok(t) => {
                        let t = t.dequantize(device)?;
                        Ok(Some(Bias { v: t.to_vec1()?, t }))
                    }
                    Err(_) => Ok(None),
                }
            };
            let norm = |reader: &mut R, n: &str| -> CResult<Norm> {
                Norm::new(tensor(reader, &format!("{p}.{n}.weight"))?, rms_eps)
            };
            let optional_norm = |reader: &mut R, n: &str| -> CResult<Option<Norm>> {
                match tensor(reader, &format!("{p}.{n}.weight")) {
                    Ok(t) => Ok(Some(Norm::new(t, rms_eps)?)),
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
        self.check_context(index_pos + seq)?;
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

    fn check_context(&self, tokens: usize) -> CResult<()> {
        if tokens > self.cfg.context_length {
            candle_core::bail!("{tokens} tokens exceed the context of {}", self.cfg.context_length);
        }
        Ok(())
    }

    /// One decode step: appends `token` to `cache` and returns the logits after it (f32,
    /// `[vocab]`). The same computation as `forward(&[token], cache)`, done on plain vectors:
    /// for one position, candle's per-operation cost (a new tensor, a dispatch, for each of some
    /// twenty small operations a layer) took more than a quarter of a decode step. The matrices
    /// still go through their kernels; attention runs a key/value head per unit on the compute
    /// threads.
    pub(crate) fn step(&self, token: u32, cache: &mut KvCache) -> CResult<Tensor> {
        let pos = cache.len;
        self.check_context(pos + 1)?;
        let (n_head, n_kv, d) = (self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim);
        let cos = self.cos.i(pos)?.to_vec1::<f32>()?;
        let sin = self.sin.i(pos)?.to_vec1::<f32>()?;
        let mut x = self.embed.forward(&[token])?.flatten_all()?.to_vec1::<f32>()?;
        cache.reserve(pos + 1, self.cfg.context_length)?;
        let mut y = vec![0.0f32; n_head * d];
        let mut h = vec![0.0f32; x.len()];
        for (i, l) in self.layers.iter().enumerate() {
            h.copy_from_slice(&x);
            l.attn_norm.apply(&mut h);
            let [mut q, mut k, mut v] = Linear::forward_vec([&l.wq, &l.wk, &l.wv], &h)?;
            for (t, bias) in [(&mut q, &l.bq), (&mut k, &l.bk), (&mut v, &l.bv)] {
                if let Some(bias) = bias {
                    add(t, &bias.v);
                }
            }
            if let Some(norm) = &l.q_norm {
                norm.apply(&mut q);
            }
            if let Some(norm) = &l.k_norm {
                norm.apply(&mut k);
            }
            rope_one(&mut q, d, &cos, &sin, self.cfg.rope_neox);
            rope_one(&mut k, d, &cos, &sin, self.cfg.rope_neox);
            cache.write_one(i, pos, &k, &v, (n_kv, d))?;
            cache.attend(i, pos + 1, &q, (n_head, n_kv, d), &mut y)?;
            add(&mut x, &l.wo.forward_one(&y)?);
            h.copy_from_slice(&x);
            l.ffn_norm.apply(&mut h);
            let [mut gate, up] = Linear::forward_vec([&l.gate, &l.up], &h)?;
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + exp(-*g)) * u;
            }
            add(&mut x, &l.down.forward_one(&gate)?);
        }
        cache.len = pos + 1;
        self.norm.apply(&mut x);
        let logits = self.output.forward_one(&x)?;
        let n = logits.len();
        Tensor::from_vec(logits, n, &self.device)
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
        let project = |t: Tensor, bias: &Option<Bias>, heads: usize| -> CResult<Tensor> {
            let t = match bias {
                Some(bias) => t.broadcast_add(&bias.t)?,
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

/// Which matrix kernels run the quantized weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// Closer's own AVX-512 VNNI kernels (`packed`) for every Q8_0, Q4_K and Q6_K matrix of whole
    /// 16-row tiles, at its stored size: activations quantized per 32 values (Q8_0) or 256
    /// (k-quants) as llama.cpp does, so no padding. Other matrices as [`Kernels::Vnni`].
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
            Ok("packed") if crate::packed::available() => return Self::Packed,
            Ok("vnni") => return Self::Vnni,
            Ok("stored") => return Self::Stored,
            _ => {}
        }
        if crate::packed::available() {
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
    Packed(Arc<Packed>),
}

impl Linear {
    fn new(w: QTensor, kernels: Kernels) -> CResult<Self> {
        Self::shared(Arc::new(w), kernels)
    }

    fn shared(w: Arc<QTensor>, kernels: Kernels) -> CResult<Self> {
        if kernels == Kernels::Packed
            && let Some(packed) = Packed::pack(&w)?
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

    fn packed(&self) -> Option<&Arc<Packed>> {
        match &self.w {
            Weights::Packed(p) => Some(p),
            Weights::Candle(_) => None,
        }
    }

    /// The packed matrices, when all of `ws` are packed and take inputs of `k` values.
    fn all_packed<const N: usize>(ws: [&Self; N], k: usize) -> Option<[&Packed; N]> {
        let packed: Vec<&Packed> =
            ws.iter().map(|w| w.packed().map(|p| p.as_ref())).collect::<Option<_>>()?;
        if packed.iter().all(|p| p.dims().1 == k) { packed.try_into().ok() } else { None }
    }

    fn input(&self, x: &Tensor) -> CResult<Tensor> {
        if self.pad == 0 { Ok(x.clone()) } else { x.pad_with_zeros(D::Minus1, 0, self.pad) }
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match &self.w {
            Weights::Packed(p) => {
                let [y] = packed_forward([p.as_ref()], x)?;
                Ok(y)
            }
            Weights::Candle(w) => w.forward(&self.input(x)?),
        }
    }

    /// Several matrices applied to the same input (query / key / value, gate / up): the input is
    /// quantized once and the matrices run in one parallel region, by Closer's kernel when all
    /// are packed, else by candle's fused kernel for one row.
    fn forward_shared<const N: usize>(ws: [&Self; N], x: &Tensor) -> CResult<[Tensor; N]> {
        if let Some(packed) = Self::all_packed(ws, x.dim(D::Minus1)?) {
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

impl Linear {
    /// `x · wᵀ` for one row.
    fn forward_one(&self, x: &[f32]) -> CResult<Vec<f32>> {
        let [y] = Self::forward_vec([self], x)?;
        Ok(y)
    }

    /// [`Linear::forward_shared`] for one row given as values.
    fn forward_vec<const N: usize>(ws: [&Self; N], x: &[f32]) -> CResult<[Vec<f32>; N]> {
        if let Some(packed) = Self::all_packed(ws, x.len()) {
            let outs = packed::matmul(&packed, x, 1);
            return Ok(outs.try_into().unwrap_or_else(|_| unreachable!("N outputs")));
        }
        let t = Tensor::from_slice(x, (1, 1, x.len()), &Device::Cpu)?;
        let outs = Self::forward_shared(ws, &t)?;
        let mut vecs = Vec::with_capacity(N);
        for o in outs {
            vecs.push(o.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(vecs.try_into().unwrap_or_else(|_| unreachable!("N outputs")))
    }
}

/// `x · wᵀ` for packed matrices of one inner size: `x` is `[.., k]` f32, each result `[.., n]`.
fn packed_forward<const N: usize>(ws: [&Packed; N], x: &Tensor) -> CResult<[Tensor; N]> {
    let mut dims = x.dims().to_vec();
    let k = ws[0].dims().1;
    if dims.last() != Some(&k) {
        candle_core::bail!("input {:?} for a matrix of {k} columns", x.shape());
    }
    let m = x.elem_count() / k;
    let data = x.flatten_all()?.to_vec1::<f32>()?;
    let outs = packed::matmul(&ws, &data, m);
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
    Packed(Arc<Packed>),
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
    fn tied(packed: Arc<Packed>) -> Self {
        let (rows, dim) = packed.dims();
        Self { table: Table::Packed(packed), rows, dim }
    }

    /// The table row of token `t`, which must be in the vocabulary.
    fn row(&self, t: u32) -> CResult<usize> {
        let t = t as usize;
        if t >= self.rows {
            candle_core::bail!("token {t} is outside the vocabulary of {}", self.rows);
        }
        Ok(t)
    }

    /// `[1, tokens.len(), dim]` f32.
    fn forward(&self, tokens: &[u32]) -> CResult<Tensor> {
        let mut out = Vec::with_capacity(tokens.len() * self.dim);
        match &self.table {
            Table::Stored { table, row_bytes } => {
                let data = table.data()?;
                for &t in tokens {
                    let t = self.row(t)?;
                    let raw = &data[t * row_bytes..(t + 1) * row_bytes];
                    let row = candle_core::quantized::ggml_file::qtensor_from_ggml(
                        table.dtype(),
                        raw,
                        vec![self.dim],
                        &Device::Cpu,
                    )?;
                    out.extend(row.dequantize(&Device::Cpu)?.to_vec1::<f32>()?);
                }
            }
            Table::Packed(packed) => {
                for &t in tokens {
                    out.extend(packed.row(self.row(t)?));
                }
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
    /// continuation token by token, every step's logits stay within quantization noise (a tenth
    /// of the largest), and the top token is the same wherever the stored weights' choice is
    /// clear (a margin over the runner-up above 0.5; a near tie may go either way with any
    /// rounding).
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
        if crate::packed::available() {
            kernels.push(Kernels::Packed);
        } else {
            eprintln!("this CPU has no AVX-512 VNNI: the packed kernel is not compared");
        }
        for kernel in kernels {
            let d = load(&mut f, kernel);
            match kernel {
                Kernels::Packed => {
                    let l = &d.layers[0];
                    for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down, &d.output] {
                        assert!(w.packed().is_some() && w.pad == 0, "all packed as stored");
                    }
                    let types: Vec<_> = d
                        .layers
                        .iter()
                        .map(|l| l.down.packed().map(|p| matches!(p.as_ref(), Packed::Q4K(_))))
                        .collect();
                    assert!(
                        types.contains(&Some(true)) && types.contains(&Some(false)),
                        "Q4_K and Q6_K down projections both packed: {types:?}"
                    );
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

    /// A decode step on plain vectors computes what a one-token forward pass does, on both
    /// models (Qwen: rotated halves, query/key biases, grouped heads; SmolLM2: llama's adjacent
    /// pairs), each step from the same cache as the pass it is compared with. Not to the bit:
    /// attention sums run in another order, and an activation a rounding apart can land on the
    /// other side of an 8-bit step in the next product (a one-token pass and a batch differ as
    /// much). So logits within a tenth of the largest (a wrong rotation or head would be off by
    /// the whole scale), the same top token wherever it is clear, and the keys and values written
    /// alike. The parts are checked exactly below.
    #[test]
    fn a_decode_step_computes_what_a_one_token_forward_does() {
        let largest = |t: &Tensor| -> f32 {
            t.abs().and_then(|t| t.flatten_all()?.max(0)?.to_scalar()).expect("max")
        };
        let top = |l: &[f32]| (0..l.len()).max_by(|&i, &j| l[i].total_cmp(&l[j])).unwrap_or(0);
        let margin = |l: &[f32]| {
            let t = top(l);
            l[t] - (0..l.len()).filter(|&i| i != t).map(|i| l[i]).fold(f32::MIN, f32::max)
        };
        for id in ["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"] {
            let path = crate::catalog::installed_model(id)
                .unwrap_or_else(|e| panic!("{e}: run `closer models fetch {id}`"));
            let mut f = std::fs::File::open(&path).expect("open");
            let ct = gguf_file::Content::read(&mut f).expect("read");
            let d = Decoder::from_gguf(&ct, &mut f, &Device::Cpu, &mut |_, _| {}).expect("load");
            let mut cache = KvCache::new(d.cfg.n_layer);
            d.forward(&(300..337).collect::<Vec<u32>>(), &mut cache).expect("prefill");
            let mut clear = 0;
            for token in [400u32, 401, 17, 9, 1000, 3, 5, 8] {
                let mut by_step = cache.fork().expect("fork");
                let b = d.step(token, &mut by_step).expect("step");
                let a = d.forward(&[token], &mut cache).expect("forward");
                let diff = largest(&(&a - &b).expect("diff"));
                let spread = largest(&a);
                assert!(diff < 0.1 * spread, "{id} after {token}: |Δlogit| {diff} of {spread}");
                let (a, b) = (a.to_vec1::<f32>().expect("a"), b.to_vec1::<f32>().expect("b"));
                if margin(&a) > 1.0 {
                    clear += 1;
                    assert_eq!(top(&a), top(&b), "{id} after {token}");
                }
                assert_eq!(by_step.len, cache.len);
                let n = cache.len;
                for (x, y) in cache.layers.iter().flatten().zip(by_step.layers.iter().flatten()) {
                    for (x, y) in [(&x.0, &y.0), (&x.1, &y.1)] {
                        let (x, y) = (x.narrow(2, 0, n).expect("x"), y.narrow(2, 0, n).expect("y"));
                        let diff = largest(&(&x - &y).expect("diff"));
                        assert!(diff < 0.1 * largest(&x), "{id}: keys/values differ by {diff}");
                    }
                }
            }
            assert!(clear >= 2, "{id}: only {clear} of 8 steps have a clear top token");
        }
    }

    /// The vectorizable e^x agrees with the library's to a relative 1e-6 over the range a
    /// softmax (x ≤ 0) and a silu meet, and gives 0 for what underflows.
    #[test]
    fn exp_agrees_with_the_library() {
        let mut worst = 0.0f32;
        for i in -87_000..88_000 {
            let x = i as f32 / 1000.0 + 0.000_37;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NEG_INFINITY) < 1e-37 && exp(-1000.0) < 1e-37);
    }

    /// Pseudo-random values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 2.0
            })
            .collect()
    }

    /// The step's rotary embedding is candle's, both styles, at any position.
    #[test]
    fn one_position_rotates_as_candle_does() {
        let (heads, d) = (3, 64);
        let (cos, sin) = rope_tables(d, 10_000.0, 64, &Device::Cpu).expect("tables");
        for (pos, neox) in [(0, true), (5, true), (63, true), (7, false), (40, false)] {
            let x = noise(heads * d, pos as u64 + 1);
            let t = Tensor::from_slice(&x, (1, heads, 1, d), &Device::Cpu).expect("t");
            let (c, s) = (cos.narrow(0, pos, 1).expect("c"), sin.narrow(0, pos, 1).expect("s"));
            let want = if neox {
                candle_nn::rotary_emb::rope(&t, &c, &s)
            } else {
                candle_nn::rotary_emb::rope_i(&t, &c, &s)
            };
            let want = want.and_then(|t| t.flatten_all()?.to_vec1::<f32>()).expect("want");
            let mut got = x.clone();
            let (c, s) = (
                c.flatten_all().and_then(|t| t.to_vec1()),
                s.flatten_all().and_then(|t| t.to_vec1()),
            );
            rope_one(&mut got, d, &c.expect("c"), &s.expect("s"), neox);
            let diff = got.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 1e-6, "position {pos}, neox {neox}: off by {diff}");
        }
    }

    /// The step's attention over the cache, with grouped heads, is softmax(q·kᵀ/√d)·v computed
    /// in f64, at lengths on both sides of the 16-lane blocks.
    #[test]
    fn one_position_attends_as_the_formula_says() {
        let (n_head, n_kv, d) = (6, 2, 64);
        for len in [1, 15, 16, 39, 100] {
            let mut cache = KvCache::new(1);
            cache.reserve(len, 4096).expect("reserve");
            let keys = noise(len * n_kv * d, len as u64);
            let values = noise(len * n_kv * d, len as u64 + 100);
            for p in 0..len {
                let row = |all: &[f32]| -> Vec<f32> {
                    (0..n_kv).flat_map(|g| all[(g * len + p) * d..][..d].to_vec()).collect()
                };
                cache.write_one(0, p, &row(&keys), &row(&values), (n_kv, d)).expect("write");
            }
            let q = noise(n_head * d, 7);
            let mut y = vec![0.0; n_head * d];
            cache.attend(0, len, &q, (n_head, n_kv, d), &mut y).expect("attend");
            for h in 0..n_head {
                let g = h / (n_head / n_kv);
                let key = |p: usize, i: usize| f64::from(keys[(g * len + p) * d + i]);
                let scores: Vec<f64> = (0..len)
                    .map(|p| (0..d).map(|i| f64::from(q[h * d + i]) * key(p, i)).sum::<f64>())
                    .map(|s| s / (d as f64).sqrt())
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let sum: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for i in 0..d {
                    let want: f64 = (0..len)
                        .map(|p| {
                            (scores[p] - max).exp() / sum * f64::from(values[(g * len + p) * d + i])
                        })
                        .sum();
                    let got = f64::from(y[h * d + i]);
                    assert!((got - want).abs() < 1e-5, "len {len}, head {h}, {i}: {got} vs {want}");
                }
            }
        }
    }

    /// A tied output matrix (SmolLM2) that is packed also serves the token embeddings: the
    /// table is held once, and gives the same logits as the stored table.
    #[test]
    fn a_tied_packed_table_embeds_like_the_stored_one() {
        if !crate::packed::available() {
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
