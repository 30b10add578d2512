//! Customer ingress: the chat-widget server (a small bilingual chat page and one WebSocket per
//! visitor), the signed inbound webhook for IM platforms and website forms, and the customer
//! simulator that makes the demo inbox come alive.
//!
//! Key decisions:
//! - This crate knows nothing of the engine. It turns what customers send into [`Inbound`]
//!   messages for an [`Inbox`] (the `app` crate implements it over the one ingest path) and
//!   carries replies back through the [`Hub`]. Untrusted input is checked here first — size,
//!   encoding, shape, rate, origin, signature, replay — and a bad frame gets an error frame, never
//!   a dropped connection for its neighbours.
//! - [`Inbox::accept`] only stores and queues: the HTTP and WebSocket tasks never wait on the NLU
//!   or the model. Every store call runs on tokio's blocking pool.
//! - Replies to webhook customers go back to their platform's callback URL, signed like the
//!   inbound webhook and retried ([`callback`]).
//! - Message ids make ingest idempotent: the webhook sender's id and the widget client's id are
//!   claimed once ([`Accepted::Duplicate`] the second time), so a resend after a reconnect or a
//!   platform's redelivery is not a second message.

pub mod callback;
pub mod client;
mod hub;
mod limits;
mod server;
pub mod simulator;
pub mod webhook;
mod widget;

use closer_dialogue::Channel;
use serde::{Deserialize, Serialize};

pub use hub::{Hub, Session, ToCustomer};
pub use limits::{Limits, RateLimiter};
pub use server::{Server, ServerConfig};
pub use widget::{FrameRefusal, VisitorFrame, check_text, decode_frame};

/// Who a conversation is with, as a channel knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub channel: Channel,
    /// The channel's own key: a widget visitor's token, `platform:sender` for the webhook, a
    /// persona's run key for the simulator.
    pub key: String,
    /// The name the console shows.
    pub name: String,
    /// `zh` or `en`.
    pub language: String,
}

/// Who wrote a line of a thread, as the customer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The customer themself.
    Customer,
    /// The business (a salesperson, or the AI in auto mode).
    Agent,
}

/// One line of a customer's thread (what a reconnecting visitor sees again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub from: Speaker,
    pub text: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// A customer message on its way into the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub conversation_id: i64,
    pub text: String,
    /// `(source, message id)`: taken once; a second message with the same pair is a duplicate.
    pub dedup: Option<(String, String)>,
}

/// What [`Inbox::accept`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Taken in (the engine stored it and queued it to be understood).
    Queued,
    /// Its message id was taken before: ignored.
    Duplicate,
}

/// Why a message or a contact could not be taken in, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct IngestError {
    pub code: String,
    pub message: String,
}

impl IngestError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// Where customers' messages go: the engine's ingest path (`closer_app::live`) or a test's
/// recorder. Calls may block on storage (callers run them on a blocking pool) but never on the
/// model.
pub trait Inbox: Send + Sync + 'static {
    /// The conversation of `contact`, created on first contact.
    fn conversation_for(&self, contact: &Contact) -> Result<i64, IngestError>;
    /// The thread so far, oldest first.
    fn history(&self, conversation_id: i64) -> Result<Vec<Line>, IngestError>;
    /// Takes a customer message in: stores it (the engine implementation) and queues it for the
    /// engine, then returns — it never waits for the message to be understood or answered.
    fn accept(&self, message: Inbound) -> Result<Accepted, IngestError>;
    /// The customer started or stopped typing.
    fn typing(&self, conversation_id: i64, on: bool) {
        let _ = (conversation_id, on);
    }
    /// What became of a reply posted to a webhook platform ([`callback`]).
    fn reply_delivered(&self, report: &callback::DeliveryReport) {
        let _ = report;
    }
}

/// `zh` when the text holds any CJK ideograph, else `en`.
pub fn guess_language(text: &str) -> &'static str {
    if text
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c))
    {
        "zh"
    } else {
        "en"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_is_guessed_from_ideographs() {
        assert_eq!(guess_language("我想买云服务器"), "zh");
        assert_eq!(guess_language("Hello, 100 seats?"), "en");
        assert_eq!(guess_language("ERP 对接"), "zh");
    }
}
