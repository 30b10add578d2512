//! The pure core of a conversation: the events that happen in it, the state they fold into, and
//! the lead-field provenance rule.
//!
//! Key decision: conversation state is event-sourced. [`ConversationState`] is a fold over
//! [`Event`]s, so replaying the stored events reproduces it exactly. Nothing here touches IO, a
//! clock or a model: time, ids and model output come in as values (`at` is Unix milliseconds).

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

mod event;
mod lead;
pub mod nlu;
mod state;

pub use event::{Event, Role};
pub use nlu::{
    Annotation, Entity, EntityKind, FieldProposal, FieldSpec, FieldType, IntentScore, Sentiment,
    SentimentScore,
};
pub use lead::{FieldDecision, FieldSource, FieldValue, LeadProfile};
pub use state::{Channel, ConversationState, Handoff, Message, Mode, Stage};

/// Unix time in milliseconds, passed in by the caller.
pub type Millis = i64;
