//! Customer channels' bookkeeping: which conversation a channel's contact (a widget visitor, a
//! webhook sender, a simulated persona) belongs to, and which inbound message ids were already
//! taken, so a message delivered twice is ingested once; and where each reply posted to a
//! webhook platform stands, so one still waiting when the app stops is posted when it starts.

use closer_dialogue::Channel;
use rusqlite::{OptionalExtension, params};

use crate::{NewConversation, Store, StoreError};

impl Store {
    /// The conversation of `contact` on `new.channel`, created (with its lead) on first contact.
    /// Returns the id and whether it was created now.
    pub fn contact_conversation(
        &self,
        contact: &str,
        new: &NewConversation,
    ) -> Result<(i64, bool), StoreError> {
        if let Some(id) = self.find_contact(new.channel, contact)? {
            return Ok((id, false));
        }
        let id = self.create_conversation(new)?;
        let inserted = self.conn().execute(
            "INSERT OR IGNORE INTO channel_contacts (channel, contact, conversation_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![new.channel.as_str(), contact, id, new.at],
        )?;
        if inserted == 1 {
            return Ok((id, true));
        }
        // Another caller mapped the contact first: theirs stands, ours goes.
        self.conn().execute("DELETE FROM conversations WHERE id = ?1", params![id])?;
        let id = self
            .find_contact(new.channel, contact)?
            .ok_or_else(|| StoreError::BadValue(format!("contact {contact:?} vanished")))?;
        Ok((id, false))
    }

    /// The conversation mapped to `contact` on `channel`, if any.
    pub fn find_contact(&self, channel: Channel, contact: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT conversation_id FROM channel_contacts WHERE channel = ?1 AND contact = ?2",
                params![channel.as_str(), contact],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Takes inbound message `message_id` of `source` for `conversation_id`: true the first
    /// time, false when it was taken before (a redelivery).
    pub fn claim_inbound(
        &self,
        source: &str,
        message_id: &str,
        conversation_id: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO channel_inbound (source, message_id, conversation_id, received_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![source, message_id, conversation_id, at],
        )?;
        Ok(n == 1)
    }

    /// Takes inbound message `message_id` of `source` and appends `event` (the customer's
    /// message) to `conversation_id`, in ONE transaction: true when both happened, false (and
    /// nothing stored) when the id was taken before. A crash cannot leave a claimed id without
    /// its message, so a redelivery after a restart is never wrongly a duplicate.
    pub fn record_inbound(
        &self,
        source: &str,
        message_id: &str,
        conversation_id: i64,
        event: &closer_dialogue::Event,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx.execute(
            "INSERT OR IGNORE INTO channel_inbound (source, message_id, conversation_id, received_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![source, message_id, conversation_id, event.at()],
        )?;
        if claimed == 0 {
            return Ok(false);
        }
        crate::conversations::append_events(
            &tx,
            conversation_id,
            std::slice::from_ref(event),
            actor,
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The channel contact a conversation belongs to (`(channel, contact key)`), if it came
    /// from a channel.
    pub fn contact_of(
        &self,
        conversation_id: i64,
    ) -> Result<Option<(Channel, String)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT channel, contact FROM channel_contacts WHERE conversation_id = ?1",
                params![conversation_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(channel, contact)| Some((Channel::parse(&channel)?, contact))))
    }

    /// Gives a claimed message id back (its message could not be ingested), so a retry is
    /// taken.
    pub fn release_inbound(&self, source: &str, message_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM channel_inbound WHERE source = ?1 AND message_id = ?2",
            params![source, message_id],
        )?;
        Ok(())
    }
}

/// Where a reply posted to a webhook platform stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReplyRow {
    pub reply_id: String,
    pub conversation_id: i64,
    /// The reply message's time.
    pub message_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// Why it failed for good.
    pub code: Option<String>,
    pub updated_at: i64,
}

impl Store {
    /// Records where reply `row.reply_id` stands (replacing what was recorded before). A
    /// conversation that no longer exists (erased meanwhile) records nothing.
    pub fn record_webhook_reply(&self, row: &WebhookReplyRow) -> Result<(), StoreError> {
        if !matches!(row.state.as_str(), "pending" | "delivered" | "failed") {
            return Err(StoreError::BadValue(format!("reply state {:?}", row.state)));
        }
        self.conn().execute(
            "INSERT INTO webhook_replies
                 (reply_id, conversation_id, message_at, state, attempts, code, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?2)
             ON CONFLICT (reply_id) DO UPDATE SET
                 state = excluded.state, attempts = excluded.attempts, code = excluded.code,
                 updated_at = excluded.updated_at",
            params![
                row.reply_id,
                row.conversation_id,
                row.message_at,
                row.state,
                row.attempts,
                row.code,
                row.updated_at
            ],
        )?;
        Ok(())
    }

