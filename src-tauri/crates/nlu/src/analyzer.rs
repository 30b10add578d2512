//! One message in, one [`Annotation`] out: the encoder runs once and both heads read its
//! embedding; the rule-based detectors find entities and fill the lead-field schema.

use std::time::Instant;

use closer_dialogue::{Annotation, FieldSpec, IntentScore, Sentiment, SentimentScore};

use crate::NluError;
use crate::encoder::Encoder;
use crate::entities::{self, Context};
use crate::features;
use crate::head::Head;

/// The loaded NLU: an optional encoder (n-gram features only without one) and the two heads.
#[derive(Debug)]
pub struct Analyzer {
    pub encoder: Option<Encoder>,
    pub intents: Head,
    pub sentiment: Head,
}

/// How long each stage of one analysis took, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    pub embed_ms: f64,
    pub heads_ms: f64,
    pub entities_ms: f64,
    pub total_ms: f64,
}

impl Analyzer {
    /// Checks that both heads were trained with this encoder's features.
    pub fn new(encoder: Option<Encoder>, intents: Head, sentiment: Head) -> Result<Self, NluError> {
        let id = encoder.as_ref().map_or(crate::train::NO_ENCODER, Encoder::id).to_owned();
        let dim = encoder.as_ref().map_or(0, Encoder::dim);
        for head in [&intents, &sentiment] {
            if head.info.encoder != id || head.info.dense_dim != dim {
                return Err(NluError::Head {
                    path: head.info.encoder.clone().into(),
                    message: format!(
                        "trained on {} ({} values) but the encoder is {id} ({dim} values)",
                        head.info.encoder, head.info.dense_dim
                    ),
                });
            }
        }
        Ok(Self { encoder, intents, sentiment })
    }

    /// Reads one customer message written at `context`'s time, filling `schema`'s fields.
    pub fn analyze(
        &self,
        text: &str,
        context: &Context,
        schema: &[FieldSpec],
    ) -> Result<(Annotation, Timings), NluError> {
        let span = tracing::debug_span!("nlu", chars = text.chars().count());
        let _entered = span.enter();
        let started = Instant::now();
        let dense = match &self.encoder {
            Some(e) => e.embed(&[text])?.pop().unwrap_or_default(),
            None => Vec::new(),
        };
        let embedded = Instant::now();
        let sparse = features::ngrams(text);
        let probs = self.intents.predict(&dense, &sparse);
        let label = |l: usize, p: f32| IntentScore {
            label: self.intents.info.labels[l].clone(),
            confidence: p,
        };
        let intents: Vec<IntentScore> =
            self.intents.decide(&probs).into_iter().map(|(l, p)| label(l, p)).collect();
        let top_intent = probs
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, p)| label(l, p));
        let sentiment_probs = self.sentiment.predict(&dense, &sparse);
        let sentiment = self
            .sentiment
            .decide(&sentiment_probs)
            .first()
            .and_then(|&(l, p)| {
                Sentiment::parse(&self.sentiment.info.labels[l])
                    .map(|label| SentimentScore { label, confidence: p })
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
        tracing::debug!(total_ms = timings.total_ms, intents = intents.len(), "analyzed");
        let annotation = Annotation {
            intents,
            top_intent,
            sentiment,
            entities: found,
            fields,
            language: features::language(text).to_owned(),
        };
        Ok((annotation, timings))
    }
}
