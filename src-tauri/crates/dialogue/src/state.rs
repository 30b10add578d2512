use serde::{Deserialize, Serialize};

use crate::nlu::intents;
use crate::{
    Action, Annotation, Cue, Event, FieldSource, FieldValue, Focus, FocusChange, IntentScore,
    LeadProfile, Millis, Role, SentimentScore,
};

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
#[serde(default)]
pub struct ConversationState {
    pub messages: Vec<Message>,
    pub lead: LeadProfile,
    pub stage: Stage,
    /// Why the stage last moved: a [`crate::StageReason`] name (older events hold prose).
    pub stage_reason: String,
    pub mode: Mode,
    /// Set while a hand-off is requested or a person has taken over.
    pub handoff: Option<Handoff>,
    /// Time of the last event applied.
    pub updated_at: Millis,

    /// Each annotated customer turn: intents and sentiment, in order.
    pub turns: Vec<Turn>,
    /// Customer turns in a row that the NLU could not place (no intent above threshold).
    pub misunderstandings: u32,
    /// The product or plan being talked about.
    pub focus: Option<Focus>,
    /// How often the customer corrected the focus.
    pub focus_corrections: u32,
    /// Questions the customer asked that no reply has followed yet.
    pub open_questions: Vec<OpenQuestion>,
    /// Replies that followed a customer question.
    pub questions_answered: u32,
    /// Whether the customer has been given something of value (an answer, a product presented, an
    /// objection handled or a promotion offered): before that, no lead field is asked for.
    pub value_given: bool,
    /// The product last presented to the customer in a reply (and whether with its price).
    pub presented: Option<Presented>,
    /// The suggestions offered in the conversation, in order, with what became of them.
    pub suggestions: Vec<Suggestion>,
    /// The action of the last suggestion sent.
    pub last_action: Option<ActionTaken>,
    /// The lead fields asked for, in order, and when.
    pub fields_asked: Vec<FieldAsk>,
    /// The promotions offered, in order.
    pub promotions_offered: Vec<PromotionOffer>,
    /// The customer turn count when a closing reply was last sent.
    pub close_sent_turn: Option<u32>,
    /// The customer turn count when the stage last moved.
    pub stage_turn: u32,
    /// The stage before a hand-off, to return to when the person hands back.
    pub stage_before_handoff: Option<Stage>,
}

/// One annotated customer turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub at: Millis,
    pub intents: Vec<IntentScore>,
    pub top_intent: Option<IntentScore>,
    pub sentiment: SentimentScore,
    pub language: String,
    /// The rules understood the message whatever the intent head made of it: it named or followed
    /// up on a catalog product, gave a lead-field value (an AI value recorded with the turn), or
    /// its wording says what it is ([`Turn::cue`]).
    #[serde(default)]
    pub resolved: bool,
    /// What the wording alone says ([`crate::cues::read`]): an acknowledgement, a deferral …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cue: Option<Cue>,
}

impl Turn {
    fn of(annotation: &Annotation, at: Millis) -> Self {
        Turn {
            at,
            intents: annotation.intents.clone(),
            top_intent: annotation.top_intent.clone(),
            sentiment: annotation.sentiment,
            language: annotation.language.clone(),
            resolved: false,
            cue: None,
        }
    }

    /// Whether `label` is among the turn's intents.
    pub fn has(&self, label: &str) -> bool {
        self.intents.iter().any(|i| i.label == label)
    }

    /// Whether `label` is among the turn's intents and the NLU was fairly sure of it
    /// ([`crate::policy::LIKELY`]).
    pub fn likely(&self, label: &str) -> bool {
        self.intents.iter().any(|i| i.label == label && i.confidence >= crate::policy::LIKELY)
    }

    /// The NLU could not place the message, or was less sure than `threshold`, and the rules
    /// did not understand it either ([`Turn::resolved`]) nor was the sentiment head sure the
    /// customer hesitates (a reading the policy acts on).
    pub fn misunderstood(&self, threshold: f32) -> bool {
        let top = self.top_intent.as_ref().or(self.intents.first());
        let hesitates = self.sentiment.label == crate::Sentiment::Hesitant
            && self.sentiment.confidence >= threshold;
        !self.resolved
            && !hesitates
            && (self.intents.is_empty() || top.is_none_or(|t| t.confidence < threshold))
    }

