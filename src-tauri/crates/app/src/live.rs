//! Live customer channels wired into the one ingest path: the chat widget and the webhook
//! (`closer_channels::Server`), the customer simulator, and outbound call sessions. Every
//! customer message, whatever its channel, goes through [`crate::Api::receive_customer_message`]
//! (NLU, tracker, policy, suggestions), and every reply to a customer comes back through the
//! channel's [`CustomerSink`].
//!
//! Key decisions:
//! - Ingest stores, then queues: a customer message is claimed (its message id, once) and stored
//!   in one transaction, the console hears `customerMessage` at once, and the message goes to an
//!   ingest worker for the NLU; the HTTP and WebSocket tasks never wait on the NLU or the model,
//!   and a salesperson sees a message the moment it arrives, however long the queue.
//! - Messages of one conversation are stored and queued in one order (one lock per worker's
//!   queue) and understood in that order by one worker (conversations are sharded over the
//!   workers by id), so a turn always sees the turn before it.
//! - A worker takes what waits in its queue (up to [`BATCH`] messages) as one batch: one encoder
//!   call embeds them all, every turn is recorded (`messageAnalysed`), then suggestions are
//!   written for each conversation's latest message of the batch only — an earlier one was
//!   superseded by the customer's next message before anyone could answer it.
//! - A channel's contact (a visitor's token, a webhook sender) maps to one conversation, kept in
//!   the store, so a visitor who comes back sees the same thread.
//! - A stop loses no work: customer messages stored but not yet understood when the process went
//!   away are queued again when the channels start (at most a day old, with no reply after
//!   them), and webhook replies still pending are posted again with the same id.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use closer_channels::callback::{Callback, CallbackError, RetryPolicy};
use closer_channels::callback::{DeliveryReport, Recipient, Replier, WebhookReply};
use closer_channels::simulator::Simulator;
pub use closer_channels::simulator::{PERSONAS, Pace, Persona, Progress, SimulatorConfig};
use closer_channels::webhook::WebhookConfig;
use closer_channels::{
    Accepted, Contact, Hub, Inbound, Inbox, IngestError, Limits, Line, Server, ServerConfig,
    Speaker, ToCustomer,
};
use closer_dialogue::{Channel, Event, Mode, Role};
use closer_store::NewConversation;

use crate::deliver::{CustomerSink, Outgoing};
use crate::engine::StoredMessage;
use crate::{Api, ApiError, ErrorCode};

/// The port the demo's chat page is served on (another free one if it is taken).
pub const DEMO_PORT: u16 = 8745;

/// How to run the customer channels.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// 0 picks a free port.
    pub port: u16,
    /// Listen on every interface (customers on the local network), not only on 127.0.0.1.
    pub lan: bool,
    /// Origins besides the chat page's own that may open the chat (a site embedding it).
    pub allowed_origins: Vec<String>,
    /// The webhook's shared secret; the webhook is off without one.
    pub webhook_secret: Option<Vec<u8>>,
    /// How old (or how far ahead) a webhook request's timestamp may be, in seconds.
    pub webhook_max_skew_secs: i64,
    /// Per webhook platform, the URL replies to its customers are posted to (signed with the
    /// webhook secret; see the channels README). A platform without one keeps its replies in
    /// the conversation only.
    pub webhook_callbacks: Vec<Callback>,
    /// How hard a reply is retried.
    pub webhook_retry: RetryPolicy,
    pub limits: Limits,
    /// The AI mode of the conversations the channels open (the store's default, draft, if none).
    pub mode: Option<Mode>,
    /// Ingest workers (conversations are spread over them; one conversation stays on one).
    pub workers: usize,
    /// Messages a worker understands together at most (one encoder pass); [`BATCH`] by default.
    pub batch: usize,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            port: 0,
            lan: false,
            allowed_origins: Vec::new(),
            webhook_secret: None,
            webhook_max_skew_secs: 300,
            webhook_callbacks: Vec::new(),
            webhook_retry: RetryPolicy::default(),
            limits: Limits::default(),
            mode: None,
            workers: 2,
            batch: BATCH,
        }
    }
}

