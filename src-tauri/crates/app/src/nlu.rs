//! The NLU inside the app: the encoder, the sentiment head and the active intent head, the
//! analysis of one message, and a manager's retraining of the intent head.
//!
//! Key decisions:
//! - **Loaded off the caller's thread.** Loading the encoder and the default heads takes a
//!   second, and training the default heads the first time on a machine takes tens of seconds.
//!   [`Nlu::start`] does it on a thread of its own (the shell calls it at start-up, any analysis
//!   calls it on first use). Until it is done an analysis fails fast with
//!   [`ErrorCode::NluNotReady`] rather than waiting or answering from rules alone: an answer
//!   without intents would read as "the customer's intent is unknown", which the policy treats
//!   as a reason to hand off. Callers that can wait (the CLI, tests, retraining) use
//!   [`Nlu::wait`].
//! - **Default heads come from the bundled sets** (`closer_nlu::data::BUNDLED_*`), trained on
//!   first need and cached in `<models_dir>/heads/<kind>-<encoder>-<digest>.safetensors`, the
//!   digest covering the data and the training recipe, so later starts just load them.
//!   Embeddings of training texts are cached in `<models_dir>/embedding-cache`.
//! - **Without the encoder** (not installed, or damaged) the heads use n-grams only
//!   (`NO_ENCODER`) and a warning names `closer models fetch multilingual-e5-small`.
//! - **Retraining proposes, a manager adopts.** A candidate is trained on the bundled set plus
//!   the manager's examples, measured against the active head on the bundled test set (all,
//!   zh, en), saved in `<data_dir>/heads/` and recorded in `nlu_heads`; only adopting it makes
//!   analyses use it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use closer_dialogue::{Annotation, FieldSpec, FieldType, Millis};
use closer_nlu::NluError;
use closer_nlu::analyzer;
use closer_nlu::data::{self, IntentLine, SentimentLine};
use closer_nlu::encoder::Encoder;
use closer_nlu::entities::Context;
use closer_nlu::eval::MultiLabelScores;
use closer_nlu::head::{Head, TrainOptions};
use closer_nlu::train::{self, Featurizer, NO_ENCODER};
use closer_store::{NewNluHead, NluHeadKind, NluHeadRow, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dto::{IntentTestScores, LabelScoreView, ScoreSummary};
use crate::loader::Loader;
use crate::{ApiError, Clock, ErrorCode};

/// The encoder the app runs.
pub const ENCODER_ID: &str = "multilingual-e5-small";

/// The strategy whose published version supplies the lead-field schema.
pub const STRATEGY: &str = "default";

/// The lead fields asked for when no published strategy names any.
const DEFAULT_LEAD_FIELDS: &str = include_str!("../assets/default_lead_fields.json");

/// Trainings append to the shared embedding cache and write head files: one at a time in this
/// process (this lock) and across processes sharing the models directory (a file lock).
static TRAINING: Mutex<()> = Mutex::new(());

/// Held while training: the process's lock and `<models_dir>/heads/.training.lock`.
struct TrainingLock {
    _file: Option<std::fs::File>,
    _process: MutexGuard<'static, ()>,
}

fn training(models_dir: &Path) -> TrainingLock {
    let process = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = models_dir.join("heads").join(".training.lock");
    let file = std::fs::create_dir_all(models_dir.join("heads"))
        .and_then(|()| {
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)
        })
        .and_then(|file| file.lock().map(|()| file));
    let file = match file {
        Ok(file) => Some(file),
        Err(e) => {
            // Still correct within this process; only a concurrent process could interleave.
            tracing::warn!(path = %path.display(), "cannot take the training lock: {e}");
            None
        }
    };
    TrainingLock { _file: file, _process: process }
}

/// How the app trains its heads. Part of the default heads' cache key.
fn train_options() -> TrainOptions {
    TrainOptions::default()
}

/// Also part of the cache key: bump it when closer-nlu's training changes in a way
/// [`TrainOptions`] does not show, so cached default heads are retrained. (A head file that no
/// longer loads is retrained anyway.)
const HEAD_RECIPE: u32 = 2;

