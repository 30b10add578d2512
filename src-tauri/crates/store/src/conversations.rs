use closer_dialogue::{
    Channel, ConversationState, Event, FieldDecision, FieldSource, Handoff, Millis, Mode, Role,
    Stage,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{Store, StoreError, audit};

/// A conversation to create.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel: Channel,
    pub customer_name: String,
    /// `zh` or `en`.
    pub language: String,
    pub at: Millis,
}

/// The inbox's view of a conversation (the projection row).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: i64,
    pub channel: Channel,
    pub customer_name: String,
    pub language: String,
    pub mode: Mode,
    pub stage: Stage,
    pub stage_reason: String,
    pub handoff_requested: bool,
    pub last_message_role: Option<Role>,
    pub last_message_text: String,
    pub last_message_at: Option<Millis>,
    pub waiting_since: Option<Millis>,
    pub unread: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub lead: LeadRow,
}

/// The lead attached to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    pub id: i64,
    pub external_key: String,
    pub crm_id: Option<String>,
    /// Outbox rows not yet delivered nor dead-lettered.
    pub pending_sync: i64,
}

/// What [`Store::record`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Appended to the log at this sequence number.
    Stored { seq: i64 },
    /// A lead field value the provenance rule refused or that changed nothing.
    Dropped { decision: FieldDecision },
}

const ROW_COLUMNS: &str = "c.id, c.channel, c.customer_name, c.language, c.mode, c.stage,
    c.stage_reason, c.handoff, c.last_message_role, c.last_message_text, c.last_message_at,
    c.waiting_since, c.unread, c.created_at, c.updated_at, l.id, l.external_key, l.crm_id,
    (SELECT count(*) FROM crm_outbox o
      WHERE o.lead_id = l.id AND o.delivered_at IS NULL AND o.dead_at IS NULL)";

