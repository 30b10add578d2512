//! Funnel stages: which stage the conversation has reached, by rules over its state.
//!
//! new → engaged → qualified → proposal → negotiation → won / lost, plus handed_off. Each move is
//! gated by a rule and carries a [`StageReason`]: a stable snake_case code (stored in
//! `StageChanged.reason` and the projection's `stage_reason`) that the console translates.
//! Stages only move forward, except: lost reopens when the customer comes back, and handed_off
//! returns to the stage it interrupted.

use serde::{Deserialize, Serialize};

use crate::nlu::intents;
use crate::policy::LIKELY;
use crate::{ConversationState, Event, Handoff, Millis, Stage};

/// The lead field that holds the customer's need.
pub const NEED_FIELD: &str = "need";
/// The lead field that holds the customer's budget.
pub const BUDGET_FIELD: &str = "budget";

/// Why the stage moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StageReason {
    /// new → engaged: the customer wrote again after a reply.
    CustomerReplied,
    /// new → engaged: the customer asked about products, prices, or gave requirements.
    ShowedInterest,
    /// engaged → qualified: the need and the budget are known.
    NeedAndBudgetKnown,
    /// qualified → proposal: a product was presented in answer to the customer.
    ProductPresented,
    /// qualified → proposal: a product's price was given in answer to the customer.
    ProductPriced,
    /// proposal → negotiation: the customer objected to the price.
    PriceObjection,
    /// proposal → negotiation: the customer wants to buy and is discussing terms.
    PurchaseIntent,
    /// proposal/negotiation → won: the customer confirmed the purchase after a closing reply.
    PurchaseConfirmed,
    /// → lost: the customer said they are not interested.
    NotInterested,
    /// → lost: the customer left after refusing earlier.
    LeftAfterRefusal,
    /// lost → engaged: the customer came back with interest.
    CustomerReturned,
    /// → handed_off: a person was asked for.
    HandoffRequested,
    /// handed_off → the stage before: the person handed the conversation back.
    HandoffReturned,
}

stable_names!(StageReason {
    CustomerReplied => "customer_replied",
    ShowedInterest => "showed_interest",
    NeedAndBudgetKnown => "need_and_budget_known",
    ProductPresented => "product_presented",
    ProductPriced => "product_priced",
    PriceObjection => "price_objection",
    PurchaseIntent => "purchase_intent",
    PurchaseConfirmed => "purchase_confirmed",
    NotInterested => "not_interested",
    LeftAfterRefusal => "left_after_refusal",
    CustomerReturned => "customer_returned",
    HandoffRequested => "handoff_requested",
    HandoffReturned => "handoff_returned",
});

/// One move of the funnel stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageChange {
    pub from: Stage,
    pub to: Stage,
    pub reason: StageReason,
}

impl StageChange {
    /// The event that records it (the reason stored as its code name).
    pub fn event(&self, at: Millis) -> Event {
        Event::StageChanged { to: self.to, reason: self.reason.as_str().to_owned(), at }
    }
}

/// The next move from the current stage, if a rule allows one. Call it once the turn's events
/// (message, annotation, fields, focus, reply) are applied.
pub fn next_stage(state: &ConversationState) -> Option<StageChange> {
    transition(state.stage, &Facts::of(state))
}

/// Every move the rules allow now, in order (a customer who names need and budget and asks for
/// the price in the first message goes new → engaged → qualified at once). Record each as an
/// event with [`StageChange::event`]. Each stage is entered at most once per call, and a move to
/// lost ends the call. After the changes are recorded, `advance` returns nothing (tested).
pub fn advance(state: &ConversationState) -> Vec<StageChange> {
    let facts = Facts::of(state);
    let mut changes: Vec<StageChange> = Vec::new();
    let mut stage = state.stage;
    while let Some(change) = transition(stage, &facts) {
        if change.to == state.stage || changes.iter().any(|c| c.to == change.to) {
            break;
        }
        stage = change.to;
        changes.push(change);
        // A turn that loses the lead does not also win it back: a message that both leaves and
        // asks ("多少钱？算了，再见") ends at lost, and only a later turn can reopen it.
        if stage == Stage::Lost {
            break;
        }
    }
    if changes.is_empty() {
        return changes;
    }
    // Once the turn has moved the stage, what the turn said no longer counts (a turn moves the
    // stage once); the rules over the rest of the state may still move it on. Going on from the
    // state as it will be after these changes are recorded is what makes a second call return
    // nothing.
    let mut after = state.clone();
    for change in &changes {
        after.apply(&change.event(state.updated_at));
    }
    while let Some(change) = next_stage(&after) {
        if change.to == state.stage || changes.iter().any(|c| c.to == change.to) {
            break;
        }
        after.apply(&change.event(state.updated_at));
        changes.push(change);
    }
    changes
}

