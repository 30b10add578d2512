//! The next best action: rules over the conversation state, the message's annotation and the
//! strategy. The model writes the words later; here is only what to do and why.
//!
//! Rules, first match wins:
//! Intents and sentiment drive a rule only when the NLU is sure enough of them ([`LIKELY`]).
//! What the wording alone says ([`crate::cues`]: acknowledgements, greetings, farewells,
//! deferrals, payment questions, feedback) counts as understood and overrules a weak reading.
//!
//! 1. **Hand off** when the customer is angry (sure, or likely and not contradicted by a sure
//!    cooperative reading or by lead-field values the rules took from a message with no angry
//!    word), asks for a person, was misunderstood [`StrategyView::misunderstanding_limit`] turns
//!    in a row, or the top intent's confidence is below [`StrategyView::confidence_threshold`]
//!    and the rules did not understand the message either (it named no product, asked about
//!    none, gave no field value and its wording says nothing the rules know:
//!    [`crate::Turn::resolved`]; nor is the customer surely hesitating with a promotion left).
//! 2. **Close** on purchase intent once the required fields are known; until then ask for the
//!    next one (the customer wants to buy: no need to wait for proactivity), unless the buyer
//!    asked something before getting anything of value: that is answered first. A deferral
//!    ("下个月再付可以吗？") is no purchase unless the NLU is sure of one.
//! 3. **Handle an objection** from the playbook; a price or timing objection gets an eligible
//!    promotion if one is left.
//! 4. **Offer a promotion** to a hesitant customer (once per conversation unless the strategy
//!    allows more). Then a deferral the NLU placed no objection on is handled as a timing
//!    objection (rule 3).
//! 5. **Answer** a question, asking one missing field along if the ask rule allows it.
//! 6. **Engage** a customer who is leaving (no field asked then): a farewell, or a refusal or
//!    goodbye the NLU finds likely — sure, when the wording is an acknowledgement or a greeting
//!    ("Alright" read as goodbye at 0.62 is no leaving).
//! 7. **Ask one missing required field**: only after the customer got something of value, never
//!    in two replies in a row, and no more often than the strategy's proactivity allows.
//! 8. Otherwise **engage** (greet, acknowledge, keep the conversation going).
//!
//! In auto mode the same rules decide whether the reply may go out without a person: never when
//! a hand-off condition holds or a person has the conversation, not for objections unless the
//! strategy says so, and never outside auto mode.

use serde::{Deserialize, Serialize};

use crate::nlu::intents;
use crate::{
    Annotation, ConversationState, Cue, Event, FieldSource, FieldSpec, Millis, Mode, Promotion,
    Role, Sentiment, StrategyView,
};

/// What the next reply should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Answer the customer's question from the catalog.
    Answer,
    /// Ask for one missing lead field.
    AskField,
    /// Handle an objection with the playbook's entry.
    HandleObjection,
    /// Offer a promotion.
    OfferPromotion,
    /// Hand the conversation to a person.
    HandOff,
    /// Close the sale: confirm the order and the next step.
    Close,
    /// Greet, acknowledge or keep the conversation going.
    Engage,
}

stable_names!(Action {
    Answer => "answer",
    AskField => "ask_field",
    HandleObjection => "handle_objection",
    OfferPromotion => "offer_promotion",
    HandOff => "hand_off",
    Close => "close",
    Engage => "engage",
});

impl Action {
    /// Whether a reply doing this gives the customer something of value (after which lead fields
    /// may be asked for).
    pub fn gives_value(self) -> bool {
        matches!(
            self,
            Action::Answer | Action::HandleObjection | Action::OfferPromotion | Action::Close
        )
    }
}

/// Why the policy chose its action: a stable code the console translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    CustomerAngry,
    RequestedHuman,
    RepeatedMisunderstanding,
    LowConfidence,
    PurchaseReady,
    PurchaseNeedsField,
    ObjectionWithPromotion,
    ObjectionInPlaybook,
    ObjectionNotInPlaybook,
    HesitantCustomer,
    QuestionAsked,
    CustomerLeaving,
    MissingRequiredField,
    Greeting,
    KeepEngaging,
}

