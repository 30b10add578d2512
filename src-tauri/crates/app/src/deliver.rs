//! How a reply reaches the customer: each channel (the chat widget, the webhook's platform, the
//! simulator) registers a sink, and every message sent to a customer — a salesperson's reply, an
//! approved suggestion, an auto-mode send — goes to the sink of its conversation's channel after
//! it is stored. Only those paths call a sink, so nothing reaches a customer that the
//! conversation's mode or a person did not allow. A channel with no sink (nothing listening)
//! keeps the message in the thread; the widget shows it when the customer reconnects. The
//! webhook's sink posts to the platform's callback URL (`closer_channels::callback`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use closer_dialogue::{Channel, Role};

/// A reply on its way to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub conversation_id: i64,
    pub text: String,
    /// `salesperson` or `ai` (auto mode).
    pub by: Role,
    pub at: i64,
}

impl Outgoing {
    /// A stored message of `conversation_id` as a reply to its customer; `None` for the
    /// customer's own messages and system lines.
    pub fn of(conversation_id: i64, message: &closer_dialogue::Message) -> Option<Outgoing> {
        matches!(message.role, Role::Salesperson | Role::Ai).then(|| Outgoing {
            conversation_id,
            text: message.text.clone(),
            by: message.role,
            at: message.at,
        })
    }

    /// The reply's stable id (a platform's idempotency key): the same for the same stored
    /// reply, whoever asks and however often — conversation, time, author and a digest of the
    /// text.
    pub fn reply_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{}\n{}", self.by.as_str(), self.text).as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("r-{}-{}-{hex}", self.conversation_id, self.at)
    }
}

/// Receives the replies of one channel. Must not block: hand the message to the channel's own
/// task and return.
pub trait CustomerSink: Send + Sync + std::fmt::Debug {
    fn deliver(&self, outgoing: &Outgoing);
}

/// The sinks, by channel.
#[derive(Debug, Default)]
pub struct Deliveries {
    sinks: RwLock<HashMap<Channel, Arc<dyn CustomerSink>>>,
}

impl Deliveries {
    /// Replies to conversations of `channel` go to `sink` from now on (replacing any before).
    pub fn register(&self, channel: Channel, sink: Arc<dyn CustomerSink>) {
        self.sinks.write().unwrap_or_else(|p| p.into_inner()).insert(channel, sink);
    }

    pub fn unregister(&self, channel: Channel) {
        self.sinks.write().unwrap_or_else(|p| p.into_inner()).remove(&channel);
    }

    /// Hands `outgoing` to its channel's sink; false when the channel has none.
    pub fn deliver(&self, channel: Channel, outgoing: &Outgoing) -> bool {
        let sink = self.sinks.read().unwrap_or_else(|p| p.into_inner()).get(&channel).cloned();
        match sink {
            Some(sink) => {
                sink.deliver(outgoing);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_id_is_stable_and_tells_replies_apart() {
        let reply =
            Outgoing { conversation_id: 7, text: "您好".into(), by: Role::Salesperson, at: 42 };
        assert_eq!(reply.reply_id(), reply.clone().reply_id());
        assert!(reply.reply_id().starts_with("r-7-42-"));
        let edited = Outgoing { text: "您好！".into(), ..reply.clone() };
        let by_ai = Outgoing { by: Role::Ai, ..reply.clone() };
        assert_ne!(edited.reply_id(), reply.reply_id());
        assert_ne!(by_ai.reply_id(), reply.reply_id());
    }
}
