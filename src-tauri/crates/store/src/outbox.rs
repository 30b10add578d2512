use closer_dialogue::Millis;
use rusqlite::{OptionalExtension, Transaction, params};

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

/// A note for the lead's timeline in the CRM, carried by the lead's upsert (`payload.notes`).
/// The key is unique per note and stable across retries: the CRM side posts a note only when it
/// does not hold that key yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxNote {
    pub key: String,
    pub text: String,
}

fn payload_notes(payload: &serde_json::Value) -> Vec<OutboxNote> {
    payload
        .get("notes")
        .and_then(|n| serde_json::from_value::<Vec<OutboxNote>>(n.clone()).ok())
        .unwrap_or_default()
}

/// Queues an upsert of the lead's current fields. A pending upsert for the same lead is replaced
/// rather than duplicated: the relay always sends the newest whole record, keyed by
/// `external_key`, so intermediate states need not travel. Notes the pending upsert carries are
/// kept.
pub(crate) fn enqueue_upsert(
    tx: &Transaction<'_>,
    lead_id: i64,
    external_key: &str,
    at: Millis,
) -> Result<(), StoreError> {
    enqueue(tx, lead_id, external_key, at, None)
}

/// Queues `note` with the lead's current record (see [`enqueue_upsert`]).
pub(crate) fn enqueue_note(
    tx: &Transaction<'_>,
    lead_id: i64,
    external_key: &str,
    note: &OutboxNote,
    at: Millis,
) -> Result<(), StoreError> {
    enqueue(tx, lead_id, external_key, at, Some(note))
}

fn enqueue(
    tx: &Transaction<'_>,
    lead_id: i64,
    external_key: &str,
    at: Millis,
    note: Option<&OutboxNote>,
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
    let waiting: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, payload FROM crm_outbox
             WHERE lead_id = ?1 AND op = 'upsert' AND attempts = 0
               AND delivered_at IS NULL AND dead_at IS NULL
             ORDER BY id DESC LIMIT 1",
            [lead_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut notes = waiting
        .as_ref()
        .map(|(_, p)| payload_notes(&serde_json::from_str(p).unwrap_or_default()))
        .unwrap_or_default();
    if let Some(note) = note
        && !notes.iter().any(|n| n.key == note.key)
    {
        notes.push(note.clone());
    }
    let mut payload = serde_json::json!({ "external_key": external_key, "fields": fields });
    if !notes.is_empty() {
        payload["notes"] =
            notes.iter().map(|n| serde_json::json!({ "key": n.key, "text": n.text })).collect();
    }
    let payload = payload.to_string();
    if let Some((id, _)) = waiting {
        tx.execute(
            "UPDATE crm_outbox SET payload = ?2, created_at = ?3 WHERE id = ?1",
            params![id, payload, at],
        )?;
    } else {
        tx.execute(
            "INSERT INTO crm_outbox (lead_id, op, payload, created_at, next_attempt_at)
             VALUES (?1, 'upsert', ?2, ?3, ?3)",
            params![lead_id, payload, at],
        )?;
    }
    Ok(())
}

impl Store {
    /// Queues a note for the CRM's timeline of the lead of `conversation` (with the lead's
    /// current record, one transaction, audited). A note whose key is already waiting is not
    /// queued twice.
    pub fn add_lead_note(
        &self,
        conversation: i64,
        note: &OutboxNote,
        actor: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (lead_id, external_key): (i64, String) = tx
            .query_row(
                "SELECT id, external_key FROM leads WHERE conversation_id = ?1",
                [conversation],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(StoreError::ConversationNotFound(conversation))?;
        enqueue_note(&tx, lead_id, &external_key, note, at)?;
        crate::audit::append(
            &tx,
            at,
            actor,
            "lead.note_queued",
            &format!("lead:{lead_id}"),
            &serde_json::json!({ "id": note.key }),
        )?;
        tx.commit()?;
        Ok(())
    }

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

/// One change the relay took from the outbox: the newest queued record of one lead. Taking it
/// counts an attempt, so a later change to the lead queues a new row instead of rewriting this
/// one while it is on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxClaim {
    pub id: i64,
    pub lead_id: i64,
    /// The stable key the CRM upserts by (install id + lead id).
    pub external_key: String,
    /// The CRM's own id for the lead, once a delivery reported it.
    pub crm_id: Option<String>,
    /// The lead's fields as they were when the change was queued.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The notes of this row and of the lead's older rows still waiting (settled with it).
    pub notes: Vec<OutboxNote>,
    /// Attempts including this one.
    pub attempts: i64,
}

/// What became of one claimed change.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboxSettlement {
    /// The CRM has it. Older undelivered rows of the same lead are superseded by it and settled
    /// with it. `crm_id` is recorded on the lead when the CRM reported one.
    Delivered { id: i64, crm_id: Option<String> },
    /// Try again at `at` (backoff, Retry-After, or the breaker).
    Retry { id: i64, at: Millis, error: String },
    /// It can never succeed as it is (a 400/401/403/409): kept aside with the reason until
    /// someone retries it by hand.
    Dead { id: i64, reason: String },
}

/// Where one lead stands with the CRM.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadSyncStatus {
    /// Nothing was ever queued for it.
    NotQueued,
    /// Every change reached the CRM; the last at `at`.
    Synced { at: Millis, crm_id: Option<String> },
    /// A change waits: `attempts` so far, next try at `next_attempt_at`.
    Pending { attempts: i64, next_attempt_at: Millis, last_error: Option<String> },
    /// A change was dead-lettered (and nothing newer waits).
    Dead { reason: String, at: Millis },
}

