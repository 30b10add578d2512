//! Strategy versions: every version of a strategy document is kept; at most one is published
//! (the schema's unique index) and at most one is a draft (enforced here). A manager saves and
//! updates the draft, publishes it (the published version retires in the same transaction), and
//! rolls back by publishing a *copy* of an older version as a new version — history is never
//! rewritten. Each change writes its audit row in the same transaction.

use closer_dialogue::Millis;
use closer_dialogue::document::{DocumentError, DocumentIssue, StrategyDocument};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::{Store, StoreError, audit};

/// Where a strategy version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    Draft,
    Published,
    Retired,
}

impl VersionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Published => "published",
            VersionStatus::Retired => "retired",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(VersionStatus::Draft),
            "published" => Some(VersionStatus::Published),
            "retired" => Some(VersionStatus::Retired),
            _ => None,
        }
    }
}

/// One stored version of a strategy document.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyVersion {
    pub strategy: String,
    pub version: i64,
    pub status: VersionStatus,
    /// The document as stored (read it with [`StrategyDocument::from_value`], which also reads
    /// legacy documents).
    pub document: serde_json::Value,
    pub note: String,
    pub created_at: Millis,
    /// When it was published (`None` for a draft).
    pub published_at: Option<Millis>,
}

/// Why a strategy-version operation was refused. [`StrategyError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("strategy {0:?} does not exist")]
    NotFound(String),
    #[error("strategy {strategy:?} has no version {version}")]
    VersionNotFound { strategy: String, version: i64 },
    #[error("strategy {0:?} has no draft")]
    NoDraft(String),
    #[error("version {version} of strategy {strategy:?} is the published one already")]
    AlreadyPublished { strategy: String, version: i64 },
    #[error("version {version} of strategy {strategy:?} is a draft that was never published")]
    NeverPublished { strategy: String, version: i64 },
    #[error("version {version} cannot be read as a strategy document: {source}")]
    Unreadable { version: i64, source: DocumentError },
    #[error("version {version} is not a valid strategy document ({} issues, first: {})",
        issues.len(), issues.first().map(ToString::to_string).unwrap_or_default())]
    Invalid { version: i64, issues: Vec<DocumentIssue> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StrategyError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            StrategyError::NotFound(_) => "strategy_not_found",
            StrategyError::VersionNotFound { .. } => "version_not_found",
            StrategyError::NoDraft(_) => "no_draft",
            StrategyError::AlreadyPublished { .. } => "already_published",
            StrategyError::NeverPublished { .. } => "never_published",
            StrategyError::Unreadable { .. } => "unreadable_document",
            StrategyError::Invalid { .. } => "invalid_document",
            StrategyError::Store(_) => "store",
        }
    }
}

impl From<rusqlite::Error> for StrategyError {
    fn from(e: rusqlite::Error) -> Self {
        StrategyError::Store(StoreError::Sqlite(e))
    }
}

const COLUMNS: &str =
    "s.name, v.version, v.status, v.document, v.note, v.created_at, v.published_at
     FROM strategy_versions v JOIN strategies s ON s.id = v.strategy_id";

type RawVersion = (String, i64, String, String, String, Millis, Option<Millis>);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn cook(raw: RawVersion) -> Result<StrategyVersion, StoreError> {
    let (strategy, version, status, document, note, created_at, published_at) = raw;
    Ok(StrategyVersion {
        strategy,
        version,
        status: VersionStatus::parse(&status)
            .ok_or_else(|| StoreError::BadValue(format!("strategy status {status:?}")))?,
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::BadValue(format!("strategy document: {e}")))?,
        note,
        created_at,
        published_at,
    })
}

