//! What the console hears about without asking: a customer message stored (at once, before
//! anything reads it), the message understood (annotation, lead fields, stage and the policy's
//! decision stored), suggestions streaming in as the model writes them, and any other change to a
//! conversation (a reply sent, a mode switched). The shell forwards them to the window; tests and
//! the CLI subscribe directly.
//!
//! For one customer message the console hears, in this order: `customerMessage`, then
//! `messageAnalysed`, then the `suggestion` pieces, then `conversationUpdated` (the suggestions
//! stored, or an auto-mode reply sent). Every kind but `suggestion` means "re-read this
//! conversation", so a console that only knows `conversationUpdated` still shows everything.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use serde::Serialize;
use ts_rs::TS;

use crate::engine::{DecisionView, SuggestionStream};

/// One thing the console should know about.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AppEvent {
    /// Re-read this conversation (and the inbox row).
    #[serde(rename_all = "camelCase")]
    ConversationUpdated {
        #[ts(type = "number")]
        conversation_id: i64,
    },
    /// A customer message was stored (before the NLU reads it): show it now.
    #[serde(rename_all = "camelCase")]
    CustomerMessage {
        #[ts(type = "number")]
        conversation_id: i64,
        /// The message's time (its `MessageView.at`).
        #[ts(type = "number")]
        at: i64,
    },
    /// The customer message at `at` was understood: its annotation, the lead fields, focus,
    /// hand-off and stage it moved, and the policy's decision are stored.
    #[serde(rename_all = "camelCase")]
    MessageAnalysed {
        #[ts(type = "number")]
        conversation_id: i64,
        #[ts(type = "number")]
        at: i64,
        decision: DecisionView,
    },
    /// What became of a reply posted to a webhook platform's callback (`delivered`, or
    /// `failed` for good with an error code: `not_configured`, `refused`, `gave_up`). The reply
    /// itself is in the conversation either way.
    #[serde(rename_all = "camelCase")]
    ReplyDelivery {
        #[ts(type = "number")]
        conversation_id: i64,
        reply_id: String,
        state: String,
        code: Option<String>,
        message: Option<String>,
        attempts: u32,
    },
    /// A piece or the final form of a suggestion for this conversation.
    #[serde(rename_all = "camelCase")]
    Suggestion {
        #[ts(type = "number")]
        conversation_id: i64,
        stream: SuggestionStream,
    },
}

/// Fans events out to every subscriber; a subscriber that went away is dropped.
#[derive(Debug, Default)]
pub struct Bus {
    subscribers: Mutex<Vec<Sender<AppEvent>>>,
}

impl Bus {
    /// A new subscriber: it receives every event published from now on, in order.
    pub fn subscribe(&self) -> Receiver<AppEvent> {
        let (tx, rx) = channel();
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    pub fn publish(&self, event: AppEvent) {
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.send(event.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_hears_every_event_and_gone_ones_are_dropped() {
        let bus = Bus::default();
        let a = bus.subscribe();
        let b = bus.subscribe();
        bus.publish(AppEvent::ConversationUpdated { conversation_id: 1 });
        drop(b);
        bus.publish(AppEvent::ConversationUpdated { conversation_id: 2 });
        let got: Vec<AppEvent> = a.try_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(bus.subscribers.lock().expect("lock").len(), 1);
    }
}
