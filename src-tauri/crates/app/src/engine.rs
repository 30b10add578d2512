//! The live path of one customer message, as design.md draws it: ingest → NLU → tracker → policy
//! → composer → the model's N suggestions, each checked before anyone sees it, with the strategy's
//! template reply when the model fails the check, fails outright or is not loaded.
//!
//! Three steps, so a salesperson sees a message the moment it arrives whatever the NLU's queue:
//! [`Api::store_customer_message`] (ingest: stored, announced as `customerMessage`),
//! [`Api::understand_customer_messages`] (NLU in one encoder batch, the turn recorded,
//! `messageAnalysed`), [`Api::answer_customer_message`] (suggestions); the channels run the last
//! two on their ingest workers, [`Api::receive_customer_message`] runs all three.
//!
//! Key decisions:
//! - The message is stored before anything can fail: if the NLU is not ready, the message is
//!   kept and the caller gets `nlu_not_ready`. The rest of a turn (annotation, fields, focus,
//!   hand-off, stage) is stored in one transaction, computed on the state the message arrived in
//!   (later customer messages, already stored, wait for their own turn).
//! - Nothing reaches a customer unless the conversation's mode allows it: in draft mode the
//!   suggestions wait for a person; in auto mode the first suggestion that passed the check is
//!   sent only when the policy's `may_auto_send` says so (never on a hand-off condition).
//! - The model only writes words: the action, the field to ask, the objection answer and the
//!   promotion come from the policy and the strategy.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use closer_dialogue::composer::{self, CheckContext, ComposeInput, Fact, PromptRole};
use closer_dialogue::document::{Language, StrategyDocument};
use closer_dialogue::turn::{self, TurnInput};
use closer_dialogue::{ConversationState, Decision, Event, Millis, Mode, Role};
use closer_llm::{ChatMessage, GenerateRequest, SamplingParams, StreamEvent};
use serde::Serialize;
use ts_rs::TS;

use crate::dto::ConversationView;
use crate::events::AppEvent;
use crate::facts::FactIndex;
use crate::{ApiError, ErrorCode};

/// The strategy the live path uses (its published version).
pub const DEFAULT_STRATEGY: &str = "default";
/// Suggestions written per customer message.
pub const SUGGESTIONS: usize = 2;
/// Product facts put into a prompt.
const FACTS: usize = 3;
/// Customer and salesperson messages of context in a prompt.
const RECENT: usize = 6;
/// Tokens per suggestion at most (a chat reply, not an essay).
const MAX_TOKENS: usize = 120;

/// The policy's decision, for the console.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    /// `answer`, `ask_field`, `handle_objection`, `offer_promotion`, `hand_off`, `close`, `engage`.
    pub action: String,
    /// The reason code.
    pub reason: String,
    pub field: Option<String>,
    pub objection: Option<String>,
    pub promotion: Option<String>,
    pub may_auto_send: bool,
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> Self {
        Self {
            action: d.action.as_str().to_owned(),
            reason: d.reason.as_str().to_owned(),
            field: d.field_to_ask.clone(),
            objection: d.objection.clone(),
            promotion: d.promotion.clone(),
            may_auto_send: d.may_auto_send,
        }
    }
}

/// One suggested reply as the salesperson sees it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionView {
    pub id: String,
    pub text: String,
    /// `model` or `template` (the strategy's fallback).
    pub source: String,
    /// Why the model's text was replaced by the template (a check code, or `model_failed`,
    /// `model_not_ready`; `hand_off`: a person takes over, the template is the holding message).
    pub replaced_because: Option<String>,
}

/// A piece of the suggestions as the model writes them.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SuggestionStream {
    /// More text of suggestion `index` (not yet checked).
    Piece { index: usize, text: String },
    /// Suggestion `index` is final (checked, or replaced by the template).
    Done { index: usize, suggestion: SuggestionView },
}

/// What one customer message did.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TurnView {
    pub conversation: ConversationView,
    pub decision: DecisionView,
    pub suggestions: Vec<SuggestionView>,
    /// The id of the suggestion sent without a person (auto mode), if one was.
    pub auto_sent: Option<String>,
    /// How long the NLU, the composition and the model took, in milliseconds.
    pub nlu_ms: f64,
    pub suggest_ms: f64,
}

