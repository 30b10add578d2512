//! The one API the desktop shell, the `closer` CLI and the tests call. It composes the engine
//! crates (store, dialogue, nlu and llm today; crm and channels as they land), owns the transport
//! DTOs and the error codes, and decodes untrusted arguments.
//!
//! Key decision: this is the only boundary that knows about JSON DTOs and IPC. Callers pass
//! arguments in; every failure leaves as an [`ApiError`] `{ code, message }`, never a bare string.

pub mod args;
pub mod bindings;
pub mod catalog;
pub mod console;
pub mod crm;
pub mod deliver;
pub mod demo;
pub mod dto;
pub mod engine;
mod error;
pub mod events;
pub mod facts;
pub mod live;
pub mod loader;
pub mod logging;
pub mod models;
pub mod nlu;
mod paths;
pub mod privacy;
pub mod search;
pub mod suggest;

use std::sync::Arc;

use closer_dialogue::{Event, FieldSource, Millis, Role};
use closer_store::{Recorded, Store};

pub use error::{ApiError, ErrorCode};
pub use paths::{DATA_DIR_ENV, DataDir, IDENTIFIER};

use args::{
    AddIntentExampleArgs, AdoptIntentHeadArgs, AnalyzeMessageArgs, ConversationArgs,
    ImportModelArgs, NoArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use dto::{
    AnalysisView, AppInfo, ConversationSummary, ConversationView, DeliveryView, IntentExampleAdded,
    IntentHeadView, IntentLabelView, IntentsView, LeadFieldSaved, LeadFieldView, LeadView,
    MessageView, ModelView, NluStatus, ProductView, RetrainResult,
};
use nlu::Nlu;

/// How long retraining and adopting wait for the NLU to finish loading.
const NLU_LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Where models are installed unless told otherwise: `$CLOSER_MODELS_DIR`, else
/// `~/.cache/closer/models`.
pub fn default_models_dir() -> std::path::PathBuf {
    closer_llm::catalog::models_dir()
}

/// Milliseconds since the Unix epoch, read by the API's clock.
pub type Clock = fn() -> Millis;

/// The wall clock.
pub fn system_clock() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The application: one per process, shared by every caller.
#[derive(Debug, Clone)]
pub struct Api {
    data_dir: DataDir,
    models_dir: std::path::PathBuf,
    store: Arc<Store>,
    clock: Clock,
    /// Loaded on its own thread, on first use or when [`Api::start_nlu`] is called.
    nlu: Arc<Nlu>,
    /// The model that writes suggestions, loaded likewise ([`Api::start_models`]).
    suggester: Arc<suggest::Suggester>,
    engine: Arc<engine::EngineCache>,
    /// Where replies to customers go, by channel.
    deliveries: Arc<deliver::Deliveries>,
    /// What the console hears about without asking.
    events: Arc<events::Bus>,
    /// The CRM relay, when running.
    crm: Arc<crm::CrmRuntime>,
    /// The shell's async runtime, once attached ([`Api::start_background`]): the CRM relay
    /// runs on it, and restarts on it when the settings change.
    runtime: Arc<std::sync::OnceLock<tokio::runtime::Handle>>,
    /// The customer channels started from the saved settings ([`Api::apply_channels`]).
    channels: Arc<std::sync::Mutex<console::ChannelsRuntime>>,
    /// The model fetch started from the settings ([`Api::fetch_model`]), running or last run.
    fetch: models::FetchSlot,
    /// Set by the first channel start of the process, which queues again the customer messages
    /// an earlier process left un-understood (later starts — a settings change — lose none).
    unread_requeued: Arc<std::sync::atomic::AtomicBool>,
}

/// The longest a customer message waits for the NLU to finish loading.
const NLU_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// How to start the API.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: DataDir,
    /// Seed the demo catalog and conversations if the store is empty.
    pub seed_demo: bool,
    pub clock: Clock,
    /// Where language models are installed (`closer_llm::catalog::models_dir()` by default).
    pub models_dir: std::path::PathBuf,
}