/// Ingest counters.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages stored and queued for the engine.
    pub queued: AtomicU64,
    /// Messages the engine understood (and, the latest of a conversation, answered or drafted
    /// for).
    pub handled: AtomicU64,
    /// Messages stored but not understood (the NLU failed or was not ready).
    pub failed: AtomicU64,
    /// Redeliveries ignored.
    pub duplicates: AtomicU64,
    /// Batches the workers understood (messages per batch: handled ÷ batches).
    pub batches: AtomicU64,
    /// Time in the engine (all handled messages), and of it in the NLU, in microseconds.
    pub engine_micros: AtomicU64,
    pub nlu_micros: AtomicU64,
}

/// Messages a worker understands together, at most (one encoder pass), unless set otherwise.
pub const BATCH: usize = 16;

/// The engine side of the channels: `closer_channels::Inbox` over the API.
struct Ingest {
    api: Api,
    /// Each worker's queue; its lock also keeps storing and queueing in one order.
    queues: Vec<Mutex<Sender<StoredMessage>>>,
    mode: Option<Mode>,
    /// Serialises find-or-create of contacts.
    contacts: Mutex<()>,
    typing: Mutex<HashSet<i64>>,
    /// What became of each reply posted to a webhook platform, by reply id.
    replies: Mutex<HashMap<String, ReplyState>>,
    stats: Arc<IngestStats>,
}

/// Where a reply to a webhook platform stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyState {
    /// Queued or being retried.
    Pending,
    /// The platform answered 2xx, after this many attempts.
    Delivered { attempts: u32 },
    /// Failed for good (the reply is still in the conversation).
    Failed(CallbackError),
}

/// A reply still pending when the app stopped is posted again at start-up only if it is younger
/// than this; an older one is recorded as [`CallbackError::Expired`].
pub const RESEND_WITHIN_MS: i64 = 24 * 3600 * 1000;