/// The NLU is fairly sure the turn is about something other than buying (after-sales, a
/// complaint): a product question the rules understood in it is not buying interest. A greeting
/// or small talk is about nothing in particular ("Hi, what does the Team plan include?").
fn otherwise(t: &crate::Turn) -> bool {
    t.intents.iter().any(|i| {
        let label = i.label.as_str();
        i.confidence >= LIKELY
            && !intents::INTEREST.contains(&label)
            && !intents::SOCIAL.contains(&label)
    })
}

/// No intent of the turn is read more surely than `label`.
fn main_reading(t: &crate::Turn, label: &str) -> bool {
    let confidence =
        t.intents.iter().filter(|i| i.label == label).map(|i| i.confidence).fold(0.0_f32, f32::max);
    t.intents.iter().all(|i| i.confidence <= confidence)
}

/// What the rules look at, read once from the state.
#[derive(Debug)]
struct Facts {
    /// What the last customer turn said, if the stage has not moved since (else all false).
    last: LastTurn,
    /// An earlier customer turn said not interested.
    refused_before: bool,
    customer_replied: bool,
    need_and_budget: bool,
    presented: Option<bool>,
    /// The last turn wants to buy and a closing reply preceded it.
    purchase_confirmed: bool,
    handoff_active: bool,
    stage_before_handoff: Option<Stage>,
}

#[derive(Debug, Default)]
struct LastTurn {
    interest: bool,
    not_interested: bool,
    goodbye: bool,
    price_objection: bool,
    purchase_intent: bool,
}

impl Facts {
    fn of(state: &ConversationState) -> Self {
        let turns = state.turn_count();
        // Rules on the last turn apply once: a turn already judged (the stage moved after it,
        // maybe by hand) does not move the stage again.
        let fresh_turn = turns > state.stage_turn;
        let last = state
            .last_turn()
            .filter(|_| fresh_turn)
            .map(|t| {
                // A rule moves the stage on what the NLU is fairly sure of (a budget statement
                // read as a price objection at 0.22 is no objection); a product question the
                // rules understood shows interest however unsure the NLU was.
                let likely = |label: &str| {
                    t.intents.iter().any(|i| i.label == label && i.confidence >= LIKELY)
                };
                LastTurn {
                    interest: t.shows_interest()
                        || (t.resolved && !state.open_questions.is_empty() && !otherwise(t)),
                    // Losing the lead takes refusal as the main reading: "没有了，谢谢，再见" is a
                    // goodbye (0.86) even if not_interested is read beside it (0.55).
                    not_interested: likely(intents::NOT_INTERESTED)
                        && main_reading(t, intents::NOT_INTERESTED),
                    goodbye: likely(intents::GOODBYE),
                    price_objection: likely(intents::OBJECTION_PRICE),
                    purchase_intent: likely(intents::PURCHASE_INTENT),
                }
            })
            .unwrap_or_default();
        let earlier = &state.turns[..state.turns.len().saturating_sub(1)];
        let first_reply = state.messages.iter().position(|m| m.role != crate::Role::Customer);
        let customer_replied = first_reply
            .is_some_and(|i| state.messages[i..].iter().any(|m| m.role == crate::Role::Customer));
        Facts {
            refused_before: earlier.iter().any(|t| t.likely(intents::NOT_INTERESTED)),
            customer_replied,
            need_and_budget: state.knows(NEED_FIELD) && state.knows(BUDGET_FIELD),
            presented: state.presented.as_ref().map(|p| p.priced),
            purchase_confirmed: last.purchase_intent
                && state.close_sent_turn.is_some_and(|t| t < turns),
            handoff_active: matches!(
                state.handoff,
                Some(Handoff::Requested { .. } | Handoff::Taken { .. })
            ),
            stage_before_handoff: state.stage_before_handoff,
            last,
        }
    }
}

