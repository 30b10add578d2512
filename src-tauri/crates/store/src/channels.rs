//! Customer channels' bookkeeping: which conversation a channel's contact (a widget visitor, a
//! webhook sender, a simulated persona) belongs to, and which inbound message ids were already
//! taken, so a message delivered twice is ingested once.

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
    }
}