impl Ingest {
    /// Records (in memory and in the store) and announces what became of a reply.
    fn reply_state(
        &self,
        conversation_id: i64,
        reply_id: &str,
        message_at: i64,
        state: ReplyState,
    ) {
        let (name, code, message, attempts) = match &state {
            ReplyState::Pending => ("pending", None, None, 0),
            ReplyState::Delivered { attempts } => ("delivered", None, None, *attempts),
            ReplyState::Failed(e) => {
                let attempts = match e {
                    CallbackError::GaveUp { attempts, .. } => *attempts,
                    CallbackError::Refused { .. } => 1,
                    CallbackError::NotConfigured { .. } | CallbackError::Expired { .. } => 0,
                };
                ("failed", Some(e.code().to_owned()), Some(e.to_string()), attempts)
            }
        };
        self.replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reply_id.to_owned(), state.clone());
        let row = closer_store::WebhookReplyRow {
            reply_id: reply_id.to_owned(),
            conversation_id,
            message_at,
            state: name.to_owned(),
            attempts,
            code: code.clone(),
            updated_at: (self.api.clock)(),
        };
        if let Err(e) = self.api.store.record_webhook_reply(&row) {
            // The post goes ahead; only a restart before it settles would not resend it.
            tracing::warn!(conversation_id, "a reply's delivery state was not stored: {e}");
        }
        if state != ReplyState::Pending {
            self.api.events.publish(crate::events::AppEvent::ReplyDelivery {
                conversation_id,
                reply_id: reply_id.to_owned(),
                state: name.to_owned(),
                code,
                message,
                attempts,
            });
        }
    }

    /// The queue of the worker that understands `conversation_id`'s messages (conversations are
    /// sharded over the workers by id).
    fn queue_for(&self, conversation_id: i64) -> Option<&Mutex<Sender<StoredMessage>>> {
        self.queues.get(conversation_id.unsigned_abs() as usize % self.queues.len().max(1))
    }

    /// Queues again the customer messages a stop left un-understood (stored, but the process
    /// went away before the NLU read them): the trailing customer messages of channel
    /// conversations, at most [`RESEND_WITHIN_MS`] old, that no reply followed and no turn was
    /// recorded for. Their turns (lead fields included) are recorded and the latest answered as
    /// if they had just arrived. Demo-seeded conversations (no channel contact) are left alone.
    /// Returns how many were queued.
    fn requeue_unanalysed(&self) -> usize {
        let since = (self.api.clock)() - RESEND_WITHIN_MS;
        let ids = match self.api.store.channel_conversations_awaiting(since) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("the conversations awaiting an answer could not be read: {e}");
                return 0;
            }
        };
        let mut queued = 0;
        for id in ids {
            let Ok(state) = self.api.store.state(id) else { continue };
            let analysed: HashSet<i64> = state.turns.iter().map(|t| t.at).collect();
            let tail = state.messages.iter().rev().take_while(|m| m.role == Role::Customer);
            let mut waiting: Vec<StoredMessage> = tail
                .filter(|m| m.at >= since && !analysed.contains(&m.at))
                .map(|m| StoredMessage {
                    conversation_id: id,
                    text: m.text.clone(),
                    stored_text: m.text.clone(),
                    at: m.at,
                })
                .collect();
            waiting.reverse();
            let Some(queue) = self.queue_for(id) else { return queued };
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            for message in waiting {
                tracing::info!(conversation_id = id, "understanding a message a stop left unread");
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                if queue.send(message).is_err() {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                } else {
                    queued += 1;
                }
            }
        }
        queued
    }

    /// Hands the replies still pending from before a restart to `sink` again (same ids, so a
    /// platform that did receive one can tell), except those older than [`RESEND_WITHIN_MS`].
    /// Returns how many were handed over.
    fn resend_pending(&self, sink: &dyn CustomerSink) -> usize {
        let pending = match self.api.store.pending_webhook_replies() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("the replies pending before the restart could not be read: {e}");
                return 0;
            }
        };
        let now = (self.api.clock)();
        let mut resent = 0;
        for row in pending {
            let id = row.conversation_id;
            let found = self.api.store.conversation(id).ok().and_then(|(_, state)| {
                state
                    .messages
                    .iter()
                    .filter(|m| m.at == row.message_at)
                    .filter_map(|m| Outgoing::of(id, m))
                    .find(|o| o.reply_id() == row.reply_id)
            });
            let Some(outgoing) = found else {
                let lost = CallbackError::GaveUp {
                    attempts: 0,
                    last: "the reply is no longer in its conversation".into(),
                };
                self.reply_state(id, &row.reply_id, row.message_at, ReplyState::Failed(lost));
                continue;
            };
            let age = now.saturating_sub(row.message_at);
            if age > RESEND_WITHIN_MS {
                let expired = CallbackError::Expired { age_secs: (age / 1000).max(0) as u64 };
                self.reply_state(id, &row.reply_id, row.message_at, ReplyState::Failed(expired));
                continue;
            }
            tracing::info!(conversation_id = id, "posting a reply pending before the restart");
            sink.deliver(&outgoing);
            resent += 1;
        }
        resent
    }
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("workers", &self.queues.len()).finish_non_exhaustive()
    }
}

fn ingest_error(e: ApiError) -> IngestError {
    let code = serde_json::to_value(e.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "internal".into());
    IngestError::new(code, e.message)
}

impl Inbox for Ingest {
    fn conversation_for(&self, contact: &Contact) -> Result<i64, IngestError> {
        let _one_at_a_time = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        let at = (self.api.clock)();
        let new = NewConversation {
            channel: contact.channel,
            customer_name: contact.name.clone(),
            language: contact.language.clone(),
            at,
        };
        let (id, created) = self
            .api
            .store
            .contact_conversation(&contact.key, &new)
            .map_err(|e| ingest_error(e.into()))?;
        if created {
            if let Some(mode) = self.mode {
                let event = Event::ModeChanged { mode, at };
                self.api.store.record(id, &event, "system").map_err(|e| ingest_error(e.into()))?;
            }
            tracing::info!(
                conversation_id = id,
                channel = contact.channel.as_str(),
                "new customer"
            );
            self.api.updated(id);
        }
        Ok(id)
    }