/// The bundled sets, parsed once.
struct Bundled {
    sales_train: Vec<IntentLine>,
    sales_test: Vec<IntentLine>,
    sentiment_train: Vec<SentimentLine>,
}

fn bundled() -> Result<&'static Bundled, ApiError> {
    static BUNDLED: OnceLock<Result<Bundled, String>> = OnceLock::new();
    let parse = || -> Result<Bundled, NluError> {
        Ok(Bundled {
            sales_train: data::parse_jsonl(
                Path::new("nlu/data/sales/train.jsonl"),
                data::BUNDLED_SALES_TRAIN,
            )?,
            sales_test: data::parse_jsonl(
                Path::new("nlu/data/sales/test.jsonl"),
                data::BUNDLED_SALES_TEST,
            )?,
            sentiment_train: data::parse_jsonl(
                Path::new("nlu/data/sentiment/train.jsonl"),
                data::BUNDLED_SENTIMENT_TRAIN,
            )?,
        })
    };
    BUNDLED
        .get_or_init(|| parse().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("bundled NLU data: {e}")))
}

/// The labels of the bundled sales set (the taxonomy), with their example counts, by label.
pub fn bundled_label_counts() -> Result<Vec<(String, usize)>, ApiError> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for line in &bundled()?.sales_train {
        for label in &line.labels {
            *counts.entry(label.clone()).or_default() += 1;
        }
    }
    Ok(counts.into_iter().collect())
}

/// Whether the bundled training set already has `text` as an example of `label`.
pub fn bundled_has_example(label: &str, text: &str) -> Result<bool, ApiError> {
    Ok(bundled()?.sales_train.iter().any(|l| l.text == text && l.labels.iter().any(|x| x == label)))
}

/// An intent head in use, with what is known about it.
#[derive(Debug)]
pub struct IntentHead {
    pub head: Head,
    /// Its row in `nlu_heads`; `None` for the head trained on the bundled set.
    pub id: Option<i64>,
    /// Distinct training messages (a manager's example counts once, however often it was
    /// repeated to weigh more).
    pub examples: usize,
    pub trained_at: Option<Millis>,
    pub adopted_at: Option<Millis>,
    /// Its scores on the bundled test set, if measured.
    pub scores: Option<IntentTestScores>,
}

/// What a finished load holds.
#[derive(Debug)]
pub struct Loaded {
    encoder: Option<Encoder>,
    sentiment: Head,
    active: RwLock<Arc<IntentHead>>,
}

impl Loaded {
    /// The encoder's id, or `none`.
    pub fn encoder_id(&self) -> &str {
        self.encoder.as_ref().map_or(NO_ENCODER, Encoder::id)
    }

    /// The sentence encoder (`None` when it is not installed: the heads then use n-grams only).
    pub fn encoder(&self) -> Option<&Encoder> {
        self.encoder.as_ref()
    }

    /// The intent head analyses use now.
    pub fn active(&self) -> Arc<IntentHead> {
        self.active.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_active(&self, head: Arc<IntentHead>) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = head;
    }
}

pub use crate::loader::Status;

/// One message's analysis and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub annotation: Annotation,
    pub encoder: String,
    /// The intent head's `nlu_heads` id; `None` for the bundled head.
    pub intent_head_id: Option<i64>,
    pub elapsed_ms: f64,
}

/// A candidate head and how it compares with the active one.
#[derive(Debug, Clone)]
pub struct Retrained {
    pub candidate: Arc<IntentHead>,
    pub active: Arc<IntentHead>,
    pub active_scores: IntentTestScores,
    pub train_secs: f64,
    pub manager_examples: usize,
}

/// The app's NLU: loaded once, shared by every caller.
#[derive(Debug)]
pub struct Nlu {
    models_dir: PathBuf,
    data_dir: PathBuf,
    store: Arc<Store>,
    clock: Clock,
    loader: Arc<Loader<Loaded>>,
}

