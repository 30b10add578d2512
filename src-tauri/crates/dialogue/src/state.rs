use serde::{Deserialize, Serialize};

use crate::{Event, FieldValue, LeadProfile, Millis, Role};

/// How much the AI may do in a conversation. Draft is the default: nothing reaches a customer
/// without a person's approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Off,
    #[default]
    Draft,
    Auto,
}

/// The funnel stage of a conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    #[default]
    New,
    Engaged,
    Qualified,
    Proposal,
    Negotiation,
    Won,
    Lost,
    HandedOff,
}

/// Where the customer came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Widget,
    Webhook,
    Simulator,
    Call,
}

stable_names!(Mode { Off => "off", Draft => "draft", Auto => "auto" });
stable_names!(Stage {
    New => "new",
    Engaged => "engaged",
    Qualified => "qualified",
    Proposal => "proposal",
    Negotiation => "negotiation",
    Won => "won",
    Lost => "lost",
    HandedOff => "handed_off",
});
stable_names!(Channel {
    Widget => "widget",
    Webhook => "webhook",
    Simulator => "simulator",
    Call => "call",
});

/// One message in the thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub text: String,
    pub at: Millis,
}

/// The state of one conversation: a fold over its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    pub messages: Vec<Message>,
    pub lead: LeadProfile,
    pub stage: Stage,
    pub stage_reason: String,
    pub mode: Mode,
    /// Set while a hand-off is requested or a person has taken over.
    pub handoff: Option<Handoff>,
    /// Time of the last event applied.
    pub updated_at: Millis,
}

/// The hand-off status of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handoff {
    Requested { reason: String, at: Millis },
    Taken { at: Millis },
}

impl ConversationState {
    /// Rebuilds the state from the full event log.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Applies one event. Deterministic: the same events in the same order give the same state.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Message { role, text, at } => {
                self.messages.push(Message { role: *role, text: text.clone(), at: *at });
            }
            Event::FieldSet { field, value, source, confidence, at } => {
                self.lead.apply(
                    field,
                    FieldValue {
                        value: value.clone(),
                        source: *source,
                        confidence: *confidence,
                        at: *at,
                    },
                );
            }
            Event::StageChanged { to, reason, .. } => {
                self.stage = *to;
                self.stage_reason = reason.clone();
            }
            Event::ModeChanged { mode, .. } => self.mode = *mode,
            Event::HandoffRequested { reason, at } => {
                self.handoff = Some(Handoff::Requested { reason: reason.clone(), at: *at });
            }
            Event::HandoffTaken { at } => self.handoff = Some(Handoff::Taken { at: *at }),
            Event::HandoffReturned { .. } => self.handoff = None,
        }
        self.updated_at = self.updated_at.max(event.at());
    }

    /// Whether the sale is decided (won or lost): nobody is waiting on it any more.
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Won | Stage::Lost)
    }

    /// Since when the customer has been waiting for a reply: the first of their messages after
    /// the last reply. `None` once answered, or when the conversation is closed (won or lost).
    pub fn waiting_since(&self) -> Option<Millis> {
        if self.is_closed() {
            return None;
        }
        let last_reply = self.messages.iter().rposition(|m| m.role != Role::Customer);
        let first_unanswered = match last_reply {
            Some(i) => self.messages.get(i + 1),
            None => self.messages.first(),
        };
        first_unanswered.filter(|m| m.role == Role::Customer).map(|m| m.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldSource;

    fn events() -> Vec<Event> {
        vec![
            Event::Message {
                role: Role::Customer, text: "想要一台云服务器".into(), at: 10
            },
            Event::FieldSet {
                field: "need".into(),
                value: "云服务器".into(),
                source: FieldSource::Ai,
                confidence: 0.8,
                at: 11,
            },
            Event::Message {
                role: Role::Salesperson, text: "好的，预算多少？".into(), at: 20
            },
            Event::FieldSet {
                field: "need".into(),
                value: "云服务器+异地备份".into(),
                source: FieldSource::Salesperson,
                confidence: 1.0,
                at: 21,
            },
            Event::FieldSet {
                field: "need".into(),
                value: "ERP".into(),
                source: FieldSource::Ai,
                confidence: 0.7,
                at: 22,
            },
            Event::StageChanged { to: Stage::Engaged, reason: "customer replied".into(), at: 23 },
            Event::Message { role: Role::Customer, text: "5万以内".into(), at: 30 },
            Event::ModeChanged { mode: Mode::Off, at: 31 },
        ]
    }

    #[test]
    fn replay_reproduces_incremental_state() {
        let events = events();
        let mut incremental = ConversationState::default();
        for e in &events {
            incremental.apply(e);
        }
        assert_eq!(ConversationState::replay(&events), incremental);
        assert_eq!(incremental.lead.fields["need"].value, "云服务器+异地备份");
        assert_eq!(incremental.stage, Stage::Engaged);
        assert_eq!(incremental.mode, Mode::Off);
        assert_eq!(incremental.updated_at, 31);
    }

    #[test]
    fn waiting_since_is_the_first_unanswered_customer_message() {
        let state = ConversationState::replay(&events());
        assert_eq!(state.waiting_since(), Some(30));
        let mut answered = state.clone();
        answered.apply(&Event::Message { role: Role::Salesperson, text: "ok".into(), at: 40 });
        assert_eq!(answered.waiting_since(), None);
        let mut lost = state.clone();
        lost.apply(&Event::StageChanged {
            to: Stage::Lost,
            reason: "bought elsewhere".into(),
            at: 41,
        });
        assert_eq!(lost.waiting_since(), None, "a lost customer is not waiting");
    }

    #[test]
    fn handoff_lifecycle() {
        let mut state = ConversationState::default();
        state.apply(&Event::HandoffRequested { reason: "angry".into(), at: 1 });
        assert!(matches!(state.handoff, Some(Handoff::Requested { .. })));
        state.apply(&Event::HandoffTaken { at: 2 });
        assert_eq!(state.handoff, Some(Handoff::Taken { at: 2 }));
        state.apply(&Event::HandoffReturned { at: 3 });
        assert_eq!(state.handoff, None);
    }

    #[test]
    fn stable_names_round_trip_and_match_serde() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(*m));
            assert_eq!(serde_json::to_value(m).expect("json"), m.as_str());
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
    }
}
