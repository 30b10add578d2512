use serde::{Deserialize, Serialize};

use crate::{Action, Annotation, FieldSource, Focus, FocusChange, Millis, Mode, Stage};

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
    /// The NLU's reading of the customer message recorded just before it.
    Annotated { annotation: Annotation, at: Millis },
    /// The product or plan in focus was named, followed up on or corrected (see
    /// [`crate::focus::resolve`]). The focus carries its attributes, so replay needs no catalog.
    FocusSet { focus: Focus, change: FocusChange, at: Millis },
    /// A suggested reply was shown to the salesperson, with the policy's decision behind it.
    SuggestionOffered {
        id: String,
        text: String,
        action: Action,
        /// The lead field the reply asks for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// The objection (playbook key) the reply handles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        objection: Option<String>,
        /// The promotion (its id) the reply offers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        promotion: Option<String>,
        at: Millis,
    },
    /// The salesperson changed a suggestion's text before sending it.
    SuggestionEdited { id: String, text: String, at: Millis },
    /// A suggestion went to the customer, with the text actually sent: approved by a salesperson,
    /// or by the AI in auto mode. The message itself is recorded as a [`Event::Message`] too.
    SuggestionSent { id: String, text: String, by: Role, at: Millis },
    /// The salesperson discarded a suggestion.
    SuggestionRejected {
        id: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
        at: Millis,
    },
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
            | Event::HandoffReturned { at }
            | Event::Annotated { at, .. }
            | Event::FocusSet { at, .. }
            | Event::SuggestionOffered { at, .. }
            | Event::SuggestionEdited { at, .. }
            | Event::SuggestionSent { at, .. }
            | Event::SuggestionRejected { at, .. } => *at,
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
            Event::Annotated { .. } => "annotated",
            Event::FocusSet { .. } => "focus_set",
            Event::SuggestionOffered { .. } => "suggestion_offered",
            Event::SuggestionEdited { .. } => "suggestion_edited",
            Event::SuggestionSent { .. } => "suggestion_sent",
            Event::SuggestionRejected { .. } => "suggestion_rejected",
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
            Event::Annotated { annotation: Annotation::default(), at: 8 },
            Event::FocusSet {
                focus: Focus {
                    product: "SAAS".into(),
                    plan: Some("ent".into()),
                    name: "CRM 企业版".into(),
                    attributes: [("concurrency".to_owned(), "2000".to_owned())].into(),
                    asked: Some("price_year".into()),
                },
                change: FocusChange::Corrected,
                at: 9,
            },
            Event::SuggestionOffered {
                id: "s1".into(),
                text: "方便留个电话吗？".into(),
                action: Action::AskField,
                field: Some("phone".into()),
                objection: None,
                promotion: None,
                at: 10,
            },
            Event::SuggestionEdited { id: "s1".into(), text: "留个电话？".into(), at: 11 },
            Event::SuggestionSent {
                id: "s1".into(),
                text: "留个电话？".into(),
                by: Role::Salesperson,
                at: 12,
            },
            Event::SuggestionRejected { id: "s2".into(), reason: String::new(), at: 13 },
        ];
        for event in events {
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json["kind"], event.kind());
            let back: Event = serde_json::from_value(json).expect("round-trips");
            assert_eq!(back, event);
        }
    }

    /// The stored form of the events that existed before the dialogue engine: existing databases
    /// and the demo data hold exactly these strings, so they must keep parsing and serializing
    /// the same way.
    #[test]
    fn stored_forms_of_the_original_events_are_unchanged() {
        let stored = [
            r#"{"kind":"message","role":"customer","text":"你好","at":1}"#,
            r#"{"kind":"field_set","field":"budget","value":"5万","source":"ai","confidence":0.9,"at":2}"#,
            r#"{"kind":"stage_changed","to":"engaged","reason":"customer replied to the greeting","at":3}"#,
            r#"{"kind":"mode_changed","mode":"auto","at":4}"#,
            r#"{"kind":"handoff_requested","reason":"angry","at":5}"#,
            r#"{"kind":"handoff_taken","at":6}"#,
            r#"{"kind":"handoff_returned","at":7}"#,
        ];
        for json in stored {
            let event: Event = serde_json::from_str(json).expect("parses");
            assert_eq!(serde_json::to_string(&event).expect("serializes"), json);
        }
    }

    #[test]
    fn optional_suggestion_fields_may_be_absent() {
        let json = r#"{"kind":"suggestion_offered","id":"a","text":"hi","action":"engage","at":1}"#;
        let event: Event = serde_json::from_str(json).expect("parses");
        assert_eq!(serde_json::to_string(&event).expect("serializes"), json);
        let json = r#"{"kind":"suggestion_rejected","id":"a","at":2}"#;
        let event: Event = serde_json::from_str(json).expect("parses");
        assert_eq!(serde_json::to_string(&event).expect("serializes"), json);
    }
}