/// A customer message as stored at ingest, before anything read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub conversation_id: i64,
    /// What the customer wrote (trimmed): what the NLU reads.
    pub text: String,
    /// What the event log holds (`Api::stored_customer_text`).
    pub stored_text: String,
    /// When it was stored (Unix milliseconds); every event of its turn carries it.
    pub at: Millis,
}

/// A customer message understood: its turn is recorded.
#[derive(Debug, Clone)]
pub struct Understood {
    pub message: StoredMessage,
    pub decision: Decision,
    /// The conversation as the turn left it (the suggestions are written for it).
    pub state: ConversationState,
    pub language: Language,
    /// The NLU's time for this message (its share of the batch), in milliseconds.
    pub nlu_ms: f64,
}

/// The engine's caches: the product fact index (built on first use with the NLU's encoder).
#[derive(Debug, Default)]
pub struct EngineCache {
    facts: Mutex<Option<Arc<FactIndex>>>,
    /// Each conversation's last customer message time: a message's time is unique in its
    /// conversation (its turn and the console find it by that time).
    last_message_at: Mutex<std::collections::HashMap<i64, Millis>>,
}

impl EngineCache {
    /// The time for a new customer message of `conversation_id`: now, or just after the last.
    fn message_time(&self, conversation_id: i64, now: Millis) -> Millis {
        let mut last = self.last_message_at.lock().unwrap_or_else(|p| p.into_inner());
        let at = last.get(&conversation_id).map_or(now, |&before| now.max(before + 1));
        last.insert(conversation_id, at);
        at
    }
}