    /// Whether the turn shows interest in buying: an interest intent the NLU is fairly sure of.
    pub(crate) fn shows_interest(&self) -> bool {
        self.intents.iter().chain(&self.top_intent).any(|i| {
            i.confidence >= crate::policy::LIKELY && intents::INTEREST.contains(&i.label.as_str())
        })
    }
}

/// A question the customer asked that has not been replied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenQuestion {
    /// The question intent (`price_inquiry`, …).
    pub intent: String,
    /// The attribute asked about (`price_year`), when the focus resolution found one.
    #[serde(default)]
    pub attribute: Option<String>,
    pub at: Millis,
}

/// A product presented to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presented {
    pub product: String,
    pub plan: Option<String>,
    /// The reply answered a price question.
    pub priced: bool,
    pub at: Millis,
}

/// What became of a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionStatus {
    Offered,
    Edited,
    Sent,
    Rejected,
}

stable_names!(SuggestionStatus {
    Offered => "offered",
    Edited => "edited",
    Sent => "sent",
    Rejected => "rejected",
});

/// A suggested reply and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub id: String,
    /// The text as offered.
    pub offered_text: String,
    /// The text now (edited, or as sent).
    pub text: String,
    pub action: Action,
    pub field: Option<String>,
    pub objection: Option<String>,
    pub promotion: Option<String>,
    pub status: SuggestionStatus,
    /// Who sent it (a salesperson, or the AI in auto mode).
    pub sent_by: Option<Role>,
    pub offered_at: Millis,
    /// When it was last edited, sent or rejected.
    pub decided_at: Option<Millis>,
}

/// The action of a suggestion that was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub action: Action,
    pub field: Option<String>,
    pub objection: Option<String>,
    pub promotion: Option<String>,
    /// The customer turn count when it was sent.
    pub turn: u32,
    pub at: Millis,
}

/// A lead field asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAsk {
    pub field: String,
    /// The customer turn count when the question was sent.
    pub turn: u32,
    pub at: Millis,
}

