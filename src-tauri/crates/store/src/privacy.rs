//! A customer's rights over their data (PIPL art. 19 and 47, GDPR art. 17 and 20): a per-lead
//! export of every row that mentions the lead, erasure that leaves nothing readable behind in the
//! database file or its WAL, and a retention period with a purge.
//!
//! Key decisions:
//! - **Export covers every table.** Each table of the schema is either exported (it holds rows
//!   about a lead) or listed in [`UNRELATED_TABLES`] (it never does); a test fails when a new table
//!   is neither, so a migration cannot silently add personal data the export misses.
//! - **Erasure deletes, then scrubs the file.** The lead, its fields, its conversation with every
//!   event, its CRM outbox rows and the audit rows about it go in one transaction with
//!   `secure_delete` on (SQLite overwrites freed content with zeros); the audit keeps one
//!   `lead.erased` row with counts and no personal data; then the WAL is checkpointed and truncated,
//!   so the old page images holding the text are gone from the WAL file too. Before that the file is
//!   `VACUUM`ed: rows rewritten before `secure_delete` was on (the conversation projection is
//!   rewritten on every event) leave old copies in the free space of pages the erasure does not
//!   touch, and only a rebuild removes those. The search index (`message_fts`) loses the
//!   conversation's messages through its delete trigger with FTS5 `secure-delete` on, so no
//!   trigram of them stays in the index b-tree either.
//! - **Message storage is a setting in `meta`** (`message_storage`: `original`, the default, or
//!   `redacted`): [`MessageStorage`]; the app masks a customer's text before storing it when set.
//! - **Retention is a setting in `meta`** (`retention_days`, absent = keep forever); [`Store::purge`]
//!   erases every lead whose conversation has been idle longer, and re-sanitizes old audit details.

use std::collections::BTreeMap;

use closer_dialogue::Millis;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{Store, StoreError, audit};

/// Tables that never hold a row about a particular lead.
pub const UNRELATED_TABLES: &[&str] =
    &["meta", "products", "strategies", "strategy_versions", "intent_examples", "nlu_heads"];

/// Tables whose rows about a lead the export and the erasure cover.
pub const LEAD_TABLES: &[&str] = &[
    "leads",
    "lead_fields",
    "conversations",
    "conversation_events",
    "channel_contacts",
    "channel_inbound",
    "webhook_replies",
    "crm_outbox",
    "audit_log",
    "message_fts",
];

/// The FTS5 shadow tables of `message_fts`: its index, exported through `message_fts` and erased
/// with it (the triggers delete the lead's rows, `secure-delete` removes their entries from the
/// index b-tree, `secure_delete` zeroes the freed space).
pub const INDEX_TABLES: &[&str] = &[
    "message_fts_data",
    "message_fts_idx",
    "message_fts_content",
    "message_fts_docsize",
    "message_fts_config",
];

/// Tables keyed by `conversation_id` (exported and erased by it).
const CONVERSATION_TABLES: &[&str] =
    &["conversation_events", "channel_contacts", "channel_inbound", "webhook_replies"];

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub lead_id: i64,
    pub conversation_id: Option<i64>,
    /// The CRM's key and id of the lead: the CRM holds its own copy, which the CRM adapter (or a
    /// person) must delete there.
    pub external_key: String,
    pub crm_id: Option<String>,
    /// Rows deleted, by table.
    pub rows: BTreeMap<&'static str, usize>,
    /// Whether the WAL was checkpointed and truncated afterwards (false if a reader held it).
    pub wal_truncated: bool,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// Conversations idle since before this were erased (`None`: no retention set).
    pub cutoff: Option<Millis>,
    pub erased: Vec<Erasure>,
    /// Audit rows whose details were rewritten by the current sanitizer.
    pub audit_rows_rewritten: usize,
}

const RETENTION_KEY: &str = "retention_days";
const MESSAGE_STORAGE_KEY: &str = "message_storage";