/// The outbox at a glance, for "CRM offline — N pending".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutboxSummary {
    /// Changes waiting (including ones waiting for a retry).
    pub pending: i64,
    /// Changes dead-lettered.
    pub dead: i64,
    /// When the oldest waiting change was queued.
    pub oldest_pending_at: Option<Millis>,
    /// The error of the most recently failed waiting change.
    pub last_error: Option<String>,
    /// When a change last reached the CRM.
    pub last_delivered_at: Option<Millis>,
}

/// A dead-lettered change, for the list the UI retries from.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub lead_id: i64,
    pub reason: String,
    pub dead_at: Millis,
    pub attempts: i64,
}

impl Store {
    /// Takes up to `limit` due changes, one per lead (its newest queued row), oldest lead first,
    /// and counts an attempt on each. Rows of a lead that are not its newest stay queued and are
    /// settled with the newest one when it is delivered.
    pub fn claim_outbox(&self, now: Millis, limit: usize) -> Result<Vec<OutboxClaim>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i64, String, String, Option<String>, i64)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT o.id, o.lead_id, o.payload, l.external_key, l.crm_id, o.attempts
                 FROM crm_outbox o JOIN leads l ON l.id = o.lead_id
                 WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.next_attempt_at <= ?1
                   AND o.id = (SELECT max(n.id) FROM crm_outbox n WHERE n.lead_id = o.lead_id
                               AND n.delivered_at IS NULL AND n.dead_at IS NULL)
                 ORDER BY o.id LIMIT ?2",
            )?;
            stmt.query_map(params![now, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut claims = Vec::with_capacity(rows.len());
        for (id, lead_id, payload, external_key, crm_id, attempts) in rows {
            tx.execute("UPDATE crm_outbox SET attempts = attempts + 1 WHERE id = ?1", [id])?;
            // Older waiting rows are settled with this one: their notes travel with it.
            let mut notes: Vec<OutboxNote> = Vec::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT payload FROM crm_outbox WHERE lead_id = ?1 AND id <= ?2
                       AND delivered_at IS NULL AND dead_at IS NULL ORDER BY id",
                )?;
                let payloads = stmt
                    .query_map(params![lead_id, id], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                for p in payloads {
                    for note in payload_notes(&serde_json::from_str(&p).unwrap_or_default()) {
                        if !notes.iter().any(|n| n.key == note.key) {
                            notes.push(note);
                        }
                    }
                }
            }
            let payload: serde_json::Value = serde_json::from_str(&payload)
                .map_err(|e| StoreError::BadValue(format!("outbox payload {id}: {e}")))?;
            let fields = payload
                .get("fields")
                .and_then(|f| f.as_object())
                .map(|f| {
                    f.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            claims.push(OutboxClaim {
                id,
                lead_id,
                external_key,
                crm_id,
                fields,
                notes,
                attempts: attempts + 1,
            });
        }
        tx.commit()?;
        Ok(claims)
    }

    /// Records what became of claimed changes, all in one transaction.
    pub fn settle_outbox(
        &self,
        now: Millis,
        settlements: &[OutboxSettlement],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in settlements {
            match s {
                OutboxSettlement::Delivered { id, crm_id } => {
                    let lead_id: i64 =
                        tx.query_row("SELECT lead_id FROM crm_outbox WHERE id = ?1", [id], |r| {
                            r.get(0)
                        })?;
                    tx.execute(
                        "UPDATE crm_outbox SET delivered_at = ?3, last_error = NULL
                         WHERE lead_id = ?1 AND id <= ?2 AND delivered_at IS NULL
                           AND dead_at IS NULL",
                        params![lead_id, id, now],
                    )?;
                    if let Some(crm_id) = crm_id {
                        tx.execute(
                            "UPDATE leads SET crm_id = ?2 WHERE id = ?1",
                            params![lead_id, crm_id],
                        )?;
                    }
                }
                OutboxSettlement::Retry { id, at, error } => {
                    tx.execute(
                        "UPDATE crm_outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, at, error],
                    )?;
                }
                OutboxSettlement::Dead { id, reason } => {
                    tx.execute(
                        "UPDATE crm_outbox SET dead_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, now, reason],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When the next queued change falls due, if any waits.
    pub fn next_outbox_due(&self) -> Result<Option<Millis>, StoreError> {
        Ok(self.conn().query_row(
            "SELECT min(next_attempt_at) FROM crm_outbox
             WHERE delivered_at IS NULL AND dead_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Puts a dead-lettered change back in the queue, due now (the UI's "retry"). Returns
    /// whether there was such a change.
    pub fn retry_dead_letter(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE crm_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?2
             WHERE id = ?1 AND dead_at IS NOT NULL AND delivered_at IS NULL",
            params![id, now],
        )?;
        Ok(n == 1)
    }

    /// Dead-lettered changes, newest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, lead_id, coalesce(last_error, ''), dead_at, attempts FROM crm_outbox
             WHERE dead_at IS NOT NULL AND delivered_at IS NULL ORDER BY dead_at DESC, id DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeadLetter {
                    id: r.get(0)?,
                    lead_id: r.get(1)?,
                    reason: r.get(2)?,
                    dead_at: r.get(3)?,
                    attempts: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Where one lead stands with the CRM.
    pub fn lead_sync_status(&self, lead_id: i64) -> Result<LeadSyncStatus, StoreError> {
        let conn = self.conn();
        let pending = conn
            .query_row(
                "SELECT attempts, next_attempt_at, last_error FROM crm_outbox
                 WHERE lead_id = ?1 AND delivered_at IS NULL AND dead_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                [lead_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((attempts, next_attempt_at, last_error)) = pending {
            return Ok(LeadSyncStatus::Pending { attempts, next_attempt_at, last_error });
        }
        // The newest settled row decides: delivered, or dead after the last delivery.
        let last = conn
            .query_row(
                "SELECT delivered_at, dead_at, coalesce(last_error, '') FROM crm_outbox
                 WHERE lead_id = ?1 ORDER BY id DESC LIMIT 1",
                [lead_id],
                |r| {
                    Ok((
                        r.get::<_, Option<Millis>>(0)?,
                        r.get::<_, Option<Millis>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(match last {
            None => LeadSyncStatus::NotQueued,
            Some((_, Some(dead_at), reason)) => LeadSyncStatus::Dead { reason, at: dead_at },
            Some((delivered_at, None, _)) => {
                let crm_id: Option<String> =
                    conn.query_row("SELECT crm_id FROM leads WHERE id = ?1", [lead_id], |r| {
                        r.get(0)
                    })?;
                LeadSyncStatus::Synced { at: delivered_at.unwrap_or_default(), crm_id }
            }
        })
    }

    /// The outbox at a glance.
    pub fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        let conn = self.conn();
        let (pending, dead, oldest_pending_at, last_delivered_at) = conn.query_row(
            "SELECT
               count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL),
               count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NOT NULL),
               min(created_at) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL),
               max(delivered_at)
             FROM crm_outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let last_error = conn
            .query_row(
                "SELECT last_error FROM crm_outbox
                 WHERE delivered_at IS NULL AND dead_at IS NULL AND last_error IS NOT NULL
                 ORDER BY next_attempt_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(OutboxSummary { pending, dead, oldest_pending_at, last_error, last_delivered_at })
    }

    /// A relay setting that must survive a restart (breaker, Retry-After horizon), by key.
    pub fn relay_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [format!("relay.{key}")], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Stores a relay setting (see [`Store::relay_state`]).
    pub fn set_relay_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![format!("relay.{key}"), value],
        )?;
        Ok(())
    }
}

/// What recording a lead's values read back from the CRM did (see [`Store::record_crm_values`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmPull {
    pub lead_id: i64,
    pub conversation_id: i64,
    /// Fields whose CRM value was recorded, CRM-sourced.
    pub applied: Vec<String>,
    /// Fields whose different CRM value lost to a salesperson's value here (kept ours).
    pub kept: Vec<String>,
    /// Fields whose CRM value is ours already (an echo of what we sent: nothing recorded).
    pub unchanged: Vec<String>,
    /// The lead has a change the CRM has not received yet, so the CRM's values are older than
    /// ours: nothing was recorded (pull again once it is delivered).
    pub deferred: bool,
}

impl Store {
    /// Records values read back from the CRM for a lead as CRM-sourced field values (design.md:
    /// salesperson > CRM > AI), in one transaction: each accepted value is a `field_set` event
    /// with source `crm` in the conversation's log, its `lead_fields` row and an audit row by
    /// actor `crm`, plus one `crm.pulled` audit row with the counts. Nothing is queued back to the
    /// outbox (the CRM has these values). Empty values are ignored (a blank CRM column does not
    /// erase ours); a value equal to ours is an echo and records nothing; while the lead has an
    /// undelivered change, nothing is recorded ([`CrmPull::deferred`]), so a stale CRM value
    /// never overwrites a newer local one.
    pub fn record_crm_values(
        &self,
        lead_id: i64,
        values: &std::collections::BTreeMap<String, String>,
        at: Millis,
    ) -> Result<CrmPull, StoreError> {
        use closer_dialogue::{Event, FieldDecision, FieldSource};
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let conversation: Option<i64> = tx
            .query_row("SELECT conversation_id FROM leads WHERE id = ?1", [lead_id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::BadValue(format!("lead {lead_id} does not exist")))?;
        let conversation = conversation
            .ok_or_else(|| StoreError::BadValue(format!("lead {lead_id} has no conversation")))?;
        let mut pull = CrmPull { lead_id, conversation_id: conversation, ..CrmPull::default() };
        let pending: i64 = tx.query_row(
            "SELECT count(*) FROM crm_outbox
             WHERE lead_id = ?1 AND delivered_at IS NULL AND dead_at IS NULL",
            [lead_id],
            |r| r.get(0),
        )?;
        if pending > 0 {
            pull.deferred = true;
            return Ok(pull);
        }
        let state = crate::conversations::load_state(&tx, conversation)?;
        let mut events = Vec::new();
        for (field, value) in values {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if state.lead.fields.get(field).is_some_and(|v| v.value == value) {
                pull.unchanged.push(field.clone());
                continue;
            }
            match state.lead.decide(field, value, FieldSource::Crm) {
                FieldDecision::Accept => {
                    pull.applied.push(field.clone());
                    events.push(Event::FieldSet {
                        field: field.clone(),
                        value: value.to_owned(),
                        source: FieldSource::Crm,
                        confidence: 1.0,
                        at,
                    });
                }
                FieldDecision::KeepExisting { .. } => pull.kept.push(field.clone()),
                FieldDecision::Unchanged => pull.unchanged.push(field.clone()),
            }
        }
        crate::conversations::append_events(&tx, conversation, &events, "crm")?;
        crate::audit::append(
            &tx,
            at,
            "crm",
            "crm.pulled",
            &format!("lead:{lead_id}"),
            &serde_json::json!({
                "applied": pull.applied.len(),
                "kept": pull.kept.len(),
                "unchanged": pull.unchanged.len(),
            }),
        )?;
        tx.commit()?;
        Ok(pull)
    }

    /// Leads the CRM knows (a CRM id) with nothing waiting to be delivered, with ids above
    /// `after`, in id order: the ones whose CRM values can be read back now. `(lead id, CRM id)`.
    /// A caller sweeping them all passes the last id it got, and 0 again once none are left.
    pub fn leads_in_sync(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT l.id, l.crm_id FROM leads l
             WHERE l.id > ?1 AND l.crm_id IS NOT NULL AND l.conversation_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM crm_outbox o WHERE o.lead_id = l.id
                               AND o.delivered_at IS NULL AND o.dead_at IS NULL)
             ORDER BY l.id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![after, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
