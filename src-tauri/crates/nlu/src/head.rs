//! The trainable heads: a linear classifier over the encoder's embedding and the message's hashed
//! n-grams ([`crate::features`]).
//!
//! Key decisions:
//! - **Multi-label** intents are one sigmoid per label ("cheap server + off-site backup + ERP" sets
//!   three); nothing above the threshold means "unknown". **Multi-class** (sentiment) is a softmax.
//! - Trained in Rust by AdaGrad on the logistic loss, deterministic for a seed: seconds on two
//!   cores for thousands of examples, so a manager can retrain from the app.
//! - **Calibrated**: a temperature is fitted on held-out blocks of the training set (15 %, whole
//!   blocks of 25 consecutive lines, so that lines written together stay on one side), then the
//!   head is retrained on all of it with that temperature, so a confidence of 0.8 means about
//!   80 %. The embedding's weight, the neighbour vote's weight and the per-label thresholds are
//!   chosen on the same held-out blocks; the test set is never consulted.
//! - **Nearest neighbours**: the head keeps its training examples' leading embedding (the last
//!   layer's mean) and blends their similarity-weighted label vote into its probabilities when
//!   that helps on the held-out blocks: a message close to a training line gets that line's
//!   labels, which the linear part alone blurs.
//! - Saved as safetensors with a JSON header: the labels, the encoder it was trained with, the
//!   threshold, the temperature, and a digest of the training data.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::NluError;
use crate::features::SparseVec;

/// Whether a message has a set of labels or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// Independent sigmoids (intents).
    MultiLabel,
    /// One softmax (sentiment).
    MultiClass,
}

/// One training example: its features and the indices of its labels.
#[derive(Debug, Clone)]
pub struct Example {
    pub dense: Vec<f32>,
    pub sparse: SparseVec,
    pub labels: Vec<usize>,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty per update.
    pub l2: f32,
    /// Weight of the dense embedding relative to the unit-length n-gram vector.
    pub dense_scale: f32,
    /// Candidate weights of the embedding, chosen among on the held-out part (empty: use
    /// `dense_scale`).
    pub dense_scale_grid: Vec<f32>,
    /// Width of a ReLU layer over the embedding whose output adds to the logits (0: none).
    pub hidden: usize,
    /// Fraction held out to fit the temperature (0 = no calibration).
    pub holdout: f32,
    /// Probability above which a multi-label head reports a label, unless a per-label threshold
    /// was tuned on the held-out part.
    pub threshold: f32,
    /// Tune a threshold per label on the held-out part (maximum F1), for labels with enough
    /// held-out examples.
    pub tune_thresholds: bool,
    /// Candidate weights of the nearest-neighbour vote blended with the classifier's
    /// probabilities, chosen among on the held-out part (empty or `[0.0]`: no neighbours kept).
    pub knn_weight_grid: Vec<f32>,
    /// Neighbours that vote.
    pub knn_k: usize,
    /// How many leading values of the embedding the neighbours are compared on (0: all); the
    /// first pooled vector, e.g. the last layer's mean.
    pub knn_dim: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 12,
            learning_rate: 0.5,
            l2: 1e-6,
            dense_scale: 0.1,
            dense_scale_grid: vec![0.03, 0.05, 0.1, 0.2],
            hidden: 0,
            holdout: 0.15,
            threshold: 0.5,
            tune_thresholds: true,
            knn_weight_grid: vec![0.0, 0.2, 0.35, 0.5],
            knn_k: 10,
            knn_dim: 384,
            seed: 0x5eed,
        }
    }
}

/// What a head was trained on, kept in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    pub kind: HeadKind,
    pub labels: Vec<String>,
    /// The encoder whose embeddings it reads (`none` for n-grams only).
    pub encoder: String,
    pub dense_dim: usize,
    pub dense_scale: f32,
    /// Width of the hidden layer over the embedding (0: linear only).
    #[serde(default)]
    pub hidden: usize,
    pub temperature: f32,
    pub threshold: f32,
    /// Per-label thresholds (multi-label heads); empty means `threshold` for every label.
    #[serde(default)]
    pub label_thresholds: Vec<f32>,
    /// When no label passes its threshold, the most likely one is still reported if its
    /// probability is at least this (tuned on the held-out part; `None`: report nothing).
    #[serde(default)]
    pub top_floor: Option<f32>,
    pub examples: usize,
    /// sha256 of the training texts and labels, to tell heads apart.
    pub data_digest: String,
    /// How the encoder's token states were pooled into its input ([`crate::encoder::Pooling`]).
    #[serde(default = "sentence_pooling")]
    pub pooling: String,
    /// Weight of the training examples' nearest-neighbour vote in its probabilities (0: none).
    #[serde(default)]
    pub knn_weight: f32,
    #[serde(default)]
    pub knn_k: usize,
    /// Leading embedding values the neighbours are compared on.
    #[serde(default)]
    pub knn_dim: usize,
}

fn sentence_pooling() -> String {
    "sentence".to_owned()
}

/// The training examples a head keeps for its nearest-neighbour vote: the leading `knn_dim`
/// embedding values of each, L2-normalised, and its labels.
#[derive(Debug, Clone, Default)]
struct Memory {
    dim: usize,
    /// `n × dim`.
    vectors: Vec<f32>,
    /// `n × labels`, 0 or 1.
    labels: Vec<u8>,
}

impl Memory {
    fn new(examples: &[&Example], dim: usize, n_labels: usize) -> Self {
        let mut vectors = Vec::with_capacity(examples.len() * dim);
        let mut labels = vec![0u8; examples.len() * n_labels];
        for (i, e) in examples.iter().enumerate() {
            vectors.extend(unit(&e.dense[..dim.min(e.dense.len())]));
            for &l in &e.labels {
                labels[i * n_labels + l] = 1;
            }
        }
        Self { dim, vectors, labels }
    }

    fn len(&self) -> usize {
        self.vectors.len() / self.dim.max(1)
    }

