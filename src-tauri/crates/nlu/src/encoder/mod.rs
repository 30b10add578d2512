//! Sentence embeddings (owner: encoder work in progress).
