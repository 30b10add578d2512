//! Training and evaluating heads from labelled sets: features for many texts (embeddings cached
//! on disk, since a set is embedded again every time it is retrained or evaluated), the intent
//! and sentiment heads, and their scores on a test set.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::NluError;
use crate::data::{IntentLine, SentimentLine};
use crate::encoder::{Encoder, Pooling};
use crate::eval::{self, MultiLabelScores, SingleLabelScores};
use crate::features::{self, SparseVec};
use crate::head::{Example, Head, HeadKind, TrainOptions};

/// The encoder id recorded in heads trained without one (n-grams only).
pub const NO_ENCODER: &str = "none";

/// Embeddings of texts already seen, kept in a file per encoder: a header line, then records of
/// a 32-byte sha256 of the text followed by the vector (little-endian f32). Appending is the
/// only write, and a record cut short by a crash is ignored on the next load.
#[derive(Debug)]
pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    vectors: HashMap<[u8; 32], Vec<f32>>,
    pending: Vec<([u8; 32], Vec<f32>)>,
}

impl EmbeddingCache {
    /// Opens (or starts) the cache of `encoder_id` with `dim`-sized vectors in `dir`.
    pub fn open(dir: &Path, encoder_id: &str, dim: usize) -> Result<Self, NluError> {
        let path = dir.join(format!("{encoder_id}.embeddings"));
        let mut vectors = HashMap::new();
        match std::fs::File::open(&path) {
            Ok(mut file) => {
                let mut data = Vec::new();
                file.read_to_end(&mut data).map_err(NluError::io(&path))?;
                let header = Self::header(encoder_id, dim);
                if data.starts_with(header.as_bytes()) {
                    let record = 32 + 4 * dim;
                    for chunk in data[header.len()..].chunks_exact(record) {
                        let mut key = [0u8; 32];
                        key.copy_from_slice(&chunk[..32]);
                        let vector = chunk[32..]
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect();
                        vectors.insert(key, vector);
                    }
                } else {
                    tracing::warn!(path = %path.display(), "embedding cache of another encoder; starting over");
                    std::fs::remove_file(&path).map_err(NluError::io(&path))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NluError::Io { path, source: e }),
        }
        Ok(Self { path, dim, vectors, pending: Vec::new() })
    }

    fn header(encoder_id: &str, dim: usize) -> String {
        format!("closer-embeddings v1 {encoder_id} {dim}\n")
    }

    fn key(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }

    pub fn get(&self, text: &str) -> Option<&Vec<f32>> {
        self.vectors.get(&Self::key(text))
    }

    pub fn insert(&mut self, text: &str, vector: Vec<f32>) {
        let key = Self::key(text);
        self.pending.push((key, vector.clone()));
        self.vectors.insert(key, vector);
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Appends what was inserted since the last flush.
    pub fn flush(&mut self, encoder_id: &str) -> Result<(), NluError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(NluError::io(dir))?;
        }
        let fresh = !self.path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(NluError::io(&self.path))?;
        // A torn record from an earlier crash would shift every later one: cut it off first.
        let len = file.metadata().map_err(NluError::io(&self.path))?.len();
        let header = Self::header(encoder_id, self.dim);
        let record = (32 + 4 * self.dim) as u64;
        if !fresh
            && len > header.len() as u64
            && !(len - header.len() as u64).is_multiple_of(record)
        {
            let whole = header.len() as u64 + (len - header.len() as u64) / record * record;
            file.set_len(whole).map_err(NluError::io(&self.path))?;
        }
        let mut out = BufWriter::new(file);
        let io = NluError::io(&self.path);
        let mut write = || -> std::io::Result<()> {
            if fresh || len == 0 {
                out.write_all(header.as_bytes())?;
            }
            for (key, vector) in &self.pending {
                out.write_all(key)?;
                for v in vector {
                    out.write_all(&v.to_le_bytes())?;
                }
            }
            out.flush()
        };
        write().map_err(io)?;
        self.pending.clear();
        Ok(())
    }
}

