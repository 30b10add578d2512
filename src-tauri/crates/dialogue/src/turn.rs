//! One turn of a conversation, the way the app drives it: the events a customer message adds,
//! the policy's decision on the state they make, and the events a sent reply adds.
//!
//! Key decision: the functions here only *compute*: they take the state as recorded and return
//! the events to record, in order, with the state after them (the fold of those events over the
//! input state, so recording the events and replaying the log gives exactly that state — tested).
//! The caller stores the events; nothing here reads a clock or the store.
//!
//! A customer message ([`customer_message`]):
//! 1. [`Event::Message`] and the NLU's [`Event::Annotated`];
//! 2. the proposed lead-field values the provenance rule accepts ([`Event::FieldSet`], source AI);
//!    when the schema has a [`NEED_FIELD`] the customer has not stated and the message names
//!    catalog products, the need is those products (an AI value at [`NEED_FROM_PRODUCTS`]
//!    confidence: the customer said what they are looking for);
//! 3. the focus change ([`focus::resolve`], [`Event::FocusSet`]);
//! 4. [`policy::decide`] on that state; a hand-off decision records [`Event::HandoffRequested`];
//! 5. [`stage::advance`]: the funnel moves with reason codes ([`Event::StageChanged`]).
//!
//! The reply ([`reply_sent`]): the suggestion sent (by a salesperson or, in auto mode, the AI),
//! the message in the thread, and the stage moves that the reply allows (a product presented
//! moves a qualified lead to proposal).

use crate::focus::{self, Catalog};
use crate::stage::{self, NEED_FIELD};
use crate::{
    Annotation, ConversationState, Decision, Event, FieldDecision, FieldSource, Millis, Role,
    StrategyView,
};

/// How sure the engine is that the products a customer names are their need.
pub const NEED_FROM_PRODUCTS: f32 = 0.6;

/// One customer message with the NLU's reading of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnInput {
    /// The caller's id for the message (echoed in [`TurnOutcome::message_id`]).
    pub id: String,
    pub text: String,
    /// When the customer wrote it (Unix milliseconds); every event of the turn carries it.
    pub at: Millis,
    pub annotation: Annotation,
}

/// What a customer message does to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub message_id: String,
    /// The events to record, in order: message, annotation, accepted field values, focus change,
    /// hand-off request, stage changes.
    pub events: Vec<Event>,
    /// The next best action, decided on the state after the message's own events (before the
    /// stage changes, which the decision does not depend on).
    pub decision: Decision,
    /// The state after all of `events`.
    pub state: ConversationState,
}

/// Events and the state after them (the salesperson's side of a turn).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub events: Vec<Event>,
    pub state: ConversationState,
}

/// Collects events while applying them to a copy of the state.
struct Log {
    state: ConversationState,
    events: Vec<Event>,
}

impl Log {
    fn new(state: &ConversationState) -> Self {
        Log { state: state.clone(), events: Vec::new() }
    }

    fn record(&mut self, event: Event) {
        self.state.apply(&event);
        self.events.push(event);
    }

    /// Every stage move the rules allow now.
    fn advance(&mut self, at: Millis) {
        for change in stage::advance(&self.state) {
            self.record(change.event(at));
        }
    }
}

/// Performs the steps of one customer message (see the module documentation): the events to
/// record, the decision and the state after them.
pub fn customer_message(
    state: &ConversationState,
    input: &TurnInput,
    catalog: &Catalog,
    strategy: &StrategyView,
) -> TurnOutcome {
    let at = input.at;
    let annotation = &input.annotation;
    let mut log = Log::new(state);
    log.record(Event::Message { role: Role::Customer, text: input.text.clone(), at });
    log.record(Event::Annotated { annotation: annotation.clone(), at });

    let resolution = focus::resolve(catalog, log.state.focus.as_ref(), &input.text);
    for proposal in &annotation.fields {
        if proposal.value.trim().is_empty()
            || quotes_a_price(&resolution, annotation, &input.text, strategy, &proposal.field)
        {
            continue;
        }
        let decision = log.state.lead.decide(&proposal.field, &proposal.value, FieldSource::Ai);
        if decision == FieldDecision::Accept {
            log.record(Event::FieldSet {
                field: proposal.field.clone(),
                value: proposal.value.clone(),
                source: FieldSource::Ai,
                confidence: proposal.confidence,
                at,
            });
        }
    }
    if let Some(need) = need_from_products(&log.state, &input.text, catalog, strategy) {
        log.record(Event::FieldSet {
            field: NEED_FIELD.to_owned(),
            value: need,
            source: FieldSource::Ai,
            confidence: NEED_FROM_PRODUCTS,
            at,
        });
    }

    if !states_a_budget(&resolution, annotation, &input.text, strategy)
        && let Some(event) = resolution.event(log.state.focus.as_ref(), at)
    {
        log.record(event);
    }

    let decision = crate::policy::decide(&log.state, annotation, strategy);
    if let Some(event) = decision.handoff_event(&log.state, at) {
        log.record(event);
    }
    log.advance(at);
    TurnOutcome { message_id: input.id.clone(), events: log.events, decision, state: log.state }
}

