use std::path::{Path, PathBuf};

/// The app identifier: the data directory's name and the keyring namespace.
pub const IDENTIFIER: &str = "app.closer.console";

/// The environment variable that overrides the data directory (tests, demos).
pub const DATA_DIR_ENV: &str = "CLOSER_DATA_DIR";

/// Where Closer keeps its database and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// `explicit` (a `--data-dir` flag) wins, then `$CLOSER_DATA_DIR`, then the OS app-data
    /// directory (`~/.local/share/app.closer.console` on Linux, the same place Tauri uses).
    pub fn resolve(explicit: Option<PathBuf>) -> Self {
        let dir = explicit
            .or_else(|| std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(|| dirs::data_dir().map(|d| d.join(IDENTIFIER)))
            .unwrap_or_else(|| PathBuf::from(".closer"));
        Self(dir)
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn database(&self) -> PathBuf {
        self.0.join(closer_store::DB_FILE)
    }

    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }
}