stable_names!(DecisionReason {
    CustomerAngry => "customer_angry",
    RequestedHuman => "requested_human",
    RepeatedMisunderstanding => "repeated_misunderstanding",
    LowConfidence => "low_confidence",
    PurchaseReady => "purchase_ready",
    PurchaseNeedsField => "purchase_needs_field",
    ObjectionWithPromotion => "objection_with_promotion",
    ObjectionInPlaybook => "objection_in_playbook",
    ObjectionNotInPlaybook => "objection_not_in_playbook",
    HesitantCustomer => "hesitant_customer",
    QuestionAsked => "question_asked",
    CustomerLeaving => "customer_leaving",
    MissingRequiredField => "missing_required_field",
    Greeting => "greeting",
    KeepEngaging => "keep_engaging",
});

/// Why a reply may not be sent without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AutoSendBlock {
    /// A hand-off condition holds (anger, request, misunderstanding, low confidence).
    HandoffCondition,
    /// A person was asked for or has the conversation.
    HandoffActive,
    /// The objection has no playbook entry.
    ObjectionNotInPlaybook,
    /// The strategy wants a person to send objection replies.
    ObjectionNeedsPerson,
    /// The conversation is not in auto mode.
    ModeNotAuto,
}

stable_names!(AutoSendBlock {
    HandoffCondition => "handoff_condition",
    HandoffActive => "handoff_active",
    ObjectionNotInPlaybook => "objection_not_in_playbook",
    ObjectionNeedsPerson => "objection_needs_person",
    ModeNotAuto => "mode_not_auto",
});

/// The policy's decision for the next reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: DecisionReason,
    /// The one lead field the reply asks for (with [`Action::AskField`], or along an answer).
    pub field_to_ask: Option<String>,
    /// The objection (playbook key) the reply handles.
    pub objection: Option<String>,
    /// The promotion (its id) the reply offers.
    pub promotion: Option<String>,
    /// Whether auto mode may send the reply without a person.
    pub may_auto_send: bool,
    /// Why not, when it may not.
    pub auto_send_block: Option<AutoSendBlock>,
}

impl Decision {
    fn new(action: Action, reason: DecisionReason) -> Self {
        Decision {
            action,
            reason,
            field_to_ask: None,
            objection: None,
            promotion: None,
            may_auto_send: false,
            auto_send_block: None,
        }
    }

    /// The event recording a suggestion written for this decision.
    pub fn offered(&self, id: &str, text: &str, at: Millis) -> Event {
        Event::SuggestionOffered {
            id: id.to_owned(),
            text: text.to_owned(),
            action: self.action,
            field: self.field_to_ask.clone(),
            objection: self.objection.clone(),
            promotion: self.promotion.clone(),
            at,
        }
    }

    /// The hand-off request to record, when the decision is to hand off and no hand-off is under
    /// way yet.
    pub fn handoff_event(&self, state: &ConversationState, at: Millis) -> Option<Event> {
        (self.action == Action::HandOff && state.handoff.is_none())
            .then(|| Event::HandoffRequested { reason: self.reason.as_str().to_owned(), at })
    }
}

/// How sure the NLU must be of a secondary reading for it to drive a rule: a purchase intent, an
/// objection, a question or a request for a person among the intents, or anger. Below it the
/// reading is more likely wrong than right ("我叫张伟" read as angry at 0.45, a budget statement
/// as a price objection at 0.22). Anger needs only this much unless a sure cooperative reading
/// contradicts it (a needless hand-off costs a person a look; a missed one, the customer);
/// hesitation, which earns a promotion, needs the strategy's confidence threshold.
pub const LIKELY: f32 = 0.5;

/// Decides the next action.
///
/// `state` is the conversation with this customer message's events already applied (the
/// message, its [`Event::Annotated`], accepted field values, the focus change); `annotation` is
/// that message's reading.
pub fn decide(
    state: &ConversationState,
    annotation: &Annotation,
    strategy: &StrategyView,
) -> Decision {
    let handoff = handoff_condition(state, annotation, strategy);
    let mut decision = match handoff {
        Some(reason) => Decision::new(Action::HandOff, reason),
        None => choose(state, annotation, strategy),
    };
    let block = auto_send_block(state, strategy, &decision, handoff.is_some());
    decision.may_auto_send = block.is_none();
    decision.auto_send_block = block;
    decision
}

