use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::LlmError;

/// Who speaks in a chat message given to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: ChatRole::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: content.into() }
    }
}

/// How to pick tokens. `temperature == 0` is greedy (argmax) decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    /// 1.0 disables the penalty.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
    pub max_tokens: usize,
    /// Generation stops before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: Some(40),
            top_p: Some(0.9),
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 42,
            max_tokens: 256,
            stop: Vec::new(),
        }
    }
}

impl SamplingParams {
    /// Argmax decoding: deterministic, used by tests and comparisons.
    pub fn greedy(max_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            seed: 0,
            max_tokens,
            stop: Vec::new(),
        }
    }
}

/// A generation request. `n` alternative suggestions share one prefill; suggestion `i` samples
/// with seed `params.seed + i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub messages: Vec<ChatMessage>,
    pub params: SamplingParams,
    pub n: usize,
    /// The conversation the prompt belongs to: its KV cache is kept (LRU) so the next request
    /// that extends the same prompt only prefills the new tokens.
    pub cache_key: Option<String>,
}

/// Why a suggestion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    Cancelled,
}

/// Measured figures of one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV came from the prefix cache.
    pub cached_tokens: usize,
    pub prefill_ms: f64,
    /// From the request's arrival to its first text piece.
    pub first_token_ms: f64,
    /// Over all suggestions.
    pub generated_tokens: usize,
    pub decode_ms: f64,
}

impl GenerationStats {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        let n = self.prompt_tokens.saturating_sub(self.cached_tokens) as f64;
        if self.prefill_ms > 0.0 { n * 1000.0 / self.prefill_ms } else { 0.0 }
    }
    pub fn decode_tokens_per_s(&self) -> f64 {
        if self.decode_ms > 0.0 {
            self.generated_tokens as f64 * 1000.0 / self.decode_ms
        } else {
            0.0
        }
    }
}

/// What a generation streams back, in order: pieces of text per suggestion, the end of each
/// suggestion, then `Done` (or `Failed`) once.
#[derive(Debug)]
pub enum StreamEvent {
    Text { index: usize, text: String },
    Finished { index: usize, reason: FinishReason, text: String },
    Done(GenerationStats),
    Failed(LlmError),
}

/// Cancels a running generation; checked before every token.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