/// A promotion offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionOffer {
    pub id: String,
    pub at: Millis,
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
                if matches!(role, Role::Salesperson | Role::Ai) {
                    self.note_reply(*at);
                }
            }
            Event::FieldSet { field, value, source, confidence, at } => {
                if *source == FieldSource::Ai {
                    self.note_resolved(*at);
                    if field == crate::stage::BUDGET_FIELD {
                        self.note_budget_stated(*at);
                    }
                }
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
                if *to == Stage::HandedOff {
                    if self.stage != Stage::HandedOff {
                        self.stage_before_handoff = Some(self.stage);
                    }
                } else {
                    self.stage_before_handoff = None;
                }
                self.stage = *to;
                self.stage_reason = reason.clone();
                self.stage_turn = self.turn_count();
            }
            Event::ModeChanged { mode, .. } => self.mode = *mode,
            Event::HandoffRequested { reason, at } => {
                self.handoff = Some(Handoff::Requested { reason: reason.clone(), at: *at });
            }
            Event::HandoffTaken { at } => self.handoff = Some(Handoff::Taken { at: *at }),
            Event::HandoffReturned { .. } => self.handoff = None,
            Event::Annotated { annotation, at } => self.note_turn(annotation, *at),
            Event::FocusSet { focus, change, at } => {
                if *change == FocusChange::Corrected {
                    self.focus_corrections += 1;
                }
                let interested =
                    self.turns.last().is_some_and(|t| t.at == *at && t.shows_interest());
                // "What does the Team plan include?": a product named in a question.
                let asked =
                    self.customer_message_at(*at).is_some_and(|m| crate::focus::asks(&m.text));
                let presenting = match change {
                    // What was said about the wrong product needs saying about the right one.
                    FocusChange::Corrected => true,
                    // A product brought up with interest ("我想给我爸妈买个冰箱") or in a question is
                    // to be presented.
                    FocusChange::Mentioned => interested || asked,
                    FocusChange::FollowUp => false,
                };
                // An attribute named in a question, in a correction (the question carries over)
                // or alongside a question the NLU read in the message is asked about; named in a
                // statement ("安装师傅很专业") it is not.
                let question = !self.open_questions.is_empty();
                let attribute = focus
                    .asked
                    .as_deref()
                    .filter(|_| asked || question || *change == FocusChange::Corrected);
                if let Some(attribute) = attribute {
                    self.note_attribute_question(attribute, *at);
                } else if presenting && self.open_questions.is_empty() {
                    self.open_questions.push(OpenQuestion {
                        intent: intents::PRODUCT_INQUIRY.to_owned(),
                        attribute: None,
                        at: *at,
                    });
                }
                // A product named is understood; a follow-up only when it asks about the product.
                if *change != FocusChange::FollowUp || attribute.is_some() {
                    self.note_resolved(*at);
                }
                self.focus = Some(focus.clone());
            }
            Event::SuggestionOffered { id, text, action, field, objection, promotion, at } => {
                let suggestion = Suggestion {
                    id: id.clone(),
                    offered_text: text.clone(),
                    text: text.clone(),
                    action: *action,
                    field: field.clone(),
                    objection: objection.clone(),
                    promotion: promotion.clone(),
                    status: SuggestionStatus::Offered,
                    sent_by: None,
                    offered_at: *at,
                    decided_at: None,
                };
                match self.suggestions.iter_mut().find(|s| s.id == *id) {
                    Some(existing) => *existing = suggestion,
                    None => self.suggestions.push(suggestion),
                }
            }
            Event::SuggestionEdited { id, text, at } => {
                if let Some(s) = self.suggestion_mut(id) {
                    s.text = text.clone();
                    s.status = SuggestionStatus::Edited;
                    s.decided_at = Some(*at);
                }
            }
            Event::SuggestionRejected { id, at, .. } => {
                if let Some(s) = self.suggestion_mut(id) {
                    s.status = SuggestionStatus::Rejected;
                    s.decided_at = Some(*at);
                }
            }
            Event::SuggestionSent { id, text, by, at } => self.note_sent(id, text, *by, *at),
        }
        self.updated_at = self.updated_at.max(event.at());
    }

    /// The number of annotated customer turns so far.
    pub fn turn_count(&self) -> u32 {
        u32::try_from(self.turns.len()).unwrap_or(u32::MAX)
    }

    /// The last annotated customer turn.
    pub fn last_turn(&self) -> Option<&Turn> {
        self.turns.last()
    }

    /// Customer turns since a field was last asked for (`None`: never asked).
    pub fn turns_since_ask(&self) -> Option<u32> {
        self.fields_asked.last().map(|a| self.turn_count().saturating_sub(a.turn))
    }

    /// Misunderstood customer turns in a row, ending with the last one.
    pub fn misunderstood_streak(&self, threshold: f32) -> u32 {
        let n = self.turns.iter().rev().take_while(|t| t.misunderstood(threshold)).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A lead field with a non-empty value.
    pub fn knows(&self, field: &str) -> bool {
        self.lead.fields.get(field).is_some_and(|v| !v.value.trim().is_empty())
    }

    fn suggestion_mut(&mut self, id: &str) -> Option<&mut Suggestion> {
        self.suggestions.iter_mut().find(|s| s.id == id)
    }

    /// The customer message written at `at` (a customer message's time is unique in its
    /// conversation). Looked up by time, not taken as the last message: the customer's next
    /// message may be stored before this one's analysis, and the fold must not depend on that.
    fn customer_message_at(&self, at: Millis) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.role == Role::Customer && m.at == at)
    }

    /// Something the rules understood came with the customer turn written at `at`.
    fn note_resolved(&mut self, at: Millis) {
        if let Some(turn) = self.turns.last_mut().filter(|t| t.at == at) {
            turn.resolved = true;
        }
    }

    /// The customer stated their budget in the message written at `at`: if the message is not
    /// worded as a question, the price question the NLU read in it ("我们预算一个月300左右" as a
    /// price inquiry) is the budget statement misread, and no question is open.
    fn note_budget_stated(&mut self, at: Millis) {
        let statement = self.customer_message_at(at).is_some_and(|m| !crate::focus::asks(&m.text));
        if statement {
            self.open_questions.retain(|q| {
                !(q.at == at && q.intent == intents::PRICE_INQUIRY && q.attribute.is_none())
            });
        }
    }

    fn note_turn(&mut self, annotation: &Annotation, at: Millis) {
        let mut turn = Turn::of(annotation, at);
        // The wording's own reading: a message it places is understood.
        turn.cue = self.customer_message_at(at).and_then(|m| crate::cues::read(&m.text));
        turn.resolved = turn.cue.is_some();
        if turn.intents.is_empty() {
            self.misunderstandings += 1;
        } else {
            self.misunderstandings = 0;
        }
        // A question the NLU is fairly sure of is open until a reply follows it.
        for intent in turn.intents.iter().filter(|i| i.confidence >= crate::policy::LIKELY) {
            let question = intents::QUESTIONS.contains(&intent.label.as_str());
            if question && !self.open_questions.iter().any(|q| q.intent == intent.label) {
                self.open_questions.push(OpenQuestion {
                    intent: intent.label.clone(),
                    attribute: None,
                    at,
                });
            }
        }
        // A payment question is one even when the NLU placed no question in it.
        if turn.cue == Some(Cue::PaymentQuestion) && self.open_questions.is_empty() {
            self.open_questions.push(OpenQuestion {
                intent: intents::AFTER_SALES.to_owned(),
                attribute: None,
                at,
            });
        }
        self.turns.push(turn);
    }

    /// The focus resolution found an attribute question: it qualifies the open questions, or is
    /// one when the NLU saw none.
    fn note_attribute_question(&mut self, attribute: &str, at: Millis) {
        if self.open_questions.is_empty() {
            let intent = if crate::focus::is_price_attribute(attribute) {
                intents::PRICE_INQUIRY
            } else {
                intents::FEATURE_QUESTION
            };
            self.open_questions.push(OpenQuestion {
                intent: intent.to_owned(),
                attribute: Some(attribute.to_owned()),
                at,
            });
        } else {
            for q in self.open_questions.iter_mut().filter(|q| q.attribute.is_none()) {
                q.attribute = Some(attribute.to_owned());
            }
        }
    }

    /// A reply went to the customer: it answers the open questions, and presents the product in
    /// focus if they were about it.
    fn note_reply(&mut self, at: Millis) {
        if self.open_questions.is_empty() {
            return;
        }
        self.questions_answered += 1;
        self.value_given = true;
        if let Some(focus) = &self.focus {
            let priced = self.open_questions.iter().any(|q| {
                q.intent == intents::PRICE_INQUIRY
                    || q.attribute.as_deref().is_some_and(crate::focus::is_price_attribute)
            });
            self.presented = Some(Presented {
                product: focus.product.clone(),
                plan: focus.plan.clone(),
                priced,
                at,
            });
        }
        self.open_questions.clear();
    }

    fn note_sent(&mut self, id: &str, text: &str, by: Role, at: Millis) {
        let turn = self.turn_count();
        let Some(s) = self.suggestion_mut(id) else {
            // Not offered in this log (should not happen): still a reply.
            self.note_reply(at);
            return;
        };
        s.text = text.to_owned();
        s.status = SuggestionStatus::Sent;
        s.sent_by = Some(by);
        s.decided_at = Some(at);
        let taken = ActionTaken {
            action: s.action,
            field: s.field.clone(),
            objection: s.objection.clone(),
            promotion: s.promotion.clone(),
            turn,
            at,
        };
        if let Some(field) = &taken.field {
            self.fields_asked.push(FieldAsk { field: field.clone(), turn, at });
        }
        if let Some(id) = &taken.promotion {
            self.promotions_offered.push(PromotionOffer { id: id.clone(), at });
        }
        if taken.action.gives_value() {
            self.value_given = true;
        }
        if taken.action == Action::Close {
            self.close_sent_turn = Some(turn);
        }
        self.last_action = Some(taken);
        self.note_reply(at);
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

    fn annotated(labels: &[&str], at: Millis) -> Event {
        let intents: Vec<IntentScore> = labels
            .iter()
            .map(|l| IntentScore { label: (*l).to_owned(), confidence: 0.9 })
            .collect();
        Event::Annotated {
            annotation: Annotation {
                top_intent: intents.first().cloned(),
                intents,
                ..Annotation::default()
            },
            at,
        }
    }

    fn offered(id: &str, action: Action, field: Option<&str>, promotion: Option<&str>) -> Event {
        Event::SuggestionOffered {
            id: id.into(),
            text: format!("text of {id}"),
            action,
            field: field.map(Into::into),
            objection: None,
            promotion: promotion.map(Into::into),
            at: 0,
        }
    }

    #[test]
    fn turns_record_intents_and_count_misunderstandings_in_a_row() {
        let mut state = ConversationState::default();
        state.apply(&annotated(&[], 1));
        state.apply(&annotated(&[], 2));
        assert_eq!(state.misunderstandings, 2);
        assert_eq!(state.misunderstood_streak(0.8), 2);
        state.apply(&annotated(&["greeting"], 3));
        assert_eq!(state.misunderstandings, 0);
        assert_eq!(state.misunderstood_streak(0.8), 0);
        assert_eq!(state.misunderstood_streak(0.95), 3, "0.9 is below a 0.95 threshold");
        assert_eq!(state.turn_count(), 3);
        assert!(state.last_turn().is_some_and(|t| t.has("greeting")));
    }

    #[test]
    fn a_reply_answers_open_questions_and_presents_the_focus() {
        let mut state = ConversationState::default();
        state.apply(&annotated(&["price_inquiry", "greeting"], 1));
        assert_eq!(state.open_questions.len(), 1);
        assert!(!state.value_given);
        state.apply(&Event::FocusSet {
            focus: Focus {
                product: "SAAS".into(),
                plan: Some("team".into()),
                name: "团队版".into(),
                attributes: Default::default(),
                asked: Some("price_year".into()),
            },
            change: FocusChange::Mentioned,
            at: 2,
        });
        assert_eq!(state.open_questions[0].attribute.as_deref(), Some("price_year"));
        state.apply(&Event::Message { role: Role::Salesperson, text: "12.8万/年".into(), at: 3 });
        assert!(state.open_questions.is_empty());
        assert!(state.value_given);
        assert_eq!(state.questions_answered, 1);
        assert_eq!(
            state.presented,
            Some(Presented {
                product: "SAAS".into(),
                plan: Some("team".into()),
                priced: true,
                at: 3
            })
        );
        state.apply(&Event::Message { role: Role::Salesperson, text: "还有吗".into(), at: 4 });
        assert_eq!(state.questions_answered, 1, "nothing more was asked");
    }

    /// The customer's message at `at`, read as small talk, then a follow-up on the fridge's
    /// warranty.
    fn warranty_follow_up(text: &str, at: Millis) -> Vec<Event> {
        vec![
            Event::Message { role: Role::Customer, text: text.into(), at },
            annotated(&["chit_chat"], at),
            Event::FocusSet {
                focus: Focus {
                    product: "FRIDGE".into(),
                    plan: None,
                    name: "冰箱".into(),
                    attributes: Default::default(),
                    asked: Some("warranty".into()),
                },
                change: FocusChange::FollowUp,
                at,
            },
        ]
    }

    #[test]
    fn an_attribute_question_the_nlu_missed_is_still_an_open_question() {
        let state = ConversationState::replay(&warranty_follow_up("保修几年", 2));
        assert_eq!(state.open_questions, [], "no question without asking");
        for asked in ["保修几年？", "保修多少年", "Is the warranty included", "介绍一下保修"]
        {
            let state = ConversationState::replay(&warranty_follow_up(asked, 2));
            assert_eq!(
                state.open_questions,
                [OpenQuestion {
                    intent: "feature_question".into(),
                    attribute: Some("warranty".into()),
                    at: 2
                }],
                "{asked}"
            );
            assert!(state.last_turn().is_some_and(|t| t.resolved), "{asked}");
        }
    }

    #[test]
    fn an_attribute_named_in_a_statement_is_no_question() {
        let state = ConversationState::replay(&warranty_follow_up("保修这块我们很看重", 2));
        assert!(state.open_questions.is_empty());
        assert!(
            !state.last_turn().is_some_and(|t| t.resolved),
            "a statement about the product in focus is not understood as a question"
        );
    }

    #[test]
    fn a_budget_statement_is_no_price_question() {
        let stated = |text: &str| {
            let events = [
                Event::Message { role: Role::Customer, text: text.into(), at: 5 },
                annotated(&["provide_requirement", "price_inquiry"], 5),
                Event::FieldSet {
                    field: "budget".into(),
                    value: "300 CNY".into(),
                    source: FieldSource::Ai,
                    confidence: 0.9,
                    at: 5,
                },
            ];
            ConversationState::replay(&events).open_questions
        };
        assert_eq!(stated("我们预算一个月300左右"), [], "the price reading was the budget");
        assert_eq!(stated("预算300，一个月多少钱？")[0].intent, "price_inquiry");
    }

    #[test]
    fn a_correction_is_a_question_about_the_right_product() {
        let focus = |plan: &str| Focus {
            product: "CVM".into(),
            plan: Some(plan.into()),
            name: plan.into(),
            attributes: Default::default(),
            asked: None,
        };
        let mut state = ConversationState::default();
        state.apply(&annotated(&["chit_chat"], 1));
        state.apply(&Event::FocusSet { focus: focus("s2"), change: FocusChange::Mentioned, at: 1 });
        assert!(state.open_questions.is_empty(), "a mention alone asks nothing");
        state.apply(&annotated(&["chit_chat"], 2));
        state.apply(&Event::FocusSet { focus: focus("s8"), change: FocusChange::Corrected, at: 2 });
        assert_eq!(
            state.open_questions,
            [OpenQuestion { intent: "product_inquiry".into(), attribute: None, at: 2 }]
        );
        state.apply(&Event::Message { role: Role::Salesperson, text: "S8…".into(), at: 3 });
        assert_eq!(state.presented.as_ref().and_then(|p| p.plan.as_deref()), Some("s8"));
    }

    #[test]
    fn suggestion_lifecycle_records_the_action_taken() {
        let mut state = ConversationState::default();
        state.apply(&annotated(&["chit_chat"], 1));
        state.apply(&offered("a", Action::AskField, Some("phone"), None));
        state.apply(&offered("b", Action::OfferPromotion, None, Some("spring")));
        state.apply(&Event::SuggestionRejected { id: "b".into(), reason: "pushy".into(), at: 2 });
        state.apply(&Event::SuggestionEdited { id: "a".into(), text: "电话？".into(), at: 3 });
        assert_eq!(state.suggestions[0].status, SuggestionStatus::Edited);
        state.apply(&Event::SuggestionSent {
            id: "a".into(),
            text: "方便留个电话？".into(),
            by: Role::Salesperson,
            at: 4,
        });
        let a = &state.suggestions[0];
        assert_eq!(
            (a.status, a.sent_by, a.decided_at),
            (SuggestionStatus::Sent, Some(Role::Salesperson), Some(4))
        );
        assert_eq!((a.offered_text.as_str(), a.text.as_str()), ("text of a", "方便留个电话？"));
        assert_eq!(state.suggestions[1].status, SuggestionStatus::Rejected);
        assert_eq!(state.fields_asked, [FieldAsk { field: "phone".into(), turn: 1, at: 4 }]);
        assert_eq!(state.last_action.as_ref().map(|a| a.action), Some(Action::AskField));
        assert!(state.promotions_offered.is_empty(), "a rejected promotion was not offered");
        assert!(!state.value_given, "asking gives nothing");
        assert_eq!(state.turns_since_ask(), Some(0));
        state.apply(&annotated(&["provide_contact"], 5));
        assert_eq!(state.turns_since_ask(), Some(1));
    }

    #[test]
    fn handing_off_remembers_the_stage_it_interrupted() {
        let mut state = ConversationState::default();
        for (to, at) in [(Stage::Engaged, 1), (Stage::HandedOff, 2), (Stage::HandedOff, 3)] {
            state.apply(&Event::StageChanged { to, reason: String::new(), at });
        }
        assert_eq!(state.stage_before_handoff, Some(Stage::Engaged));
        state.apply(&Event::StageChanged { to: Stage::Engaged, reason: String::new(), at: 4 });
        assert_eq!(state.stage_before_handoff, None);
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
        for s in SuggestionStatus::ALL {
            assert_eq!(SuggestionStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
    }
}
