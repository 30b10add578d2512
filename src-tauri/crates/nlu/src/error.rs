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
    // New variants go above this line.
}

impl NluError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
