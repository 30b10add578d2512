use closer_dialogue::Millis;
use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError, audit};

/// Where a strategy version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    Draft,
    Published,
    Retired,
}

impl VersionStatus {
    fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Published => "published",
            VersionStatus::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
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
    pub document: serde_json::Value,
    pub note: String,
    pub created_at: Millis,
}

impl Store {
    /// Saves `document` as the next version of strategy `name` (creating the strategy), as a draft
    /// or published. Publishing retires the previously published version. Returns the version.
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
        tx.execute(
            "INSERT INTO strategies (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, at],
        )?;
        let id: i64 =
            tx.query_row("SELECT id FROM strategies WHERE name = ?1", [name], |r| r.get(0))?;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM strategy_versions WHERE strategy_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if status == VersionStatus::Published {
            tx.execute(
                "UPDATE strategy_versions SET status = 'retired'
                 WHERE strategy_id = ?1 AND status = 'published'",
                [id],
            )?;
        }
        tx.execute(
            "INSERT INTO strategy_versions (strategy_id, version, status, document, note, created_at, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?3 = 'published' THEN ?6 END)",
            params![id, version, status.as_str(), document.to_string(), note, at],
        )?;
        audit::append(
            &tx,
            at,
            actor,
            &format!("strategy.{}", status.as_str()),
            &format!("strategy:{name}@{version}"),
            &serde_json::json!({ "note": note }),
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// The published version of a strategy.
    pub fn published_strategy(&self, name: &str) -> Result<StrategyVersion, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT s.name, v.version, v.status, v.document, v.note, v.created_at
             FROM strategy_versions v JOIN strategies s ON s.id = v.strategy_id
             WHERE s.name = ?1 AND v.status = 'published'",
            [name],
            |r| {
                let status: String = r.get(2)?;
                let document: String = r.get(3)?;
                Ok((r.get(0)?, r.get(1)?, status, document, r.get(4)?, r.get(5)?))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::StrategyNotFound(name.to_owned()))
        .and_then(|(strategy, version, status, document, note, created_at)| {
            Ok(StrategyVersion {
                strategy,
                version,
                status: VersionStatus::parse(&status)
                    .ok_or_else(|| StoreError::BadValue(format!("strategy status {status:?}")))?,
                document: serde_json::from_str(&document)
                    .map_err(|e| StoreError::BadValue(format!("strategy document: {e}")))?,
                note,
                created_at,
            })
        })
    }
}
