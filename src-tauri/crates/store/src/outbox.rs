use closer_dialogue::Millis;
use rusqlite::{Transaction, params};

use crate::{Store, StoreError};

/// A CRM change waiting for (or done by) the relay.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub lead_id: i64,
    pub op: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// Queues an upsert of the lead's current fields. A pending upsert for the same lead is replaced
/// rather than duplicated: the relay always sends the newest whole record, keyed by
/// `external_key`, so intermediate states need not travel.
pub(crate) fn enqueue_upsert(
    tx: &Transaction<'_>,
    lead_id: i64,
    external_key: &str,
    at: Millis,
) -> Result<(), StoreError> {
    let fields: serde_json::Map<String, serde_json::Value> = {
        let mut stmt = tx.prepare_cached(
            "SELECT field, value FROM lead_fields WHERE lead_id = ?1 ORDER BY field",
        )?;
        stmt.query_map([lead_id], |r| {
            Ok((r.get::<_, String>(0)?, serde_json::Value::String(r.get(1)?)))
        })?
        .collect::<Result<_, _>>()?
    };
    let payload = serde_json::json!({ "external_key": external_key, "fields": fields }).to_string();
    let replaced = tx.execute(
        "UPDATE crm_outbox SET payload = ?2, created_at = ?3
         WHERE lead_id = ?1 AND op = 'upsert' AND attempts = 0
           AND delivered_at IS NULL AND dead_at IS NULL",
        params![lead_id, payload, at],
    )?;
    if replaced == 0 {
        tx.execute(
            "INSERT INTO crm_outbox (lead_id, op, payload, created_at, next_attempt_at)
             VALUES (?1, 'upsert', ?2, ?3, ?3)",
            params![lead_id, payload, at],
        )?;
    }
    Ok(())
}

impl Store {
    /// Outbox rows neither delivered nor dead-lettered, oldest first.
    pub fn pending_outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, lead_id, op, payload, attempts, next_attempt_at, delivered_at
             FROM crm_outbox WHERE delivered_at IS NULL AND dead_at IS NULL ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let payload: String = r.get(3)?;
                Ok(OutboxRow {
                    id: r.get(0)?,
                    lead_id: r.get(1)?,
                    op: r.get(2)?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    attempts: r.get(4)?,
                    next_attempt_at: r.get(5)?,
                    delivered_at: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
