//! Fine-tuning the encoder's upper layers for a labelled intent set.
//!
//! A frozen sentence encoder blurs what an intent set turns on (which of two domains a question
//! is about, a second intent in a long message); a linear head over its pooled states cannot get
//! it back. Here the layers above `from_layer` (10–12 of e5-small) are trained, together with a
//! throw-away linear head over the mean of their output and of the frozen layer's, on the
//! logistic loss of the set's labels. Layers 1–9 stay frozen, so their states are computed once
//! (with the inference kernels) and the training runs only the tuned layers, in f32 with candle's
//! autograd and AdamW. The result is a [`TunedLayers`]: the tuned layers' tensors, named as in
//! the checkpoint, which [`super::Encoder::with_tuned_layers`] quantizes into the encoder like
//! the layers it replaces (the per-message cost does not change). The heads are then trained
//! as before on the tuned encoder's features (seconds); only the tuning takes minutes, once per
//! training set (cached by the callers under the data's digest).
//!
//! Deterministic for a seed on one machine: the order, the initialisation and the dropout are
//! seeded; candle's CPU kernels may round differently on another thread count.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bert::{WeightSource, names};
use super::catalog::{self, GGUF_WEIGHTS_FILE};
use super::{Encoder, GgufWeights, SafetensorsWeights};
use crate::NluError;
use crate::head::Rng;

/// How to fine-tune.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneOptions {
    /// Layers above this one (1-based output index) are tuned: 9 tunes 10–12 of e5-small.
    pub from_layer: usize,
    pub epochs: usize,
    /// AdamW learning rate of the tuned layers (decays linearly to 0).
    pub learning_rate: f64,
    /// Learning rate of the throw-away head.
    pub head_learning_rate: f64,
    pub weight_decay: f64,
    pub batch: usize,
    /// Dropout on the pooled vector the throw-away head reads.
    pub dropout: f32,
    /// Larger sets are tuned on this many of their lines (a seeded sample).
    pub max_examples: usize,
    pub seed: u64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            from_layer: 9,
            epochs: 6,
            learning_rate: 5e-5,
            head_learning_rate: 2e-3,
            weight_decay: 0.01,
            batch: 32,
            dropout: 0.1,
            max_examples: 6000,
            seed: 0x7e57,
        }
    }
}

/// Tensors of fine-tuned layers, by checkpoint name.
#[derive(Debug, Clone)]
pub struct TunedLayers {
    /// The catalog encoder they belong to.
    pub encoder: String,
    /// The tuned layers' 0-based indices.
    pub layers: Vec<usize>,
    /// sha256 (hex) of the tensors: part of the tuned encoder's id.
    pub digest: String,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    encoder: String,
    layers: Vec<usize>,
    digest: String,
}

/// The 16 tensors of one layer, in a fixed order.
const PARTS: [&str; 16] = [
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
];

impl TunedLayers {
    fn new(
        encoder: &str,
        layers: Vec<usize>,
        tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    ) -> Self {
        let mut h = Sha256::new();
        for (name, shape, values) in &tensors {
            h.update(name.as_bytes());
            for d in shape {
                h.update((*d as u64).to_le_bytes());
            }
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        let digest = closer_registry::hex(&h.finalize());
        Self { encoder: encoder.to_owned(), layers, digest, tensors }
    }

    /// The tensors, for loading into the encoder.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>, NluError> {
        let mut out = HashMap::new();
        for (name, shape, values) in &self.tensors {
            out.insert(name.clone(), Tensor::from_slice(values, shape.as_slice(), &Device::Cpu)?);
        }
        Ok(out)
    }

