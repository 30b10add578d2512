//! How a reply reaches the customer: each channel (the chat widget, the webhook's platform, the
//! simulator) registers a sink, and every message sent to a customer — a salesperson's reply, an
//! approved suggestion, an auto-mode send — goes to the sink of its conversation's channel after
//! it is stored. A channel with no sink (nothing listening) keeps the message in the thread; the
//! channel shows it when the customer reconnects.

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
