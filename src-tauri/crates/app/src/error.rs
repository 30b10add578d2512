use closer_store::StoreError;
use serde::Serialize;
use ts_rs::TS;

/// What went wrong, as a stable code the console can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The arguments were malformed (not JSON, wrong shape, invalid Unicode, empty text).
    InvalidArgument,
    /// An argument or the whole request exceeds its size limit.
    TooLarge,
    /// The conversation (or other object) does not exist.
    NotFound,
    /// The database file is damaged or not a Closer database.
    CorruptDatabase,
    /// The database was written by a newer Closer.
    DatabaseTooNew,
    /// A model file is not a usable GGUF (not GGUF, truncated, unsupported, wrong hash).
    InvalidModel,
    /// Reading or writing local storage failed.
    Storage,
    /// The NLU (encoder and heads) is still loading; try again in a moment.
    NluNotReady,
    /// The language model that writes suggestions is still loading (or none is installed).
    ModelNotReady,
    /// No CRM is set up, or a credential it needs is not in the keyring.
    CrmNotConfigured,
    /// The OS keyring is missing or locked (CRM credentials live only there).
    Keyring,
    /// A head cannot be trained from the examples (empty set, one class, a label without
    /// examples).
    TrainingFailed,
    /// Something of the same kind is under way (a model fetch); try again when it finishes.
    Busy,
    /// A remote server (a model server, the package registry) could not be reached, or refused.
    RemoteFailed,
    /// A bug: please report it.
    Internal,
}

/// The error every API call returns; it crosses IPC as `{ code, message }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::ConversationNotFound(_) | StoreError::StrategyNotFound(_) => {
                ErrorCode::NotFound
            }
            StoreError::TooNew { .. } => ErrorCode::DatabaseTooNew,
            StoreError::BadValue(_) => ErrorCode::InvalidArgument,
            e if e.is_corruption() => ErrorCode::CorruptDatabase,
            _ => ErrorCode::Storage,
        };
        if code == ErrorCode::Storage {
            tracing::error!(error = %e, "storage error");
        }
        ApiError::new(code, e.to_string())
    }
}

impl From<closer_llm::LlmError> for ApiError {
    fn from(e: closer_llm::LlmError) -> Self {
        use closer_llm::LlmError as E;
        let code = match &e {
            E::NotGguf { .. }
            | E::Truncated { .. }
            | E::HashMismatch { .. }
            | E::UnsupportedArchitecture { .. }
            | E::MissingMetadata { .. }
            | E::TokenizerMetadata { .. }
            | E::Requantize { .. } => ErrorCode::InvalidModel,
            E::UnknownModel(_) | E::NotInstalled(_) => ErrorCode::NotFound,
            E::InvalidRequest(_) | E::ContextOverflow { .. } => ErrorCode::InvalidArgument,
            E::Io { .. } => ErrorCode::Storage,
            E::Fetch { .. }
            | E::Remote { .. }
            | E::RemoteStatus { .. }
            | E::RemoteTimeout { .. } => ErrorCode::RemoteFailed,
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<closer_nlu::NluError> for ApiError {
    fn from(e: closer_nlu::NluError) -> Self {
        use closer_nlu::NluError as E;
        let code = match &e {
            E::Training(_) => ErrorCode::TrainingFailed,
            E::Head { .. }
            | E::Encoder { .. }
            | E::HashMismatch { .. }
            | E::TruncatedFile { .. }
            | E::CorruptFile { .. } => ErrorCode::InvalidModel,
            E::UnknownEncoder(_) | E::EncoderNotInstalled { .. } => ErrorCode::NotFound,
            E::Io { .. } => ErrorCode::Storage,
            _ => ErrorCode::Internal,
        };
        if matches!(code, ErrorCode::Storage | ErrorCode::Internal) {
            tracing::error!(error = %e, "NLU error");
        }
        ApiError::new(code, e.to_string())
    }
}