    /// The similarity-weighted label vote of the `k` nearest examples to `query` (raw
    /// embedding), a distribution for a single-label head, per-label shares for a multi-label one.
    fn vote(&self, query: &[f32], k: usize, n_labels: usize) -> Vec<f32> {
        let mut out = vec![0f32; n_labels];
        if self.dim == 0 || query.len() < self.dim || self.len() == 0 {
            return out;
        }
        let q = unit(&query[..self.dim]);
        let mut sims: Vec<(f32, usize)> =
            self.vectors.chunks_exact(self.dim).map(|v| dot(v, &q)).zip(0..).collect();
        let k = k.clamp(1, sims.len());
        sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let mut total = 0f32;
        for &(sim, i) in &sims[..k] {
            // Sharply peaked: a near-copy outvotes several loose neighbours.
            let w = ((sim - 1.0) / KNN_TAU).exp();
            total += w;
            for (o, &y) in out.iter_mut().zip(&self.labels[i * n_labels..(i + 1) * n_labels]) {
                *o += w * f32::from(y);
            }
        }
        out.iter_mut().for_each(|o| *o /= total.max(1e-12));
        out
    }
}

/// Temperature of the neighbours' similarity weights.
const KNN_TAU: f32 = 0.05;

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / norm).collect()
}

/// A trained head.
#[derive(Debug, Clone)]
pub struct Head {
    pub info: HeadInfo,
    params: Params,
    /// Per-dimension mean and 1/std of the training embeddings: sentence embeddings are
    /// anisotropic (every pair has a high cosine), and centring them gives the head usable inputs.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    memory: Memory,
}

/// The mean and 1/std of each dimension of `examples`' embeddings.
fn standardiser(examples: &[Example], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = examples.len().max(1) as f64;
    let mut mean = vec![0f64; dim];
    for e in examples {
        for (m, &x) in mean.iter_mut().zip(&e.dense) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; dim];
    for e in examples {
        for ((v, &x), m) in var.iter_mut().zip(&e.dense).zip(&mean) {
            *v += (f64::from(x) - m).powi(2);
        }
    }
    let inv_std = var.iter().map(|v| (1.0 / ((v / n).sqrt() + 1e-6)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), inv_std)
}

fn standardise(dense: &[f32], mean: &[f32], inv_std: &[f32]) -> Vec<f32> {
    dense.iter().zip(mean).zip(inv_std).map(|((x, m), s)| (x - m) * s).collect()
}

/// A deterministic generator for shuffling and initialisation (splitmix64), shared by the
/// heads and the encoder's fine-tuning.
#[derive(Debug)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn softmax_in_place(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

/// The weights: a wide part (linear in the embedding and the n-grams) and, if `hidden > 0`, a
/// deep part (one ReLU layer over the embedding) whose output adds to the logits.
#[derive(Debug, Clone)]
struct Params {
    n_labels: usize,
    dim: usize,
    hidden: usize,
    dense_scale: f32,
    /// `labels × dim`.
    dense: Vec<f32>,
    bias: Vec<f32>,
    /// Bucket → one weight per label.
    sparse: HashMap<u32, Vec<f32>>,
    /// `hidden × dim`, `hidden`, `labels × hidden`.
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
}

/// What the forward pass leaves for the backward pass.
#[derive(Debug, Default)]
struct Activations {
    hidden: Vec<f32>,
}