    /// Conversations that came in through a channel whose latest message is a customer's, sent
    /// at or after `since` (those whose customer may be waiting for an answer), oldest first.
    pub fn channel_conversations_awaiting(&self, since: i64) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT c.id FROM conversations c JOIN channel_contacts cc ON cc.conversation_id = c.id
             WHERE c.last_message_role = 'customer' AND c.last_message_at >= ?1
             ORDER BY c.last_message_at, c.id",
        )?;
        let ids = stmt.query_map([since], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Replies still waiting to be posted, oldest first.
    pub fn pending_webhook_replies(&self) -> Result<Vec<WebhookReplyRow>, StoreError> {
        self.webhook_replies("WHERE state = 'pending' ORDER BY updated_at, reply_id", [])
    }

    /// Where the replies of `conversation_id` stand, by their messages' time.
    pub fn conversation_webhook_replies(
        &self,
        conversation_id: i64,
    ) -> Result<Vec<WebhookReplyRow>, StoreError> {
        self.webhook_replies(
            "WHERE conversation_id = ?1 ORDER BY message_at, reply_id",
            [conversation_id],
        )
    }

    fn webhook_replies(
        &self,
        clause: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<WebhookReplyRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT reply_id, conversation_id, message_at, state, attempts, code, updated_at
             FROM webhook_replies {clause}"
        ))?;
        let rows = stmt.query_map(args, |r| {
            Ok(WebhookReplyRow {
                reply_id: r.get(0)?,
                conversation_id: r.get(1)?,
                message_at: r.get(2)?,
                state: r.get(3)?,
                attempts: r.get(4)?,
                code: r.get(5)?,
                updated_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(channel: Channel) -> NewConversation {
        NewConversation { channel, customer_name: "V".into(), language: "zh".into(), at: 1 }
    }

    #[test]
    fn a_contact_has_one_conversation_per_channel_and_ids_are_taken_once() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_in(dir.path()).expect("store");
        let (a, created) = store.contact_conversation("v1", &new(Channel::Widget)).expect("a");
        assert!(created);
        let (again, created) = store.contact_conversation("v1", &new(Channel::Widget)).expect("b");
        assert_eq!((again, created), (a, false));
        let (other, _) = store.contact_conversation("v1", &new(Channel::Webhook)).expect("c");
        assert_ne!(other, a);
        assert!(store.claim_inbound("wh:x", "m1", a, 1).expect("claim"));
        assert!(!store.claim_inbound("wh:x", "m1", a, 2).expect("again"));
        assert!(store.claim_inbound("wh:y", "m1", a, 2).expect("other source"));
        store.release_inbound("wh:x", "m1").expect("release");
        assert!(store.claim_inbound("wh:x", "m1", a, 3).expect("after release"));
        assert_eq!(store.contact_of(a).expect("contact"), Some((Channel::Widget, "v1".into())));
        assert_eq!(
            store.contact_of(other).expect("contact"),
            Some((Channel::Webhook, "v1".into()))
        );
    }

    #[test]
    fn an_inbound_message_is_claimed_and_stored_together_once() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_in(dir.path()).expect("store");
        let (id, _) = store.contact_conversation("v1", &new(Channel::Webhook)).expect("id");
        let message = |text: &str| closer_dialogue::Event::Message {
            role: closer_dialogue::Role::Customer,
            text: text.into(),
            at: 5,
        };
        assert!(store.record_inbound("wh:x", "m1", id, &message("hi"), "customer").expect("a"));
        assert!(!store.record_inbound("wh:x", "m1", id, &message("hi"), "customer").expect("b"));
        // A missing conversation fails the message and gives the claim back with it.
        assert!(store.record_inbound("wh:x", "m2", id + 99, &message("x"), "customer").is_err());
        assert!(store.claim_inbound("wh:x", "m2", id, 6).expect("m2 is free"));
        let texts: Vec<String> =
            store.state(id).expect("state").messages.into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["hi"]);
    }

    #[test]
    fn webhook_reply_states_are_kept_and_go_with_their_conversation() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_in(dir.path()).expect("store");
        let (id, _) = store.contact_conversation("wecom:a", &new(Channel::Webhook)).expect("id");
        let row = |reply: &str, state: &str, attempts, at| WebhookReplyRow {
            reply_id: reply.into(),
            conversation_id: id,
            message_at: 10,
            state: state.into(),
            attempts,
            code: (state == "failed").then(|| "gave_up".to_owned()),
            updated_at: at,
        };
        store.record_webhook_reply(&row("r-1", "pending", 0, 20)).expect("r-1");
        store.record_webhook_reply(&row("r-2", "pending", 0, 21)).expect("r-2");
        store.record_webhook_reply(&row("r-3", "pending", 0, 19)).expect("r-3");
        store.record_webhook_reply(&row("r-2", "delivered", 2, 30)).expect("r-2 delivered");
        store.record_webhook_reply(&row("r-3", "failed", 6, 31)).expect("r-3 failed");
        let pending = store.pending_webhook_replies().expect("pending");
        assert_eq!(pending, [row("r-1", "pending", 0, 20)]);
        let all = store.conversation_webhook_replies(id).expect("all");
        assert_eq!(all.len(), 3);
        assert_eq!(all[1], row("r-2", "delivered", 2, 30));
        assert_eq!(all[2], row("r-3", "failed", 6, 31));
        assert!(store.record_webhook_reply(&row("r-4", "lost", 0, 1)).is_err(), "a typed error");
        // A conversation that is gone records nothing; erasing one takes its rows.
        let gone = WebhookReplyRow { conversation_id: id + 99, ..row("r-5", "pending", 0, 1) };
        store.record_webhook_reply(&gone).expect("nothing to record");
        store.conn().execute("DELETE FROM conversations WHERE id = ?1", [id]).expect("erase");
        assert!(store.pending_webhook_replies().expect("pending").is_empty());
    }
}