/// The hand-off condition that holds for this message, if any (most serious first).
pub fn handoff_condition(
    state: &ConversationState,
    annotation: &Annotation,
    strategy: &StrategyView,
) -> Option<DecisionReason> {
    let threshold = strategy.confidence_threshold;
    if angry(state, annotation, threshold) {
        Some(DecisionReason::CustomerAngry)
    } else if annotation.likely(intents::REQUEST_HUMAN) {
        Some(DecisionReason::RequestedHuman)
    } else if state.misunderstood_streak(threshold) >= strategy.misunderstanding_limit.max(1) {
        Some(DecisionReason::RepeatedMisunderstanding)
    } else if (annotation.intents.is_empty() || annotation.top_confidence() < threshold)
        // The rules understood the message (a product, a follow-up, a field value): no guess.
        && !state.last_turn().is_some_and(|t| t.resolved)
        // The customer surely hesitates and the hesitation rule has a promotion for them: what
        // to do does not depend on the intent the head could not place.
        && !(sure_hesitation(annotation, strategy) && eligible_promotion(state, strategy).is_some())
    {
        Some(DecisionReason::LowConfidence)
    } else {
        None
    }
}

/// The customer is angry: the sentiment head is sure of it (at `threshold`), or finds it likely
/// and nothing contradicts it. A likely anger beside a cooperative step (contact details,
/// requirements, an order: "我叫赵磊，电话137…，预算5万" read as angry at 0.59) with no complaint or
/// request for a person in it is the sentiment head misreading. The step is cooperative when the
/// NLU is sure of it, or when the rules took lead-field values from the message and its wording
/// has no angry word ([`crate::cues::sounds_angry`]): "I'm Mark Lee, my phone is 136…, my budget
/// is 3000 CNY a month", read as angry at 0.58 and as giving contact details at 0.74.
fn angry(state: &ConversationState, annotation: &Annotation, threshold: f32) -> bool {
    let sentiment = annotation.sentiment;
    if sentiment.label != Sentiment::Angry || sentiment.confidence < LIKELY {
        return false;
    }
    let cooperative = annotation
        .intents
        .iter()
        .any(|i| intents::COOPERATIVE.contains(&i.label.as_str()) && i.confidence >= threshold)
        || gave_field_values(state, annotation);
    let grievance =
        annotation.likely(intents::COMPLAINT) || annotation.likely(intents::REQUEST_HUMAN);
    sentiment.confidence >= threshold || grievance || !cooperative
}

/// The message gave lead-field values the rules recorded with it (the NLU's rule-found
/// proposals, accepted by the provenance rule) and has no angry word in it.
fn gave_field_values(state: &ConversationState, annotation: &Annotation) -> bool {
    let Some(turn) = state.last_turn() else {
        return false;
    };
    let recorded =
        annotation.fields.iter().any(|p| {
            state.lead.fields.get(&p.field).is_some_and(|v| {
                v.source == FieldSource::Ai && v.at == turn.at && v.value == p.value
            })
        });
    recorded
        && !state
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Customer && m.at == turn.at)
            .is_some_and(|m| crate::cues::sounds_angry(&m.text))
}

/// What the wording of this message says ([`crate::Turn::cue`]).
fn cue(state: &ConversationState) -> Option<Cue> {
    state.last_turn().and_then(|t| t.cue)
}

/// The sentiment head is as sure the customer hesitates as the strategy asks of a reading.
fn sure_hesitation(annotation: &Annotation, strategy: &StrategyView) -> bool {
    annotation.sentiment.label == Sentiment::Hesitant
        && annotation.sentiment.confidence >= strategy.confidence_threshold
}