impl Nlu {
    /// Nothing is loaded until [`Nlu::start`] or the first use.
    pub fn new(models_dir: PathBuf, data_dir: PathBuf, store: Arc<Store>, clock: Clock) -> Self {
        Self {
            models_dir,
            data_dir,
            store,
            clock,
            loader: Arc::new(Loader::new("the NLU", ErrorCode::NluNotReady)),
        }
    }

    /// Starts loading on a thread of its own, unless it has started already.
    pub fn start(self: &Arc<Self>) {
        let nlu = Arc::clone(self);
        self.loader.start("nlu-load", move |_| nlu.load());
    }

    pub fn status(&self) -> Status {
        self.loader.status()
    }

    /// The loaded NLU now, or `nlu_not_ready` (starting the load if it has not started).
    pub fn ready(self: &Arc<Self>) -> Result<Arc<Loaded>, ApiError> {
        self.start();
        self.loader.get()
    }

    /// The loaded NLU, waiting up to `timeout` for the load (starting it if needed).
    pub fn wait(self: &Arc<Self>, timeout: Duration) -> Result<Arc<Loaded>, ApiError> {
        self.start();
        self.loader.wait(timeout)
    }

    fn cache_dir(&self) -> PathBuf {
        self.models_dir.join("embedding-cache")
    }

    fn load(&self) -> Result<Loaded, ApiError> {
        let span = tracing::info_span!("nlu_load");
        let _entered = span.enter();
        let started = Instant::now();
        let encoder = match Encoder::load(&self.models_dir, ENCODER_ID) {
            // As published. Its upper layers tuned for the bundled sales set (`tune`) read intents
            // a little better (sales macro-F1 +0.02/+0.03) but sentiment worse, and the dialogue
            // evaluation fell from 51/51 to 46/51 completed (corrections read as not_interested,
            // plain requests as hesitant): the app keeps the frozen encoder.
            Ok(encoder) => Some(encoder),
            Err(e) => {
                tracing::warn!(
                    "{e}. Intents and sentiment fall back to n-gram-only heads, which are less \
                     accurate; install the encoder with `closer models fetch {ENCODER_ID}`"
                );
                None
            }
        };
        let sentiment = self.default_sentiment_head(encoder.as_ref())?;
        let bundled = self.default_intent_head(encoder.as_ref())?;
        let encoder_id = encoder.as_ref().map_or(NO_ENCODER, Encoder::id);
        let active = match self.store.adopted_nlu_head(NluHeadKind::Intent)? {
            Some(row) => match self.open_head(&row, encoder_id) {
                Ok(head) => Arc::new(head),
                Err(e) => {
                    tracing::warn!(
                        head = row.id,
                        "the adopted intent head cannot be used ({}); using the bundled one",
                        e.message
                    );
                    Arc::new(bundled)
                }
            },
            None => Arc::new(bundled),
        };
        tracing::info!(
            encoder = encoder_id,
            intent_head = ?active.id,
            secs = started.elapsed().as_secs_f64(),
            "NLU ready"
        );
        Ok(Loaded { encoder, sentiment, active: RwLock::new(active) })
    }

    /// Loads a recorded head's file, if it fits the running encoder.
    fn open_head(&self, row: &NluHeadRow, encoder_id: &str) -> Result<IntentHead, ApiError> {
        let head = Head::load(&self.data_dir.join(&row.path))?;
        if head.info.encoder != encoder_id {
            return Err(ApiError::invalid(format!(
                "head {} was trained with encoder {}, but the app runs {encoder_id}",
                row.id, head.info.encoder
            )));
        }
        Ok(IntentHead {
            head,
            id: Some(row.id),
            examples: usize::try_from(row.examples).unwrap_or_default(),
            trained_at: Some(row.created_at),
            adopted_at: row.adopted_at,
            scores: serde_json::from_value(row.scores.clone()).ok(),
        })
    }

    /// `<models_dir>/heads/<kind>-<encoder>-<digest>.safetensors` for a head of the bundled data,
    /// the digest covering the data and the training recipe.
    fn default_head_path(&self, kind: &str, encoder: &str, data_digest: &str) -> PathBuf {
        let recipe = format!("{data_digest} {HEAD_RECIPE} {:?}", train_options());
        let key = hex(&Sha256::digest(recipe.as_bytes()));
        self.models_dir.join("heads").join(format!("{kind}-{encoder}-{}.safetensors", &key[..16]))
    }

