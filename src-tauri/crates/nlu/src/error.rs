//! The crate's typed errors.

use std::path::PathBuf;

/// Everything the NLU can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A training or evaluation file that cannot be used; names the file and line.
    #[error("{path}:{line}: {message}")]
    Data { path: PathBuf, line: usize, message: String },
    /// A training set the head cannot learn from (empty, one class, no examples of a label…).
    #[error("cannot train: {0}")]
    Training(String),
    /// A saved head that does not fit the encoder or is damaged.
    #[error("intent head {path}: {message}")]
    Head { path: PathBuf, message: String },
    /// An encoder model that is missing, damaged or of the wrong shape.
    #[error("encoder {id}: {message}")]
    Encoder { id: String, message: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An encoder id that `models/encoders.toml` does not list.
    #[error("no encoder {0:?} in the catalog (models/encoders.toml)")]
    UnknownEncoder(String),
    /// The encoder's folder or manifest is missing from the models directory.
    #[error("encoder {id} is not installed in {dir}; run `closer models fetch {id}`")]
    EncoderNotInstalled { id: String, dir: PathBuf },
    /// A downloaded or installed file whose bytes are not the catalog's.
    #[error("{path} has sha256 {actual}, expected {expected}")]
    HashMismatch { path: PathBuf, expected: String, actual: String },
    /// A file shorter than its format or manifest says.
    #[error("{path} is truncated: {detail}")]
    TruncatedFile { path: PathBuf, detail: String },
    /// A file that cannot be parsed (bad magic, bad JSON, inconsistent shapes).
    #[error("{path} is damaged: {reason}")]
    CorruptFile { path: PathBuf, reason: String },
    /// Downloading or unpacking a registry package failed.
    #[error(transparent)]
    Registry(#[from] closer_registry::RegistryError),
    // New variants go above this line.
}

impl NluError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