impl Api {
    /// Opens the store in the data directory (migrating it) and seeds the demo data on a first run
    /// if asked.
    pub fn open(options: Options) -> Result<Self, ApiError> {
        match closer_llm::cpu::check() {
            Ok(()) => tracing::info!(cpu = %closer_llm::cpu::describe(), "local model runtime"),
            // The console still works (and a remote model server can be used); say why local
            // suggestions will not.
            Err(e) => tracing::warn!("{e}"),
        }
        let store = Arc::new(Store::open_in(options.data_dir.path())?);
        let nlu = Arc::new(Nlu::new(
            options.models_dir.clone(),
            options.data_dir.path().to_path_buf(),
            Arc::clone(&store),
            options.clock,
        ));
        let suggester = Arc::new(suggest::Suggester::new(
            options.models_dir.clone(),
            suggest::ModelChoice::Local(None),
        ));
        let api = Self {
            data_dir: options.data_dir,
            models_dir: options.models_dir,
            store,
            clock: options.clock,
            nlu,
            suggester,
            engine: Arc::default(),
            deliveries: Arc::default(),
            events: Arc::default(),
            crm: Arc::default(),
            runtime: Arc::default(),
            channels: Arc::default(),
            fetch: Arc::default(),
            unread_requeued: Arc::default(),
        };
        // The model the settings chose (an installed one, or a remote server); unreadable
        // settings leave the default model chosen.
        if let Err(e) = api.restore_model_choice() {
            tracing::warn!(code = ?e.code, "the model settings were not applied: {}", e.message);
        }
        if options.seed_demo && api.store.is_empty()? {
            let report = demo::seed(&api.store, (api.clock)())?;
            tracing::info!(?report, "seeded demo data");
        }
        Ok(api)
    }

