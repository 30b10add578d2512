//! The one API the desktop shell, the `closer` CLI and the tests call. It composes the engine
//! crates (store and dialogue today; nlu, llm, crm and channels as they land), owns the transport
//! DTOs and the error codes, and decodes untrusted arguments.
//!
//! Key decision: this is the only boundary that knows about JSON DTOs and IPC. Callers pass
//! arguments in; every failure leaves as an [`ApiError`] `{ code, message }`, never a bare string.

pub mod args;
pub mod bindings;
pub mod demo;
pub mod dto;
mod error;
pub mod logging;
mod paths;

use std::sync::Arc;

use closer_dialogue::{Event, FieldSource, Millis, Role};
use closer_store::{Recorded, Store};

pub use error::{ApiError, ErrorCode};
pub use paths::{DATA_DIR_ENV, DataDir, IDENTIFIER};

use args::{
    ConversationArgs, ImportModelArgs, NoArgs, SendReplyArgs, SetLeadFieldArgs, SetModeArgs,
};
use dto::{
    AppInfo, ConversationSummary, ConversationView, LeadFieldSaved, LeadFieldView, LeadView,
    MessageView, ModelView, ProductView,
};

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
}

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
        let store = Store::open_in(options.data_dir.path())?;
        let api = Self {
            data_dir: options.data_dir,
            models_dir: options.models_dir,
            store: Arc::new(store),
            clock: options.clock,
        };
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

    /// Records a salesperson's reply. (Delivery through the customer's channel arrives with the
    /// channels crate.)
    pub fn send_reply(&self, args: SendReplyArgs) -> Result<ConversationView, ApiError> {
        let event = Event::Message { role: Role::Salesperson, text: args.text, at: (self.clock)() };
        self.store.record(args.conversation_id, &event, "salesperson")?;
        self.conversation_view(args.conversation_id)
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
        Ok(LeadFieldSaved {
            changed: matches!(recorded, Recorded::Stored { .. }),
            conversation: self.conversation_view(args.conversation_id)?,
        })
    }

    /// Switches the AI off, to drafting, or to auto for one conversation.
    pub fn set_mode(&self, args: SetModeArgs) -> Result<ConversationView, ApiError> {
        let event = Event::ModeChanged { mode: args.mode, at: (self.clock)() };
        self.store.record(args.conversation_id, &event, "salesperson")?;
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

    fn conversation_view(&self, id: i64) -> Result<ConversationView, ApiError> {
        let (row, state) = self.store.conversation(id)?;
        let lead = LeadView {
            id: row.lead.id,
            external_key: row.lead.external_key.clone(),
            crm_id: row.lead.crm_id.clone(),
            pending_sync: row.lead.pending_sync,
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
                .map(|m| MessageView { role: m.role, text: m.text, at: m.at })
                .collect(),
            lead,
        })
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
