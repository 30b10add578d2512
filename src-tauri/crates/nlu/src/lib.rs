//! Understanding one customer message: which intents it carries (a set, with calibrated
//! confidences), its sentiment, the entities in it (phones, IDs, money, dates…) and the lead-field
//! values they fill. See design.md ("Multi-intent NLU").
//!
//! - [`encoder`]: sentence embeddings from multilingual-e5-small (Chinese + English) or
//!   all-MiniLM-L6-v2 (English), run by candle; the encoder catalog and its fetch.
//! - [`entities`]: rule-based detectors for lead fields and PII.
//! - [`head`]: the trainable multi-label intent head and the sentiment head.
//! - [`eval`]: metrics and the evaluation harness behind `closer eval`.

pub mod analyzer;
pub mod crosswoz;
pub mod data;
pub mod encoder;
pub mod entities;
mod error;
pub mod eval;
pub mod features;
pub mod head;
pub mod redact;
pub mod train;

pub use error::NluError;