impl EngineCache {
    /// Forget the fact index (the catalog changed).
    pub fn invalidate(&self) {
        *self.facts.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl crate::Api {
    /// The published strategy document.
    pub fn strategy_document(&self) -> Result<StrategyDocument, ApiError> {
        let version = self.store.published_strategy(DEFAULT_STRATEGY)?;
        StrategyDocument::from_value(version.document).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("the published strategy is unreadable: {e}"))
        })
    }

    /// Ingest: a customer message is stored and the console told (`customerMessage`), before
    /// anything reads it. With `dedup` (`(source, message id)`), the id is claimed in the same
    /// transaction: `None` when it was taken before (a redelivery: nothing stored, nothing
    /// announced). Fast: no NLU, no model — [`Api::understand_customer_messages`] follows.
    pub fn store_customer_message(
        &self,
        conversation_id: i64,
        text: &str,
        dedup: Option<(&str, &str)>,
    ) -> Result<Option<StoredMessage>, ApiError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::invalid("an empty message"));
        }
        let at = self.engine.message_time(conversation_id, (self.clock)());
        // THE one place the live path decides the stored text (every channel, the console and
        // call sessions store through here); the NLU still reads what the customer wrote.
        let stored_text = self.stored_customer_text(text);
        let event = Event::Message { role: Role::Customer, text: stored_text.clone(), at };
        match dedup {
            Some((source, id)) => {
                if !self.store.record_inbound(source, id, conversation_id, &event, "customer")? {
                    return Ok(None);
                }
            }
            None => {
                self.store.record(conversation_id, &event, "customer")?;
            }
        }
        self.events.publish(AppEvent::CustomerMessage { conversation_id, at });
        Ok(Some(StoredMessage { conversation_id, text: text.to_owned(), stored_text, at }))
    }

    /// Understanding: the NLU reads stored customer messages (one encoder batch for all of
    /// them), and each one's turn — annotation, accepted lead fields, focus, hand-off, stage — is
    /// recorded in one transaction, in the given order (keep a conversation's messages in the
    /// order they were stored), and announced (`messageAnalysed`). One result per message; a
    /// failure (the NLU not ready: `nlu_not_ready`) leaves the stored message as it is.
    pub fn understand_customer_messages(
        &self,
        messages: &[StoredMessage],
    ) -> Vec<Result<Understood, ApiError>> {
        let fail = |e: &ApiError| messages.iter().map(|_| Err(e.clone())).collect();
        let started = Instant::now();
        let inputs: Vec<(&str, Millis)> =
            messages.iter().map(|m| (m.text.as_str(), m.at)).collect();
        let analyses =
            match self.nlu.wait(crate::NLU_WAIT).and_then(|_| self.nlu.analyze_batch(&inputs)) {
                Ok(analyses) => analyses,
                Err(e) => return fail(&e),
            };
        let nlu_ms = started.elapsed().as_secs_f64() * 1000.0 / messages.len().max(1) as f64;
        let context = self.strategy_document().and_then(|document| {
            let products = self.store.products()?;
            Ok((document, products))
        });
        let (document, products) = match context {
            Ok(context) => context,
            Err(e) => return fail(&e),
        };
        let catalog = crate::catalog::dialogue_catalog(&products);
        let view = document.view();
        messages
            .iter()
            .zip(analyses)
            .map(|(message, analysis)| {
                let id = message.conversation_id;
                let (decision, state, language) =
                    self.record_turn(message, analysis.annotation, &catalog, &view)?;
                self.events.publish(AppEvent::MessageAnalysed {
                    conversation_id: id,
                    at: message.at,
                    decision: DecisionView::from(&decision),
                });
                // Lead fields may have changed: their outbox rows wait for the relay.
                self.crm.nudge();
                Ok(Understood { message: message.clone(), decision, state, language, nlu_ms })
            })
            .collect()
    }

    /// Records the turn of a stored message: computed on the state the message arrived in (the
    /// stored state without it and without the customer messages stored after it, which wait
    /// for their own turn), the message event itself left out (it is stored already).
    fn record_turn(
        &self,
        message: &StoredMessage,
        annotation: closer_dialogue::Annotation,
        catalog: &closer_dialogue::focus::Catalog,
        view: &closer_dialogue::StrategyView,
    ) -> Result<(Decision, ConversationState, Language), ApiError> {
        let id = message.conversation_id;
        let mut state = self.store.state(id)?;
        // A customer message's time is unique in its conversation.
        let Some(position) = state.messages.iter().position(|m| {
            m.role == Role::Customer && m.at == message.at && m.text == message.stored_text
        }) else {
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!(
                    "the customer message at {} is not stored in conversation {id}",
                    message.at
                ),
            ));
        };
        // A customer message changes nothing but the thread, so taking it out gives exactly the
        // state before it.
        let mut index = 0;
        state.messages.retain(|m| {
            index += 1;
            index <= position || m.role != Role::Customer
        });
        let language = Language::parse(&annotation.language).unwrap_or_default();
        let input = TurnInput {
            id: format!("m-{id}-{}", message.at),
            text: message.text.clone(),
            at: message.at,
            annotation,
        };
        let outcome = turn::customer_message(&state, &input, catalog, view);
        let events = match outcome.events.split_first() {
            Some((Event::Message { .. }, rest)) => rest,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Internal,
                    "a customer turn must begin with its message",
                ));
            }
        };
        self.store.record_all(id, events, "customer")?;
        Ok((outcome.decision, outcome.state, language))
    }

    /// Answering: unless the AI is off, the suggestions for an understood message — catalog
    /// facts, the prompt, the model's N suggestions streamed to `on_stream` and the console,
    /// each checked (the template in place of any that fails) — are stored as offered; in auto
    /// mode the first model suggestion is sent when the policy allows.
    pub fn answer_customer_message(
        &self,
        understood: &Understood,
        on_stream: &mut dyn FnMut(SuggestionStream),
    ) -> Result<TurnView, ApiError> {
        let conversation_id = understood.message.conversation_id;
        let at = understood.message.at;
        let (decision, state) = (&understood.decision, &understood.state);
        // The console hears the stream too (a message from a channel has no other listener).
        let events = Arc::clone(&self.events);
        let mut on_stream = |stream: SuggestionStream| {
            events.publish(AppEvent::Suggestion { conversation_id, stream: stream.clone() });
            on_stream(stream);
        };
        let started = Instant::now();
        let mut suggestions = Vec::new();
        let mut auto_sent = None;
        if state.mode != Mode::Off {
            let document = self.strategy_document()?;
            let products = self.store.products()?;
            let language = understood.language;
            let facts = self.facts_for(&understood.message.text, state, &products, language)?;
            suggestions = self.write_suggestions(
                conversation_id,
                &document,
                state,
                decision,
                &facts,
                language,
                &mut on_stream,
            );
            let offered: Vec<Event> = suggestions
                .iter()
                .map(|s: &SuggestionView| decision.offered(&s.id, &s.text, at))
                .collect();
            self.store.record_all(conversation_id, &offered, "ai")?;
            if state.mode == Mode::Auto
                && decision.may_auto_send
                && let Some(first) = suggestions.iter().find(|s| s.source == "model")
            {
                let state = self.store.state(conversation_id)?;
                let sent = turn::reply_sent(&state, &first.id, &first.text, Role::Ai, at);
                self.store.record_all(conversation_id, &sent.events, "ai")?;
                self.deliver(conversation_id, &first.text, Role::Ai, at)?;
                auto_sent = Some(first.id.clone());
            }
            self.updated(conversation_id);
        }
        Ok(TurnView {
            conversation: self.conversation_view(conversation_id)?,
            decision: DecisionView::from(decision),
            suggestions,
            auto_sent,
            nlu_ms: understood.nlu_ms,
            suggest_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// A customer message arrives (the console, a call session, tests): stored and announced
    /// ([`Api::store_customer_message`]), understood ([`Api::understand_customer_messages`]) and,
    /// unless the AI is off, answered with suggestions streamed to `on_stream`
    /// ([`Api::answer_customer_message`]). The channels run the same three steps, the last two
    /// on their ingest workers. When the NLU is not ready the message stays stored and the
    /// caller gets `nlu_not_ready`.
    pub fn receive_customer_message(
        &self,
        conversation_id: i64,
        text: &str,
        on_stream: &mut dyn FnMut(SuggestionStream),
    ) -> Result<TurnView, ApiError> {
        let Some(message) = self.store_customer_message(conversation_id, text, None)? else {
            return Err(ApiError::new(ErrorCode::Internal, "an unclaimed message was not stored"));
        };
        let understood = self
            .understand_customer_messages(std::slice::from_ref(&message))
            .pop()
            .unwrap_or_else(|| Err(ApiError::new(ErrorCode::Internal, "no turn was recorded")))?;
        self.answer_customer_message(&understood, on_stream)
    }

    /// The salesperson sends suggestion `id`, as written or edited to `text`.
    pub fn send_suggestion(
        &self,
        conversation_id: i64,
        id: &str,
        text: &str,
    ) -> Result<ConversationView, ApiError> {
        let at = (self.clock)();
        let state = self.store.state(conversation_id)?;
        let Some(offered) = state.suggestions.iter().find(|s| s.id == id) else {
            return Err(ApiError::new(ErrorCode::NotFound, format!("no suggestion {id}")));
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::invalid("an empty reply"));
        }
        let mut events = Vec::new();
        let mut state = state.clone();
        if offered.text != text {
            let edited = Event::SuggestionEdited { id: id.to_owned(), text: text.to_owned(), at };
            state.apply(&edited);
            events.push(edited);
        }
        events.extend(turn::reply_sent(&state, id, text, Role::Salesperson, at).events);
        self.store.record_all(conversation_id, &events, "salesperson")?;
        self.deliver(conversation_id, text, Role::Salesperson, at)?;
        self.updated(conversation_id);
        self.conversation_view(conversation_id)
    }

    /// The salesperson discards suggestion `id`.
    pub fn reject_suggestion(
        &self,
        conversation_id: i64,
        id: &str,
        reason: &str,
    ) -> Result<ConversationView, ApiError> {
        let state = self.store.state(conversation_id)?;
        if !state.suggestions.iter().any(|s| s.id == id) {
            return Err(ApiError::new(ErrorCode::NotFound, format!("no suggestion {id}")));
        }
        let event = Event::SuggestionRejected {
            id: id.to_owned(),
            reason: reason.trim().to_owned(),
            at: (self.clock)(),
        };
        self.store.record(conversation_id, &event, "salesperson")?;
        self.updated(conversation_id);
        self.conversation_view(conversation_id)
    }

    /// The catalog facts for a message: the product in focus, then the nearest by embedding.
    pub(crate) fn facts_for(
        &self,
        text: &str,
        state: &ConversationState,
        products: &[closer_store::Product],
        language: Language,
    ) -> Result<Vec<Fact>, ApiError> {
        let loaded = self.nlu.ready()?;
        let Some(encoder) = loaded.encoder() else { return Ok(Vec::new()) };
        let index = {
            let mut cached = self.engine.facts.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some(index) => Arc::clone(index),
                None => {
                    let index = Arc::new(FactIndex::build(products, |t| encoder.embed(t))?);
                    *cached = Some(Arc::clone(&index));
                    index
                }
            }
        };
        let query = encoder.embed(&[text])?.remove(0);
        // A plan of a product family is a SKU of its own; a single product's id is its SKU.
        let focus = state.focus.as_ref().map(|f| f.plan.as_deref().unwrap_or(&f.product));
        Ok(index
            .search(&query, FACTS, focus)
            .into_iter()
            .map(|f| Fact { product: f.sku.clone(), text: f.text(language.as_str()).to_owned() })
            .collect())
    }

    /// N suggestions from the model, each checked, the template in place of any that fails.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_suggestions(
        &self,
        conversation_id: i64,
        document: &StrategyDocument,
        state: &ConversationState,
        decision: &Decision,
        facts: &[Fact],
        language: Language,
        on_stream: &mut dyn FnMut(SuggestionStream),
    ) -> Vec<SuggestionView> {
        let at = (self.clock)();
        let input = ComposeInput {
            document,
            facts,
            state,
            decision,
            recent: composer::recent_messages(state, RECENT),
            profile_tags: &[],
            language,
        };
        let check = CheckContext::for_input(&input);
        let template = composer::template_reply(document, decision, state, facts, language);
        let id = |index: usize| format!("s-{conversation_id}-{at}-{index}");
        let fallback = |index: usize, because: &str| SuggestionView {
            id: id(index),
            text: template.clone(),
            source: "template".into(),
            replaced_because: Some(because.to_owned()),
        };
        // A hand-off is a person's to answer: the suggestion is the strategy's holding message,
        // never the model's answer (a small model answers anyway, whatever its prompt says).
        if decision.action == closer_dialogue::Action::HandOff {
            let only = SuggestionView {
                id: id(0),
                text: template.clone(),
                source: "template".into(),
                replaced_because: Some("hand_off".into()),
            };
            on_stream(SuggestionStream::Done { index: 0, suggestion: only.clone() });
            return vec![only];
        }
        let backend = match self.suggester.ready() {
            Ok(backend) => backend,
            Err(e) => {
                tracing::info!(code = ?e.code, "suggestions from the template: {}", e.message);
                let only = fallback(0, "model_not_ready");
                on_stream(SuggestionStream::Done { index: 0, suggestion: only.clone() });
                return vec![only];
            }
        };
        let prompt = composer::compose(&input);
        let mut messages = vec![ChatMessage::system(prompt.system)];
        messages.extend(prompt.messages.into_iter().map(|m| match m.role {
            PromptRole::User => ChatMessage::user(m.content),
            PromptRole::Assistant => ChatMessage::assistant(m.content),
        }));
        let request = GenerateRequest {
            messages,
            params: SamplingParams {
                max_tokens: MAX_TOKENS,
                seed: at as u64,
                ..SamplingParams::default()
            },
            n: SUGGESTIONS,
            cache_key: Some(format!("conversation-{conversation_id}")),
        };
        let mut out: Vec<Option<SuggestionView>> = vec![None; SUGGESTIONS];
        let mut failed = None;
        for event in backend.generate(request).events {
            match event {
                StreamEvent::Text { index, text } => {
                    on_stream(SuggestionStream::Piece { index, text });
                }
                StreamEvent::Finished { index, text, .. } if index < SUGGESTIONS => {
                    let text = text.trim().to_owned();
                    let view = match composer::check(&text, &check) {
                        Ok(()) => SuggestionView {
                            id: id(index),
                            text,
                            source: "model".into(),
                            replaced_because: None,
                        },
                        Err(failure) => fallback(index, failure.code()),
                    };
                    on_stream(SuggestionStream::Done { index, suggestion: view.clone() });
                    out[index] = Some(view);
                }
                StreamEvent::Finished { .. } => {}
                StreamEvent::Done(stats) => {
                    tracing::info!(
                        prompt = stats.prompt_tokens,
                        cached = stats.cached_tokens,
                        first_token_ms = stats.first_token_ms as u64,
                        "suggestions written"
                    );
                    break;
                }
                StreamEvent::Failed(e) => {
                    tracing::warn!("the model failed; the template stands in: {e}");
                    failed = Some(e);
                    break;
                }
            }
        }
        let mut views: Vec<SuggestionView> = Vec::new();
        for (index, view) in out.into_iter().enumerate() {
            let view = view.unwrap_or_else(|| {
                let view = fallback(index, if failed.is_some() { "model_failed" } else { "empty" });
                on_stream(SuggestionStream::Done { index, suggestion: view.clone() });
                view
            });
            // Two identical templates are one suggestion.
            if !views.iter().any(|v| v.text == view.text) {
                views.push(view);
            }
        }
        views
    }
}