fn bad(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRow> {
    let channel: String = r.get(1)?;
    let mode: String = r.get(4)?;
    let stage: String = r.get(5)?;
    let handoff: Option<String> = r.get(7)?;
    let role: Option<String> = r.get(8)?;
    Ok(ConversationRow {
        id: r.get(0)?,
        channel: Channel::parse(&channel).ok_or_else(|| bad("channel", &channel))?,
        customer_name: r.get(2)?,
        language: r.get(3)?,
        mode: Mode::parse(&mode).ok_or_else(|| bad("mode", &mode))?,
        stage: Stage::parse(&stage).ok_or_else(|| bad("stage", &stage))?,
        stage_reason: r.get(6)?,
        handoff_requested: handoff.as_deref() == Some("requested"),
        last_message_role: match role {
            Some(role) => Some(Role::parse(&role).ok_or_else(|| bad("role", &role))?),
            None => None,
        },
        last_message_text: r.get(9)?,
        last_message_at: r.get(10)?,
        waiting_since: r.get(11)?,
        unread: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        lead: LeadRow {
            id: r.get(15)?,
            external_key: r.get(16)?,
            crm_id: r.get(17)?,
            pending_sync: r.get(18)?,
        },
    })
}

impl Store {
    /// Creates a conversation and its (empty) lead. Returns the conversation id.
    pub fn create_conversation(&self, new: &NewConversation) -> Result<i64, StoreError> {
        if !matches!(new.language.as_str(), "zh" | "en") {
            return Err(StoreError::BadValue(format!("language {:?}", new.language)));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Ids are never reused, also after an erasure removed the newest rows (a plain rowid
        // would hand out the erased lead's id again, and with it its CRM key).
        let id = next_id(&tx, "conversations", "conversation_id_high")?;
        tx.execute(
            "INSERT INTO conversations (id, channel, customer_name, language, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![id, new.channel.as_str(), new.customer_name, new.language, new.at],
        )?;
        let install: String =
            tx.query_row("SELECT value FROM meta WHERE key = 'install_id'", [], |r| r.get(0))?;
        let lead_id = next_id(&tx, "leads", "lead_id_high")?;
        tx.execute(
            "INSERT INTO leads (id, conversation_id, external_key, created_at, updated_at)
             VALUES (?1, ?2, '', ?3, ?3)",
            params![lead_id, id, new.at],
        )?;
        tx.execute(
            "UPDATE leads SET external_key = ?1 WHERE id = ?2",
            params![format!("closer-{install}-{lead_id}"), lead_id],
        )?;
        audit::append(
            &tx,
            new.at,
            "system",
            "conversation.create",
            &format!("conversation:{id}"),
            &serde_json::json!({ "channel": new.channel.as_str() }),
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Appends an event to a conversation's log and updates its projection, in one transaction.
    ///
    /// A [`Event::FieldSet`] goes through the provenance rule first: a value a higher source set is
    /// not overwritten ([`Recorded::Dropped`]). An accepted value also updates `lead_fields` and
    /// queues a CRM upsert in the outbox. `actor` names who did it, for the audit log.
    pub fn record(
        &self,
        conversation: i64,
        event: &Event,
        actor: &str,
    ) -> Result<Recorded, StoreError> {
        let mut recorded = self.record_all(conversation, std::slice::from_ref(event), actor)?;
        Ok(recorded.remove(0))
    }

    /// Appends several events in order, in ONE transaction (a turn is stored whole or not at
    /// all), each as [`Store::record`] would: a refused field value is skipped, the rest stored.
    pub fn record_all(
        &self,
        conversation: i64,
        events: &[Event],
        actor: &str,
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let out = append_events(&tx, conversation, events, actor)?;
        tx.commit()?;
        Ok(out)
    }

    /// The conversation's state: its stored events replayed.
    pub fn state(&self, conversation: i64) -> Result<ConversationState, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        load_state(&tx, conversation)
    }

    /// The inbox: every conversation, most urgent first (hand-off requested, then the longest
    /// waiting customer, then the most recent activity).
    pub fn list_conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM conversations c JOIN leads l ON l.conversation_id = c.id
             ORDER BY (c.handoff = 'requested') DESC,
                      (c.waiting_since IS NULL), c.waiting_since,
                      c.updated_at DESC, c.id"
        ))?;
        let rows = stmt.query_map([], read_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One conversation's row and its state replayed from the event log.
    pub fn conversation(
        &self,
        id: i64,
    ) -> Result<(ConversationRow, ConversationState), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                &format!(
                    "SELECT {ROW_COLUMNS} FROM conversations c
                     JOIN leads l ON l.conversation_id = c.id WHERE c.id = ?1"
                ),
                [id],
                read_row,
            )
            .optional()?
            .ok_or(StoreError::ConversationNotFound(id))?;
        let state = load_state(&tx, id)?;
        tx.commit()?;
        Ok((row, state))
    }

    /// The stored events of a conversation, in order.
    pub fn events(&self, conversation: i64) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        read_events(&conn, conversation)
    }

    /// Marks a conversation's messages as read.
    pub fn mark_read(&self, conversation: i64) -> Result<(), StoreError> {
        let conn = self.conn();
        let n =
            conn.execute("UPDATE conversations SET unread = 0 WHERE id = ?1", [conversation])?;
        if n == 0 {
            return Err(StoreError::ConversationNotFound(conversation));
        }
        Ok(())
    }
}

/// The next id of `table`: above every id it holds and every id it ever handed out (the
/// high-water mark in `meta` under `key`, which this raises).
fn next_id(tx: &Transaction<'_>, table: &str, key: &str) -> Result<i64, StoreError> {
    let id: i64 = tx.query_row(
        &format!(
            "SELECT max(coalesce((SELECT max(id) FROM {table}), 0),
                        coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0)) + 1"
        ),
        [key],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, id.to_string()],
    )?;
    Ok(id)
}

fn read_events(conn: &rusqlite::Connection, conversation: i64) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, payload FROM conversation_events WHERE conversation_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([conversation], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, payload)| {
            serde_json::from_str(&payload).map_err(|source| StoreError::BadEvent { id, source })
        })
        .collect()
}

