//! The pure core of a conversation: the events that happen in it, the state they fold into, the
//! lead-field provenance rule, reference carry-over, funnel stages and the next-best-action policy.
//!
//! Key decision: conversation state is event-sourced. [`ConversationState`] is a fold over
//! [`Event`]s, so replaying the stored events reproduces it exactly. Nothing here touches IO, a
//! clock or a model: time, ids, the catalog, the strategy and the NLU's reading come in as values
//! (`at` is Unix milliseconds), and decisions come out as values and events to record.
//!
//! One customer message, as the caller drives it:
//! 1. record [`Event::Message`] and the NLU's [`Event::Annotated`], the accepted field values
//!    ([`LeadProfile::decide`]) and the focus change ([`focus::resolve`] → [`Resolution::event`]);
//! 2. [`policy::decide`] on the updated state → a [`Decision`] (action, reason code, the one field
//!    to ask, objection, promotion, whether auto mode may send it);
//! 3. record the suggestions written for it ([`Decision::offered`]) and what the salesperson did
//!    with them (edited / sent / rejected);
//! 4. [`stage::advance`] → the funnel moves with reason codes ([`StageChange::event`]).

#[macro_use]
mod names {
    macro_rules! stable_names {
        ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
            impl $ty {
                /// The stable name used in storage (the same as the serde name).
                pub fn as_str(self) -> &'static str {
                    match self { $(<$ty>::$variant => $name),+ }
                }
                /// Parses the stored name.
                pub fn parse(name: &str) -> Option<Self> {
                    match name { $($name => Some(<$ty>::$variant),)+ _ => None }
                }
                /// Every variant, in declaration order.
                pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];
            }
        };
    }
}

pub mod composer;
pub mod cues;
pub mod document;
mod event;
pub mod focus;
mod lead;
pub mod nlu;
pub mod policy;
pub mod script;
pub mod stage;
mod state;
pub mod strategy;
pub mod turn;

pub use cues::Cue;
pub use event::{Event, Role};
pub use focus::{AttributeTerm, Catalog, CatalogProduct, Focus, FocusChange, Plan, Resolution};
pub use lead::{FieldDecision, FieldSource, FieldValue, LeadProfile};
pub use nlu::{
    Annotation, Entity, EntityKind, FieldProposal, FieldSpec, FieldType, IntentScore, Sentiment,
    SentimentScore,
};
pub use policy::{Action, AutoSendBlock, Decision, DecisionReason};
pub use stage::{StageChange, StageReason};
pub use state::{
    ActionTaken, Channel, ConversationState, FieldAsk, Handoff, Message, Mode, OpenQuestion,
    Presented, PromotionOffer, Stage, Suggestion, SuggestionStatus, Turn,
};
pub use strategy::{Proactivity, Promotion, PromotionEligibility, StrategyView};

/// Unix time in milliseconds, passed in by the caller.
pub type Millis = i64;