/// `a · b` over their common length, in eight lanes so that the compiler vectorises it (the
/// neighbour vote takes one per training example).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a
        .chunks_exact(8)
        .remainder()
        .iter()
        .zip(b.chunks_exact(8).remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

impl Params {
    fn zeros(n_labels: usize, dim: usize, hidden: usize, dense_scale: f32, rng: &mut Rng) -> Self {
        // He initialisation for the ReLU layer, small for the layer after it.
        let mut normal = |std: f32| {
            let u1 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let u2 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let z = (-2.0 * (u1 + 1e-12).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            z as f32 * std
        };
        let w1 = (0..hidden * dim).map(|_| normal((2.0 / dim.max(1) as f32).sqrt())).collect();
        let w2 = (0..n_labels * hidden).map(|_| normal(0.01)).collect();
        Self {
            n_labels,
            dim,
            hidden,
            dense_scale,
            dense: vec![0.0; n_labels * dim],
            bias: vec![0.0; n_labels],
            sparse: HashMap::new(),
            w1,
            b1: vec![0.0; hidden],
            w2,
        }
    }

    fn forward(&self, dense: &[f32], sparse: &SparseVec, acts: &mut Activations) -> Vec<f32> {
        let s = self.dense_scale;
        let mut z: Vec<f32> = (0..self.n_labels)
            .map(|l| self.bias[l] + s * dot(&self.dense[l * self.dim..(l + 1) * self.dim], dense))
            .collect();
        for (j, x) in sparse.iter() {
            if let Some(w) = self.sparse.get(&j) {
                for (z, wl) in z.iter_mut().zip(w) {
                    *z += wl * x;
                }
            }
        }
        if self.hidden > 0 && dense.len() == self.dim {
            acts.hidden.clear();
            acts.hidden.extend((0..self.hidden).map(|k| {
                (self.b1[k] + s * dot(&self.w1[k * self.dim..(k + 1) * self.dim], dense)).max(0.0)
            }));
            for (l, z) in z.iter_mut().enumerate() {
                *z += dot(&self.w2[l * self.hidden..(l + 1) * self.hidden], &acts.hidden);
            }
        }
        z
    }
}

/// AdaGrad state: the squared-gradient sums of each parameter.
#[derive(Debug)]
struct Trainer {
    kind: HeadKind,
    options: TrainOptions,
    params: Params,
    dense_g: Vec<f32>,
    bias_g: Vec<f32>,
    sparse_g: HashMap<u32, Vec<f32>>,
    w1_g: Vec<f32>,
    b1_g: Vec<f32>,
    w2_g: Vec<f32>,
}

/// Gradients (probability minus target) below this skip their label's update: late in training
/// most labels of most examples are already fitted, and their rows are the bulk of the work.
const SKIP_GRADIENT: f32 = 1e-3;

/// Neighbour votes are kept for training sets up to this size: the vote is a scan of the memory
/// per message, and large sets (CrossWOZ's 33k) gain nothing from it (measured).
const KNN_MAX_EXAMPLES: usize = 10_000;

/// One AdaGrad step on `w` with gradient `g` (plus the L2 term).
#[inline]
fn step(w: &mut f32, acc: &mut f32, g: f32, lr: f32, l2: f32) {
    let g = g + l2 * *w;
    *acc += g * g;
    *w -= lr * g / acc.sqrt();
}

impl Trainer {
    fn new(kind: HeadKind, n_labels: usize, dim: usize, options: TrainOptions, seed: u64) -> Self {
        let hidden = if dim == 0 { 0 } else { options.hidden };
        let params =
            Params::zeros(n_labels, dim, hidden, options.dense_scale, &mut Rng(seed ^ 0x1417));
        let eps = 1e-8;
        Self {
            kind,
            options,
            dense_g: vec![eps; params.dense.len()],
            bias_g: vec![eps; n_labels],
            sparse_g: HashMap::new(),
            w1_g: vec![eps; params.w1.len()],
            b1_g: vec![eps; params.b1.len()],
            w2_g: vec![eps; params.w2.len()],
            params,
        }
    }

    fn epoch(&mut self, examples: &[&Example], order: &mut [usize], rng: &mut Rng) {
        rng.shuffle(order);
        let (lr, l2, s) = (self.options.learning_rate, self.options.l2, self.options.dense_scale);
        let (n_labels, dim, hidden) = (self.params.n_labels, self.params.dim, self.params.hidden);
        let mut acts = Activations::default();
        let mut grad = vec![0.0; n_labels];
        let mut g_hidden = vec![0.0; hidden];
        for &i in order.iter() {
            let example = examples[i];
            let mut z = self.params.forward(&example.dense, &example.sparse, &mut acts);
            match self.kind {
                HeadKind::MultiLabel => {
                    for (l, g) in grad.iter_mut().enumerate() {
                        let y = if example.labels.contains(&l) { 1.0 } else { 0.0 };
                        *g = sigmoid(z[l]) - y;
                    }
                }
                HeadKind::MultiClass => {
                    softmax_in_place(&mut z);
                    for (l, g) in grad.iter_mut().enumerate() {
                        let y = if example.labels.first() == Some(&l) { 1.0 } else { 0.0 };
                        *g = z[l] - y;
                    }
                }
            }
            let p = &mut self.params;
            // Deep part first: its gradient needs w2 before the update.
            if hidden > 0 {
                g_hidden.iter_mut().for_each(|g| *g = 0.0);
                for (l, &g) in grad.iter().enumerate() {
                    let row = l * hidden..(l + 1) * hidden;
                    for ((w, acc), (&h, gh)) in p.w2[row.clone()]
                        .iter_mut()
                        .zip(&mut self.w2_g[row])
                        .zip(acts.hidden.iter().zip(g_hidden.iter_mut()))
                    {
                        *gh += g * *w;
                        step(w, acc, g * h, lr, l2);
                    }
                }
                for (k, (&h, &g)) in acts.hidden.iter().zip(&g_hidden).enumerate() {
                    if h <= 0.0 {
                        continue;
                    }
                    step(&mut p.b1[k], &mut self.b1_g[k], g, lr, 0.0);
                    let row = k * dim..(k + 1) * dim;
                    for ((w, acc), &x) in
                        p.w1[row.clone()].iter_mut().zip(&mut self.w1_g[row]).zip(&example.dense)
                    {
                        step(w, acc, g * s * x, lr, l2);
                    }
                }
            }
            for (l, &g) in grad.iter().enumerate() {
                // A label the example already fits changes nothing worth a pass over its row.
                if g.abs() < SKIP_GRADIENT {
                    continue;
                }
                step(&mut p.bias[l], &mut self.bias_g[l], g, lr, 0.0);
                let row = l * dim..(l + 1) * dim;
                for ((w, acc), &x) in
                    p.dense[row.clone()].iter_mut().zip(&mut self.dense_g[row]).zip(&example.dense)
                {
                    step(w, acc, g * s * x, lr, l2);
                }
            }
            for (j, x) in example.sparse.iter() {
                let w = p.sparse.entry(j).or_insert_with(|| vec![0.0; n_labels]);
                let acc = self.sparse_g.entry(j).or_insert_with(|| vec![1e-8; n_labels]);
                for l in 0..n_labels {
                    if grad[l].abs() >= SKIP_GRADIENT {
                        step(&mut w[l], &mut acc[l], grad[l] * x, lr, l2);
                    }
                }
            }
        }
    }

    fn train(mut self, examples: &[&Example], seed: u64) -> Params {
        let mut rng = Rng(seed);
        let mut order: Vec<usize> = (0..examples.len()).collect();
        for _ in 0..self.options.epochs {
            self.epoch(examples, &mut order, &mut rng);
        }
        self.params
    }
}

/// The temperature that minimises the negative log-likelihood of `logits` (one row per example)
/// against the labels, searched on a log grid from 0.25 to 8.
fn fit_temperature(kind: HeadKind, logits: &[Vec<f32>], labels: &[&[usize]]) -> f32 {
    let nll = |t: f32| -> f64 {
        let mut total = 0.0f64;
        for (z, y) in logits.iter().zip(labels) {
            match kind {
                HeadKind::MultiLabel => {
                    for (l, &v) in z.iter().enumerate() {
                        let p = f64::from(sigmoid(v / t)).clamp(1e-7, 1.0 - 1e-7);
                        total -= if y.contains(&l) { p.ln() } else { (1.0 - p).ln() };
                    }
                }
                HeadKind::MultiClass => {
                    let mut p: Vec<f32> = z.iter().map(|v| v / t).collect();
                    softmax_in_place(&mut p);
                    let target = y.first().copied().unwrap_or(0);
                    total -= f64::from(p[target]).max(1e-7).ln();
                }
            }
        }
        total
    };
    let mut best = (1.0f32, nll(1.0));
    for step in -20..=30 {
        let t = 2f32.powf(step as f32 / 10.0);
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    best.0
}

/// How well held-out `logits` fit their labels: micro-F1 at probability 0.5 (multi-label) or
/// accuracy (multi-class).
fn holdout_score(kind: HeadKind, logits: &[Vec<f32>], labels: &[&[usize]]) -> f64 {
    let (mut tp, mut fp, mut fn_, mut right) = (0usize, 0usize, 0usize, 0usize);
    for (z, y) in logits.iter().zip(labels) {
        match kind {
            HeadKind::MultiLabel => {
                for (l, &v) in z.iter().enumerate() {
                    match (v >= 0.0, y.contains(&l)) {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        (false, false) => {}
                    }
                }
            }
            HeadKind::MultiClass => {
                let best = z.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(l, _)| l);
                if best.is_some() && best == y.first().copied() {
                    right += 1;
                }
            }
        }
    }
    match kind {
        HeadKind::MultiLabel => 2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64,
        HeadKind::MultiClass => right as f64 / logits.len().max(1) as f64,
    }
}

/// The lowest probability at which the most likely label is reported when no label passes its
/// threshold, chosen on the held-out probabilities for the best micro-F1 (`None` if reporting
/// nothing is best).
fn tune_top_floor(
    probs: &[Vec<f32>],
    labels: &[&[usize]],
    thresholds: &[f32],
    default: f32,
) -> Option<f32> {
    let score = |floor: Option<f32>| {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for (probs, y) in probs.iter().zip(labels) {
            let mut predicted: Vec<usize> = (0..probs.len())
                .filter(|&l| probs[l] >= thresholds.get(l).copied().unwrap_or(default))
                .collect();
            if predicted.is_empty()
                && let Some(floor) = floor
                && let Some((l, p)) =
                    probs.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
                && p >= floor
            {
                predicted.push(l);
            }
            tp += predicted.iter().filter(|l| y.contains(l)).count();
            fp += predicted.iter().filter(|l| !y.contains(l)).count();
            fn_ += y.iter().filter(|l| !predicted.contains(l)).count();
        }
        2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
    };
    let mut best = (None, score(None));
    for step in 1..=9 {
        let floor = step as f32 * 0.05;
        let s = score(Some(floor));
        if s > best.1 + 1e-9 {
            best = (Some(floor), s);
        }
    }
    best.0
}

/// For each label, the threshold on held-out probabilities that maximises its F1; `default`
/// for labels with fewer than 8 held-out positives. Ties keep the threshold nearest to `default`.
/// Returns the thresholds and the held-out macro-F1 they give.
fn tune_thresholds(probs: &[Vec<f32>], labels: &[&[usize]], default: f32) -> (Vec<f32>, f64) {
    let n_labels = probs.first().map_or(0, Vec::len);
    let mut f1s = Vec::new();
    let thresholds = (0..n_labels)
        .map(|l| {
            let positives = labels.iter().filter(|y| y.contains(&l)).count();
            let f1_at = |threshold: f32| {
                let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
                for (p, y) in probs.iter().zip(labels) {
                    match (p[l] >= threshold, y.contains(&l)) {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        (false, false) => {}
                    }
                }
                2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
            };
            if positives < 8 {
                f1s.push(f1_at(default));
                return default;
            }
            let mut best = (default, -1.0f64);
            for step in 1..=18 {
                let threshold = step as f32 * 0.05;
                let f1 = f1_at(threshold);
                let nearer = (threshold - default).abs() < (best.0 - default).abs();
                if f1 > best.1 + 1e-9 || ((f1 - best.1).abs() <= 1e-9 && nearer) {
                    best = (threshold, f1);
                }
            }
            f1s.push(best.1);
            best.0
        })
        .collect();
    let macro_f1 = f1s.iter().sum::<f64>() / f1s.len().max(1) as f64;
    (thresholds, macro_f1)
}

/// Macro-F1 of held-out probabilities at fixed per-label thresholds.
fn tune_thresholds_fixed(probs: &[Vec<f32>], labels: &[&[usize]], thresholds: &[f32]) -> f64 {
    let n_labels = thresholds.len();
    let mut total = 0.0;
    for (l, &threshold) in thresholds.iter().enumerate() {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for (p, y) in probs.iter().zip(labels) {
            match (p[l] >= threshold, y.contains(&l)) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
        total += 2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64;
    }
    total / n_labels.max(1) as f64
}

/// Calibrated probabilities from logits at temperature `t`.
fn probabilities(kind: HeadKind, z: &[f32], t: f32) -> Vec<f32> {
    match kind {
        HeadKind::MultiLabel => z.iter().map(|v| sigmoid(v / t)).collect(),
        HeadKind::MultiClass => {
            let mut p: Vec<f32> = z.iter().map(|v| v / t).collect();
            softmax_in_place(&mut p);
            p
        }
    }
}

/// `(1 − w)·p + w·vote`.
fn blend(p: &mut [f32], vote: &[f32], w: f32) {
    if w > 0.0 {
        for (p, v) in p.iter_mut().zip(vote) {
            *p = (1.0 - w) * *p + w * v;
        }
    }
}

/// Accuracy of single-label probabilities.
fn accuracy(probs: &[Vec<f32>], labels: &[&[usize]]) -> f64 {
    let right = probs
        .iter()
        .zip(labels)
        .filter(|(p, y)| {
            p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(l, _)| l)
                == y.first().copied()
        })
        .count();
    right as f64 / probs.len().max(1) as f64
}

/// Indices of the held-out part: whole blocks of [`HOLDOUT_BLOCK`] consecutive examples, chosen
/// at random (seeded) until `n` are taken. Sets are written a few related lines at a time, so
/// holding out blocks rather than single lines keeps near-variants of a held-out line out of
/// the fitting part, and the held-out scores closer to those on unseen text.
fn holdout_blocks(len: usize, n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let blocks = len.div_ceil(HOLDOUT_BLOCK);
    let mut order: Vec<usize> = (0..blocks).collect();
    Rng(seed ^ 0xca1b).shuffle(&mut order);
    let mut held = vec![false; len];
    let mut taken = 0;
    for b in order {
        if taken >= n {
            break;
        }
        for h in held.iter_mut().skip(b * HOLDOUT_BLOCK).take(HOLDOUT_BLOCK) {
            *h = true;
            taken += 1;
        }
    }
    (0..len).partition(|&i| held[i])
}

/// Consecutive examples held out together.
const HOLDOUT_BLOCK: usize = 25;

impl Head {
    /// Trains a head on `examples` whose labels index into `labels`. Errors if the set is empty,
    /// has fewer than two classes, or leaves a label without examples.
    pub fn train(
        kind: HeadKind,
        labels: Vec<String>,
        encoder: &str,
        examples: &[Example],
        options: &TrainOptions,
    ) -> Result<Head, NluError> {
        if examples.is_empty() {
            return Err(NluError::Training("the training set is empty".into()));
        }
        let mut counts = vec![0usize; labels.len()];
        for (i, e) in examples.iter().enumerate() {
            for &l in &e.labels {
                let count = counts.get_mut(l).ok_or_else(|| {
                    NluError::Training(format!("example {i} has label index {l} out of range"))
                })?;
                *count += 1;
            }
            if kind == HeadKind::MultiClass && e.labels.len() != 1 {
                return Err(NluError::Training(format!(
                    "example {i} has {} labels; a single-label head needs exactly one",
                    e.labels.len()
                )));
            }
        }
        let used = counts.iter().filter(|&&c| c > 0).count();
        if used < 2 {
            return Err(NluError::Training(format!(
                "the training set has {used} class{}; a classifier needs examples of at least two",
                if used == 1 { "" } else { "es" }
            )));
        }
        if let Some(l) = counts.iter().position(|&c| c == 0) {
            return Err(NluError::Training(format!("label {:?} has no examples", labels[l])));
        }
        let dim = examples[0].dense.len();
        if let Some(i) = examples.iter().position(|e| e.dense.len() != dim) {
            return Err(NluError::Training(format!(
                "example {i} has an embedding of {} values, the first has {dim}",
                examples[i].dense.len()
            )));
        }

        let started = std::time::Instant::now();
        let raw = examples;
        let (mean, inv_std) = standardiser(examples, dim);
        let standardised: Vec<Example> = examples
            .iter()
            .map(|e| Example {
                dense: standardise(&e.dense, &mean, &inv_std),
                sparse: e.sparse.clone(),
                labels: e.labels.clone(),
            })
            .collect();
        let examples = standardised.as_slice();
        // Fit the temperature, the neighbours' weight and the thresholds on held-out blocks,
        // then train on everything.
        let mut temperature = 1.0;
        let mut label_thresholds = Vec::new();
        let mut top_floor = None;
        let mut knn_weight = 0.0f32;
        let knn_dim = if options.knn_dim == 0 { dim } else { options.knn_dim.min(dim) };
        let n_holdout = (examples.len() as f32 * options.holdout) as usize;
        let mut options = options.clone();
        if n_holdout >= 20 {
            let (held, fit) = holdout_blocks(examples.len(), n_holdout, options.seed);
            let fit_raw: Vec<&Example> = fit.iter().map(|&i| &raw[i]).collect();
            let fit: Vec<&Example> = fit.iter().map(|&i| &examples[i]).collect();
            let held_labels: Vec<&[usize]> =
                held.iter().map(|&i| examples[i].labels.as_slice()).collect();
            // Model selection on the held-out part only: each candidate weight of the embedding
            // is trained on the rest and scored there; the test set is never consulted.
            let mut scales = options.dense_scale_grid.clone();
            if scales.is_empty() || dim == 0 {
                scales = vec![options.dense_scale];
            }
            let mut best: Option<(f64, f32, Vec<Vec<f32>>)> = None;
            for &scale in &scales {
                let candidate = TrainOptions { dense_scale: scale, ..options.clone() };
                let params = Trainer::new(kind, labels.len(), dim, candidate, options.seed)
                    .train(&fit, options.seed);
                let mut acts = Activations::default();
                let logits: Vec<Vec<f32>> = held
                    .iter()
                    .map(|&i| params.forward(&examples[i].dense, &examples[i].sparse, &mut acts))
                    .collect();
                let score = holdout_score(kind, &logits, &held_labels);
                tracing::debug!(scale, score, "held-out score");
                if best.as_ref().is_none_or(|b| score > b.0 + 1e-9) {
                    best = Some((score, scale, logits));
                }
            }
            if let Some((_, scale, logits)) = best {
                options.dense_scale = scale;
                temperature = fit_temperature(kind, &logits, &held_labels);
                let probs: Vec<Vec<f32>> =
                    logits.iter().map(|z| probabilities(kind, z, temperature)).collect();
                let memory = Memory::new(&fit_raw, knn_dim, labels.len());
                let votes: Vec<Vec<f32>> = if dim > 0 && examples.len() <= KNN_MAX_EXAMPLES {
                    held.iter()
                        .map(|&i| memory.vote(&raw[i].dense, options.knn_k, labels.len()))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut weights = options.knn_weight_grid.clone();
                if dim == 0 || weights.is_empty() || examples.len() > KNN_MAX_EXAMPLES {
                    weights = vec![0.0];
                }
                // Each weight is scored with thresholds tuned for it (multi-label: macro-F1)
                // or by accuracy (single-label).
                let mut chosen: Option<(f64, f32, Vec<Vec<f32>>)> = None;
                for &w in &weights {
                    let mut blended = probs.clone();
                    if w > 0.0 {
                        for (p, v) in blended.iter_mut().zip(&votes) {
                            blend(p, v, w);
                        }
                    }
                    let score = match kind {
                        HeadKind::MultiLabel if options.tune_thresholds => {
                            tune_thresholds(&blended, &held_labels, options.threshold).1
                        }
                        HeadKind::MultiLabel => {
                            let t = vec![options.threshold; labels.len()];
                            tune_thresholds_fixed(&blended, &held_labels, &t)
                        }
                        HeadKind::MultiClass => accuracy(&blended, &held_labels),
                    };
                    tracing::debug!(w, score, "held-out score with neighbours");
                    if chosen.as_ref().is_none_or(|c| score > c.0 + 1e-9) {
                        chosen = Some((score, w, blended));
                    }
                }
                if let Some((_, w, blended)) = chosen {
                    knn_weight = w;
                    if kind == HeadKind::MultiLabel && options.tune_thresholds {
                        label_thresholds =
                            tune_thresholds(&blended, &held_labels, options.threshold).0;
                        top_floor = tune_top_floor(
                            &blended,
                            &held_labels,
                            &label_thresholds,
                            options.threshold,
                        );
                    }
                }
            }
        }
        let options = &options;
        let all: Vec<&Example> = examples.iter().collect();
        let params = Trainer::new(kind, labels.len(), dim, options.clone(), options.seed)
            .train(&all, options.seed);
        let memory = if knn_weight > 0.0 {
            Memory::new(&raw.iter().collect::<Vec<_>>(), knn_dim, labels.len())
        } else {
            Memory::default()
        };
        tracing::info!(
            examples = examples.len(),
            labels = labels.len(),
            temperature,
            secs = started.elapsed().as_secs_f64(),
            "trained head"
        );
        Ok(Head {
            info: HeadInfo {
                kind,
                labels,
                encoder: encoder.to_owned(),
                dense_dim: dim,
                dense_scale: options.dense_scale,
                hidden: params.hidden,
                temperature,
                threshold: options.threshold,
                label_thresholds,
                top_floor,
                examples: examples.len(),
                data_digest: String::new(),
                pooling: sentence_pooling(),
                knn_weight,
                knn_k: options.knn_k,
                knn_dim: memory.dim,
            },
            params,
            mean,
            inv_std,
            memory,
        })
    }

    /// Records how the embeddings it was trained on were pooled.
    pub fn with_pooling(mut self, pooling: &crate::encoder::Pooling) -> Self {
        self.info.pooling = pooling.name();
        self
    }

    /// Records the digest of the data the head was trained on.
    pub fn with_data_digest(mut self, digest: String) -> Self {
        self.info.data_digest = digest;
        self
    }

    /// Calibrated probabilities, one per label (the classifier's, blended with the
    /// nearest training examples' vote when the head keeps them).
    pub fn predict(&self, dense: &[f32], sparse: &SparseVec) -> Vec<f32> {
        let standardised = if dense.len() == self.mean.len() {
            standardise(dense, &self.mean, &self.inv_std)
        } else {
            Vec::new()
        };
        let z = self.params.forward(&standardised, sparse, &mut Activations::default());
        let mut p = probabilities(self.info.kind, &z, self.info.temperature);
        if self.info.knn_weight > 0.0 && dense.len() == self.mean.len() {
            let vote = self.memory.vote(dense, self.info.knn_k, p.len());
            blend(&mut p, &vote, self.info.knn_weight);
        }
        p
    }

    /// The labels a multi-label head reports for `probs`: those at or above the threshold, most
    /// confident first. For a multi-class head, the single most likely label.
    pub fn decide(&self, probs: &[f32]) -> Vec<(usize, f32)> {
        let mut out: Vec<(usize, f32)> = match self.info.kind {
            HeadKind::MultiLabel => probs
                .iter()
                .copied()
                .enumerate()
                .filter(|&(l, p)| {
                    p >= self.info.label_thresholds.get(l).copied().unwrap_or(self.info.threshold)
                })
                .collect::<Vec<_>>(),
            HeadKind::MultiClass => probs
                .iter()
                .copied()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .into_iter()
                .collect(),
        };
        if out.is_empty()
            && let Some(floor) = self.info.top_floor
            && let Some(top) = probs.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
            && top.1 >= floor
        {
            out.push(top);
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// Writes the head to `path` (safetensors, the [`HeadInfo`] as JSON in its header), via a
    /// temporary file and a rename.
    pub fn save(&self, path: &Path) -> Result<(), NluError> {
        let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let p = &self.params;
        let sorted: BTreeMap<u32, &Vec<f32>> = p.sparse.iter().map(|(k, v)| (*k, v)).collect();
        let index: Vec<u8> = sorted.keys().flat_map(|k| k.to_le_bytes()).collect();
        let weights: Vec<u8> = sorted.values().flat_map(|w| bytes(w)).collect();
        let (dense, bias) = (bytes(&p.dense), bytes(&p.bias));
        let (w1, b1, w2) = (bytes(&p.w1), bytes(&p.b1), bytes(&p.w2));
        let (mean, inv_std) = (bytes(&self.mean), bytes(&self.inv_std));
        let memory = bytes(&self.memory.vectors);
        let (n, h, d) = (self.info.labels.len(), p.hidden, p.dim);
        let (m, md) = (self.memory.len(), self.memory.dim);
        let view = |dtype, shape: Vec<usize>, data| {
            TensorView::new(dtype, shape, data)
                .map_err(|e| NluError::Head { path: path.to_path_buf(), message: e.to_string() })
        };
        let tensors = vec![
            ("bias", view(Dtype::F32, vec![n], &bias)?),
            ("dense", view(Dtype::F32, vec![n, d], &dense)?),
            ("sparse_index", view(Dtype::U32, vec![sorted.len()], &index)?),
            ("sparse_weight", view(Dtype::F32, vec![sorted.len(), n], &weights)?),
            ("w1", view(Dtype::F32, vec![h, d], &w1)?),
            ("b1", view(Dtype::F32, vec![h], &b1)?),
            ("w2", view(Dtype::F32, vec![n, h], &w2)?),
            ("dense_mean", view(Dtype::F32, vec![d], &mean)?),
            ("dense_inv_std", view(Dtype::F32, vec![d], &inv_std)?),
            ("knn_vectors", view(Dtype::F32, vec![m, md], &memory)?),
            ("knn_labels", view(Dtype::U8, vec![m, n], &self.memory.labels)?),
        ];
        let info = serde_json::to_string(&self.info)
            .map_err(|e| NluError::Head { path: path.to_path_buf(), message: e.to_string() })?;
        let metadata = HashMap::from([("closer_head".to_owned(), info)]);
        let part = path.with_extension(format!("part-{}", std::process::id()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(NluError::io(dir))?;
        }
        safetensors::serialize_to_file(tensors, Some(metadata), &part)
            .map_err(|e| NluError::Head { path: part.clone(), message: e.to_string() })?;
        std::fs::rename(&part, path).map_err(NluError::io(path))
    }

    /// Reads a head written by [`Head::save`].
    pub fn load(path: &Path) -> Result<Head, NluError> {
        let data = std::fs::read(path).map_err(NluError::io(path))?;
        let bad = |message: String| NluError::Head { path: path.to_path_buf(), message };
        let (_, metadata) =
            SafeTensors::read_metadata(&data).map_err(|e| bad(format!("not a head file: {e}")))?;
        let info = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("closer_head"))
            .ok_or_else(|| bad("no closer_head header: not a head file".into()))?;
        let info: HeadInfo =
            serde_json::from_str(info).map_err(|e| bad(format!("bad header: {e}")))?;
        let file = SafeTensors::deserialize(&data).map_err(|e| bad(e.to_string()))?;
        let n = info.labels.len();
        let tensor = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<Vec<u8>, NluError> {
            let t = file.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != dtype || (!shape.is_empty() && t.shape() != shape) {
                return Err(bad(format!(
                    "{name}: {:?} {:?}, expected {shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data().to_vec())
        };
        let floats = |b: Vec<u8>| -> Vec<f32> {
            b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        let bias = floats(tensor("bias", Dtype::F32, &[n])?);
        let dense = floats(tensor("dense", Dtype::F32, &[n, info.dense_dim])?);
        let index: Vec<u32> = tensor("sparse_index", Dtype::U32, &[])?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let weights = floats(tensor("sparse_weight", Dtype::F32, &[index.len(), n])?);
        if n == 0 || weights.len() != index.len() * n {
            return Err(bad("inconsistent tensor sizes".into()));
        }
        let sparse = index.into_iter().zip(weights.chunks_exact(n).map(<[f32]>::to_vec)).collect();
        let (h, d) = (info.hidden, info.dense_dim);
        let w1 = floats(tensor("w1", Dtype::F32, &[h, d])?);
        let b1 = floats(tensor("b1", Dtype::F32, &[h])?);
        let w2 = floats(tensor("w2", Dtype::F32, &[n, h])?);
        let mean = floats(tensor("dense_mean", Dtype::F32, &[d])?);
        let inv_std = floats(tensor("dense_inv_std", Dtype::F32, &[d])?);
        // Heads written before the neighbour vote have no memory.
        let memory = if file.names().contains(&"knn_vectors") {
            let vectors = floats(tensor("knn_vectors", Dtype::F32, &[])?);
            let labels = tensor("knn_labels", Dtype::U8, &[])?;
            let md = info.knn_dim;
            if md > d
                || (md == 0 && !vectors.is_empty())
                || (md > 0 && (vectors.len() % md != 0 || labels.len() != vectors.len() / md * n))
            {
                return Err(bad("inconsistent neighbour memory".into()));
            }
            Memory { dim: md, vectors, labels }
        } else {
            Memory::default()
        };
        if info.knn_weight > 0.0 && memory.len() == 0 {
            return Err(bad("a neighbour weight without neighbours".into()));
        }
        let params = Params {
            n_labels: n,
            dim: d,
            hidden: h,
            dense_scale: info.dense_scale,
            dense,
            bias,
            sparse,
            w1,
            b1,
            w2,
        };
        Ok(Head { info, params, mean, inv_std, memory })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::ngrams;

    fn example(text: &str, labels: &[usize]) -> Example {
        Example { dense: vec![], sparse: ngrams(text), labels: labels.to_vec() }
    }

    fn toy() -> (Vec<String>, Vec<Example>) {
        let labels = vec!["price".to_owned(), "greeting".to_owned()];
        let mut examples = Vec::new();
        for (i, w) in ["server", "backup", "plan", "license", "laptop"].iter().enumerate() {
            examples.push(example(&format!("how much is the {w}"), &[0]));
            examples.push(example(&format!("what does the {w} cost"), &[0]));
            examples.push(example(&format!("hello there {i}"), &[1]));
            examples.push(example(&format!("hi, how much is the {w}"), &[0, 1]));
        }
        (labels, examples)
    }

    #[test]
    fn multi_label_head_learns_and_round_trips() {
        let (labels, examples) = toy();
        let head =
            Head::train(HeadKind::MultiLabel, labels, "none", &examples, &TrainOptions::default())
                .expect("train");
        let probs = head.predict(&[], &ngrams("hello, how much is the printer"));
        let decided: Vec<usize> = head.decide(&probs).into_iter().map(|(l, _)| l).collect();
        assert!(decided.contains(&0) && decided.contains(&1), "{probs:?}");
        let probs = head.predict(&[], &ngrams("hello"));
        assert!(probs[1] > 0.5 && probs[0] < 0.5, "{probs:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("head.safetensors");
        head.save(&path).expect("save");
        let loaded = Head::load(&path).expect("load");
        assert_eq!(loaded.info, head.info);
        let text = ngrams("what does the backup cost");
        assert_eq!(loaded.predict(&[], &text), head.predict(&[], &text));
    }

    #[test]
    fn empty_and_one_class_sets_are_refused_clearly() {
        let labels = vec!["a".to_owned(), "b".to_owned()];
        let err = Head::train(
            HeadKind::MultiLabel,
            labels.clone(),
            "none",
            &[],
            &TrainOptions::default(),
        )
        .expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        let one = vec![example("x", &[0]), example("y", &[0])];
        let err = Head::train(
            HeadKind::MultiLabel,
            labels.clone(),
            "none",
            &one,
            &TrainOptions::default(),
        )
        .expect_err("one class");
        assert!(err.to_string().contains("1 class"), "{err}");
        let err = Head::train(
            HeadKind::MultiClass,
            vec!["a".into(), "b".into(), "c".into()],
            "none",
            &[example("x", &[0]), example("y", &[1])],
            &TrainOptions::default(),
        )
        .expect_err("label without examples");
        assert!(err.to_string().contains("\"c\" has no examples"), "{err}");
    }

    #[test]
    fn training_is_deterministic() {
        let (labels, examples) = toy();
        let a = Head::train(
            HeadKind::MultiLabel,
            labels.clone(),
            "none",
            &examples,
            &TrainOptions::default(),
        )
        .expect("a");
        let b =
            Head::train(HeadKind::MultiLabel, labels, "none", &examples, &TrainOptions::default())
                .expect("b");
        let text = ngrams("hello, what does the server cost");
        assert_eq!(a.predict(&[], &text), b.predict(&[], &text));
    }

    #[test]
    fn the_hidden_layer_learns_what_a_linear_head_cannot() {
        // XOR of two embedding coordinates: no linear boundary separates the classes.
        let mut examples = Vec::new();
        for i in 0..200 {
            let (a, b) = ((i % 2) as f32, ((i / 2) % 2) as f32);
            let jitter = (i as f32 * 0.618).fract() * 0.1;
            let label = usize::from((a > 0.5) != (b > 0.5));
            let dense = vec![a + jitter, b - jitter, 1.0];
            examples.push(Example { dense, sparse: SparseVec::default(), labels: vec![label] });
        }
        let labels = vec!["same".to_owned(), "different".to_owned()];
        let accuracy = |hidden: usize| {
            let options = TrainOptions { hidden, epochs: 60, holdout: 0.0, ..Default::default() };
            let head =
                Head::train(HeadKind::MultiClass, labels.clone(), "toy", &examples, &options)
                    .expect("train");
            let right = examples
                .iter()
                .filter(|e| head.decide(&head.predict(&e.dense, &e.sparse))[0].0 == e.labels[0])
                .count();
            right as f64 / examples.len() as f64
        };
        assert!(accuracy(0) < 0.8, "linear: {}", accuracy(0));
        assert!(accuracy(16) > 0.95, "hidden: {}", accuracy(16));
    }

    #[test]
    fn a_head_with_a_hidden_layer_round_trips() {
        let (labels, mut examples) = toy();
        for (i, e) in examples.iter_mut().enumerate() {
            e.dense = vec![(i % 3) as f32, 1.0, -0.5];
        }
        let options = TrainOptions { hidden: 8, ..Default::default() };
        let head =
            Head::train(HeadKind::MultiLabel, labels, "toy", &examples, &options).expect("train");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("head.safetensors");
        head.save(&path).expect("save");
        let loaded = Head::load(&path).expect("load");
        let (dense, text) = (vec![2.0, 1.0, -0.5], ngrams("hello, what does the plan cost"));
        assert_eq!(loaded.predict(&dense, &text), head.predict(&dense, &text));
        assert_eq!(loaded.info.hidden, 8);
    }

    #[test]
    fn the_neighbour_vote_is_chosen_on_held_out_blocks_and_round_trips() {
        // Two clusters in the embedding, labels only the embedding tells apart.
        let mut examples = Vec::new();
        for i in 0..300 {
            let label = i % 2;
            let jitter = (i as f32 * 0.618).fract() * 0.2;
            let dense = if label == 0 {
                vec![1.0, jitter, 0.1, -0.2]
            } else {
                vec![jitter, 1.0, -0.1, 0.3]
            };
            examples.push(Example { dense, sparse: ngrams("same words"), labels: vec![label] });
        }
        let labels = vec!["left".to_owned(), "right".to_owned()];
        let options = TrainOptions { knn_weight_grid: vec![0.5], ..Default::default() };
        let head =
            Head::train(HeadKind::MultiLabel, labels, "toy", &examples, &options).expect("train");
        assert_eq!(head.info.knn_weight, 0.5);
        assert_eq!(head.info.knn_dim, 4);
        let query = vec![0.9, 0.05, 0.1, -0.2];
        let probs = head.predict(&query, &ngrams("same words"));
        assert!(probs[0] > 0.8 && probs[1] < 0.2, "{probs:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("head.safetensors");
        head.save(&path).expect("save");
        let loaded = Head::load(&path).expect("load");
        assert_eq!(loaded.info, head.info);
        assert_eq!(loaded.predict(&query, &ngrams("same words")), probs);
    }

    #[test]
    fn held_out_blocks_are_whole_and_of_the_asked_size() {
        let (held, fit) = holdout_blocks(1000, 150, 7);
        assert_eq!(held.len(), 150);
        assert_eq!(held.len() + fit.len(), 1000);
        for block in held.chunks(HOLDOUT_BLOCK) {
            assert_eq!(block[0] % HOLDOUT_BLOCK, 0, "{block:?}");
            assert!(block.windows(2).all(|w| w[1] == w[0] + 1), "{block:?}");
        }
    }

    #[test]
    fn a_damaged_file_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("head.safetensors");
        std::fs::write(&path, b"\x08\0\0\0\0\0\0\0{}garbage").expect("write");
        assert!(matches!(Head::load(&path), Err(NluError::Head { .. })));
        std::fs::write(&path, b"").expect("write");
        assert!(matches!(Head::load(&path), Err(NluError::Head { .. })));
    }
}