    fn history(&self, conversation_id: i64) -> Result<Vec<Line>, IngestError> {
        let state = self.api.store.state(conversation_id).map_err(|e| ingest_error(e.into()))?;
        Ok(state
            .messages
            .into_iter()
            .filter_map(|m| {
                let from = match m.role {
                    Role::Customer => Speaker::Customer,
                    Role::Salesperson | Role::Ai => Speaker::Agent,
                    Role::System => return None,
                };
                Some(Line { from, text: m.text, at: m.at })
            })
            .collect())
    }

    fn accept(&self, inbound: Inbound) -> Result<Accepted, IngestError> {
        if inbound.text.len() > crate::args::MAX_TEXT_BYTES {
            return Err(IngestError::new("too_large", "the message is too long"));
        }
        let Some(queue) = self.queue_for(inbound.conversation_id) else {
            return Err(IngestError::new("busy", "the engine is not taking messages"));
        };
        // Stored and queued under one lock: the worker sees a conversation's messages in the
        // order they were stored, however many requests race.
        let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
        let dedup = inbound.dedup.as_ref().map(|(source, id)| (source.as_str(), id.as_str()));
        let stored = self
            .api
            .store_customer_message(inbound.conversation_id, &inbound.text, dedup)
            .map_err(ingest_error)?;
        let Some(message) = stored else {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(Accepted::Duplicate);
        };
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if queue.send(message).is_err() {
            // Stored and shown; only its analysis is lost (the worker is gone).
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                conversation_id = inbound.conversation_id,
                "the ingest worker is gone: the message is stored but will not be analysed"
            );
        }
        Ok(Accepted::Queued)
    }

    fn reply_delivered(&self, report: &DeliveryReport) {
        let state = match &report.outcome {
            Ok(attempts) => ReplyState::Delivered { attempts: *attempts },
            Err(e) => ReplyState::Failed(e.clone()),
        };
        let reply = &report.reply;
        self.reply_state(reply.conversation_id, &reply.reply_id, reply.at, state);
    }

    fn typing(&self, conversation_id: i64, on: bool) {
        // Kept for the console to ask ([`LiveChannels::customer_typing`]); the view of the
        // conversation does not change, so no event.
        let mut typing = self.typing.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            typing.insert(conversation_id);
        } else {
            typing.remove(&conversation_id);
        }
    }
}

/// One ingest worker: its conversations' stored messages, in order, in batches of what waits:
/// understood together, then the latest of each conversation answered.
fn work(
    api: Api,
    hub: Arc<Hub>,
    jobs: Receiver<StoredMessage>,
    stats: Arc<IngestStats>,
    most: usize,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < most {
            match jobs.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let mut conversations: Vec<i64> = batch.iter().map(|m| m.conversation_id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        for &id in &conversations {
            hub.send(id, ToCustomer::Typing { on: true });
        }
        let started = std::time::Instant::now();
        let understood = api.understand_customer_messages(&batch);
        let mut done = 0u64;
        for (n, result) in understood.iter().enumerate() {
            let id = batch[n].conversation_id;
            let latest = !batch[n + 1..].iter().any(|m| m.conversation_id == id);
            match result {
                Ok(turn) => {
                    stats.nlu_micros.fetch_add((turn.nlu_ms * 1000.0) as u64, Ordering::Relaxed);
                    if latest && let Err(e) = api.answer_customer_message(turn, &mut |_| {}) {
                        tracing::warn!(conversation_id = id, code = ?e.code, "suggestions: {}", e.message);
                    }
                    done += 1;
                }
                Err(e) => {
                    // The message stays stored (and shown) without its analysis.
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(conversation_id = id, code = ?e.code, "customer message: {}", e.message);
                }
            }
            if latest {
                hub.send(id, ToCustomer::Typing { on: false });
            }
        }
        stats.engine_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.handled.fetch_add(done, Ordering::Relaxed);
    }
}

/// Replies to a channel's customers go to their open sessions.
#[derive(Debug)]
struct HubSink(Arc<Hub>);

impl CustomerSink for HubSink {
    fn deliver(&self, outgoing: &Outgoing) {
        let open = self.0.send(
            outgoing.conversation_id,
            ToCustomer::Reply { text: outgoing.text.clone(), at: outgoing.at },
        );
        tracing::debug!(
            conversation_id = outgoing.conversation_id,
            open,
            "reply handed to the channel"
        );
    }
}

/// Replies to webhook customers go to their platform's callback URL.
struct WebhookSink {
    ingest: Arc<Ingest>,
    replier: Replier,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink").field("replier", &self.replier).finish_non_exhaustive()
    }
}

