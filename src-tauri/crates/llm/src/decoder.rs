//! The transformer decoder for the llama family as GGUF stores it (llama, qwen2, qwen3): the
//! layers follow candle-transformers' `quantized_llama` / `quantized_qwen2`, but the KV cache lives
//! outside the weights. That is what lets the worker keep a prefix cache per conversation, and
//! fork one prefill into N suggestions, while the weights stay shared and immutable.

use candle_core::quantized::{QMatMul, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::Embedding;
use candle_transformers::quantized_nn::RmsNorm;

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

/// The keys and values of every layer for the tokens seen so far. Cloning is cheap (tensors share
/// storage), which is how one prefill serves several suggestions.
#[derive(Debug, Clone)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub(crate) fn new(n_layer: usize) -> Self {
        Self { layers: vec![None; n_layer], len: 0 }
    }

    /// Keeps the first `len` positions.
    pub(crate) fn truncate(&mut self, len: usize) -> CResult<()> {
        if len >= self.len {
            return Ok(());
        }
        for layer in self.layers.iter_mut() {
            if let Some((k, v)) = layer.take() {
                *layer = if len == 0 {
                    None
                } else {
                    Some((k.narrow(2, 0, len)?.contiguous()?, v.narrow(2, 0, len)?.contiguous()?))
                };
            }
        }
        self.len = len;
        Ok(())
    }

    /// Memory held, in bytes (f32 keys and values).
    pub(crate) fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * DType::F32.size_in_bytes())
            .sum()
    }
}

#[derive(Debug)]
struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    bq: Option<Tensor>,
    bk: Option<Tensor>,
    bv: Option<Tensor>,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The weights of a loaded model; immutable once loaded.
#[derive(Debug)]
pub(crate) struct Decoder {
    pub cfg: DecoderConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
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
        let embed_q = tensor(reader, "token_embd.weight")?;
        let embed = Embedding::new(embed_q.dequantize(device)?, embedding_length);
        let output = match tensor(reader, "output.weight") {
            Ok(w) => QMatMul::from_qtensor(w)?,
            // Tied embeddings (SmolLM2, small Qwens).
            Err(_) => QMatMul::from_qtensor(embed_q)?,
        };
        let norm = RmsNorm::from_qtensor(tensor(reader, "output_norm.weight")?, rms_eps)?;

        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let q = |reader: &mut R, n: &str| -> CResult<QMatMul> {
                QMatMul::from_qtensor(tensor(reader, &format!("{p}.{n}.weight"))?)
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
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mask = if seq == 1 {
            None
        } else {
            Some(candle_transformers::utils::build_causal_mask(seq, index_pos, &self.device)?)
        };
        let cos = self.cos.narrow(0, index_pos, seq)?;
        let sin = self.sin.narrow(0, index_pos, seq)?;
        let mut x = self.embed.forward(&input)?;
        for (layer, kv) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = self.layer_forward(layer, &x, mask.as_ref(), &cos, &sin, kv)?;
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
        cos: &Tensor,
        sin: &Tensor,
        kv: &mut Option<(Tensor, Tensor)>,
    ) -> CResult<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let (n_head, n_kv, d) = (self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim);
        let h = l.attn_norm.forward(x)?;
        let project = |w: &QMatMul, bias: &Option<Tensor>, heads: usize| -> CResult<Tensor> {
            let mut t = w.forward(&h)?;
            if let Some(bias) = bias {
                t = t.broadcast_add(bias)?;
            }
            t.reshape((b, seq, heads, d))?.transpose(1, 2)?.contiguous()
        };
        let mut q = project(&l.wq, &l.bq, n_head)?;
        let mut k = project(&l.wk, &l.bk, n_kv)?;
        let v = project(&l.wv, &l.bv, n_kv)?;
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
        let (k, v) = match kv.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *kv = Some((k.clone(), v.clone()));
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
        let mlp =
            l.down.forward(&(candle_nn::ops::silu(&l.gate.forward(&h)?)? * l.up.forward(&h)?)?)?;
        x + mlp
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
        let mut truncated = whole.clone();
        truncated.truncate(16).expect("truncate");
        let c = d.forward(&tokens[16..], &mut truncated).expect("again");
        assert_eq!(max_diff(&a, &c), 0.0);
        assert!(truncated.bytes() > 0);
    }
}