/// What the store keeps of a customer's message text (issue 9: "stored messages keep the
/// original only where the user setting allows"). A setting in `meta`; absent = [`Original`].
///
/// [`Original`]: MessageStorage::Original
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageStorage {
    /// The text as the customer wrote it.
    #[default]
    Original,
    /// The text with its PII (phones, e-mails, IDs, cards, WeChat IDs, names) masked before it
    /// is stored; the masking itself is the caller's (the NLU's redaction, in `app`).
    Redacted,
}

impl MessageStorage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStorage::Original => "original",
            MessageStorage::Redacted => "redacted",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "original" => Some(MessageStorage::Original),
            "redacted" => Some(MessageStorage::Redacted),
            _ => None,
        }
    }
}

fn no_lead(id: i64) -> StoreError {
    StoreError::BadValue(format!("lead {id} does not exist"))
}

fn query_rows(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let mut stmt = tx.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let rows = stmt
        .query_map(params, |r| {
            let mut row = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                use rusqlite::types::ValueRef;
                let v = match r.get_ref(i)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => serde_json::Value::from(n),
                    ValueRef::Real(x) => serde_json::Value::from(x),
                    ValueRef::Text(t) => {
                        let s = String::from_utf8_lossy(t).into_owned();
                        // JSON columns are exported as JSON, not as a string of JSON.
                        if matches!(name.as_str(), "payload" | "detail") {
                            serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
                        } else {
                            serde_json::Value::String(s)
                        }
                    }
                    ValueRef::Blob(b) => serde_json::Value::from(b.len()),
                };
                row.insert(name.clone(), v);
            }
            Ok(serde_json::Value::Object(row))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn lead_conversation(tx: &Transaction<'_>, lead_id: i64) -> Result<Option<i64>, StoreError> {
    tx.query_row("SELECT conversation_id FROM leads WHERE id = ?1", [lead_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| no_lead(lead_id))
}

fn subjects(lead_id: i64, conversation: Option<i64>) -> (String, String) {
    (
        format!("lead:{lead_id}"),
        conversation.map(|c| format!("conversation:{c}")).unwrap_or_default(),
    )
}

impl Store {
    /// The lead of a conversation.
    pub fn lead_of_conversation(&self, conversation: i64) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.query_row("SELECT id FROM leads WHERE conversation_id = ?1", [conversation], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(StoreError::ConversationNotFound(conversation))
    }

    /// Every row about the lead, by table (`{"lead_id", "exported_at", "tables": {table: [rows]}}`),
    /// JSON columns as JSON. Raw: the caller redacts if it wants a redacted export.
    pub fn export_lead(&self, lead_id: i64, at: Millis) -> Result<serde_json::Value, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let conversation = lead_conversation(&tx, lead_id)?;
        let (lead_subject, conversation_subject) = subjects(lead_id, conversation);
        let c = conversation.unwrap_or(-1);
        let mut tables = serde_json::Map::new();
        let mut put = |name: &str, rows: Vec<serde_json::Value>| {
            tables.insert(name.to_owned(), serde_json::Value::Array(rows));
        };
        put("leads", query_rows(&tx, "SELECT * FROM leads WHERE id = ?1", [lead_id])?);
        put(
            "lead_fields",
            query_rows(
                &tx,
                "SELECT * FROM lead_fields WHERE lead_id = ?1 ORDER BY field",
                [lead_id],
            )?,
        );
        put("conversations", query_rows(&tx, "SELECT * FROM conversations WHERE id = ?1", [c])?);
        for table in CONVERSATION_TABLES {
            put(
                table,
                query_rows(
                    &tx,
                    &format!("SELECT * FROM {table} WHERE conversation_id = ?1 ORDER BY rowid"),
                    [c],
                )?,
            );
        }
        put(
            "crm_outbox",
            query_rows(&tx, "SELECT * FROM crm_outbox WHERE lead_id = ?1 ORDER BY id", [lead_id])?,
        );
        put(
            "message_fts",
            query_rows(
                &tx,
                "SELECT rowid AS message_id, conversation_id, role, at, text FROM message_fts
                 WHERE conversation_id = ?1 ORDER BY rowid",
                [c],
            )?,
        );
        put(
            "audit_log",
            query_rows(
                &tx,
                "SELECT * FROM audit_log WHERE subject IN (?1, ?2) ORDER BY id",
                params![lead_subject, conversation_subject],
            )?,
        );
        tx.commit()?;
        Ok(serde_json::json!({
            "lead_id": lead_id,
            "conversation_id": conversation,
            "exported_at": at,
            "tables": tables,
        }))
    }

    /// Erases the lead and everything about it (see the module doc). The audit keeps one
    /// `lead.erased` row with the counts.
    pub fn erase_lead(&self, lead_id: i64, actor: &str, at: Millis) -> Result<Erasure, StoreError> {
        let mut conn = self.conn();
        conn.pragma_update(None, "secure_delete", true)?;
        let tx = conn.transaction()?;
        let erasure = erase_in(&tx, lead_id, actor, at)?;
        tx.commit()?;
        let wal_truncated = checkpoint(&conn)?;
        Ok(Erasure { wal_truncated, ..erasure })
    }

    /// Keep conversations for `days` after their last activity (`None`: forever).
    pub fn set_retention_days(
        &self,
        days: Option<u32>,
        actor: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match days {
            Some(d) => tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![RETENTION_KEY, d.to_string()],
            )?,
            None => tx.execute("DELETE FROM meta WHERE key = ?1", [RETENTION_KEY])?,
        };
        audit::append(
            &tx,
            at,
            actor,
            "privacy.retention_set",
            "retention",
            &serde_json::json!({ "days": days }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The retention period in days, if one is set.
    pub fn retention_days(&self) -> Result<Option<u32>, StoreError> {
        let conn = self.conn();
        let v: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [RETENTION_KEY], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    /// Sets what is kept of customers' message text from now on (messages already stored are
    /// not rewritten). Audited.
    pub fn set_message_storage(
        &self,
        storage: MessageStorage,
        actor: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![MESSAGE_STORAGE_KEY, storage.as_str()],
        )?;
        audit::append(
            &tx,
            at,
            actor,
            "privacy.message_storage_set",
            "message_storage",
            &serde_json::json!({ "mode": storage.as_str() }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// What is kept of customers' message text (default: the original).
    pub fn message_storage(&self) -> Result<MessageStorage, StoreError> {
        let conn = self.conn();
        let v: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [MESSAGE_STORAGE_KEY], |r| r.get(0))
            .optional()?;
        match v {
            None => Ok(MessageStorage::default()),
            Some(v) => MessageStorage::parse(&v)
                .ok_or_else(|| StoreError::BadValue(format!("message_storage {v:?}"))),
        }
    }

    /// Erases every lead whose conversation was last active more than the retention period
    /// before `now` (and leads with no conversation created before then), in one transaction,
    /// then rewrites every audit detail through the current sanitizer and truncates the WAL.
    pub fn purge(&self, now: Millis, actor: &str) -> Result<Purge, StoreError> {
        let days = self.retention_days()?;
        let cutoff = days.map(|d| now.saturating_sub(i64::from(d) * 86_400_000));
        let mut conn = self.conn();
        conn.pragma_update(None, "secure_delete", true)?;
        let tx = conn.transaction()?;
        let mut erased = Vec::new();
        if let Some(cutoff) = cutoff {
            let due: Vec<i64> = {
                let mut stmt = tx.prepare(
                    "SELECT l.id FROM leads l LEFT JOIN conversations c ON c.id = l.conversation_id
                     WHERE max(coalesce(c.updated_at, l.updated_at), l.updated_at) < ?1
                     ORDER BY l.id",
                )?;
                stmt.query_map([cutoff], |r| r.get(0))?.collect::<Result<_, _>>()?
            };
            for lead in due {
                erased.push(erase_in(&tx, lead, actor, now)?);
            }
        }
        let audit_rows_rewritten = rewrite_audit(&tx)?;
        tx.commit()?;
        // Nothing deleted or rewritten: no free space holds anything new, so no rebuild.
        let wal_truncated = if erased.is_empty() && audit_rows_rewritten == 0 {
            truncate_wal(&conn)?
        } else {
            checkpoint(&conn)?
        };
        for e in &mut erased {
            e.wal_truncated = wal_truncated;
        }
        Ok(Purge { cutoff, erased, audit_rows_rewritten })
    }
}

fn erase_in(
    tx: &Transaction<'_>,
    lead_id: i64,
    actor: &str,
    at: Millis,
) -> Result<Erasure, StoreError> {
    let conversation = lead_conversation(tx, lead_id)?;
    let (external_key, crm_id): (String, Option<String>) =
        tx.query_row("SELECT external_key, crm_id FROM leads WHERE id = ?1", [lead_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (lead_subject, conversation_subject) = subjects(lead_id, conversation);
    let c = conversation.unwrap_or(-1);
    let mut rows = BTreeMap::new();
    rows.insert("crm_outbox", tx.execute("DELETE FROM crm_outbox WHERE lead_id = ?1", [lead_id])?);
    rows.insert(
        "lead_fields",
        tx.execute("DELETE FROM lead_fields WHERE lead_id = ?1", [lead_id])?,
    );
    rows.insert("leads", tx.execute("DELETE FROM leads WHERE id = ?1", [lead_id])?);
    // The search index loses the conversation's messages through the delete trigger on
    // conversation_events (a sweep of the index here would scan it whole for every lead).
    let indexed: i64 = tx.query_row(
        "SELECT count(*) FROM conversation_events WHERE conversation_id = ?1 AND kind = 'message'",
        [c],
        |r| r.get(0),
    )?;
    for table in CONVERSATION_TABLES {
        rows.insert(
            table,
            tx.execute(&format!("DELETE FROM {table} WHERE conversation_id = ?1"), [c])?,
        );
    }
    rows.insert("message_fts", usize::try_from(indexed).unwrap_or(0));
    rows.insert("conversations", tx.execute("DELETE FROM conversations WHERE id = ?1", [c])?);
    rows.insert(
        "audit_log",
        tx.execute(
            "DELETE FROM audit_log WHERE subject IN (?1, ?2)",
            params![lead_subject, conversation_subject],
        )?,
    );
    let counts: serde_json::Map<String, serde_json::Value> =
        rows.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
    audit::append(tx, at, actor, "lead.erased", &lead_subject, &serde_json::Value::Object(counts))?;
    Ok(Erasure {
        lead_id,
        conversation_id: conversation,
        external_key,
        crm_id,
        rows,
        wal_truncated: false,
    })
}

/// Rewrites every audit detail through [`audit::sanitize`]; returns how many changed.
fn rewrite_audit(tx: &Transaction<'_>) -> Result<usize, StoreError> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT id, detail FROM audit_log")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
    };
    let mut changed = 0;
    for (id, detail) in rows {
        let value: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
        let clean = audit::sanitize(&value).to_string();
        if clean != detail {
            tx.execute("UPDATE audit_log SET detail = ?2 WHERE id = ?1", params![id, clean])?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Rebuilds the file (`VACUUM`: earlier versions of rows that updates left in free space inside
/// pages are gone), copies the WAL into the database and truncates it to zero bytes. False when a
/// reader kept part of the WAL (the next checkpoint finishes the job).
fn checkpoint(conn: &rusqlite::Connection) -> Result<bool, StoreError> {
    // The rows are already gone (committed); another process holding the file only delays the
    // scrub, so a busy file is reported as not truncated rather than as a failed erasure.
    if let Err(e) = conn.execute_batch("VACUUM") {
        tracing::warn!(error = %e, "VACUUM after erasure failed; the next purge retries");
        return Ok(false);
    }
    truncate_wal(conn)
}

/// Copies the WAL into the database and truncates it to zero bytes; false when a reader kept
/// part of it.
fn truncate_wal(conn: &rusqlite::Connection) -> Result<bool, StoreError> {
    let (busy, _log, _done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy == 0)
}
