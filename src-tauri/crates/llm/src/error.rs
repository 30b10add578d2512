use std::path::PathBuf;

/// Everything the model runtime can fail with. Each names the file, package or server involved.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{} is not a GGUF file (bad magic or header): {reason}", path.display())]
    NotGguf { path: PathBuf, reason: String },
    #[error("{} is truncated: its tensors need {expected} bytes but the file has {actual}", path.display())]
    Truncated { path: PathBuf, expected: u64, actual: u64 },
    #[error("{} has sha256 {actual}, expected {expected}", path.display())]
    HashMismatch { path: PathBuf, expected: String, actual: String },
    #[error("{} is a {arch:?} model; supported: qwen2, qwen3, llama, gemma3", path.display())]
    UnsupportedArchitecture { path: PathBuf, arch: String },
    #[error("{} lacks the metadata key {key}", path.display())]
    MissingMetadata { path: PathBuf, key: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("fetching {package} failed: {message}")]
    Fetch { package: String, message: String },
    /// A fetch stopped on request; nothing of it was installed.
    #[error("fetching {0} was cancelled")]
    Cancelled(String),
    #[error("no model {0:?} in the catalog")]
    UnknownModel(String),
    #[error("model {0:?} is not installed; run `closer models fetch {0}`")]
    NotInstalled(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the prompt has {tokens} tokens; the model's context holds {context}")]
    ContextOverflow { tokens: usize, context: usize },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(
        "this CPU lacks AVX2/FMA, which this build of Closer needs for its local model (x86-64-v3)"
    )]
    CpuUnsupported,
    #[error("the model worker has stopped")]
    WorkerGone,
    #[error("remote model server {url}: {message}")]
    Remote { url: String, message: String },
    #[error("remote model server {url} answered HTTP {status}: {body}")]
    RemoteStatus { url: String, status: u16, body: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("remote model server {url} sent nothing for {after:?}")]
    RemoteTimeout { url: String, after: std::time::Duration },
    #[error("re-quantizing {}: {message}", path.display())]
    Requantize { path: PathBuf, message: String },
    #[error("{}: the tokenizer metadata {key} is unusable: {reason}", path.display())]
    TokenizerMetadata { path: PathBuf, key: String, reason: String },
    // New variants go above this line, one per distinct failure.
}