/// The customer asked something in this message: a question intent, or the wording.
fn asked_a_question(state: &ConversationState, annotation: &Annotation) -> bool {
    intents::QUESTIONS.iter().any(|q| annotation.likely(q))
        || state
            .messages
            .last()
            .is_some_and(|m| m.role == crate::Role::Customer && crate::focus::asks(&m.text))
}

fn choose(state: &ConversationState, annotation: &Annotation, strategy: &StrategyView) -> Decision {
    let cue = cue(state);
    let threshold = strategy.confidence_threshold;
    // "Can I pay next month instead?": putting the payment off is no purchase, unless the NLU is
    // sure of one.
    let buying = annotation.intents.iter().any(|i| {
        i.label == intents::PURCHASE_INTENT
            && i.confidence >= LIKELY
            && (cue != Some(Cue::Deferral) || i.confidence >= threshold)
    });
    // A buyer who asks something ("续费怎么付款？") before getting anything of value is answered
    // first: the ask waits for the value, as for anyone else.
    let answer_first = !state.value_given && asked_a_question(state, annotation);
    if buying && !(answer_first && missing_fields(state, strategy).next().is_some()) {
        if missing_fields(state, strategy).next().is_none() {
            return Decision::new(Action::Close, DecisionReason::PurchaseReady);
        }
        if let Some(field) = next_field(state, strategy, Urgency::Buying) {
            let mut d = Decision::new(Action::AskField, DecisionReason::PurchaseNeedsField);
            d.field_to_ask = Some(field.key.clone());
            return d;
        }
    }

    let objection = annotation
        .intents
        .iter()
        .find(|i| intents::is_objection(&i.label) && i.confidence >= LIKELY);
    if let Some(objection) = objection {
        return handle_objection(state, strategy, &objection.label);
    }

    if sure_hesitation(annotation, strategy)
        && let Some(p) = eligible_promotion(state, strategy)
    {
        let mut d = Decision::new(Action::OfferPromotion, DecisionReason::HesitantCustomer);
        d.promotion = Some(p.id.clone());
        return d;
    }

    // A deferral the NLU placed no objection on is a timing objection in the wording
    // ("下个月再付可以吗？" read as objection_timing at 0.34).
    if cue == Some(Cue::Deferral) {
        return handle_objection(state, strategy, intents::OBJECTION_TIMING);
    }

    // The tracker holds the questions the customer asked (the NLU's, the focus resolution's) and
    // drops what was misread (a budget statement read as a price question).
    if !state.open_questions.is_empty() {
        let mut d = Decision::new(Action::Answer, DecisionReason::QuestionAsked);
        d.field_to_ask = next_field(state, strategy, Urgency::Normal).map(|f| f.key.clone());
        return d;
    }

    // An acknowledgement or a greeting in the wording outweighs a leaving reading the NLU is
    // not sure of ("Alright" read as goodbye at 0.62); a farewell is leaving whatever it read.
    let leaving_read = |label: &str| {
        annotation.intents.iter().any(|i| {
            i.label == label
                && i.confidence >= LIKELY
                && (!cue.is_some_and(|c| c != Cue::Farewell && c.is_small_talk())
                    || i.confidence >= threshold)
        })
    };
    if cue == Some(Cue::Farewell)
        || leaving_read(intents::NOT_INTERESTED)
        || leaving_read(intents::GOODBYE)
    {
        return Decision::new(Action::Engage, DecisionReason::CustomerLeaving);
    }

    if let Some(field) = next_field(state, strategy, Urgency::Normal) {
        let mut d = Decision::new(Action::AskField, DecisionReason::MissingRequiredField);
        d.field_to_ask = Some(field.key.clone());
        return d;
    }

    if annotation.likely(intents::GREETING) || cue == Some(Cue::Greeting) {
        Decision::new(Action::Engage, DecisionReason::Greeting)
    } else {
        Decision::new(Action::Engage, DecisionReason::KeepEngaging)
    }
}