impl CustomerSink for WebhookSink {
    fn deliver(&self, outgoing: &Outgoing) {
        let id = outgoing.conversation_id;
        let reply_id = outgoing.reply_id();
        // The contact key is `platform:sender id` (the platform has no colon).
        let contact = match self.ingest.api.store.contact_of(id) {
            Ok(Some((Channel::Webhook, key))) => key,
            Ok(_) => {
                tracing::warn!(conversation_id = id, "a webhook conversation without its sender");
                return;
            }
            Err(e) => {
                tracing::warn!(conversation_id = id, "the webhook sender could not be read: {e}");
                return;
            }
        };
        let (platform, sender) = contact.split_once(':').unwrap_or(("default", contact.as_str()));
        let reply = WebhookReply {
            reply_id: reply_id.clone(),
            conversation_id: id,
            platform: platform.to_owned(),
            recipient: Recipient { id: sender.to_owned() },
            text: outgoing.text.clone(),
            by: outgoing.by.as_str().to_owned(),
            at: outgoing.at,
        };
        self.ingest.reply_state(id, &reply_id, outgoing.at, ReplyState::Pending);
        if let Err(e) = self.replier.send(reply) {
            tracing::info!(conversation_id = id, "reply kept in the conversation: {e}");
            self.ingest.reply_state(id, &reply_id, outgoing.at, ReplyState::Failed(e));
        }
    }
}

/// The running channels; dropping it stops them (the sinks are unregistered).
#[derive(Debug)]
pub struct LiveChannels {
    api: Api,
    server: Server,
    ingest: Arc<Ingest>,
    simulator: Option<Simulator>,
}

impl LiveChannels {
    /// The chat page (`http://127.0.0.1:PORT/` unless on the LAN).
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Ingest counters.
    pub fn stats(&self) -> &IngestStats {
        &self.ingest.stats
    }

    /// Where a reply posted to a webhook platform stands (`Outgoing::reply_id`), if one was.
    pub fn reply_state(&self, reply_id: &str) -> Option<ReplyState> {
        self.ingest.replies.lock().unwrap_or_else(|p| p.into_inner()).get(reply_id).cloned()
    }

    /// Whether the customer of a conversation is typing now.
    pub fn customer_typing(&self, conversation_id: i64) -> bool {
        self.ingest.typing.lock().unwrap_or_else(|p| p.into_inner()).contains(&conversation_id)
    }

    /// Starts simulated customers (stopping any before).
    pub fn start_simulator(&mut self, config: SimulatorConfig) -> Result<(), ApiError> {
        self.simulator = None;
        let inbox: Arc<dyn Inbox> = Arc::clone(&self.ingest) as Arc<dyn Inbox>;
        let simulator = Simulator::start(inbox, Arc::clone(self.server.hub()), config)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the simulator: {e}")))?;
        self.simulator = Some(simulator);
        Ok(())
    }

    /// The simulator's counts, when one runs.
    pub fn simulator_progress(&self) -> Option<Arc<Progress>> {
        self.simulator.as_ref().map(|s| Arc::clone(s.progress()))
    }

