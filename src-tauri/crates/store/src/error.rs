use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} is not a readable Closer database (corrupt, or not an SQLite file): {source}", path.display())]
    Corrupt { path: PathBuf, source: rusqlite::Error },
    #[error("{} was written by a newer Closer (schema version {found}, this build knows up to {known})", path.display())]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("cannot open the database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("migrating {} failed: {source}", path.display())]
    Migration { path: PathBuf, source: rusqlite_migration::Error },
    #[error("conversation {0} does not exist")]
    ConversationNotFound(i64),
    #[error("the stored event {id} cannot be read: {source}")]
    BadEvent { id: i64, source: serde_json::Error },
    #[error("a stored value is invalid: {0}")]
    BadValue(String),
    #[error("strategy {0:?} does not exist")]
    StrategyNotFound(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> Self {
        if is_corruption(&e) {
            StoreError::Corrupt { path: path.to_path_buf(), source: e }
        } else {
            StoreError::Open { path: path.to_path_buf(), source: e }
        }
    }

    pub(crate) fn migration(path: &Path, e: rusqlite_migration::Error) -> Self {
        use rusqlite_migration::Error as ME;
        match e {
            ME::RusqliteError { err, .. } if is_corruption(&err) => {
                StoreError::Corrupt { path: path.to_path_buf(), source: err }
            }
            other => StoreError::Migration { path: path.to_path_buf(), source: other },
        }
    }

    /// Whether the file itself is damaged (as opposed to a bad request).
    pub fn is_corruption(&self) -> bool {
        match self {
            StoreError::Corrupt { .. } => true,
            StoreError::Sqlite(e) => is_corruption(e),
            _ => false,
        }
    }
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}
