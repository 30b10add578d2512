//! One message in, one [`Annotation`] out: the encoder runs once and both heads read its
//! embedding; the rule-based detectors find entities and fill the lead-field schema.

use std::time::Instant;

use closer_dialogue::{Annotation, FieldSpec, IntentScore, Sentiment, SentimentScore};

use crate::NluError;
use crate::encoder::{Encoder, Pooling};
use crate::entities::{self, Context};
use crate::features;
use crate::head::Head;

/// What the intent head and the sentiment head read of one text's embedding.
pub type HeadInput = (Vec<f32>, Vec<f32>);

/// The embedding inputs of the intent and the sentiment head for each of `texts`, each pooled
/// as its head was trained ([`Pooling`]), from one encoder pass over the batch (empty without an
/// encoder, or for a head trained on another encoder: it then reads the n-grams only).
pub fn head_inputs(
    encoder: Option<&Encoder>,
    intents: &Head,
    sentiment: &Head,
    texts: &[&str],
) -> Result<Vec<HeadInput>, NluError> {
    let Some(encoder) = encoder else { return Ok(vec![Default::default(); texts.len()]) };
    let reads = |h: &Head| h.info.encoder == encoder.id();
    let (pi, ps) =
        (Pooling::parse(&intents.info.pooling)?, Pooling::parse(&sentiment.info.pooling)?);
    let pooled = encoder.pooled(texts, &[&pi, &ps])?;
    Ok(pooled
        .into_iter()
        .map(|mut v| {
            let s = v.pop().filter(|_| reads(sentiment)).unwrap_or_default();
            let i = v.pop().filter(|_| reads(intents)).unwrap_or_default();
            (i, s)
        })
        .collect())
}

/// How long each stage of one analysis took, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    pub embed_ms: f64,
    pub heads_ms: f64,
    pub entities_ms: f64,
    pub total_ms: f64,
}

/// Reads one customer message written at `context`'s time with `encoder` (none: n-grams only)
/// and the two heads, filling `schema`'s fields. A head trained on another encoder's embeddings
/// reads the n-grams only.
pub fn analyze(
    encoder: Option<&Encoder>,
    intents: &Head,
    sentiment: &Head,
    text: &str,
    context: &Context,
    schema: &[FieldSpec],
) -> Result<(Annotation, Timings), NluError> {
    let span = tracing::debug_span!("nlu", bytes = text.len());
    let _entered = span.enter();
    let started = Instant::now();
    let (dense, sentiment_dense) =
        head_inputs(encoder, intents, sentiment, &[text])?.pop().unwrap_or_default();
    let embedded = Instant::now();
    let sparse = features::ngrams(text);
    let probs = intents.predict(&dense, &sparse);
    let label = |(l, p): (usize, f32)| IntentScore {
        label: intents.info.labels.get(l).cloned().unwrap_or_default(),
        confidence: p,
    };
    let found_intents: Vec<IntentScore> = intents.decide(&probs).into_iter().map(label).collect();
    let top_intent =
        probs.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).map(label);
    let sentiment = sentiment
        .decide(&sentiment.predict(&sentiment_dense, &sparse))
        .first()
        .and_then(|&(l, p)| {
            let label = Sentiment::parse(sentiment.info.labels.get(l)?)?;
            Some(SentimentScore { label, confidence: p })
        })
        .unwrap_or_default();
    let headed = Instant::now();
    let found = entities::extract(text, context);
    let fields = entities::propose_fields(schema, text, &found);
    let done = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
    let timings = Timings {
        embed_ms: ms(started, embedded),
        heads_ms: ms(embedded, headed),
        entities_ms: ms(headed, done),
        total_ms: ms(started, done),
    };
    tracing::debug!(
        embed_ms = timings.embed_ms,
        heads_ms = timings.heads_ms,
        rules_ms = timings.entities_ms,
        total_ms = timings.total_ms,
        intents = found_intents.len(),
        entities = found.len(),
        "analyzed"
    );
    let annotation = Annotation {
        intents: found_intents,
        top_intent,
        sentiment,
        entities: found,
        fields,
        language: features::language(text).to_owned(),
    };
    Ok((annotation, timings))
}