/// An objection (its playbook key): a price or timing objection gets an eligible promotion if one
/// is left, else the playbook's entry.
fn handle_objection(state: &ConversationState, strategy: &StrategyView, label: &str) -> Decision {
    let promotable = label == intents::OBJECTION_PRICE || label == intents::OBJECTION_TIMING;
    let promotion = promotable.then(|| eligible_promotion(state, strategy)).flatten();
    let mut d = match promotion {
        Some(p) => {
            let mut d =
                Decision::new(Action::OfferPromotion, DecisionReason::ObjectionWithPromotion);
            d.promotion = Some(p.id.clone());
            d
        }
        None if strategy.covers(label) => {
            Decision::new(Action::HandleObjection, DecisionReason::ObjectionInPlaybook)
        }
        None => Decision::new(Action::HandleObjection, DecisionReason::ObjectionNotInPlaybook),
    };
    d.objection = Some(label.to_owned());
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// The ask rule in full: value first, proactivity, never twice in a row.
    Normal,
    /// The customer wants to buy: only "never twice in a row" holds.
    Buying,
}

fn missing_fields<'a>(
    state: &'a ConversationState,
    strategy: &'a StrategyView,
) -> impl Iterator<Item = &'a FieldSpec> {
    strategy.required_fields().filter(|f| !state.knows(&f.key))
}

/// The one field to ask for now, if the ask rule allows asking at all: the first missing required
/// field never asked for, else the one asked longest ago.
fn next_field<'a>(
    state: &'a ConversationState,
    strategy: &'a StrategyView,
    urgency: Urgency,
) -> Option<&'a FieldSpec> {
    let since = state.turns_since_ask();
    if since.is_some_and(|n| n < 2) {
        return None;
    }
    if urgency == Urgency::Normal {
        if !state.value_given {
            return None;
        }
        if since.is_some_and(|n| n < strategy.proactivity.min_turns_between_asks()) {
            return None;
        }
    }
    let last_asked = |key: &str| state.fields_asked.iter().rposition(|a| a.field == key);
    missing_fields(state, strategy).min_by_key(|f| last_asked(&f.key).map_or(0, |i| i + 1))
}

/// The first promotion the customer may still be offered.
fn eligible_promotion<'a>(
    state: &ConversationState,
    strategy: &'a StrategyView,
) -> Option<&'a Promotion> {
    let offered = u32::try_from(state.promotions_offered.len()).unwrap_or(u32::MAX);
    if offered >= strategy.max_promotions {
        return None;
    }
    let product = state.focus.as_ref().map(|f| f.product.as_str());
    strategy.promotions.iter().find(|p| {
        let e = &p.eligibility;
        !state.promotions_offered.iter().any(|o| o.id == p.id)
            && (e.stages.is_empty() || e.stages.contains(&state.stage))
            && (e.products.is_empty()
                || product.is_some_and(|id| e.products.iter().any(|x| x == id)))
    })
}

fn auto_send_block(
    state: &ConversationState,
    strategy: &StrategyView,
    decision: &Decision,
    handoff_condition: bool,
) -> Option<AutoSendBlock> {
    if handoff_condition || decision.action == Action::HandOff {
        Some(AutoSendBlock::HandoffCondition)
    } else if state.handoff.is_some() {
        Some(AutoSendBlock::HandoffActive)
    } else if decision.reason == DecisionReason::ObjectionNotInPlaybook {
        Some(AutoSendBlock::ObjectionNotInPlaybook)
    } else if decision.objection.is_some() && !strategy.auto_send_objections {
        Some(AutoSendBlock::ObjectionNeedsPerson)
    } else if state.mode != Mode::Auto {
        Some(AutoSendBlock::ModeNotAuto)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
            assert_eq!(serde_json::to_value(a).expect("json"), a.as_str());
        }
        for r in DecisionReason::ALL {
            assert_eq!(DecisionReason::parse(r.as_str()), Some(*r));
            assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
        }
        for b in AutoSendBlock::ALL {
            assert_eq!(AutoSendBlock::parse(b.as_str()), Some(*b));
            assert_eq!(serde_json::to_value(b).expect("json"), b.as_str());
        }
    }

    #[test]
    fn only_replies_with_substance_give_value() {
        assert!(Action::Answer.gives_value());
        assert!(!Action::AskField.gives_value());
        assert!(!Action::Engage.gives_value());
        assert!(!Action::HandOff.gives_value());
    }
}