    /// Writes them as safetensors (via a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), NluError> {
        let bad = |m: String| NluError::Encoder { id: self.encoder.clone(), message: m };
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let mut views = Vec::new();
        for ((name, shape, _), data) in self.tensors.iter().zip(&bytes) {
            let view =
                TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| bad(e.to_string()))?;
            views.push((name.clone(), view));
        }
        let header = Header {
            encoder: self.encoder.clone(),
            layers: self.layers.clone(),
            digest: self.digest.clone(),
        };
        let header = serde_json::to_string(&header).map_err(|e| bad(e.to_string()))?;
        let metadata = HashMap::from([("closer_tuned".to_owned(), header)]);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(NluError::io(dir))?;
        }
        let part = path.with_extension(format!("part-{}", std::process::id()));
        safetensors::serialize_to_file(views, Some(metadata), &part)
            .map_err(|e| bad(e.to_string()))?;
        std::fs::rename(&part, path).map_err(NluError::io(path))
    }

    /// Reads what [`TunedLayers::save`] wrote; the digest is checked against the tensors.
    pub fn load(path: &Path) -> Result<Self, NluError> {
        let data = std::fs::read(path).map_err(NluError::io(path))?;
        let bad = |reason: String| NluError::CorruptFile { path: path.to_path_buf(), reason };
        let (_, metadata) = SafeTensors::read_metadata(&data).map_err(|e| bad(e.to_string()))?;
        let header = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("closer_tuned"))
            .ok_or_else(|| bad("no closer_tuned header".into()))?;
        let header: Header = serde_json::from_str(header).map_err(|e| bad(e.to_string()))?;
        let file = SafeTensors::deserialize(&data).map_err(|e| bad(e.to_string()))?;
        let mut tensors = Vec::new();
        for &layer in &header.layers {
            for part in PARTS {
                let name = names::layer(layer, part);
                let t = file.tensor(&name).map_err(|e| bad(format!("{name}: {e}")))?;
                if t.dtype() != Dtype::F32 {
                    return Err(bad(format!("{name}: not f32")));
                }
                let values = t
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                tensors.push((name, t.shape().to_vec(), values));
            }
        }
        let tuned = Self::new(&header.encoder, header.layers, tensors);
        if tuned.digest != header.digest {
            return Err(bad("the tensors do not match their digest".into()));
        }
        Ok(tuned)
    }
}

/// The installed f32 tensors of `layers` (0-based) of encoder `id`.
fn original_layers(
    models_dir: &Path,
    id: &str,
    layers: &[usize],
) -> Result<HashMap<String, Tensor>, NluError> {
    let model = catalog::catalog().get(id)?;
    let path = catalog::encoder_dir(models_dir, id).join(model.weights_file());
    let bytes = std::fs::read(&path).map_err(NluError::io(&path))?;
    let names: Vec<String> =
        layers.iter().flat_map(|&l| PARTS.map(|p| names::layer(l, p))).collect();
    let mut out = HashMap::new();
    if model.weights_file() == GGUF_WEIGHTS_FILE {
        let mut reader = Cursor::new(&bytes[..]);
        let content = gguf_file::Content::read(&mut reader)?;
        let mut source = GgufWeights { content: &content, reader: &mut reader };
        for name in names {
            let t = source.tensor(&name)?;
            out.insert(name, t);
        }
    } else {
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        let mut source = SafetensorsWeights { tensors };
        for name in names {
            let t = source.tensor(&name)?;
            out.insert(name, t);
        }
    }
    Ok(out)
}

/// One tuned layer's variables, in [`PARTS`] order.
struct LayerVars(Vec<Var>);

impl LayerVars {
    fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        heads: usize,
        eps: f32,
    ) -> candle_core::Result<Tensor> {
        let v = &self.0;
        let (b, t, h) = x.dims3()?;
        let hd = h / heads;
        let x2 = x.reshape((b * t, h))?;
        let lin = |x: &Tensor, i: usize| -> candle_core::Result<Tensor> {
            x.matmul(&v[i].as_tensor().t()?)?.broadcast_add(v[i + 1].as_tensor())
        };
        let split = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, val) = (split(lin(&x2, 0)?)?, split(lin(&x2, 2)?)?, split(lin(&x2, 4)?)?);
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs.matmul(&val)?.transpose(1, 2)?.contiguous()?.reshape((b * t, h))?;
        let attended = lin(&context, 6)?;
        let norm = |x: &Tensor, i: usize| {
            candle_nn::ops::layer_norm_slow(x, v[i].as_tensor(), v[i + 1].as_tensor(), eps)
        };
        let x2 = norm(&(attended + &x2)?, 8)?;
        let mid = lin(&x2, 10)?.gelu_erf()?;
        let out = lin(&mid, 12)?;
        norm(&(out + &x2)?, 14)?.reshape((b, t, h))
    }
}

