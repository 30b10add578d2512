//! Closer's language-model runtime. GGUF models (fetched from the package registries or imported
//! by the user) are run by candle on a worker thread that owns the weights and a prefix KV cache;
//! a remote OpenAI-compatible server (vLLM, llama.cpp server) can stand in for bigger models.
//!
//! Key decisions: one worker thread owns each loaded model and its caches, and requests carry
//! their own reply channel, so there is no lock around the model and cancellation is checked
//! between tokens. The tokenizer is rebuilt from the GGUF's own metadata, so an imported file
//! needs nothing beside it. The model has no tools: it only turns messages into text.

pub mod catalog;
pub mod chat;
pub mod cpu;
mod decoder;
mod error;
pub mod fetch;
pub mod gguf;
mod packed;
pub mod remote;
pub mod requant;
mod request;
mod sampling;
pub mod tokenizer;
pub mod worker;

pub use error::LlmError;
pub use request::{
    CancelToken, ChatMessage, ChatRole, FinishReason, GenerateRequest, GenerationStats,
    SamplingParams, StreamEvent,
};
pub use worker::{Generation, LoadOptions, LocalModel, ModelInfo};