/// "预算每个月500以内", "our budget is 2000 USD a month": a price word in a message that states an
/// amount and asks nothing is the customer's budget, not a question about the product in focus.
/// Asking is the wording ([`focus::asks`]) or a price inquiry the NLU is sure of (at the
/// strategy's confidence threshold; below it the reading is a guess the wording overrules).
fn states_a_budget(
    resolution: &focus::Resolution,
    annotation: &Annotation,
    text: &str,
    strategy: &StrategyView,
) -> bool {
    let follow_up = resolution.change == Some(focus::FocusChange::FollowUp);
    let priced = resolution.attribute.as_deref().is_some_and(focus::is_price_attribute);
    let amount = annotation.entities.iter().any(|e| e.kind == crate::EntityKind::Money);
    let asks = focus::asks(text)
        || annotation.intents.iter().any(|i| {
            i.label == crate::nlu::intents::PRICE_INQUIRY
                && i.confidence >= strategy.confidence_threshold
        });
    follow_up && priced && amount && !asks
}

/// Words that name an amount as the customer's budget, whatever the schema's cues say.
const BUDGET_WORDS: &[&str] = &[
    "预算",
    "控制在",
    "不超过",
    "以内",
    "之内",
    "能接受",
    "budget",
    "within",
    "up to",
    "no more than",
    "afford",
    "spend",
];

/// "团队版续费还是12800一年吗？": an amount in a question about a product's price is the price the
/// customer quotes, not a money field of theirs (the budget), unless a cue word of the field (or,
/// for the budget, [`BUDGET_WORDS`]) names it ("预算5万，企业版多少钱").
fn quotes_a_price(
    resolution: &focus::Resolution,
    annotation: &Annotation,
    text: &str,
    strategy: &StrategyView,
    field: &str,
) -> bool {
    let Some(spec) = strategy.fields.iter().find(|f| f.key == field) else {
        return false;
    };
    if spec.field_type != crate::FieldType::Money {
        return false;
    }
    let price_question = resolution.attribute.as_deref().is_some_and(focus::is_price_attribute)
        || annotation.likely(crate::nlu::intents::PRICE_INQUIRY);
    let lower = text.to_lowercase();
    let budget_words = if field == stage::BUDGET_FIELD { BUDGET_WORDS } else { &[] };
    let cued = spec
        .cues
        .iter()
        .map(String::as_str)
        .chain(budget_words.iter().copied())
        .any(|c| !c.trim().is_empty() && lower.contains(&c.to_lowercase()));
    price_question && focus::asks(text) && !cued
}

/// The need, when the schema asks for one, nobody has stated it, and the message names products:
/// their names in the message's language, joined (`云服务器 + 异地备份`).
fn need_from_products(
    state: &ConversationState,
    text: &str,
    catalog: &Catalog,
    strategy: &StrategyView,
) -> Option<String> {
    if !strategy.fields.iter().any(|f| f.key == NEED_FIELD) || state.knows(NEED_FIELD) {
        return None;
    }
    let named = focus::mentioned_products(catalog, text);
    if named.is_empty() {
        return None;
    }
    let chinese = text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c));
    let names: Vec<&str> = named
        .iter()
        .filter_map(|id| catalog.products.iter().find(|p| &p.id == id))
        .map(|p| if chinese { p.name_zh.as_str() } else { p.name_en.as_str() })
        .collect();
    Some(names.join(" + "))
}

/// The salesperson (or, in auto mode, the AI) sent suggestion `suggestion_id` with `text` (as
/// offered or edited): the suggestion sent, the message in the thread, and the stage moves the
/// reply allows. Record the suggestion first ([`Decision::offered`]) when it was shown.
pub fn reply_sent(
    state: &ConversationState,
    suggestion_id: &str,
    text: &str,
    by: Role,
    at: Millis,
) -> Recorded {
    let mut log = Log::new(state);
    log.record(Event::SuggestionSent {
        id: suggestion_id.to_owned(),
        text: text.to_owned(),
        by,
        at,
    });
    log.record(Event::Message { role: by, text: text.to_owned(), at });
    log.advance(at);
    Recorded { events: log.events, state: log.state }
}
