//! What the console hears about without asking: a conversation changed (a customer wrote, the
//! engine recorded a turn, a reply was sent), and suggestions streaming in as the model writes
//! them. The shell forwards them to the window; tests and the CLI subscribe directly.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use serde::Serialize;
use ts_rs::TS;

use crate::engine::SuggestionStream;

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