fn strategy_id(conn: &Connection, name: &str) -> Result<i64, StrategyError> {
    conn.query_row("SELECT id FROM strategies WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StrategyError::NotFound(name.to_owned()))
}

fn ensure_strategy(tx: &Transaction<'_>, name: &str, at: Millis) -> Result<i64, StrategyError> {
    tx.execute(
        "INSERT INTO strategies (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, at],
    )?;
    strategy_id(tx, name)
}

fn next_version(tx: &Transaction<'_>, id: i64) -> Result<i64, StrategyError> {
    Ok(tx.query_row(
        "SELECT coalesce(max(version), 0) + 1 FROM strategy_versions WHERE strategy_id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

fn version_in(
    conn: &Connection,
    name: &str,
    version: i64,
) -> Result<Option<StrategyVersion>, StrategyError> {
    let sql = format!("SELECT {COLUMNS} WHERE s.name = ?1 AND v.version = ?2");
    let found = conn.query_row(&sql, params![name, version], raw).optional()?;
    Ok(found.map(cook).transpose()?)
}

fn with_status(
    conn: &Connection,
    name: &str,
    status: VersionStatus,
) -> Result<Option<StrategyVersion>, StrategyError> {
    let sql =
        format!("SELECT {COLUMNS} WHERE s.name = ?1 AND v.status = ?2 ORDER BY v.version DESC");
    let found = conn.query_row(&sql, params![name, status.as_str()], raw).optional()?;
    Ok(found.map(cook).transpose()?)
}

/// Retires the published version, if any; returns its number.
fn retire_published(tx: &Transaction<'_>, id: i64) -> Result<Option<i64>, StrategyError> {
    let published: Option<i64> = tx
        .query_row(
            "SELECT version FROM strategy_versions WHERE strategy_id = ?1 AND status = 'published'",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if published.is_some() {
        tx.execute(
            "UPDATE strategy_versions SET status = 'retired'
             WHERE strategy_id = ?1 AND status = 'published'",
            [id],
        )?;
    }
    Ok(published)
}

/// Inserts the draft or replaces the existing draft's document and note; returns its version.
fn upsert_draft(
    tx: &Transaction<'_>,
    id: i64,
    document: &serde_json::Value,
    note: &str,
    at: Millis,
) -> Result<(i64, bool), StrategyError> {
    let existing: Option<i64> = tx
        .query_row(
            "SELECT version FROM strategy_versions WHERE strategy_id = ?1 AND status = 'draft'
             ORDER BY version DESC",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(version) => {
            tx.execute(
                "UPDATE strategy_versions SET document = ?3, note = ?4
                 WHERE strategy_id = ?1 AND version = ?2",
                params![id, version, document.to_string(), note],
            )?;
            Ok((version, false))
        }
        None => {
            let version = next_version(tx, id)?;
            tx.execute(
                "INSERT INTO strategy_versions (strategy_id, version, status, document, note, created_at)
                 VALUES (?1, ?2, 'draft', ?3, ?4, ?5)",
                params![id, version, document.to_string(), note, at],
            )?;
            Ok((version, true))
        }
    }
}

impl Store {
    /// Saves `document` as a version of strategy `name` (creating the strategy), as a draft or
    /// published (the seeding and import path; managers use [`Store::save_strategy_draft`] and
    /// [`Store::publish_strategy_draft`]). A draft replaces the existing draft, if there is one
    /// (one draft at a time); publishing retires the previously published version. Returns the
    /// version.
    pub fn save_strategy_version(
        &self,
        name: &str,
        document: &serde_json::Value,
        note: &str,
        status: VersionStatus,
        actor: &str,
        at: Millis,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let result = (|| -> Result<i64, StrategyError> {
            let id = ensure_strategy(&tx, name, at)?;
            let version = match status {
                VersionStatus::Draft => upsert_draft(&tx, id, document, note, at)?.0,
                VersionStatus::Published | VersionStatus::Retired => {
                    let version = next_version(&tx, id)?;
                    if status == VersionStatus::Published {
                        retire_published(&tx, id)?;
                    }
                    tx.execute(
                        "INSERT INTO strategy_versions
                         (strategy_id, version, status, document, note, created_at, published_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?3 = 'published' THEN ?6 END)",
                        params![id, version, status.as_str(), document.to_string(), note, at],
                    )?;
                    version
                }
            };
            audit::append(
                &tx,
                at,
                actor,
                &format!("strategy.{}", status.as_str()),
                &format!("strategy:{name}@{version}"),
                &serde_json::json!({ "note": note }),
            )?;
            Ok(version)
        })();
        let version = result.map_err(|e| match e {
            StrategyError::Store(e) => e,
            other => StoreError::BadValue(other.to_string()),
        })?;
        tx.commit()?;
        Ok(version)
    }

    /// The published version of a strategy.
    pub fn published_strategy(&self, name: &str) -> Result<StrategyVersion, StoreError> {
        let conn = self.conn();
        match with_status(&conn, name, VersionStatus::Published) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(StoreError::StrategyNotFound(name.to_owned())),
            Err(StrategyError::Store(e)) => Err(e),
            Err(other) => Err(StoreError::BadValue(other.to_string())),
        }
    }

    /// Every version of a strategy, newest first.
    pub fn strategy_versions(&self, name: &str) -> Result<Vec<StrategyVersion>, StrategyError> {
        let conn = self.conn();
        strategy_id(&conn, name)?;
        let sql = format!("SELECT {COLUMNS} WHERE s.name = ?1 ORDER BY v.version DESC");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([name], raw)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().map(cook).collect::<Result<Vec<_>, _>>()?)
    }

    /// One version of a strategy.
    pub fn strategy_version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<StrategyVersion, StrategyError> {
        let conn = self.conn();
        strategy_id(&conn, name)?;
        version_in(&conn, name, version)?
            .ok_or_else(|| StrategyError::VersionNotFound { strategy: name.to_owned(), version })
    }

    /// The draft of a strategy, if there is one.
    pub fn strategy_draft(&self, name: &str) -> Result<Option<StrategyVersion>, StrategyError> {
        let conn = self.conn();
        strategy_id(&conn, name)?;
        with_status(&conn, name, VersionStatus::Draft)
    }

    /// Saves the manager's draft of strategy `name` (creating the strategy): the first save makes
    /// a new version, later saves update that same draft until it is published. Returns the
    /// draft's version. A draft may be incomplete; it is validated when published.
    pub fn save_strategy_draft(
        &self,
        name: &str,
        document: &StrategyDocument,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<i64, StrategyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = ensure_strategy(&tx, name, at)?;
        let (version, created) = upsert_draft(&tx, id, &document.to_value(), note, at)?;
        audit::append(
            &tx,
            at,
            actor,
            if created { "strategy.draft_created" } else { "strategy.draft_updated" },
            &format!("strategy:{name}@{version}"),
            &serde_json::json!({ "note": note }),
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// Publishes the draft of strategy `name`: it must read as a strategy document and pass
    /// [`StrategyDocument::validate`]. The published version retires in the same transaction.
    /// Returns the published version.
    pub fn publish_strategy_draft(
        &self,
        name: &str,
        actor: &str,
        at: Millis,
    ) -> Result<i64, StrategyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = strategy_id(&tx, name)?;
        let draft = with_status(&tx, name, VersionStatus::Draft)?
            .ok_or_else(|| StrategyError::NoDraft(name.to_owned()))?;
        let version = draft.version;
        let document = StrategyDocument::from_value(draft.document)
            .map_err(|source| StrategyError::Unreadable { version, source })?;
        document.validate().map_err(|issues| StrategyError::Invalid { version, issues })?;
        let retired = retire_published(&tx, id)?;
        tx.execute(
            "UPDATE strategy_versions SET status = 'published', published_at = ?3
             WHERE strategy_id = ?1 AND version = ?2",
            params![id, version, at],
        )?;
        audit::append(
            &tx,
            at,
            actor,
            "strategy.published",
            &format!("strategy:{name}@{version}"),
            &serde_json::json!({ "retired": retired }),
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// Rolls strategy `name` back to an earlier published version: a copy of its document is
    /// published as a new version (the current one retires), so the history stays as it was.
    /// A draft in progress is kept. Returns the new version.
    pub fn rollback_strategy(
        &self,
        name: &str,
        to_version: i64,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<i64, StrategyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = strategy_id(&tx, name)?;
        let target = version_in(&tx, name, to_version)?.ok_or_else(|| {
            StrategyError::VersionNotFound { strategy: name.to_owned(), version: to_version }
        })?;
        match target.status {
            VersionStatus::Published => {
                return Err(StrategyError::AlreadyPublished {
                    strategy: name.to_owned(),
                    version: to_version,
                });
            }
            VersionStatus::Draft => {
                return Err(StrategyError::NeverPublished {
                    strategy: name.to_owned(),
                    version: to_version,
                });
            }
            VersionStatus::Retired => {}
        }
        let version = next_version(&tx, id)?;
        let retired = retire_published(&tx, id)?;
        let note = if note.trim().is_empty() {
            format!("rollback to version {to_version}")
        } else {
            note.to_owned()
        };
        tx.execute(
            "INSERT INTO strategy_versions
             (strategy_id, version, status, document, note, created_at, published_at)
             VALUES (?1, ?2, 'published', ?3, ?4, ?5, ?5)",
            params![id, version, target.document.to_string(), note, at],
        )?;
        audit::append(
            &tx,
            at,
            actor,
            "strategy.rolled_back",
            &format!("strategy:{name}@{version}"),
            &serde_json::json!({ "copy_of": to_version, "retired": retired, "note": note }),
        )?;
        tx.commit()?;
        Ok(version)
    }
}