/// Turns texts into head inputs: the encoder's embedding (if there is an encoder) and the
/// hashed n-grams.
#[derive(Debug)]
pub struct Featurizer<'a> {
    encoder: Option<&'a Encoder>,
    pooling: Pooling,
    cache: Option<EmbeddingCache>,
}

impl<'a> Featurizer<'a> {
    /// Features from `encoder` (or n-grams only) pooled the way heads are trained by default
    /// ([`Pooling::for_heads`]), with embeddings cached in `cache_dir`.
    pub fn new(encoder: Option<&'a Encoder>, cache_dir: Option<&Path>) -> Result<Self, NluError> {
        let pooling = encoder.map_or_else(Pooling::sentence, |e| Pooling::for_heads(e.layers()));
        Self::with_pooling(encoder, pooling, cache_dir)
    }

    /// [`Featurizer::new`] with the encoder's token states pooled as `pooling`.
    pub fn with_pooling(
        encoder: Option<&'a Encoder>,
        pooling: Pooling,
        cache_dir: Option<&Path>,
    ) -> Result<Self, NluError> {
        let cache = match (encoder, cache_dir) {
            (Some(e), Some(dir)) => {
                // The sentence embedding keeps the cache file it always had.
                let name = if pooling == Pooling::sentence() {
                    e.id().to_owned()
                } else {
                    format!("{}.{}", e.id(), pooling.name())
                };
                Some(EmbeddingCache::open(dir, &name, e.dim() * pooling.len())?)
            }
            _ => None,
        };
        Ok(Self { encoder, pooling, cache })
    }

    pub fn encoder_id(&self) -> &str {
        self.encoder.map_or(NO_ENCODER, Encoder::id)
    }

    /// How the encoder's token states are pooled into a head's input.
    pub fn pooling(&self) -> &Pooling {
        &self.pooling
    }

    fn cache_name(&self) -> String {
        match self.encoder {
            Some(e) if self.pooling != Pooling::sentence() => {
                format!("{}.{}", e.id(), self.pooling.name())
            }
            Some(e) => e.id().to_owned(),
            None => NO_ENCODER.to_owned(),
        }
    }

    /// Embeddings for `texts` (empty vectors without an encoder), from the cache where known.
    /// `progress(done, total)` is called as batches finish.
    pub fn embed(
        &mut self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>, NluError> {
        let Some(encoder) = self.encoder else { return Ok(vec![Vec::new(); texts.len()]) };
        let mut out: Vec<Option<Vec<f32>>> =
            texts.iter().map(|t| self.cache.as_ref().and_then(|c| c.get(t)).cloned()).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        let name = self.cache_name();
        let mut done = texts.len() - missing.len();
        progress(done, texts.len());
        for chunk in missing.chunks(64) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = encoder.pooled(&batch, &[&self.pooling])?;
            for (&i, vector) in chunk.iter().zip(vectors.into_iter().flat_map(|mut v| v.pop())) {
                if let Some(cache) = &mut self.cache {
                    cache.insert(texts[i], vector.clone());
                }
                out[i] = Some(vector);
            }
            done += chunk.len();
            progress(done, texts.len());
            if let Some(cache) = &mut self.cache
                && cache.pending.len() >= 2048
            {
                cache.flush(&name)?;
            }
        }
        if let Some(cache) = &mut self.cache {
            cache.flush(&name)?;
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Embedding and n-grams of one text, never from the cache (what the app does per message).
    pub fn one(&self, text: &str) -> Result<(Vec<f32>, SparseVec), NluError> {
        let dense = match self.encoder {
            Some(e) => e.pooled(&[text], &[&self.pooling])?.pop().and_then(|mut v| v.pop()),
            None => None,
        };
        Ok((dense.unwrap_or_default(), features::ngrams(text)))
    }
}

/// The sorted label set of `lines`, plus any of `extra`.
pub fn label_set<'l>(lines: impl Iterator<Item = &'l str>) -> Vec<String> {
    let mut labels: Vec<String> = lines.map(str::to_owned).collect();
    labels.sort();
    labels.dedup();
    labels
}

/// sha256 of the texts and labels, in order: identifies what a head was trained on.
pub fn digest<'l>(pairs: impl Iterator<Item = (&'l str, String)>) -> String {
    let mut h = Sha256::new();
    for (text, labels) in pairs {
        h.update(text.as_bytes());
        h.update([0]);
        h.update(labels.as_bytes());
        h.update([1]);
    }
    closer_registry::hex(&h.finalize())
}

