//! The language model that writes suggested replies: the local default model (loaded on a thread
//! of its own, with progress by layer) or a remote OpenAI-compatible server. Both stream the same
//! [`closer_llm::StreamEvent`]s, so the composer does not care which one runs.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closer_llm::remote::{RemoteBackend, RemoteConfig};
use closer_llm::{CancelToken, GenerateRequest, Generation, LoadOptions, LocalModel, StreamEvent};

use crate::loader::{Loader, Status};
use crate::{ApiError, ErrorCode};

/// Which model writes suggestions.
#[derive(Debug, Clone)]
pub enum ModelChoice {
    /// An installed model by catalog id or import id; `None` is the catalog's default.
    Local(Option<String>),
    Remote(RemoteConfig),
    /// The remote server from the settings; its API key, if one was stored, is read from the OS
    /// keyring when it loads (a key that cannot be read fails the load with the reason).
    Configured(crate::models::SavedRemote),
}

/// A loaded model, local or remote.
#[derive(Debug)]
pub enum Backend {
    Local(LocalModel),
    Remote(RemoteBackend),
}

impl Backend {
    /// Queues a request; events stream back in order on the returned channel.
    pub fn generate(self: &Arc<Self>, request: GenerateRequest) -> Generation {
        match &**self {
            Backend::Local(model) => model.generate(request),
            Backend::Remote(_) => {
                // Nothing personal leaves the machine: PII in the prompt is masked first.
                let mut request = request;
                crate::privacy::redact_for_remote(&mut request);
                let (events, receiver) = mpsc::channel();
                let cancel = CancelToken::new();
                let backend = Arc::clone(self);
                let token = cancel.clone();
                let failed = events.clone();
                let spawned =
                    std::thread::Builder::new().name("remote-generate".into()).spawn(move || {
                        if let Backend::Remote(remote) = &*backend {
                            remote.generate(&request, &token, &events);
                        }
                    });
                if let Err(e) = spawned {
                    let _ = failed.send(StreamEvent::Failed(closer_llm::LlmError::InvalidRequest(
                        format!("cannot start a thread for the remote request: {e}"),
                    )));
                }
                Generation { events: receiver, cancel }
            }
        }
    }

    /// What runs, for the UI and logs: the model's name, or the server and its model.
    pub fn describe(&self) -> String {
        match self {
            Backend::Local(model) => model.info().name.clone(),
            Backend::Remote(remote) => {
                format!("{} (remote)", remote.config().model)
            }
        }
    }
}

/// The app's suggestion model: chosen in the settings, loaded once, shared.
#[derive(Debug)]
pub struct Suggester {
    models_dir: PathBuf,
    choice: Mutex<ModelChoice>,
    loader: Arc<Loader<Backend>>,
}

impl Suggester {
    /// Nothing loads until [`Suggester::start`] or the first use.
    pub fn new(models_dir: PathBuf, choice: ModelChoice) -> Self {
        Self {
            models_dir,
            choice: Mutex::new(choice),
            loader: Arc::new(Loader::new("the language model", ErrorCode::ModelNotReady)),
        }
    }

    pub fn choice(&self) -> ModelChoice {
        self.choice.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Switches model: the next use loads the new choice (a load under way finishes first).
    pub fn choose(&self, choice: ModelChoice) {
        *self.choice.lock().unwrap_or_else(|p| p.into_inner()) = choice;
        self.loader.reset();
    }

    /// Starts loading the chosen model unless it is loading or loaded.
    pub fn start(&self) {
        let choice = self.choice();
        let models_dir = self.models_dir.clone();
        self.loader.start("llm-load", move |progress| {
            let config = match choice {
                ModelChoice::Local(id) => return load_local(&models_dir, id, progress),
                ModelChoice::Remote(config) => config,
                ModelChoice::Configured(saved) => crate::models::remote_config(&saved)?,
            };
            let remote = RemoteBackend::new(config)?;
            // A server that does not answer is a failed load, said now rather than at the first
            // suggestion.
            remote.health()?;
            Ok(Backend::Remote(remote))
        });
    }

    pub fn status(&self) -> Status {
        self.loader.status()
    }

    /// `(layers loaded, layers)` while a local model loads.
    pub fn progress(&self) -> (usize, usize) {
        self.loader.progress()
    }

    /// Why the last load failed, if it did.
    pub fn failure(&self) -> Option<ApiError> {
        self.loader.failure()
    }

    /// The model now, or `model_not_ready` (starting the load if it has not started).
    pub fn ready(&self) -> Result<Arc<Backend>, ApiError> {
        self.start();
        self.loader.get()
    }

    /// The model, waiting up to `timeout` for its load.
    pub fn wait(&self, timeout: Duration) -> Result<Arc<Backend>, ApiError> {
        self.start();
        self.loader.wait(timeout)
    }
}

/// Loads an installed (or imported) model; `None` is the catalog's default.
fn load_local(
    models_dir: &std::path::Path,
    id: Option<String>,
    progress: &crate::loader::Progress,
) -> Result<Backend, ApiError> {
    let id = id.unwrap_or_else(|| closer_llm::catalog::catalog().default_model().id.clone());
    let path = closer_llm::catalog::installed_model_in(models_dir, &id)
        .or_else(|_| imported_path(models_dir, &id))
        .map_err(|_| {
            ApiError::new(
                ErrorCode::ModelNotReady,
                format!(
                    "the model {id} is not installed; run `closer models fetch {id}` or fetch it \
                     in the settings"
                ),
            )
        })?;
    let model = LocalModel::load(&path, LoadOptions::default(), &mut |done, total| {
        progress.set(done, total)
    })?;
    Ok(Backend::Local(model))
}

/// An imported model's file: imports are listed with the installed models by id.
fn imported_path(models_dir: &std::path::Path, id: &str) -> Result<PathBuf, ApiError> {
    let installed = closer_llm::catalog::list_installed(models_dir)?;
    installed
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| m.path)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no model {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_that_is_not_installed_is_a_clear_not_ready_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let suggester =
            Suggester::new(dir.path().to_path_buf(), ModelChoice::Local(Some("no-such".into())));
        let e = suggester.wait(Duration::from_secs(10)).expect_err("nothing installed");
        assert_eq!(e.code, ErrorCode::ModelNotReady);
        assert!(e.message.contains("closer models fetch no-such"), "{}", e.message);
        assert_eq!(suggester.status(), Status::Failed);
    }

    #[test]
    fn the_default_model_loads_and_streams_suggestions() {
        let suggester = Suggester::new(closer_llm::catalog::models_dir(), ModelChoice::Local(None));
        let backend = suggester.wait(Duration::from_secs(120)).expect("the default model loads");
        assert!(!backend.describe().is_empty());
        let (layers, total) = suggester.progress();
        assert!(total > 0 && layers == total, "progress {layers}/{total}");
        let request = GenerateRequest {
            messages: vec![closer_llm::ChatMessage::user("Say hello to a customer.")],
            params: closer_llm::SamplingParams { max_tokens: 8, ..Default::default() },
            n: 2,
            cache_key: None,
        };
        let (texts, stats) = backend.generate(request).collect().expect("generates");
        assert_eq!(texts.len(), 2);
        assert!(stats.generated_tokens > 0);
    }
}