    /// The store underneath, for the CLI and tests.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn app_info(&self, _: NoArgs) -> Result<AppInfo, ApiError> {
        let health = self.store.health()?;
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            data_dir: self.data_dir.path().display().to_string(),
            database: self.data_dir.database().display().to_string(),
            log_dir: self.data_dir.logs().display().to_string(),
            schema_version: health.schema_version,
        })
    }

    /// The inbox, most urgent first.
    pub fn list_conversations(&self, _: NoArgs) -> Result<Vec<ConversationSummary>, ApiError> {
        Ok(self.store.list_conversations()?.into_iter().map(Into::into).collect())
    }

    /// Opens a conversation (and marks it read).
    pub fn open_conversation(&self, args: ConversationArgs) -> Result<ConversationView, ApiError> {
        self.store.mark_read(args.conversation_id)?;
        self.conversation_view(args.conversation_id)
    }

    /// Records a salesperson's reply and hands it to the customer's channel.
    pub fn send_reply(&self, args: SendReplyArgs) -> Result<ConversationView, ApiError> {
        let at = (self.clock)();
        let event = Event::Message { role: Role::Salesperson, text: args.text.clone(), at };
        self.store.record(args.conversation_id, &event, "salesperson")?;
        self.deliver(args.conversation_id, &args.text, Role::Salesperson, at)?;
        self.updated(args.conversation_id);
        self.conversation_view(args.conversation_id)
    }

    /// Every [`events::AppEvent`] from now on (the shell forwards them to the window).
    pub fn subscribe(&self) -> std::sync::mpsc::Receiver<events::AppEvent> {
        self.events.subscribe()
    }

    /// Tells subscribers that a conversation changed.
    pub(crate) fn updated(&self, conversation_id: i64) {
        self.events.publish(events::AppEvent::ConversationUpdated { conversation_id });
        // A lead field may have changed: its outbox row is waiting for the relay.
        self.crm.nudge();
    }

    /// The channels' reply sinks: a channel registers its sink here when it starts.
    pub fn deliveries(&self) -> &Arc<deliver::Deliveries> {
        &self.deliveries
    }

    /// Hands a stored reply to the sink of the conversation's channel (if one is listening).
    fn deliver(
        &self,
        conversation_id: i64,
        text: &str,
        by: Role,
        at: Millis,
    ) -> Result<(), ApiError> {
        let (row, _) = self.store.conversation(conversation_id)?;
        let outgoing = deliver::Outgoing { conversation_id, text: text.to_owned(), by, at };
        if !self.deliveries.deliver(row.channel, &outgoing) {
            tracing::debug!(
                conversation_id,
                channel = row.channel.as_str(),
                "no sink: reply kept in the thread"
            );
        }
        Ok(())
    }

    /// A salesperson sets a lead field: it becomes salesperson-sourced with full confidence.
    pub fn set_lead_field(&self, args: SetLeadFieldArgs) -> Result<LeadFieldSaved, ApiError> {
        let event = Event::FieldSet {
            field: args.field,
            value: args.value,
            source: FieldSource::Salesperson,
            confidence: 1.0,
            at: (self.clock)(),
        };
        let recorded = self.store.record(args.conversation_id, &event, "salesperson")?;
        self.updated(args.conversation_id);
        Ok(LeadFieldSaved {
            changed: matches!(recorded, Recorded::Stored { .. }),
            conversation: self.conversation_view(args.conversation_id)?,
        })
    }

    /// Switches the AI off, to drafting, or to auto for one conversation.
    pub fn set_mode(&self, args: SetModeArgs) -> Result<ConversationView, ApiError> {
        let event = Event::ModeChanged { mode: args.mode, at: (self.clock)() };
        self.store.record(args.conversation_id, &event, "salesperson")?;
        self.updated(args.conversation_id);
        self.conversation_view(args.conversation_id)
    }

    /// The product catalog.
    pub fn list_products(&self, _: NoArgs) -> Result<Vec<ProductView>, ApiError> {
        Ok(self.store.products()?.into_iter().map(Into::into).collect())
    }

    /// The catalog's models (installed or not) and the user's imported ones.
    pub fn list_models(&self, _: NoArgs) -> Result<Vec<ModelView>, ApiError> {
        let catalog = closer_llm::catalog::catalog();
        let installed = closer_llm::catalog::list_installed(&self.models_dir)?;
        let default_id = catalog.default_model().id.clone();
        let mut out = Vec::new();
        for model in &catalog.models {
            let found = installed.iter().find(|i| i.id == model.id);
            out.push(ModelView {
                id: model.id.clone(),
                name: model.name.clone(),
                architecture: model.architecture.clone(),
                installed: found.is_some(),
                is_default: model.id == default_id,
                source: "catalog".into(),
                size_bytes: found.map_or_else(
                    || model.installed.as_ref().map_or(model.source.size, |d| d.size),
                    |i| i.manifest.size,
                ),
                sha256: found.map(|i| i.manifest.sha256.clone()),
                requantization: found.and_then(|i| i.manifest.requantization.clone()),
                path: found.map(|i| i.path.display().to_string()),
            });
        }
        for i in installed.iter().filter(|i| catalog.get(&i.id).is_err()) {
            out.push(imported_view(i));
        }
        Ok(out)
    }

    /// Validates a user's GGUF file (complete, a supported architecture) and installs a copy.
    pub fn import_model(&self, args: ImportModelArgs) -> Result<ModelView, ApiError> {
        let installed =
            closer_llm::fetch::import(std::path::Path::new(&args.path), &self.models_dir)?;
        tracing::info!(id = %installed.id, "model imported");
        Ok(imported_view(&installed))
    }

    /// Starts loading the NLU (encoder and heads) on a thread of its own; the desktop shell calls
    /// it at start-up so the first message does not wait. Returns at once.
    pub fn start_nlu(&self) {
        self.nlu.start();
    }

    /// Starts the background work that needs an async runtime: the retention job (a purge now,
    /// then hourly) and the CRM relay (when a CRM is set up; it restarts on `runtime` whenever
    /// the settings change). The shell calls it once at start-up; failures are logged and shown
    /// by the CRM status, never fatal.
    pub fn start_background(&self, runtime: tokio::runtime::Handle) {
        let runtime = self.runtime.get_or_init(|| runtime);
        // Detached: it runs until the runtime stops.
        drop(self.start_retention_job(runtime));
        // The customer channels, if the console enabled them.
        self.apply_channels();
        match self.start_crm_relay(runtime) {
            Ok(started) => tracing::info!(started, "CRM relay at start-up"),
            Err(e) => tracing::warn!(code = ?e.code, "the CRM relay cannot start: {}", e.message),
        }
    }

    /// Starts loading the suggestion model on a thread of its own. Returns at once.
    pub fn start_models(&self) {
        self.suggester.start();
    }

    /// Waits up to `timeout` for the suggestion model (starting it if needed), for the CLI and
    /// tests. Never call it on the UI thread.
    pub fn wait_for_model(&self, timeout: std::time::Duration) -> Result<(), ApiError> {
        self.suggester.wait(timeout).map(|_| ())
    }

    /// Switches the suggestion model (the next use loads it).
    pub fn choose_model(&self, choice: suggest::ModelChoice) {
        self.suggester.choose(choice);
    }

    /// Waits up to `timeout` for the NLU to be ready (starting it if needed), for the CLI and
    /// tests. Never call it on the UI thread.
    pub fn wait_for_nlu(&self, timeout: std::time::Duration) -> Result<(), ApiError> {
        self.nlu.wait(timeout).map(drop)
    }

    /// Analyses one message as if the customer wrote it now: intents, sentiment, entities, lead
    /// fields, language. Fails with `nlu_not_ready` (and starts the load) until the NLU is
    /// loaded, rather than blocking.
    pub fn analyze_message(&self, args: AnalyzeMessageArgs) -> Result<AnalysisView, ApiError> {
        let analysis = self.nlu.analyze(&args.text, (self.clock)())?;
        let a = analysis.annotation;
        Ok(AnalysisView {
            intents: a.intents,
            top_intent: a.top_intent,
            sentiment: a.sentiment,
            entities: a.entities,
            fields: a.fields,
            language: a.language,
            encoder: analysis.encoder,
            intent_head_id: analysis.intent_head_id,
            elapsed_ms: analysis.elapsed_ms,
        })
    }

    /// The intent labels with their bundled and manager-added example counts, and the head in
    /// use (once the NLU is loaded).
    pub fn list_intents(&self, _: NoArgs) -> Result<IntentsView, ApiError> {
        let bundled = nlu::bundled_label_counts()?;
        let added = self.store.intent_example_counts()?;
        let mut labels: Vec<IntentLabelView> = bundled
            .iter()
            .map(|(label, n)| IntentLabelView {
                label: label.clone(),
                in_taxonomy: true,
                bundled_examples: *n as u32,
                added_examples: 0,
            })
            .collect();
        for (label, n) in added {
            match labels.iter_mut().find(|l| l.label == label) {
                Some(l) => l.added_examples = n as u32,
                None => labels.push(IntentLabelView {
                    label,
                    in_taxonomy: false,
                    bundled_examples: 0,
                    added_examples: n as u32,
                }),
            }
        }
        labels.sort_by(|a, b| a.label.cmp(&b.label));
        let status = match self.nlu.status() {
            nlu::Status::Idle => NluStatus::Idle,
            nlu::Status::Loading => NluStatus::Loading,
            nlu::Status::Ready => NluStatus::Ready,
            nlu::Status::Failed => NluStatus::Failed,
        };
        let active_head = match self.nlu.ready() {
            Ok(loaded) => Some(head_view(&loaded.active())),
            Err(e) if e.code == ErrorCode::NluNotReady => None,
            Err(e) => return Err(e),
        };
        Ok(IntentsView { status, labels, active_head })
    }

    /// A manager adds a labelled example for the next retraining. The same text for the same
    /// label (added before, or in the bundled set) changes nothing.
    pub fn add_intent_example(
        &self,
        args: AddIntentExampleArgs,
    ) -> Result<IntentExampleAdded, ApiError> {
        let text = args.text.trim();
        let label = args.label;
        let added = !nlu::bundled_has_example(&label, text)?
            && self.store.add_intent_example(
                &label,
                text,
                closer_nlu::features::language(text),
                "manager",
                (self.clock)(),
            )?;
        let added_examples = self
            .store
            .intent_example_counts()?
            .into_iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| n as u32);
        let bundled_examples = nlu::bundled_label_counts()?
            .into_iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| n as u32);
        Ok(IntentExampleAdded { added, label, added_examples, bundled_examples })
    }

    /// Trains a candidate intent head on the bundled set plus the manager's examples, scores it
    /// and the active head on the bundled test set (all, zh, en), and records it unadopted.
    /// Takes seconds; waits for the NLU to load first.
    pub fn retrain_intents(&self, _: NoArgs) -> Result<RetrainResult, ApiError> {
        let retrained = self.nlu.retrain_intents(NLU_LOAD_WAIT)?;
        let candidate = head_view(&retrained.candidate);
        let candidate_scores = candidate.scores.clone().ok_or_else(|| {
            ApiError::new(ErrorCode::Internal, "the candidate head was not scored")
        })?;
        let measured: Vec<&str> = candidate_scores
            .all
            .per_label
            .iter()
            .filter(|l| l.support > 0)
            .map(|l| l.label.as_str())
            .collect();
        let unmeasured_labels =
            candidate.labels.iter().filter(|l| !measured.contains(&l.as_str())).cloned().collect();
        Ok(RetrainResult {
            active: head_view(&retrained.active),
            active_scores: retrained.active_scores,
            candidate,
            candidate_scores,
            unmeasured_labels,
            manager_examples: retrained.manager_examples as u32,
            train_secs: retrained.train_secs,
        })
    }

    /// Makes a candidate intent head the active one; the next analysis uses it.
    pub fn adopt_intent_head(&self, args: AdoptIntentHeadArgs) -> Result<IntentHeadView, ApiError> {
        let head = self.nlu.adopt_intent_head(args.id, NLU_LOAD_WAIT)?;
        Ok(head_view(&head))
    }

    fn conversation_view(&self, id: i64) -> Result<ConversationView, ApiError> {
        let (row, state) = self.store.conversation(id)?;
        // Webhook replies' delivery states, by their message's time (the reply id, from the
        // text and author, tells apart two messages at one time).
        let mut replies: std::collections::HashMap<i64, Vec<closer_store::WebhookReplyRow>> =
            std::collections::HashMap::new();
        for r in self.store.conversation_webhook_replies(id)? {
            replies.entry(r.message_at).or_default().push(r);
        }
        let lead = LeadView {
            id: row.lead.id,
            external_key: row.lead.external_key.clone(),
            crm_id: row.lead.crm_id.clone(),
            pending_sync: row.lead.pending_sync,
            sync: self.store.lead_sync_status(row.lead.id)?.into(),
            fields: state
                .lead
                .fields
                .iter()
                .map(|(field, v)| LeadFieldView {
                    field: field.clone(),
                    value: v.value.clone(),
                    source: v.source,
                    confidence: v.confidence,
                    updated_at: v.at,
                })
                .collect(),
        };
        Ok(ConversationView {
            stage_reason: row.stage_reason.clone(),
            summary: row.into(),
            messages: state
                .messages
                .into_iter()
                .map(|m| {
                    let delivery = replies.get(&m.at).and_then(|rows| {
                        let reply_id = deliver::Outgoing::of(id, &m)?.reply_id();
                        rows.iter().find(|r| r.reply_id == reply_id).map(|r| DeliveryView {
                            state: r.state.clone(),
                            code: r.code.clone(),
                            attempts: r.attempts,
                        })
                    });
                    MessageView { role: m.role, text: m.text, at: m.at, delivery }
                })
                .collect(),
            lead,
        })
    }
}

fn head_view(h: &nlu::IntentHead) -> IntentHeadView {
    IntentHeadView {
        id: h.id,
        encoder: h.head.info.encoder.clone(),
        examples: h.examples as u32,
        labels: h.head.info.labels.clone(),
        trained_at: h.trained_at,
        adopted_at: h.adopted_at,
        scores: h.scores.clone(),
    }
}

fn imported_view(i: &closer_llm::catalog::Installed) -> ModelView {
    ModelView {
        id: i.id.clone(),
        name: i.manifest.name.clone(),
        architecture: i.manifest.architecture.clone(),
        installed: true,
        is_default: false,
        source: "imported".into(),
        size_bytes: i.manifest.size,
        sha256: Some(i.manifest.sha256.clone()),
        requantization: i.manifest.requantization.clone(),
        path: Some(i.path.display().to_string()),
    }
}
