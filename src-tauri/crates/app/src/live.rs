//! Live customer channels wired into the one ingest path: the chat widget and the webhook
//! (`closer_channels::Server`), the customer simulator, and outbound call sessions. Every
//! customer message, whatever its channel, goes through [`crate::Api::receive_customer_message`]
//! (NLU, tracker, policy, suggestions), and every reply to a customer comes back through the
//! channel's [`CustomerSink`].
//!
//! Key decisions:
//! - The channels only queue: a customer message is claimed (its message id, once) and handed to
//!   an ingest worker; the HTTP and WebSocket tasks never wait on the NLU or the model.
//! - Messages of one conversation are handled in order by one worker (conversations are sharded
//!   over the workers by id), so a turn always sees the turn before it.
//! - A channel's contact (a visitor's token, a webhook sender) maps to one conversation, kept in
//!   the store, so a visitor who comes back sees the same thread.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    pub limits: Limits,
    /// The AI mode of the conversations the channels open (the store's default, draft, if none).
    pub mode: Option<Mode>,
    /// Ingest workers (conversations are spread over them; one conversation stays on one).
    pub workers: usize,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            port: 0,
            lan: false,
            allowed_origins: Vec::new(),
            webhook_secret: None,
            webhook_max_skew_secs: 300,
            limits: Limits::default(),
            mode: None,
            workers: 2,
        }
    }
}

/// Ingest counters.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages queued for the engine.
    pub queued: AtomicU64,
    /// Messages the engine handled (stored and answered or drafted for).
    pub handled: AtomicU64,
    /// Messages whose handling failed (the message is kept when the NLU was the cause).
    pub failed: AtomicU64,
    /// Redeliveries ignored.
    pub duplicates: AtomicU64,
    /// Time in the engine (all handled messages), and of it in the NLU, in microseconds.
    pub engine_micros: AtomicU64,
    pub nlu_micros: AtomicU64,
}

/// A message waiting for the engine.
struct Job {
    inbound: Inbound,
}

/// The engine side of the channels: `closer_channels::Inbox` over the API.
struct Ingest {
    api: Api,
    queues: Vec<Sender<Job>>,
    mode: Option<Mode>,
    /// Serialises find-or-create of contacts.
    contacts: Mutex<()>,
    typing: Mutex<HashSet<i64>>,
    stats: Arc<IngestStats>,
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
        if let Some((source, id)) = &inbound.dedup {
            let at = (self.api.clock)();
            let first = self
                .api
                .store
                .claim_inbound(source, id, inbound.conversation_id, at)
                .map_err(|e| ingest_error(e.into()))?;
            if !first {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                return Ok(Accepted::Duplicate);
            }
        }
        let shard = inbound.conversation_id.unsigned_abs() as usize % self.queues.len().max(1);
        let dedup = inbound.dedup.clone();
        match self.queues.get(shard).map(|q| q.send(Job { inbound })) {
            Some(Ok(())) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                Ok(Accepted::Queued)
            }
            _ => {
                if let Some((source, id)) = dedup {
                    let _ = self.api.store.release_inbound(&source, &id);
                }
                Err(IngestError::new("busy", "the engine is not taking messages"))
            }
        }
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

/// One ingest worker: its conversations' messages, in order, through the live path.
fn work(api: Api, hub: Arc<Hub>, jobs: Receiver<Job>, stats: Arc<IngestStats>) {
    for job in jobs {
        let Job { inbound } = job;
        let id = inbound.conversation_id;
        hub.send(id, ToCustomer::Typing { on: true });
        let started = std::time::Instant::now();
        let result = api.receive_customer_message(id, &inbound.text, &mut |_| {});
        stats.engine_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        hub.send(id, ToCustomer::Typing { on: false });
        match result {
            Ok(turn) => {
                stats.nlu_micros.fetch_add((turn.nlu_ms * 1000.0) as u64, Ordering::Relaxed);
                stats.handled.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(conversation_id = id, code = ?e.code, "customer message: {}", e.message);
                // The message is kept when only its analysis failed; otherwise a redelivery
                // may try again.
                if e.code != ErrorCode::NluNotReady
                    && let Some((source, message_id)) = &inbound.dedup
                {
                    let _ = api.store.release_inbound(source, message_id);
                }
            }
        }
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
        for channel in [Channel::Widget, Channel::Simulator] {
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
        for n in 0..settings.workers.max(1) {
            let (tx, rx) = channel::<Job>();
            let (api, hub, stats) = (self.clone(), Arc::clone(&hub), Arc::clone(&stats));
            std::thread::Builder::new()
                .name(format!("closer-ingest-{n}"))
                .spawn(move || work(api, hub, rx, stats))
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("ingest worker: {e}")))?;
            queues.push(tx);
        }
        let ingest = Arc::new(Ingest {
            api: self.clone(),
            queues,
            mode: settings.mode,
            contacts: Mutex::new(()),
            typing: Mutex::default(),
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
                Some(WebhookConfig { secret, max_skew_secs: settings.webhook_max_skew_secs })
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
