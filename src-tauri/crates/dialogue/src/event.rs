use serde::{Deserialize, Serialize};

use crate::{FieldSource, Millis, Mode, Stage};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer (untrusted text).
    Customer,
    /// A salesperson, typing or approving a suggestion.
    Salesperson,
    /// Sent without a person's approval because the conversation was in auto mode.
    Ai,
    /// A notice from Closer itself (hand-off, mode change shown in the thread).
    System,
}

stable_names!(Role {
    Customer => "customer",
    Salesperson => "salesperson",
    Ai => "ai",
    System => "system",
});

/// Something that happened in a conversation. The stored event log is the source of truth; the
/// state is derived from it by [`crate::ConversationState::apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message from the customer or to the customer.
    Message { role: Role, text: String, at: Millis },
    /// A lead field was given a value (the provenance rule has already accepted it).
    FieldSet { field: String, value: String, source: FieldSource, confidence: f32, at: Millis },
    /// The funnel stage moved, with the rule that moved it.
    StageChanged { to: Stage, reason: String, at: Millis },
    /// The salesperson switched the AI off, to drafting, or to auto.
    ModeChanged { mode: Mode, at: Millis },
    /// The engine or the customer asked for a person.
    HandoffRequested { reason: String, at: Millis },
    /// A person took the conversation over.
    HandoffTaken { at: Millis },
    /// The person handed the conversation back to the AI.
    HandoffReturned { at: Millis },
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> Millis {
        match self {
            Event::Message { at, .. }
            | Event::FieldSet { at, .. }
            | Event::StageChanged { at, .. }
            | Event::ModeChanged { at, .. }
            | Event::HandoffRequested { at, .. }
            | Event::HandoffTaken { at }
            | Event::HandoffReturned { at } => *at,
        }
    }

    /// The stable name stored beside the JSON payload (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Message { .. } => "message",
            Event::FieldSet { .. } => "field_set",
            Event::StageChanged { .. } => "stage_changed",
            Event::ModeChanged { .. } => "mode_changed",
            Event::HandoffRequested { .. } => "handoff_requested",
            Event::HandoffTaken { .. } => "handoff_taken",
            Event::HandoffReturned { .. } => "handoff_returned",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serde_tag() {
        let events = [
            Event::Message { role: Role::Customer, text: "你好".into(), at: 1 },
            Event::FieldSet {
                field: "budget".into(),
                value: "5万".into(),
                source: FieldSource::Ai,
                confidence: 0.9,
                at: 2,
            },
            Event::StageChanged { to: Stage::Engaged, reason: "replied".into(), at: 3 },
            Event::ModeChanged { mode: Mode::Auto, at: 4 },
            Event::HandoffRequested { reason: "angry".into(), at: 5 },
            Event::HandoffTaken { at: 6 },
            Event::HandoffReturned { at: 7 },
        ];
        for event in events {
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json["kind"], event.kind());
            let back: Event = serde_json::from_value(json).expect("round-trips");
            assert_eq!(back, event);
        }
    }
}