/// Appends `events` to a conversation's log inside `tx`, as [`Store::record_all`] describes.
pub(crate) fn append_events(
    tx: &Transaction<'_>,
    conversation: i64,
    events: &[Event],
    actor: &str,
) -> Result<Vec<Recorded>, StoreError> {
    let mut state = load_state(tx, conversation)?;
    let mut seq: i64 = tx.query_row(
        "SELECT coalesce(max(seq), 0) FROM conversation_events WHERE conversation_id = ?1",
        [conversation],
        |r| r.get(0),
    )?;
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if let Event::FieldSet { field, value, source, .. } = event {
            match state.lead.decide(field, value, *source) {
                FieldDecision::Accept => {}
                decision => {
                    out.push(Recorded::Dropped { decision });
                    continue;
                }
            }
        }
        seq += 1;
        let payload = serde_json::to_string(event)
            .map_err(|e| StoreError::BadValue(format!("event does not serialise: {e}")))?;
        tx.execute(
            "INSERT INTO conversation_events (conversation_id, seq, kind, at, payload)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![conversation, seq, event.kind(), event.at(), payload],
        )?;
        state.apply(event);
        write_projection(tx, conversation, &state, event)?;
        if let Event::FieldSet { field, value, source, confidence, at } = event {
            write_lead_field(tx, conversation, field, value, *source, *confidence, *at)?;
        }
        audit::append(
            tx,
            event.at(),
            actor,
            &format!("event.{}", event.kind()),
            &format!("conversation:{conversation}"),
            &audit_detail(event),
        )?;
        out.push(Recorded::Stored { seq });
    }
    Ok(out)
}

pub(crate) fn load_state(
    tx: &Transaction<'_>,
    conversation: i64,
) -> Result<ConversationState, StoreError> {
    let mode: Option<String> = tx
        .query_row("SELECT mode FROM conversations WHERE id = ?1", [conversation], |r| r.get(0))
        .optional()?;
    if mode.is_none() {
        return Err(StoreError::ConversationNotFound(conversation));
    }
    Ok(ConversationState::replay(&read_events(tx, conversation)?))
}

fn write_projection(
    tx: &Transaction<'_>,
    conversation: i64,
    state: &ConversationState,
    event: &Event,
) -> Result<(), StoreError> {
    let last = state.messages.last();
    let handoff = match state.handoff {
        Some(Handoff::Requested { .. }) => Some("requested"),
        Some(Handoff::Taken { .. }) => Some("taken"),
        None => None,
    };
    let new_customer_message = matches!(event, Event::Message { role: Role::Customer, .. }) as i64;
    tx.execute(
        "UPDATE conversations SET mode = ?2, stage = ?3, stage_reason = ?4, handoff = ?5,
             last_message_role = ?6, last_message_text = ?7, last_message_at = ?8,
             waiting_since = ?9, unread = unread + ?10, updated_at = max(updated_at, ?11)
         WHERE id = ?1",
        params![
            conversation,
            state.mode.as_str(),
            state.stage.as_str(),
            state.stage_reason,
            handoff,
            last.map(|m| m.role.as_str()),
            last.map(|m| m.text.as_str()).unwrap_or(""),
            last.map(|m| m.at),
            state.waiting_since(),
            new_customer_message,
            state.updated_at,
        ],
    )?;
    Ok(())
}

fn write_lead_field(
    tx: &Transaction<'_>,
    conversation: i64,
    field: &str,
    value: &str,
    source: FieldSource,
    confidence: f32,
    at: Millis,
) -> Result<(), StoreError> {
    let (lead_id, external_key): (i64, String) = tx.query_row(
        "SELECT id, external_key FROM leads WHERE conversation_id = ?1",
        [conversation],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    tx.execute(
        "INSERT INTO lead_fields (lead_id, field, value, source, confidence, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (lead_id, field) DO UPDATE SET value = excluded.value,
             source = excluded.source, confidence = excluded.confidence,
             updated_at = excluded.updated_at",
        params![lead_id, field, value, source.as_str(), f64::from(confidence), at],
    )?;
    tx.execute(
        "UPDATE leads SET updated_at = max(updated_at, ?2) WHERE id = ?1",
        params![lead_id, at],
    )?;
    // A value that came from the CRM is already there: sending it back would only echo it.
    if source != FieldSource::Crm {
        crate::outbox::enqueue_upsert(tx, lead_id, &external_key, at)?;
    }
    Ok(())
}

fn audit_detail(event: &Event) -> serde_json::Value {
    match event {
        // Message text stays in the event log; the audit log records that it happened.
        Event::Message { role, text, .. } => {
            serde_json::json!({ "role": role.as_str(), "chars": text.chars().count() })
        }
        other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
    }
}