/// The head inputs of `texts`, with each text's label indices.
fn examples(
    featurizer: &mut Featurizer<'_>,
    texts: &[&str],
    labels: impl Iterator<Item = Vec<usize>>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Example>, NluError> {
    let dense = featurizer.embed(texts, progress)?;
    Ok(texts
        .iter()
        .zip(dense)
        .zip(labels)
        .map(|((text, dense), labels)| Example { dense, sparse: features::ngrams(text), labels })
        .collect())
}

/// Trains a multi-label intent head on `lines`.
pub fn train_intents(
    featurizer: &mut Featurizer<'_>,
    lines: &[IntentLine],
    options: &TrainOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Head, NluError> {
    let labels = label_set(lines.iter().flat_map(|l| l.labels.iter().map(String::as_str)));
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let indices = lines.iter().map(|line| {
        line.labels.iter().filter_map(|l| labels.iter().position(|x| x == l)).collect()
    });
    let examples = examples(featurizer, &texts, indices, progress)?;
    if let Some(i) = examples.iter().position(|e| e.labels.is_empty()) {
        return Err(NluError::Training(format!(
            "line {} ({:?}) has no labels",
            i + 1,
            lines[i].text
        )));
    }
    let head =
        Head::train(HeadKind::MultiLabel, labels, featurizer.encoder_id(), &examples, options)?
            .with_pooling(featurizer.pooling());
    Ok(head.with_data_digest(digest(lines.iter().map(|l| (l.text.as_str(), l.labels.join(","))))))
}

/// Trains a single-label sentiment head on `lines`.
pub fn train_sentiment(
    featurizer: &mut Featurizer<'_>,
    lines: &[SentimentLine],
    options: &TrainOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Head, NluError> {
    let labels = label_set(lines.iter().map(|l| l.label.as_str()));
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let indices =
        lines.iter().map(|line| labels.iter().position(|x| *x == line.label).into_iter().collect());
    let examples = examples(featurizer, &texts, indices, progress)?;
    let head =
        Head::train(HeadKind::MultiClass, labels, featurizer.encoder_id(), &examples, options)?
            .with_pooling(featurizer.pooling());
    Ok(head.with_data_digest(digest(lines.iter().map(|l| (l.text.as_str(), l.label.clone())))))
}

/// Latency of classifying one message, from text to decision, with no cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub samples: usize,
}

/// Times `classify` on up to `samples` texts, one at a time.
pub fn latency(
    texts: &[&str],
    samples: usize,
    mut classify: impl FnMut(&str) -> Result<(), NluError>,
) -> Result<Latency, NluError> {
    let mut ms = Vec::new();
    for text in texts.iter().take(samples) {
        let started = Instant::now();
        classify(text)?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Latency {
        p50_ms: eval::percentile(&ms, 0.5),
        p95_ms: eval::percentile(&ms, 0.95),
        samples: ms.len(),
    })
}

/// Scores an intent head on `lines` (embeddings through the featurizer's cache). Labels the head
/// does not know count as misses.
pub fn score_intents(
    head: &Head,
    featurizer: &mut Featurizer<'_>,
    lines: &[IntentLine],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<MultiLabelScores, NluError> {
    let mut labels = head.info.labels.clone();
    for l in lines.iter().flat_map(|l| &l.labels) {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let dense = featurizer.embed(&texts, progress)?;
    let mut gold = Vec::with_capacity(lines.len());
    let mut predicted = Vec::with_capacity(lines.len());
    for (line, dense) in lines.iter().zip(&dense) {
        gold.push(line.labels.iter().filter_map(|l| labels.iter().position(|x| x == l)).collect());
        let probs = head.predict(dense, &features::ngrams(&line.text));
        predicted.push(head.decide(&probs).into_iter().map(|(l, _)| l).collect());
    }
    Ok(eval::multi_label(&labels, &gold, &predicted))
}

/// Scores a sentiment head on `lines`.
pub fn score_sentiment(
    head: &Head,
    featurizer: &mut Featurizer<'_>,
    lines: &[SentimentLine],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SingleLabelScores, NluError> {
    let labels = head.info.labels.clone();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let dense = featurizer.embed(&texts, progress)?;
    let mut gold = Vec::with_capacity(lines.len());
    let mut predicted = Vec::with_capacity(lines.len());
    for (line, dense) in lines.iter().zip(&dense) {
        let Some(g) = labels.iter().position(|x| *x == line.label) else {
            return Err(NluError::Training(format!(
                "test label {:?} is not one the head knows ({})",
                line.label,
                labels.join(", ")
            )));
        };
        gold.push(g);
        let probs = head.predict(dense, &features::ngrams(&line.text));
        predicted.push(head.decide(&probs).first().map_or(0, |&(l, _)| l));
    }
    Ok(eval::single_label(&labels, &gold, &predicted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_survives_a_torn_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cache = EmbeddingCache::open(dir.path(), "enc", 3).expect("open");
        cache.insert("a", vec![1.0, 2.0, 3.0]);
        cache.insert("b", vec![4.0, 5.0, 6.0]);
        cache.flush("enc").expect("flush");
        // A crash mid-append leaves half a record.
        let path = dir.path().join("enc.embeddings");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[7u8; 20]);
        std::fs::write(&path, &bytes).expect("write");
        let mut cache = EmbeddingCache::open(dir.path(), "enc", 3).expect("reopen");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("b"), Some(&vec![4.0, 5.0, 6.0]));
        cache.insert("c", vec![7.0, 8.0, 9.0]);
        cache.flush("enc").expect("flush after tear");
        let cache = EmbeddingCache::open(dir.path(), "enc", 3).expect("reopen");
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("c"), Some(&vec![7.0, 8.0, 9.0]));
        // Another encoder's cache is not read as this one's.
        let other = EmbeddingCache::open(dir.path(), "enc", 4).expect("other dim");
        assert!(other.is_empty());
    }

    #[test]
    fn ngram_only_heads_train_and_score() {
        let line = |text: &str, labels: &[&str]| IntentLine {
            text: text.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            lang: None,
        };
        let train: Vec<IntentLine> = (0..30)
            .flat_map(|i| {
                [
                    line(&format!("how much is plan {i}"), &["price_inquiry"]),
                    line(&format!("hello number {i}"), &["greeting"]),
                ]
            })
            .collect();
        let mut featurizer = Featurizer::new(None, None).expect("featurizer");
        let head = train_intents(&mut featurizer, &train, &TrainOptions::default(), &mut |_, _| {})
            .expect("train");
        assert_eq!(head.info.encoder, NO_ENCODER);
        let test = vec![
            line("how much is the big plan", &["price_inquiry"]),
            line("hello!", &["greeting"]),
        ];
        let scores = score_intents(&head, &mut featurizer, &test, &mut |_, _| {}).expect("score");
        assert_eq!(scores.subset_accuracy, 1.0, "{scores:?}");
        let err = train_intents(
            &mut featurizer,
            &[line("x", &[])],
            &TrainOptions::default(),
            &mut |_, _| {},
        )
        .expect_err("no labels");
        assert!(err.to_string().contains("no labels"), "{err}");
    }
}