    /// Takes a message in as if a customer of `contact` wrote it (a typed or simulated call
    /// customer, a test).
    pub fn inject(
        &self,
        contact: &Contact,
        text: &str,
        message_id: Option<&str>,
    ) -> Result<(i64, bool), ApiError> {
        let id = self.ingest.conversation_for(contact).map_err(api_error)?;
        let accepted = self
            .ingest
            .accept(Inbound {
                conversation_id: id,
                text: text.to_owned(),
                dedup: message_id
                    .map(|m| (format!("inject:{}", contact.channel.as_str()), m.to_owned())),
            })
            .map_err(api_error)?;
        Ok((id, accepted == Accepted::Queued))
    }

    /// Waits until every queued message was handled (or `timeout` passed); true if all were.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let s = self.stats();
            let done = s.handled.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed);
            if done >= s.queued.load(Ordering::Relaxed) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn api_error(e: IngestError) -> ApiError {
    let code = match e.code.as_str() {
        "too_large" => ErrorCode::TooLarge,
        "not_found" => ErrorCode::NotFound,
        "storage" => ErrorCode::Storage,
        _ => ErrorCode::Internal,
    };
    ApiError::new(code, e.message)
}

impl Drop for LiveChannels {
    fn drop(&mut self) {
        self.simulator = None;
        for channel in [Channel::Widget, Channel::Simulator, Channel::Webhook] {
            self.api.deliveries().unregister(channel);
        }
    }
}

impl Api {
    /// Starts the customer channels: the chat page and visitor WebSockets (127.0.0.1 unless
    /// `lan`), the webhook when a secret is set, and the ingest workers. Replies to widget and
    /// simulator customers reach them live from now on.
    pub fn start_channels(&self, settings: ChannelSettings) -> Result<LiveChannels, ApiError> {
        let hub = Arc::new(Hub::default());
        let stats = Arc::new(IngestStats::default());
        let mut queues = Vec::new();
        let batch = settings.batch.max(1);
        for n in 0..settings.workers.max(1) {
            let (tx, rx) = channel::<StoredMessage>();
            let (api, hub, stats) = (self.clone(), Arc::clone(&hub), Arc::clone(&stats));
            std::thread::Builder::new()
                .name(format!("closer-ingest-{n}"))
                .spawn(move || work(api, hub, rx, stats, batch))
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("ingest worker: {e}")))?;
            queues.push(Mutex::new(tx));
        }
        let ingest = Arc::new(Ingest {
            api: self.clone(),
            queues,
            mode: settings.mode,
            contacts: Mutex::new(()),
            typing: Mutex::default(),
            replies: Mutex::default(),
            stats,
        });
        let mut config = if settings.lan {
            ServerConfig::lan(settings.port)
        } else {
            ServerConfig::loopback(settings.port)
        };
        config.allowed_origins = settings.allowed_origins;
        config.limits = settings.limits;
        config.webhook = match settings.webhook_secret {
            Some(secret) if secret.len() < 16 => {
                return Err(ApiError::invalid("the webhook secret must be at least 16 bytes"));
            }
            Some(secret) => {
                closer_channels::callback::check(&settings.webhook_callbacks)
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
                Some(WebhookConfig {
                    secret,
                    max_skew_secs: settings.webhook_max_skew_secs,
                    callbacks: settings.webhook_callbacks,
                    retry: settings.webhook_retry,
                })
            }
            None if !settings.webhook_callbacks.is_empty() => {
                return Err(ApiError::invalid("webhook callbacks need the webhook secret"));
            }
            None => None,
        };
        let inbox: Arc<dyn Inbox> = Arc::clone(&ingest) as Arc<dyn Inbox>;
        let server = Server::start(config, inbox, Arc::clone(&hub)).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("the chat server could not start: {e}"))
        })?;
        let sink: Arc<dyn CustomerSink> = Arc::new(HubSink(Arc::clone(&hub)));
        self.deliveries().register(Channel::Widget, Arc::clone(&sink));
        self.deliveries().register(Channel::Simulator, sink);
        if let Some(replier) = server.replier() {
            let ingest = Arc::clone(&ingest);
            let sink =
                Arc::new(WebhookSink { ingest: Arc::clone(&ingest), replier: replier.clone() });
            self.deliveries()
                .register(Channel::Webhook, Arc::clone(&sink) as Arc<dyn CustomerSink>);
            let resent = ingest.resend_pending(sink.as_ref());
            if resent > 0 {
                tracing::info!(resent, "replies pending before the restart handed to the webhook");
            }
        }
        // With every sink in place, so an answer (auto mode) reaches its customer; once per
        // process (a restart of the channels in this process leaves nothing unread: the old
        // workers finish their queue).
        let first_start = !self.unread_requeued.swap(true, Ordering::SeqCst);
        let requeued = if first_start { ingest.requeue_unanalysed() } else { 0 };
        if requeued > 0 {
            tracing::info!(requeued, "customer messages a stop left unread are being understood");
        }
        Ok(LiveChannels { api: self.clone(), server, ingest, simulator: None })
    }

    /// Demo mode: the channels on [`DEMO_PORT`] (or a free port), the suggestion model loading,
    /// and the simulated customers arriving at a human pace with the AI in auto mode, so the
    /// inbox comes alive and customers are answered without anyone at the console. Call it after
    /// [`Api::start_nlu`].
    pub fn start_demo_channels(&self) -> Result<LiveChannels, ApiError> {
        self.start_demo_channels_with(Pace::human())
    }

    /// [`Api::start_demo_channels`] at a given pace (tests, `closer serve --demo --fast`).
    pub fn start_demo_channels_with(&self, pace: Pace) -> Result<LiveChannels, ApiError> {
        self.start_nlu();
        self.start_models();
        let settings =
            |port| ChannelSettings { port, mode: Some(Mode::Auto), ..ChannelSettings::default() };
        let mut live = match self.start_channels(settings(DEMO_PORT)) {
            Ok(live) => live,
            Err(_) => self.start_channels(settings(0))?,
        };
        live.start_simulator(SimulatorConfig {
            run: format!("demo-{}", (self.clock)()),
            personas: PERSONAS.to_vec(),
            pace,
        })?;
        tracing::info!(url = %live.url(), "demo channels: simulated customers are arriving");
        Ok(live)
    }
}