/// Fine-tunes the layers of `encoder` above `options.from_layer` on `texts` with their label
/// indices (`n_labels` labels). `progress(done, total)` counts optimisation steps.
pub fn fine_tune(
    encoder: &Encoder,
    models_dir: &Path,
    texts: &[&str],
    labels: &[Vec<usize>],
    n_labels: usize,
    options: &TuneOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TunedLayers, NluError> {
    let base = encoder.base_id().to_owned();
    let total_layers = encoder.layers();
    let shape = encoder.bert.shape();
    // A smaller encoder (MiniLM's 6 layers) is tuned above three quarters of its height.
    let mut options = options.clone();
    if options.from_layer >= total_layers {
        options.from_layer = total_layers * 3 / 4;
    }
    let options = &options;
    if options.from_layer >= total_layers || texts.is_empty() || n_labels == 0 {
        return Err(NluError::Training(format!(
            "nothing to tune: from layer {} of {total_layers}, {} texts",
            options.from_layer,
            texts.len()
        )));
    }
    let started = std::time::Instant::now();
    let mut rng = Rng(options.seed);
    let mut chosen: Vec<usize> = (0..texts.len()).collect();
    if chosen.len() > options.max_examples {
        rng.shuffle(&mut chosen);
        chosen.truncate(options.max_examples);
        chosen.sort_unstable();
    }
    let batch_texts: Vec<&str> = chosen.iter().map(|&i| texts[i]).collect();
    let states = encoder.token_states(&batch_texts, options.from_layer)?;
    let targets: Vec<&Vec<usize>> = chosen.iter().map(|&i| &labels[i]).collect();
    let h = shape.hidden;
    let eps = shape.layer_norm_eps as f32;
    let layer_indices: Vec<usize> = (options.from_layer..total_layers).collect();
    let original = original_layers(models_dir, &base, &layer_indices)?;
    let mut layer_vars = Vec::new();
    for &l in &layer_indices {
        let mut vars = Vec::new();
        for part in PARTS {
            let t = original
                .get(&names::layer(l, part))
                .ok_or_else(|| NluError::Training(format!("no tensor {part} of layer {l}")))?;
            vars.push(Var::from_tensor(&t.to_dtype(DType::F32)?)?);
        }
        layer_vars.push(LayerVars(vars));
    }
    let head_in = 2 * h;
    let init: Vec<f32> = (0..n_labels * head_in).map(|_| (rng.unit() - 0.5) * 2.0 * 0.02).collect();
    let head_w = Var::from_tensor(&Tensor::from_vec(init, (n_labels, head_in), &Device::Cpu)?)?;
    let head_b = Var::zeros(n_labels, DType::F32, &Device::Cpu)?;
    let all_layer_vars: Vec<Var> = layer_vars.iter().flat_map(|l| l.0.iter().cloned()).collect();
    let params = |lr| ParamsAdamW { lr, weight_decay: options.weight_decay, ..Default::default() };
    let mut opt_layers = AdamW::new(all_layer_vars, params(options.learning_rate))?;
    let mut opt_head =
        AdamW::new(vec![head_w.clone(), head_b.clone()], params(options.head_learning_rate))?;

    let n = states.len();
    let steps_per_epoch = n.div_ceil(options.batch);
    let total_steps = steps_per_epoch * options.epochs;
    let mut step = 0;
    for _ in 0..options.epochs {
        // Batches of similar lengths: shuffle, then sort within windows of 8 batches.
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for window in order.chunks_mut(options.batch * 8) {
            window.sort_by_key(|&i| states[i].len() / h);
        }
        let mut batches: Vec<&[usize]> = order.chunks(options.batch).collect();
        rng.shuffle(&mut batches);
        for batch in batches {
            let b = batch.len();
            let t = batch.iter().map(|&i| states[i].len() / h).max().unwrap_or(1);
            let mut x = vec![0f32; b * t * h];
            let mut mask = vec![0f32; b * t];
            let mut y = vec![0f32; b * n_labels];
            for (row, &i) in batch.iter().enumerate() {
                let len = states[i].len() / h;
                x[row * t * h..row * t * h + len * h].copy_from_slice(&states[i]);
                mask[row * t..row * t + len].iter_mut().for_each(|m| *m = 1.0);
                for &l in targets[i] {
                    y[row * n_labels + l] = 1.0;
                }
            }
            let x = Tensor::from_vec(x, (b, t, h), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu)?;
            let bias = ((mask.clone() - 1.0)? * 1e4)?.reshape((b, 1, 1, t))?;
            let lengths = mask.sum_keepdim(1)?;
            let pool = |x: &Tensor| -> candle_core::Result<Tensor> {
                let summed = x.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
                let mean = summed.broadcast_div(&lengths)?;
                let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
                mean.broadcast_div(&(norm + 1e-6)?)
            };
            let frozen = pool(&x)?;
            let mut xs = x;
            for layer in &layer_vars {
                xs = layer.forward(&xs, &bias, shape.heads, eps)?;
            }
            let tuned = pool(&xs)?;
            let features = (Tensor::cat(&[&tuned, &frozen], 1)? * 10.0)?;
            let mut drop = vec![0f32; b * head_in];
            let keep = 1.0 - options.dropout;
            for d in &mut drop {
                *d = if rng.unit() < keep { 1.0 / keep } else { 0.0 };
            }
            let features = features.mul(&Tensor::from_vec(drop, (b, head_in), &Device::Cpu)?)?;
            let logits =
                features.matmul(&head_w.as_tensor().t()?)?.broadcast_add(head_b.as_tensor())?;
            let target = Tensor::from_vec(y, (b, n_labels), &Device::Cpu)?;
            let loss = candle_nn::loss::binary_cross_entropy_with_logit(&logits, &target)?;
            let grads = loss.backward()?;
            let decay = 1.0 - step as f64 / total_steps as f64;
            opt_layers.set_learning_rate(options.learning_rate * decay);
            opt_layers.step(&grads)?;
            opt_head.step(&grads)?;
            step += 1;
            if step % 20 == 0 {
                tracing::debug!(step, total_steps, loss = loss.to_scalar::<f32>()?, "tuning");
            }
            progress(step, total_steps);
        }
    }
    let mut tensors = Vec::new();
    for (&l, vars) in layer_indices.iter().zip(&layer_vars) {
        for (part, var) in PARTS.iter().zip(&vars.0) {
            let t = var.as_tensor();
            let values = t.flatten_all()?.to_vec1::<f32>()?;
            tensors.push((names::layer(l, part), t.dims().to_vec(), values));
        }
    }
    tracing::info!(
        examples = n,
        steps = total_steps,
        secs = started.elapsed().as_secs_f64(),
        "tuned the encoder's upper layers"
    );
    Ok(TunedLayers::new(&base, layer_indices, tensors))
}

/// Bump when the tuning changes in a way [`TuneOptions`] does not show, so that cached tuned
/// layers are made again.
const TUNE_RECIPE: u32 = 1;

/// Where [`tuned_for_intents`] keeps the layers tuned for a set: `<models_dir>/tuned/<encoder>-<key>.safetensors`,
/// the key covering the data, the options and the recipe.
pub fn tuned_path(
    models_dir: &Path,
    encoder: &str,
    data_digest: &str,
    options: &TuneOptions,
) -> std::path::PathBuf {
    let recipe = format!("{data_digest} {TUNE_RECIPE} {options:?}");
    let key = closer_registry::hex(&Sha256::digest(recipe.as_bytes()));
    models_dir.join("tuned").join(format!("{encoder}-{}.safetensors", &key[..16]))
}

/// `encoder` with its upper layers tuned for the intents of `lines`: read from the cache in
/// `models_dir` when they were tuned before for the same data and options, else tuned now
/// (minutes) and cached. An encoder that is tuned already is returned as it is.
pub fn tuned_for_intents(
    encoder: Encoder,
    models_dir: &Path,
    lines: &[crate::data::IntentLine],
    options: &TuneOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Encoder, NluError> {
    if encoder.id() != encoder.base_id() {
        return Ok(encoder);
    }
    let digest = crate::train::digest(lines.iter().map(|l| (l.text.as_str(), l.labels.join(","))));
    let path = tuned_path(models_dir, encoder.id(), &digest, options);
    if path.exists() {
        match TunedLayers::load(&path) {
            Ok(tuned) => return encoder.with_tuned_layers(&tuned),
            Err(e) => {
                tracing::warn!(path = %path.display(), "tuned layers unreadable, tuning again: {e}")
            }
        }
    }
    let labels =
        crate::train::label_set(lines.iter().flat_map(|l| l.labels.iter().map(String::as_str)));
    let y: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| l.labels.iter().filter_map(|x| labels.iter().position(|y| y == x)).collect())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    tracing::info!(lines = lines.len(), path = %path.display(), "tuning the encoder's upper layers for this set (once)");
    let tuned = fine_tune(&encoder, models_dir, &texts, &y, labels.len(), options, progress)?;
    tuned.save(&path)?;
    encoder.with_tuned_layers(&tuned)
}

/// The encoder the app runs: `encoder` tuned for the bundled sales training set
/// ([`crate::data::BUNDLED_SALES_TRAIN`]) with the default options, cached as
/// [`tuned_for_intents`] caches.
pub fn tuned_for_bundled_intents(
    encoder: Encoder,
    models_dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Encoder, NluError> {
    let lines = crate::data::parse_jsonl(
        Path::new("nlu/data/sales/train.jsonl"),
        crate::data::BUNDLED_SALES_TRAIN,
    )?;
    tuned_for_intents(encoder, models_dir, &lines, &TuneOptions::default(), progress)
}