    fn default_intent_head(&self, encoder: Option<&Encoder>) -> Result<IntentHead, ApiError> {
        let lines = &bundled()?.sales_train;
        let encoder_id = encoder.map_or(NO_ENCODER, Encoder::id);
        let digest = train::digest(lines.iter().map(|l| (l.text.as_str(), l.labels.join(","))));
        let path = self.default_head_path("intent", encoder_id, &digest);
        let cached = |path: &Path| -> Option<IntentHead> {
            let head = load_cached(path, encoder_id, &digest)?;
            let meta = DefaultHeadMeta::read(path);
            Some(IntentHead {
                examples: head.info.examples,
                head,
                id: None,
                trained_at: meta.as_ref().map(|m| m.trained_at),
                adopted_at: None,
                scores: meta.and_then(|m| m.scores),
            })
        };
        if let Some(head) = cached(&path) {
            return Ok(head);
        }
        let _one = training(&self.models_dir);
        if let Some(head) = cached(&path) {
            return Ok(head);
        }
        tracing::info!(
            examples = lines.len(),
            encoder = encoder_id,
            "training the default intent head (once per machine)"
        );
        let mut featurizer = Featurizer::new(encoder, Some(&self.cache_dir()))?;
        let started = Instant::now();
        let head = train_intents(&mut featurizer, lines)?;
        let train_secs = started.elapsed().as_secs_f64();
        let scores = test_scores(&head, &mut featurizer)?;
        head.save(&path)?;
        let trained_at = (self.clock)();
        DefaultHeadMeta { trained_at, train_secs, scores: Some(scores.clone()) }.write(&path);
        tracing::info!(secs = train_secs, path = %path.display(), "default intent head trained");
        Ok(IntentHead {
            examples: head.info.examples,
            head,
            id: None,
            trained_at: Some(trained_at),
            adopted_at: None,
            scores: Some(scores),
        })
    }

    fn default_sentiment_head(&self, encoder: Option<&Encoder>) -> Result<Head, ApiError> {
        let lines = &bundled()?.sentiment_train;
        let encoder_id = encoder.map_or(NO_ENCODER, Encoder::id);
        let digest = train::digest(lines.iter().map(|l| (l.text.as_str(), l.label.clone())));
        let path = self.default_head_path("sentiment", encoder_id, &digest);
        if let Some(head) = load_cached(&path, encoder_id, &digest) {
            return Ok(head);
        }
        let _one = training(&self.models_dir);
        if let Some(head) = load_cached(&path, encoder_id, &digest) {
            return Ok(head);
        }
        tracing::info!(
            examples = lines.len(),
            encoder = encoder_id,
            "training the default sentiment head (once per machine)"
        );
        let mut featurizer = Featurizer::new(encoder, Some(&self.cache_dir()))?;
        let started = Instant::now();
        let head =
            train::train_sentiment(&mut featurizer, lines, &train_options(), &mut |_, _| {})?;
        let train_secs = started.elapsed().as_secs_f64();
        head.save(&path)?;
        DefaultHeadMeta { trained_at: (self.clock)(), train_secs, scores: None }.write(&path);
        tracing::info!(secs = train_secs, path = %path.display(), "default sentiment head trained");
        Ok(head)
    }

    /// Intents, sentiment, entities, lead-field proposals and language of one message written
    /// at `now`. Fails with `nlu_not_ready` while loading.
    pub fn analyze(self: &Arc<Self>, text: &str, now: Millis) -> Result<Analysis, ApiError> {
        let loaded = self.ready()?;
        let active = loaded.active();
        let schema = lead_schema(&self.store)?;
        let (annotation, timings) = analyzer::analyze(
            loaded.encoder.as_ref(),
            &active.head,
            &loaded.sentiment,
            text,
            &Context::at(now),
            &schema,
        )?;
        Ok(Analysis {
            annotation,
            encoder: loaded.encoder_id().to_owned(),
            intent_head_id: active.id,
            elapsed_ms: timings.total_ms,
        })
    }