fn transition(from: Stage, f: &Facts) -> Option<StageChange> {
    let to = |to: Stage, reason: StageReason| Some(StageChange { from, to, reason });
    let open = !matches!(from, Stage::Won | Stage::Lost | Stage::HandedOff);
    if open && f.handoff_active {
        return to(Stage::HandedOff, StageReason::HandoffRequested);
    }
    if open && f.last.not_interested {
        return to(Stage::Lost, StageReason::NotInterested);
    }
    if open && f.last.goodbye && f.refused_before {
        return to(Stage::Lost, StageReason::LeftAfterRefusal);
    }
    match from {
        Stage::HandedOff if !f.handoff_active => {
            to(f.stage_before_handoff.unwrap_or(Stage::Engaged), StageReason::HandoffReturned)
        }
        Stage::HandedOff | Stage::Won => None,
        Stage::Lost if f.last.interest && !f.last.not_interested => {
            to(Stage::Engaged, StageReason::CustomerReturned)
        }
        Stage::Lost => None,
        Stage::New if f.customer_replied => to(Stage::Engaged, StageReason::CustomerReplied),
        Stage::New if f.last.interest => to(Stage::Engaged, StageReason::ShowedInterest),
        Stage::New => None,
        Stage::Engaged if f.need_and_budget => {
            to(Stage::Qualified, StageReason::NeedAndBudgetKnown)
        }
        Stage::Engaged => None,
        Stage::Qualified => match f.presented {
            Some(true) => to(Stage::Proposal, StageReason::ProductPriced),
            Some(false) => to(Stage::Proposal, StageReason::ProductPresented),
            None => None,
        },
        Stage::Proposal | Stage::Negotiation if f.purchase_confirmed => {
            to(Stage::Won, StageReason::PurchaseConfirmed)
        }
        Stage::Proposal if f.last.price_objection => {
            to(Stage::Negotiation, StageReason::PriceObjection)
        }
        Stage::Proposal if f.last.purchase_intent => {
            to(Stage::Negotiation, StageReason::PurchaseIntent)
        }
        Stage::Proposal | Stage::Negotiation => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Annotation, FieldSource, Focus, FocusChange, IntentScore, Role};

    /// A conversation built event by event; `at` counts up.
    #[derive(Default)]
    struct Chat {
        state: ConversationState,
        at: Millis,
    }

    impl Chat {
        fn apply(&mut self, event: Event) -> &mut Self {
            self.state.apply(&event);
            self
        }

        fn next(&mut self) -> Millis {
            self.at += 1;
            self.at
        }

        fn customer(&mut self, labels: &[&str]) -> &mut Self {
            let at = self.next();
            let intents: Vec<IntentScore> = labels
                .iter()
                .map(|l| IntentScore { label: (*l).to_owned(), confidence: 0.95 })
                .collect();
            let annotation = Annotation {
                top_intent: intents.first().cloned(),
                intents,
                ..Annotation::default()
            };
            self.apply(Event::Message { role: Role::Customer, text: "…".into(), at })
                .apply(Event::Annotated { annotation, at })
        }

        fn reply(&mut self) -> &mut Self {
            let at = self.next();
            self.apply(Event::Message { role: Role::Salesperson, text: "…".into(), at })
        }

        fn field(&mut self, field: &str, value: &str) -> &mut Self {
            let at = self.next();
            self.apply(Event::FieldSet {
                field: field.into(),
                value: value.into(),
                source: FieldSource::Ai,
                confidence: 0.9,
                at,
            })
        }

        fn focus(&mut self, plan: &str) -> &mut Self {
            let at = self.next();
            let focus = Focus {
                product: "SAAS".into(),
                plan: Some(plan.into()),
                name: plan.into(),
                attributes: Default::default(),
                asked: None,
            };
            self.apply(Event::FocusSet { focus, change: FocusChange::Mentioned, at })
        }

        fn send(&mut self, action: crate::Action) -> &mut Self {
            let at = self.next();
            let id = format!("s{at}");
            self.apply(Event::SuggestionOffered {
                id: id.clone(),
                text: "…".into(),
                action,
                field: None,
                objection: None,
                promotion: None,
                at,
            })
            .apply(Event::SuggestionSent { id, text: "…".into(), by: Role::Ai, at })
        }

        /// Applies every move the rules allow; returns them as (stage, reason) names.
        fn advance(&mut self) -> Vec<(Stage, StageReason)> {
            let changes = advance(&self.state);
            for c in &changes {
                let at = self.next();
                self.apply(c.event(at));
            }
            changes.iter().map(|c| (c.to, c.reason)).collect()
        }
    }

    use Stage::*;
    use StageReason::*;

    #[test]
    fn a_greeting_alone_does_not_engage_but_a_reply_to_a_reply_does() {
        let mut chat = Chat::default();
        chat.customer(&["greeting"]);
        assert_eq!(chat.advance(), []);
        chat.reply().customer(&["chit_chat"]);
        assert_eq!(chat.advance(), [(Engaged, CustomerReplied)]);
        assert_eq!(chat.state.stage_reason, "customer_replied");
    }

    #[test]
    fn qualified_needs_need_and_budget() {
        let mut chat = Chat::default();
        chat.customer(&["product_inquiry"]).field("need", "CRM");
        assert_eq!(chat.advance(), [(Engaged, ShowedInterest)]);
        chat.reply().customer(&["provide_requirement"]);
        assert_eq!(chat.advance(), [], "need alone does not qualify");
        chat.field("budget", "15万");
        assert_eq!(chat.advance(), [(Qualified, NeedAndBudgetKnown)]);
    }

    #[test]
    fn one_message_can_move_several_stages_each_with_its_reason() {
        let mut chat = Chat::default();
        chat.customer(&["provide_requirement"]).field("need", "ERP").field("budget", "5万");
        assert_eq!(chat.advance(), [(Engaged, ShowedInterest), (Qualified, NeedAndBudgetKnown)]);
    }

    #[test]
    fn proposal_needs_a_product_presented_and_says_whether_it_was_priced() {
        let mut chat = Chat::default();
        chat.customer(&["product_inquiry"]).field("need", "CRM").field("budget", "15万");
        chat.advance();
        chat.reply().customer(&["chit_chat"]);
        assert_eq!(chat.advance(), [], "a reply without a product in focus presents nothing");
        chat.customer(&["price_inquiry"]).focus("team");
        assert_eq!(chat.advance(), [], "asked, not yet answered");
        chat.reply();
        assert_eq!(chat.advance(), [(Proposal, ProductPriced)]);

        let mut chat = Chat::default();
        chat.customer(&["feature_question"]).focus("team").field("need", "CRM");
        chat.field("budget", "15万").reply();
        assert_eq!(
            chat.advance(),
            [
                (Engaged, ShowedInterest),
                (Qualified, NeedAndBudgetKnown),
                (Proposal, ProductPresented)
            ]
        );
    }

    fn at_proposal() -> Chat {
        let mut chat = Chat::default();
        chat.customer(&["price_inquiry"]).focus("team").field("need", "CRM");
        chat.field("budget", "15万").reply();
        chat.advance();
        assert_eq!(chat.state.stage, Proposal);
        chat
    }

    #[test]
    fn negotiation_on_a_price_objection_or_purchase_intent() {
        let mut chat = at_proposal();
        chat.customer(&["objection_price"]);
        assert_eq!(chat.advance(), [(Negotiation, PriceObjection)]);
        let mut chat = at_proposal();
        chat.customer(&["purchase_intent", "price_inquiry"]);
        assert_eq!(chat.advance(), [(Negotiation, PurchaseIntent)]);
    }

    #[test]
    fn won_only_when_the_purchase_is_confirmed_after_a_closing_reply() {
        let mut chat = at_proposal();
        chat.customer(&["purchase_intent"]);
        assert_eq!(chat.advance(), [(Negotiation, PurchaseIntent)], "intent alone is not a win");
        chat.send(crate::Action::Close);
        assert_eq!(chat.advance(), [], "the close is not yet confirmed");
        chat.customer(&["purchase_intent"]);
        assert_eq!(chat.advance(), [(Won, PurchaseConfirmed)]);
        chat.customer(&["not_interested"]);
        assert_eq!(chat.advance(), [], "won is final");
    }

    #[test]
    fn lost_on_not_interested_or_leaving_after_a_refusal_and_reopened_on_return() {
        let mut chat = at_proposal();
        chat.customer(&["not_interested"]);
        assert_eq!(chat.advance(), [(Lost, NotInterested)]);
        chat.customer(&["price_inquiry"]);
        // Back in the funnel, the facts already known move it on to where it was.
        assert_eq!(
            chat.advance(),
            [
                (Engaged, CustomerReturned),
                (Qualified, NeedAndBudgetKnown),
                (Proposal, ProductPriced)
            ]
        );

        let mut chat = at_proposal();
        chat.customer(&["goodbye"]);
        assert_eq!(chat.advance(), [], "a goodbye alone is not lost");
        chat.customer(&["objection_timing", "not_interested"]);
        chat.advance();
        chat.apply(Event::StageChanged { to: Proposal, reason: "manual".into(), at: 99 });
        chat.customer(&["goodbye"]);
        assert_eq!(chat.advance(), [(Lost, LeftAfterRefusal)]);
    }

    #[test]
    fn a_goodbye_with_a_weaker_refusal_read_beside_it_does_not_lose_the_lead() {
        let mut chat = at_proposal();
        let at = chat.next();
        let annotation = Annotation {
            intents: vec![
                IntentScore { label: "goodbye".into(), confidence: 0.86 },
                IntentScore { label: "not_interested".into(), confidence: 0.55 },
            ],
            ..Annotation::default()
        };
        chat.apply(Event::Message {
            role: Role::Customer, text: "没有了，谢谢，再见".into(), at
        })
        .apply(Event::Annotated { annotation, at });
        assert_eq!(chat.advance(), []);
        chat.customer(&["not_interested", "goodbye"]);
        assert_eq!(chat.advance(), [(Lost, NotInterested)], "refusal as the main reading");
    }

    #[test]
    fn a_judged_turn_does_not_move_the_stage_again() {
        let mut chat = at_proposal();
        chat.customer(&["not_interested"]);
        chat.advance();
        // A salesperson moves it back by hand: the same turn must not lose it again.
        chat.apply(Event::StageChanged { to: Proposal, reason: "manual".into(), at: 99 });
        assert_eq!(chat.advance(), []);
    }

    #[test]
    fn handed_off_returns_to_the_stage_it_interrupted() {
        let mut chat = at_proposal();
        chat.customer(&["request_human"])
            .apply(Event::HandoffRequested { reason: "requested_human".into(), at: 50 });
        assert_eq!(chat.advance(), [(HandedOff, HandoffRequested)]);
        chat.apply(Event::HandoffTaken { at: 51 });
        assert_eq!(chat.advance(), []);
        chat.apply(Event::HandoffReturned { at: 52 });
        assert_eq!(chat.advance(), [(Proposal, HandoffReturned)]);
        assert_eq!(chat.state.stage_before_handoff, None);
    }

    #[test]
    fn reason_names_round_trip_and_match_serde() {
        for r in StageReason::ALL {
            assert_eq!(StageReason::parse(r.as_str()), Some(*r));
            assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
        }
        assert_eq!(StageReason::parse("quote sent"), None, "legacy prose is not a code");
    }

    #[test]
    fn the_event_stores_the_code_name() {
        let change = StageChange {
            from: Stage::New,
            to: Stage::Engaged,
            reason: StageReason::ShowedInterest,
        };
        let json = serde_json::to_string(&change.event(3)).expect("json");
        assert_eq!(
            json,
            r#"{"kind":"stage_changed","to":"engaged","reason":"showed_interest","at":3}"#
        );
    }
}