/// One outbound call: who is called and, for a simulated customer, what they answer.
#[derive(Debug, Clone)]
pub struct CallTarget {
    /// The name the console shows.
    pub name: String,
    /// `zh` or `en`.
    pub language: String,
    /// The lead's existing conversation, whose lead gets the outcome; `None` logs it to the
    /// call's own lead.
    pub lead_conversation: Option<i64>,
    /// What the customer says, one answer per script line.
    pub answers: Vec<String>,
    /// The outcome the salesperson confirms when the walk suggests none (e.g. `interested`).
    pub outcome: String,
}

/// How one call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    /// The call's own conversation (the transcript, channel `call`).
    pub conversation_id: i64,
    /// The conversation whose lead got the outcome.
    pub lead_conversation: i64,
    pub outcome: String,
    /// The lead status the outcome sets (`qualified`, `lost`, `callback`…).
    pub lead_status: String,
    /// Customer answers taken in.
    pub answers: usize,
    /// Steps walked, in order.
    pub steps: Vec<String>,
}

impl Api {
    /// Outbound call sessions, as text: walks call script `script_id` (from the published
    /// strategy) with each target. Every script line is a salesperson message; every answer goes
    /// through the ingest path ([`Api::receive_customer_message`], the AI off: the script is the
    /// voice); the outcome — the one the walk suggests (a decline), else the target's — is logged
    /// to the lead as field `call_outcome`, and its lead status moves the funnel stage when it
    /// maps to one (qualified, lost).
    pub fn run_call_sessions(
        &self,
        script_id: &str,
        targets: &[CallTarget],
    ) -> Result<Vec<CallReport>, ApiError> {
        use closer_dialogue::document::Language;
        use closer_dialogue::script::ScriptRun;
        let document = self.strategy_document()?;
        let script = document.scripts.iter().find(|s| s.id == script_id).ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("no call script {script_id}"))
        })?;
        let mut reports = Vec::new();
        for target in targets {
            let language = Language::parse(&target.language).unwrap_or_default();
            let at = (self.clock)();
            let id = self.store.create_conversation(&NewConversation {
                channel: Channel::Call,
                customer_name: target.name.clone(),
                language: language.as_str().to_owned(),
                at,
            })?;
            self.store.record(id, &Event::ModeChanged { mode: Mode::Off, at }, "system")?;
            self.updated(id);
            let mut run = ScriptRun::start(script, language).with_playbook(&document.playbook);
            let mut line = run.line();
            let mut steps = vec![line.step.as_str().to_owned()];
            let say = |text: &str| {
                self.send_reply(crate::args::SendReplyArgs {
                    conversation_id: id,
                    text: text.to_owned(),
                })
            };
            say(&line.text)?;
            let mut answers = 0;
            for answer in &target.answers {
                if line.step == closer_dialogue::script::StepKind::ResultLogging {
                    break;
                }
                // The answer is a customer message like any other: stored, understood, tracked.
                match self.receive_customer_message(id, answer, &mut |_| {}) {
                    Ok(_) => {}
                    Err(e) if e.code == ErrorCode::NluNotReady => {}
                    Err(e) => return Err(e),
                }
                answers += 1;
                line = run.on_customer(answer.as_str());
                steps.push(line.step.as_str().to_owned());
                if line.step != closer_dialogue::script::StepKind::ResultLogging {
                    say(&line.text)?;
                }
            }
            let code = run
                .position()
                .suggested_outcome
                .clone()
                .or_else(|| line.suggested_outcome.clone())
                .unwrap_or_else(|| target.outcome.clone());
            let outcome =
                run.finish(&code).map_err(|e| ApiError::invalid(format!("{e} ({})", e.code())))?;
            if !outcome.text.is_empty() {
                say(&outcome.text)?;
            }
            let lead_conversation = target.lead_conversation.unwrap_or(id);
            let at = (self.clock)();
            let mut events = vec![Event::FieldSet {
                field: "call_outcome".into(),
                value: outcome.code.clone(),
                source: closer_dialogue::FieldSource::Salesperson,
                confidence: 1.0,
                at,
            }];
            if let Some(stage) = outcome.lead_status.stage() {
                events.push(Event::StageChanged {
                    to: stage,
                    reason: format!("call_outcome:{}", outcome.code),
                    at,
                });
            }
            self.store.record_all(lead_conversation, &events, "salesperson")?;
            // The CRM's timeline of the lead gets the call as a note, once (keyed by the call).
            let name = if script.name.get(language).is_empty() {
                script.id.as_str()
            } else {
                script.name.get(language)
            };
            let status = outcome.lead_status.as_str();
            let text = match language {
                Language::Zh => format!(
                    "外呼（{name}）：结果 {}，线索状态 {status}；客户回答 {answers} 次（Closer 会话 {id}）",
                    outcome.code
                ),
                Language::En => format!(
                    "Outbound call ({name}): outcome {}, lead status {status}; {answers} answers \
                     (Closer conversation {id})",
                    outcome.code
                ),
            };
            let note = closer_store::OutboxNote { key: format!("call-{id}"), text };
            self.store.add_lead_note(lead_conversation, &note, "salesperson", at)?;
            self.updated(lead_conversation);
            tracing::info!(conversation_id = id, outcome = %outcome.code, "call session logged");
            reports.push(CallReport {
                conversation_id: id,
                lead_conversation,
                outcome: outcome.code,
                lead_status: outcome.lead_status.as_str().to_owned(),
                answers,
                steps,
            });
        }
        Ok(reports)
    }
}
