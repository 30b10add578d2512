//! Closer's local store: one SQLite file that is the source of truth for conversations (an event
//! log and its projection), leads with per-field provenance, products, versioned strategies, the
//! audit log, the CRM outbox, and the NLU's manager-added intent examples and trained heads.
//!
//! Key decisions: every connection sets `busy_timeout` before switching to WAL and turns foreign
//! keys on, and begins its transactions `IMMEDIATE` (so concurrent writers wait, never fail); the schema moves only through numbered migrations (`user_version`); a change and its
//! audit row and outbox row are written in one transaction, so a crash loses or half-writes nothing.

mod audit;
mod channels;
mod conversations;
mod error;
mod nlu;
mod outbox;
pub mod privacy;
mod products;
pub mod search;
mod strategies;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

pub use audit::AuditEntry;
pub use channels::WebhookReplyRow;
pub use conversations::{ConversationRow, LeadRow, NewConversation, Recorded};
pub use error::StoreError;
pub use nlu::{IntentExample, NewNluHead, NluHeadKind, NluHeadRow};
pub use outbox::{
    CrmPull, DeadLetter, LeadSyncStatus, OutboxClaim, OutboxNote, OutboxRow, OutboxSettlement,
    OutboxSummary,
};
pub use products::Product;
pub use search::{SearchHit, SearchOrder, SearchQuery, SnippetPart};
pub use strategies::{StrategyError, StrategyVersion, VersionStatus};

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "closer.sqlite3";

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_nlu.sql")),
        M::up(include_str!("migrations/0003_channels.sql")),
        M::up(include_str!("migrations/0004_search.sql")),
        M::up(include_str!("migrations/0005_webhook_replies.sql")),
    ])
}

/// The schema version this build migrates to.
pub fn latest_schema_version() -> i64 {
    // One migration per entry; user_version counts them.
    const COUNT: i64 = 5;
    COUNT
}

/// An open store. Cheap to share behind an `Arc`; writes are serialised by the connection lock.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// What `closer db check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub schema_version: i64,
    pub latest_schema_version: i64,
    /// The rows of `PRAGMA integrity_check`: exactly `["ok"]` for a sound file.
    pub integrity: Vec<String>,
    pub journal_mode: String,
    pub foreign_keys: bool,
    pub counts: Vec<(&'static str, i64)>,
}

impl Health {
    /// Sound file, current schema.
    pub fn is_ok(&self) -> bool {
        self.integrity == ["ok"] && self.schema_version == self.latest_schema_version
    }
}

impl Store {
    /// Opens (creating if needed) the database file at `path` and migrates it to the latest
    /// schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(|e| StoreError::classify(&path, e))?;
        configure(&conn).map_err(|e| StoreError::classify(&path, e))?;
        // Transactions take the write lock when they begin: one that read first and then wrote
        // after another connection committed would fail at once (SQLITE_BUSY_SNAPSHOT), where
        // `busy_timeout` cannot help; this way it waits for the lock instead.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| StoreError::classify(&path, e))?;
        if found > latest_schema_version() {
            return Err(StoreError::TooNew { path, found, known: latest_schema_version() });
        }
        migrations().to_latest(&mut conn).map_err(|e| StoreError::migration(&path, e))?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Self { path, conn: Mutex::new(conn) })
    }

    /// Opens the store in a data directory, creating the directory.
    pub fn open_in(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::DataDir { path: dir.to_path_buf(), source })?;
        Self::open(dir.join(DB_FILE))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction (it rolls back
        // on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Schema version, integrity and row counts.
    pub fn health(&self) -> Result<Health, StoreError> {
        let conn = self.conn();
        let schema_version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let integrity =
            stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        let journal_mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        let foreign_keys: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
        let mut counts = Vec::new();
        for table in [
            "conversations",
            "conversation_events",
            "leads",
            "lead_fields",
            "products",
            "strategy_versions",
            "audit_log",
            "crm_outbox",
            "intent_examples",
            "nlu_heads",
        ] {
            let n: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            counts.push((table, n));
        }
        Ok(Health {
            schema_version,
            latest_schema_version: latest_schema_version(),
            integrity,
            journal_mode,
            foreign_keys,
            counts,
        })
    }

    /// Whether the store holds no conversations and no products (a fresh install).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM conversations) + (SELECT count(*) FROM products)",
            [],
            |r| r.get(0),
        )?;
        Ok(n == 0)
    }
}

/// Per-connection settings. `busy_timeout` must come before the switch to WAL, which itself
/// needs the lock.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Deleted customer data is overwritten, not left in free pages (erasure, retention purge).
    conn.pragma_update(None, "secure_delete", true)?;
    Ok(())
}