    /// [`Nlu::analyze`] of several messages (each with the time it was written) with ONE encoder
    /// pass for all their texts (`analyzer::head_inputs`): the queue of a busy channel is
    /// embedded together, which is several times faster per message than one call each. The
    /// encoder gives a text the same vectors alone or in any batch, so each analysis equals what
    /// `analyze` gives it (tested in `tests/channels.rs`); the heads and the rules then run per
    /// message exactly as `closer_nlu::analyzer::analyze` runs them — keep the two in step.
    pub fn analyze_batch(
        self: &Arc<Self>,
        messages: &[(&str, Millis)],
    ) -> Result<Vec<Analysis>, ApiError> {
        use closer_dialogue::{IntentScore, Sentiment, SentimentScore};
        use closer_nlu::{entities, features};
        let loaded = self.ready()?;
        let active = loaded.active();
        let schema = lead_schema(&self.store)?;
        let started = Instant::now();
        let texts: Vec<&str> = messages.iter().map(|(t, _)| *t).collect();
        let intents = &active.head;
        let inputs =
            analyzer::head_inputs(loaded.encoder.as_ref(), intents, &loaded.sentiment, &texts)?;
        let embed_ms = started.elapsed().as_secs_f64() * 1000.0 / texts.len().max(1) as f64;
        let mut out = Vec::with_capacity(messages.len());
        for ((text, at), (dense, sentiment_dense)) in messages.iter().zip(inputs) {
            let started = Instant::now();
            let sparse = features::ngrams(text);
            let probs = intents.predict(&dense, &sparse);
            let label = |(l, p): (usize, f32)| IntentScore {
                label: intents.info.labels.get(l).cloned().unwrap_or_default(),
                confidence: p,
            };
            let found_intents: Vec<IntentScore> =
                intents.decide(&probs).into_iter().map(label).collect();
            let top_intent =
                probs.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).map(label);
            let sentiment = &loaded.sentiment;
            let sentiment = sentiment
                .decide(&sentiment.predict(&sentiment_dense, &sparse))
                .first()
                .and_then(|&(l, p)| {
                    let label = Sentiment::parse(sentiment.info.labels.get(l)?)?;
                    Some(SentimentScore { label, confidence: p })
                })
                .unwrap_or_default();
            let found = entities::extract(text, &Context::at(*at));
            let fields = entities::propose_fields(&schema, text, &found);
            out.push(Analysis {
                annotation: Annotation {
                    intents: found_intents,
                    top_intent,
                    sentiment,
                    entities: found,
                    fields,
                    language: features::language(text).to_owned(),
                },
                encoder: loaded.encoder_id().to_owned(),
                intent_head_id: active.id,
                elapsed_ms: embed_ms + started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        Ok(out)
    }

    /// Trains a candidate intent head on the bundled set plus the manager's examples, measures
    /// it and the active head on the bundled test set, saves it and records it (not adopted).
    pub fn retrain_intents(self: &Arc<Self>, wait: Duration) -> Result<Retrained, ApiError> {
        let loaded = self.wait(wait)?;
        let _one = training(&self.models_dir);
        let span = tracing::info_span!("retrain_intents");
        let _entered = span.enter();
        let added = self.store.intent_examples()?;
        let bundled_lines = &bundled()?.sales_train;
        let lines = with_manager_examples(bundled_lines, &added);
        let examples = bundled_lines.len() + added.len();
        let mut featurizer = Featurizer::new(loaded.encoder.as_ref(), Some(&self.cache_dir()))?;
        let started = Instant::now();
        let head = train_intents(&mut featurizer, &lines)?;
        let train_secs = started.elapsed().as_secs_f64();
        let scores = test_scores(&head, &mut featurizer)?;

        let active = loaded.active();
        let active_scores = if active.head.info.encoder == NO_ENCODER {
            test_scores(&active.head, &mut Featurizer::new(None, None)?)?
        } else {
            test_scores(&active.head, &mut featurizer)?
        };

        let encoder_id = loaded.encoder_id();
        let relative = format!(
            "heads/intent-{encoder_id}-{}.safetensors",
            head.info.data_digest.get(..16).unwrap_or(&head.info.data_digest)
        );
        head.save(&self.data_dir.join(&relative))?;
        let now = (self.clock)();
        let scores_json = serde_json::to_value(&scores)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let id = self.store.insert_nlu_head(&NewNluHead {
            kind: NluHeadKind::Intent,
            encoder: encoder_id.to_owned(),
            path: relative,
            data_digest: head.info.data_digest.clone(),
            examples: examples as i64,
            labels: head.info.labels.clone(),
            scores: scores_json,
            created_at: now,
        })?;
        tracing::info!(
            id,
            examples,
            manager_examples = added.len(),
            secs = train_secs,
            candidate_micro_f1 = scores.all.micro_f1,
            active_micro_f1 = active_scores.all.micro_f1,
            "candidate intent head trained"
        );
        let candidate = Arc::new(IntentHead {
            head,
            id: Some(id),
            examples,
            trained_at: Some(now),
            adopted_at: None,
            scores: Some(scores),
        });
        Ok(Retrained {
            candidate,
            active,
            active_scores,
            train_secs,
            manager_examples: added.len(),
        })
    }

    /// Makes recorded head `id` the active intent head: the next analysis uses it.
    pub fn adopt_intent_head(
        self: &Arc<Self>,
        id: i64,
        wait: Duration,
    ) -> Result<Arc<IntentHead>, ApiError> {
        let loaded = self.wait(wait)?;
        let row = self
            .store
            .nlu_head(id)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no NLU head {id}")))?;
        if row.kind != NluHeadKind::Intent {
            return Err(ApiError::invalid(format!("head {id} is a {} head", row.kind.as_str())));
        }
        let mut head = self.open_head(&row, loaded.encoder_id())?;
        let adopted = self
            .store
            .adopt_nlu_head(id, "manager", (self.clock)())?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no NLU head {id}")))?;
        head.adopted_at = adopted.adopted_at;
        let head = Arc::new(head);
        loaded.set_active(Arc::clone(&head));
        tracing::info!(id, "intent head adopted");
        Ok(head)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cached default head, if it loads and was trained on this data with this encoder.
fn load_cached(path: &Path, encoder_id: &str, digest: &str) -> Option<Head> {
    if !path.exists() {
        return None;
    }
    match Head::load(path) {
        Ok(head) if head.info.encoder == encoder_id && head.info.data_digest == digest => {
            Some(head)
        }
        Ok(_) => {
            tracing::warn!(path = %path.display(), "cached head does not match its name; retraining");
            None
        }
        Err(e) => {
            tracing::warn!("{e}; retraining");
            None
        }
    }
}

/// What is known about a default head besides its weights, kept beside it as `<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultHeadMeta {
    trained_at: Millis,
    train_secs: f64,
    scores: Option<IntentTestScores>,
}

impl DefaultHeadMeta {
    fn path(head: &Path) -> PathBuf {
        head.with_extension("json")
    }

    fn read(head: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(head)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Best effort: without it the head still works, only its scores are unknown.
    fn write(&self, head: &Path) {
        let path = Self::path(head);
        let part = path.with_extension(format!("json.part-{}", std::process::id()));
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&part, bytes))
            .and_then(|()| std::fs::rename(&part, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot write the head's scores: {e}");
        }
    }
}

/// A label a manager teaches should weigh about as much as a bundled one, or a dozen examples
/// are drowned out by the rest of the set, including bundled messages that say the same thing
/// under other labels. So each manager example is repeated until its label has as many examples
/// as the median bundled label (and at least this many), at most [`MAX_REPEAT`] times.
pub const MIN_LABEL_EXAMPLES: usize = 60;
/// The most times one manager example is repeated.
pub const MAX_REPEAT: usize = 24;

/// The bundled training set plus the manager's examples, each repeated so that its label
/// reaches [`MIN_LABEL_EXAMPLES`] (see there).
pub fn with_manager_examples(
    bundled: &[IntentLine],
    added: &[closer_store::IntentExample],
) -> Vec<IntentLine> {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for label in bundled.iter().flat_map(|l| &l.labels) {
        *counts.entry(label.as_str()).or_default() += 1;
    }
    for e in added {
        *counts.entry(e.label.as_str()).or_default() += 1;
    }
    let mut bundled_counts: Vec<usize> = {
        let mut c = std::collections::HashMap::<&str, usize>::new();
        for label in bundled.iter().flat_map(|l| &l.labels) {
            *c.entry(label.as_str()).or_default() += 1;
        }
        c.into_values().collect()
    };
    bundled_counts.sort_unstable();
    let median = bundled_counts.get(bundled_counts.len() / 2).copied().unwrap_or(0);
    let target = MIN_LABEL_EXAMPLES.max(median);
    let mut lines = bundled.to_vec();
    for e in added {
        let count = counts.get(e.label.as_str()).copied().unwrap_or(1).max(1);
        let repeat = target.div_ceil(count).clamp(1, MAX_REPEAT);
        let line = IntentLine {
            text: e.text.clone(),
            labels: vec![e.label.clone()],
            lang: Some(e.lang.clone()),
        };
        lines.extend(std::iter::repeat_n(line, repeat));
    }
    lines
}

/// Trains an intent head on `lines` with the app's recipe. An empty or one-class set is a
/// `training_failed` error saying why.
pub fn train_intents(
    featurizer: &mut Featurizer<'_>,
    lines: &[IntentLine],
) -> Result<Head, ApiError> {
    Ok(train::train_intents(featurizer, lines, &train_options(), &mut |_, _| {})?)
}

/// `head`'s scores on the bundled sales test set: all of it, and its zh and en parts.
pub fn test_scores(
    head: &Head,
    featurizer: &mut Featurizer<'_>,
) -> Result<IntentTestScores, ApiError> {
    let _s = tracing::debug_span!("test_scores").entered();
    let test = &bundled()?.sales_test;
    let mut part = |lang: Option<&str>| -> Result<ScoreSummary, ApiError> {
        let lines: Vec<IntentLine> =
            test.iter().filter(|l| lang.is_none() || l.lang.as_deref() == lang).cloned().collect();
        Ok(summary(&train::score_intents(head, featurizer, &lines, &mut |_, _| {})?))
    };
    Ok(IntentTestScores { all: part(None)?, zh: part(Some("zh"))?, en: part(Some("en"))? })
}

fn summary(s: &MultiLabelScores) -> ScoreSummary {
    ScoreSummary {
        n: s.n as u32,
        micro_f1: s.micro_f1,
        macro_f1: s.macro_f1,
        subset_accuracy: s.subset_accuracy,
        per_label: s
            .per_label
            .iter()
            .map(|l| LabelScoreView {
                label: l.label.clone(),
                support: l.support as u32,
                precision: l.precision,
                recall: l.recall,
                f1: l.f1,
            })
            .collect(),
    }
}

/// The lead fields of the published default strategy, else the default schema
/// (`assets/default_lead_fields.json`).
pub fn lead_schema(store: &Store) -> Result<Vec<FieldSpec>, ApiError> {
    match store.published_strategy(STRATEGY) {
        Ok(version) => {
            let fields = strategy_fields(&version.document);
            if !fields.is_empty() {
                return Ok(fields);
            }
        }
        Err(StoreError::StrategyNotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    default_lead_fields()
}

/// The default lead-field schema.
pub fn default_lead_fields() -> Result<Vec<FieldSpec>, ApiError> {
    serde_json::from_str(DEFAULT_LEAD_FIELDS).map_err(|e| {
        ApiError::new(ErrorCode::Internal, format!("assets/default_lead_fields.json: {e}"))
    })
}

/// A strategy document's `lead_fields`, read leniently: the type may be named `type` or
/// `field_type`, `number` means a quantity, and an entry that still does not parse is skipped.
fn strategy_fields(document: &serde_json::Value) -> Vec<FieldSpec> {
    let Some(entries) = document.get("lead_fields").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let mut entry = entry.as_object()?.clone();
            if let Some(t) = entry.remove("type") {
                entry.entry("field_type").or_insert(t);
            }
            let kind = entry.get("field_type").and_then(|t| t.as_str()).unwrap_or("text");
            let kind = match kind {
                "number" | "count" => FieldType::Quantity,
                "date_time" | "datetime" | "time" => FieldType::Date,
                other => FieldType::parse(other).unwrap_or(FieldType::Text),
            };
            entry.insert("field_type".into(), kind.as_str().into());
            match serde_json::from_value::<FieldSpec>(entry.into()) {
                Ok(field) => Some(field),
                Err(e) => {
                    tracing::debug!("strategy lead field skipped: {e}");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lead_fields_parse_and_cover_every_type() {
        let fields = default_lead_fields().expect("default lead fields");
        for t in FieldType::ALL {
            assert!(fields.iter().any(|f| f.field_type == *t), "no default field of type {t:?}");
        }
        let mut keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), fields.len(), "duplicate keys");
        for f in &fields {
            assert!(
                !f.label_zh.is_empty()
                    && !f.label_en.is_empty()
                    && !f.ask_zh.is_empty()
                    && !f.ask_en.is_empty(),
                "{} lacks a label or an ask text",
                f.key
            );
        }
        for key in ["name", "phone", "email", "wechat", "company", "budget", "quantity", "timeline"]
        {
            assert!(keys.contains(&key), "no default field {key}");
        }
    }

    #[test]
    fn strategy_fields_are_read_leniently() {
        let document = serde_json::json!({ "lead_fields": [
            { "key": "phone", "type": "phone", "required": true, "ask_zh": "电话？" },
            { "key": "quantity", "type": "number" },
            { "key": "budget", "field_type": "money", "cues": ["预算"] },
            { "key": "note", "type": "mystery" },
            "not an object",
            { "type": "text" }
        ]});
        let fields = strategy_fields(&document);
        let got: Vec<(&str, FieldType)> =
            fields.iter().map(|f| (f.key.as_str(), f.field_type)).collect();
        assert_eq!(
            got,
            [
                ("phone", FieldType::Phone),
                ("quantity", FieldType::Quantity),
                ("budget", FieldType::Money),
                ("note", FieldType::Text)
            ]
        );
        assert!(fields[0].required);
        assert_eq!(fields[2].cues, ["预算"]);
        assert!(strategy_fields(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn manager_examples_of_a_small_label_are_repeated() {
        let line = |text: &str, label: &str| IntentLine {
            text: text.into(),
            labels: vec![label.into()],
            lang: None,
        };
        let bundled: Vec<IntentLine> =
            (0..100).map(|i| line(&format!("hi {i}"), "greeting")).collect();
        let example = |text: &str, label: &str| closer_store::IntentExample {
            id: 1,
            label: label.into(),
            text: text.into(),
            lang: "en".into(),
            added_by: "manager".into(),
            added_at: 0,
        };
        let mut added: Vec<_> =
            (0..12).map(|i| example(&format!("invoice {i}"), "ask_invoice")).collect();
        added.push(example("hello there", "greeting"));
        added.push(example("one-off", "rare"));
        let lines = with_manager_examples(&bundled, &added);
        let count = |label: &str| lines.iter().filter(|l| l.labels[0] == label).count();
        assert_eq!(
            count("ask_invoice"),
            108,
            "12 examples, 9 times each: the median label has 100"
        );
        assert_eq!(count("greeting"), 101, "a big label is not repeated");
        assert_eq!(count("rare"), MAX_REPEAT, "capped");
    }

    #[test]
    fn the_bundled_sets_parse() {
        let counts = bundled_label_counts().expect("bundled");
        assert_eq!(counts.len(), 18, "{counts:?}");
        assert!(!bundled().expect("bundled").sales_test.is_empty());
        assert!(bundled_has_example("greeting", "你好").expect("bundled"));
        assert!(!bundled_has_example("goodbye", "你好").expect("bundled"));
    }
}
