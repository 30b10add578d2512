//! Console-only queries and actions: what the salesperson and manager screens need beyond the
//! live path — each customer turn's annotation and the suggestions' history for a conversation,
//! take over / hand back, the strategy's versions with the draft's diff and a test-run of the
//! draft on sample conversations, the dashboards' aggregates, and the models' state.
//!
//! Key decision: everything here is read from the event log (replayed states) or goes through
//! the same store calls and pure dialogue functions the engine uses, so the console shows what
//! the engine did, never a second opinion of it.

use std::collections::{BTreeMap, HashMap};

use closer_dialogue::document::{self, Language, StrategyDocument};
use closer_dialogue::turn::{self, TurnInput};
use closer_dialogue::{
    ConversationState, Event, Handoff, IntentScore, Mode, Role, Sentiment, SentimentScore, Stage,
    SuggestionStatus,
};
use closer_dialogue::{composer, policy};
use closer_store::{StrategyError, StrategyVersion, VersionStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::args::{
    ConfigureChannelsArgs, ConfigureCrmArgs, ConversationArgs, DeadLetterArgs,
    EraseLeadConfirmedArgs, NoArgs, RollbackStrategyArgs, SaveStrategyDraftArgs,
    SetCrmCredentialArgs, SetWebhookSecretArgs, TestStrategyArgs,
};
use crate::crm::{CrmStatusView, DeadLetterView};
use crate::dto::{ExportTableView, LeadExportView, RetentionView};
use crate::engine::{DEFAULT_STRATEGY, DecisionView, SuggestionStream, SuggestionView};
use crate::privacy::{
    EraseLeadArgs, ErasureView, ExportLeadArgs, MessageStorageView, PurgeView,
    SetMessageStorageArgs, SetRetentionArgs,
};
use crate::{ApiError, ErrorCode};

/// Pins the model runtime's compute threads (the shell calls it first thing at start-up).
pub use closer_llm::cpu::pin_threads as pin_compute_threads;

/// The NLU's reading of one customer message, as stored with its turn.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TurnAnnotationView {
    /// The customer message's time (matches its `MessageView.at`).
    #[ts(type = "number")]
    pub at: i64,
    pub intents: Vec<IntentScore>,
    pub top_intent: Option<IntentScore>,
    pub sentiment: SentimentScore,
    pub language: String,
}

/// A suggestion offered in the conversation and what became of it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionRecordView {
    pub id: String,
    pub offered_text: String,
    pub text: String,
    /// The policy's action it carried out (`answer`, `ask_field`, …).
    pub action: String,
    pub field: Option<String>,
    pub objection: Option<String>,
    pub promotion: Option<String>,
    /// `offered`, `edited`, `sent` or `rejected`.
    pub status: String,
    pub sent_by: Option<Role>,
    #[ts(type = "number")]
    pub offered_at: i64,
    #[ts(type = "number | null")]
    pub decided_at: Option<i64>,
}

/// Whether a person is needed or has the conversation.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HandoffView {
    /// `requested` (the AI asks for a person) or `taken` (a person has it).
    pub state: String,
    /// The policy's reason code for a request.
    pub reason: Option<String>,
    #[ts(type = "number")]
    pub at: i64,
}

/// What the conversation view shows beside the messages.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetails {
    #[ts(type = "number")]
    pub conversation_id: i64,
    /// One per annotated customer message, in order.
    pub turns: Vec<TurnAnnotationView>,
    /// Every suggestion offered, in order.
    pub suggestions: Vec<SuggestionRecordView>,
    pub handoff: Option<HandoffView>,
    /// The product or plan in focus.
    pub focus: Option<String>,
}

/// One stored version of the strategy.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyVersionView {
    #[ts(type = "number")]
    pub version: i64,
    /// `draft`, `published` or `retired`.
    pub status: String,
    pub note: String,
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number | null")]
    pub published_at: Option<i64>,
}

/// One field-level difference between the published document and the draft.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyChangeView {
    pub path: String,
    /// `added`, `removed`, `changed`, `reordered`.
    pub kind: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A problem that keeps a draft from being published.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyIssueView {
    pub code: String,
    pub message: String,
}

/// The strategy editor's state: versions, the published document, the draft and its diff.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyOverview {
    pub name: String,
    pub versions: Vec<StrategyVersionView>,
    #[ts(type = "number")]
    pub published_version: i64,
    /// The published document (a `StrategyDocument` as JSON).
    #[ts(type = "StrategyDocumentJson")]
    pub published: serde_json::Value,
    #[ts(type = "number | null")]
    pub draft_version: Option<i64>,
    #[ts(type = "StrategyDocumentJson | null")]
    pub draft: Option<serde_json::Value>,
    /// Published → draft, field by field (empty without a draft).
    pub changes: Vec<StrategyChangeView>,
    /// Why the draft could not be published now (empty when it could).
    pub issues: Vec<StrategyIssueView>,
}

/// What one strategy does with one sample message.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyTrial {
    pub decision: DecisionView,
    /// The strategy's own reply for that decision (what the template writes; the model is steered
    /// by the same action, field, objection answer and promotion).
    pub reply: String,
}

/// A sample conversation's last customer message under the published strategy and the draft.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StrategyTestSample {
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub customer_name: String,
    pub message: String,
    pub before: StrategyTrial,
    pub after: StrategyTrial,
    pub changed: bool,
}

/// Counts under a key (an intent, a stage, a reason).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CountView {
    pub key: String,
    pub count: u32,
}

/// A funnel stage: conversations that ever reached it, that are in it now, and the share of the
/// previous stage's that reached it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FunnelStepView {
    pub stage: Stage,
    pub reached: u32,
    pub current: u32,
    pub conversion: Option<f64>,
}

/// What became of suggestions.
#[derive(Debug, Clone, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionStatsView {
    pub offered: u32,
    pub sent_as_is: u32,
    pub sent_edited: u32,
    pub rejected: u32,
    /// Still waiting for a decision.
    pub pending: u32,
    /// Shares of the decided ones.
    pub acceptance_rate: Option<f64>,
    pub edit_rate: Option<f64>,
    pub reject_rate: Option<f64>,
    /// Mean Levenshtein distance (characters) between offered and sent text, over edited sends.
    pub mean_edit_distance: Option<f64>,
}

/// Suggestions under one strategy version (the one published when they were offered).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct VersionStatsView {
    #[ts(type = "number")]
    pub version: i64,
    pub stats: SuggestionStatsView,
}

/// How fast customers got a reply, by who replied (`salesperson` or `ai`).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ResponseTimeView {
    pub by: Role,
    pub replies: u32,
    pub mean_secs: f64,
    pub p50_secs: f64,
    pub p90_secs: f64,
}

/// One sentiment's daily counts.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SentimentSeriesView {
    pub sentiment: Sentiment,
    pub counts: Vec<u32>,
}

/// The dashboards' aggregates over every conversation.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DashboardView {
    pub conversations: u32,
    pub messages: u32,
    pub funnel: Vec<FunnelStepView>,
    /// Lost and handed-off conversations now.
    pub lost: u32,
    pub handed_off: u32,
    /// Intents of annotated customer messages, most frequent first.
    pub intents: Vec<CountView>,
    /// UTC day starts (Unix ms) of the sentiment series.
    #[ts(type = "number[]")]
    pub days: Vec<i64>,
    pub sentiment: Vec<SentimentSeriesView>,
    pub suggestions: SuggestionStatsView,
    pub by_version: Vec<VersionStatsView>,
    pub response_times: Vec<ResponseTimeView>,
    /// Rejection reasons given, most frequent first (`""` is no reason).
    pub reject_reasons: Vec<CountView>,
}

/// The suggestion model's state for the settings screen.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatusView {
    /// `idle`, `loading`, `ready`, `failed`.
    pub status: String,
    /// Layers loaded of the total while a local model loads.
    pub loaded: u32,
    pub total: u32,
    /// The chosen model's id (`null`: the catalog's default), or `remote`.
    pub chosen: Option<String>,
    /// What runs once loaded: the model's name, or the remote server's model.
    pub running: Option<String>,
    /// Why the load failed, when it did.
    pub error: Option<String>,
    /// The remote server from the settings, whether in use or not.
    pub remote: Option<crate::models::RemoteModelView>,
    /// The model fetch started from the settings, running or last run.
    pub fetch: Option<crate::models::FetchView>,
}

const FUNNEL: [Stage; 6] =
    [Stage::New, Stage::Engaged, Stage::Qualified, Stage::Proposal, Stage::Negotiation, Stage::Won];
const DAY_MS: i64 = 86_400_000;
/// Sample conversations a test-run uses when none are named.
const SAMPLES: usize = 4;

fn status_name(s: crate::loader::Status) -> &'static str {
    match s {
        crate::loader::Status::Idle => "idle",
        crate::loader::Status::Loading => "loading",
        crate::loader::Status::Ready => "ready",
        crate::loader::Status::Failed => "failed",
    }
}

fn strategy_error(e: StrategyError) -> ApiError {
    let code = match &e {
        StrategyError::NotFound(_)
        | StrategyError::VersionNotFound { .. }
        | StrategyError::NoDraft(_) => ErrorCode::NotFound,
        StrategyError::AlreadyPublished { .. }
        | StrategyError::NeverPublished { .. }
        | StrategyError::Unreadable { .. }
        | StrategyError::Invalid { .. } => ErrorCode::InvalidArgument,
        StrategyError::Store(_) => ErrorCode::Storage,
    };
    ApiError::new(code, format!("{} ({})", e, e.code()))
}

fn version_view(v: &StrategyVersion) -> StrategyVersionView {
    StrategyVersionView {
        version: v.version,
        status: v.status.as_str().to_owned(),
        note: v.note.clone(),
        created_at: v.created_at,
        published_at: v.published_at,
    }
}

fn read_document(value: serde_json::Value) -> Result<StrategyDocument, ApiError> {
    StrategyDocument::from_value(value)
        .map_err(|e| ApiError::invalid(format!("not a strategy document: {e} ({})", e.code())))
}

/// Counts per key, most frequent first, ties by key.
fn ranked(counts: HashMap<String, u32>) -> Vec<CountView> {
    let mut out: Vec<CountView> =
        counts.into_iter().map(|(key, count)| CountView { key, count }).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

fn share(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Tallies suggestions; `distances` collects edit distances of edited sends.
#[derive(Debug, Default)]
struct Tally {
    stats: SuggestionStatsView,
    distances: Vec<usize>,
}

impl Tally {
    fn add(&mut self, s: &closer_dialogue::Suggestion) {
        self.stats.offered += 1;
        match s.status {
            SuggestionStatus::Sent if s.text == s.offered_text => self.stats.sent_as_is += 1,
            SuggestionStatus::Sent => {
                self.stats.sent_edited += 1;
                self.distances.push(strsim::levenshtein(&s.offered_text, &s.text));
            }
            SuggestionStatus::Rejected => self.stats.rejected += 1,
            SuggestionStatus::Offered | SuggestionStatus::Edited => self.stats.pending += 1,
        }
    }

    fn finish(mut self) -> SuggestionStatsView {
        let s = &mut self.stats;
        let decided = s.sent_as_is + s.sent_edited + s.rejected;
        s.acceptance_rate = share(s.sent_as_is + s.sent_edited, decided);
        s.edit_rate = share(s.sent_edited, decided);
        s.reject_rate = share(s.rejected, decided);
        s.mean_edit_distance = (!self.distances.is_empty())
            .then(|| self.distances.iter().sum::<usize>() as f64 / self.distances.len() as f64);
        self.stats
    }
}

impl crate::Api {
    /// Each customer turn's annotation, the suggestions offered and the hand-off state.
    pub fn conversation_details(
        &self,
        args: ConversationArgs,
    ) -> Result<ConversationDetails, ApiError> {
        let state = self.store.state(args.conversation_id)?;
        Ok(details(args.conversation_id, &state))
    }

    /// A person takes the conversation over: the AI stops suggesting to send on its own and the
    /// stage shows it handed off.
    pub fn take_over(&self, args: ConversationArgs) -> Result<ConversationDetails, ApiError> {
        self.handoff_event(args.conversation_id, |at| Event::HandoffTaken { at })
    }

    /// The person hands the conversation back to the AI; the stage returns to where it was.
    pub fn hand_back(&self, args: ConversationArgs) -> Result<ConversationDetails, ApiError> {
        self.handoff_event(args.conversation_id, |at| Event::HandoffReturned { at })
    }

    fn handoff_event(
        &self,
        id: i64,
        event: impl Fn(i64) -> Event,
    ) -> Result<ConversationDetails, ApiError> {
        let at = (self.clock)();
        let mut state = self.store.state(id)?;
        let first = event(at);
        state.apply(&first);
        let mut events = vec![first];
        for change in closer_dialogue::stage::advance(&state) {
            let e = change.event(at);
            state.apply(&e);
            events.push(e);
        }
        self.store.record_all(id, &events, "salesperson")?;
        self.updated(id);
        Ok(details(id, &state))
    }

    /// The strategy's versions, its published document, the draft and what the draft changes.
    pub fn strategy_overview(&self, _: NoArgs) -> Result<StrategyOverview, ApiError> {
        let name = DEFAULT_STRATEGY;
        let versions = self.store.strategy_versions(name).map_err(strategy_error)?;
        let published = versions
            .iter()
            .find(|v| v.status == VersionStatus::Published)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no published strategy"))?;
        let draft = versions.iter().find(|v| v.status == VersionStatus::Draft);
        let published_doc = read_document(published.document.clone())?;
        let (changes, issues) = match draft {
            Some(d) => {
                let doc = read_document(d.document.clone())?;
                let changes = document::diff(&published_doc, &doc)
                    .into_iter()
                    .map(|c| StrategyChangeView {
                        path: c.path,
                        kind: c.kind.as_str().to_owned(),
                        before: c.before,
                        after: c.after,
                    })
                    .collect();
                (changes, self.issues(&doc)?)
            }
            None => (Vec::new(), Vec::new()),
        };
        Ok(StrategyOverview {
            name: name.to_owned(),
            versions: versions.iter().map(version_view).collect(),
            published_version: published.version,
            published: published_doc.to_value(),
            draft_version: draft.map(|d| d.version),
            draft: match draft {
                Some(d) => Some(read_document(d.document.clone())?.to_value()),
                None => None,
            },
            changes,
            issues,
        })
    }

    fn issues(&self, doc: &StrategyDocument) -> Result<Vec<StrategyIssueView>, ApiError> {
        Ok(match doc.validate() {
            Ok(()) => Vec::new(),
            Err(issues) => issues
                .into_iter()
                .map(|i| StrategyIssueView { code: i.code().to_owned(), message: i.to_string() })
                .collect(),
        })
    }

    /// Saves the manager's draft (creating or updating it); it may be incomplete until published.
    pub fn save_strategy_draft(
        &self,
        args: SaveStrategyDraftArgs,
    ) -> Result<StrategyOverview, ApiError> {
        let doc = read_document(args.document)?;
        self.store
            .save_strategy_draft(DEFAULT_STRATEGY, &doc, &args.note, "manager", (self.clock)())
            .map_err(strategy_error)?;
        self.strategy_overview(NoArgs {})
    }

    /// Publishes the draft (validated first); the next customer message uses it.
    pub fn publish_strategy(&self, _: NoArgs) -> Result<StrategyOverview, ApiError> {
        self.store
            .publish_strategy_draft(DEFAULT_STRATEGY, "manager", (self.clock)())
            .map_err(strategy_error)?;
        self.remap_crm();
        self.strategy_overview(NoArgs {})
    }

    /// Publishes a copy of an older version.
    pub fn rollback_strategy(
        &self,
        args: RollbackStrategyArgs,
    ) -> Result<StrategyOverview, ApiError> {
        self.store
            .rollback_strategy(
                DEFAULT_STRATEGY,
                args.version,
                &args.note,
                "manager",
                (self.clock)(),
            )
            .map_err(strategy_error)?;
        self.remap_crm();
        self.strategy_overview(NoArgs {})
    }

    /// Runs the last customer message of sample conversations through the turn (NLU reading as
    /// stored, else analysed now) under the published strategy and under the draft, and returns
    /// both decisions and replies. Nothing is stored.
    pub fn test_strategy_draft(
        &self,
        args: TestStrategyArgs,
    ) -> Result<Vec<StrategyTestSample>, ApiError> {
        let published = self.strategy_document()?;
        let draft = match self.store.strategy_draft(DEFAULT_STRATEGY).map_err(strategy_error)? {
            Some(d) => read_document(d.document)?,
            None => published.clone(),
        };
        let products = self.store.products()?;
        let catalog = crate::catalog::dialogue_catalog(&products);
        let ids: Vec<i64> = match args.conversation_ids {
            Some(ids) => ids,
            None => self.store.list_conversations()?.into_iter().map(|c| c.id).collect(),
        };
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= SAMPLES {
                break;
            }
            let (row, _) = self.store.conversation(id)?;
            let events = self.store.events(id)?;
            let Some(last) = events
                .iter()
                .rposition(|e| matches!(e, Event::Message { role: Role::Customer, .. }))
            else {
                continue;
            };
            let Event::Message { text, at, .. } = &events[last] else { continue };
            let before_state = ConversationState::replay(&events[..last]);
            let stored = events[last..].iter().find_map(|e| match e {
                Event::Annotated { annotation, at: a } if a == at => Some(annotation.clone()),
                _ => None,
            });
            let annotation = match stored {
                Some(a) => a,
                None => {
                    self.nlu.wait(crate::NLU_WAIT)?;
                    self.nlu.analyze(text, *at)?.annotation
                }
            };
            let input =
                TurnInput { id: format!("trial-{id}"), text: text.clone(), at: *at, annotation };
            let trial = |doc: &StrategyDocument| {
                let outcome = turn::customer_message(&before_state, &input, &catalog, &doc.view());
                let language = Language::parse(&input.annotation.language).unwrap_or_default();
                let reply =
                    composer::template_reply(doc, &outcome.decision, &outcome.state, &[], language);
                StrategyTrial { decision: DecisionView::from(&outcome.decision), reply }
            };
            let before = trial(&published);
            let after = trial(&draft);
            let changed = before.reply != after.reply || before.decision != after.decision;
            out.push(StrategyTestSample {
                conversation_id: id,
                customer_name: row.customer_name,
                message: text.clone(),
                before,
                after,
                changed,
            });
        }
        Ok(out)
    }

    /// The dashboards: funnel, intents, sentiment by day, suggestion outcomes (overall and per
    /// strategy version), response times by who replied, rejection reasons.
    pub fn dashboard(&self, _: NoArgs) -> Result<DashboardView, ApiError> {
        let rows = self.store.list_conversations()?;
        let versions = self.store.strategy_versions(DEFAULT_STRATEGY).map_err(strategy_error)?;
        // (published_at, version), oldest first: a suggestion belongs to the last one before it.
        let mut published: Vec<(i64, i64)> =
            versions.iter().filter_map(|v| v.published_at.map(|at| (at, v.version))).collect();
        published.sort();
        let version_at = |at: i64| {
            published
                .iter()
                .rev()
                .find(|(p, _)| *p <= at)
                .or(published.first())
                .map_or(0, |(_, v)| *v)
        };

        let mut reached = [0u32; FUNNEL.len()];
        let mut current = [0u32; FUNNEL.len()];
        let (mut lost, mut handed_off, mut messages) = (0u32, 0u32, 0u32);
        let mut intents: HashMap<String, u32> = HashMap::new();
        let mut sentiment_days: BTreeMap<i64, HashMap<Sentiment, u32>> = BTreeMap::new();
        let mut all = Tally::default();
        let mut per_version: BTreeMap<i64, Tally> = BTreeMap::new();
        let mut waits: HashMap<Role, Vec<f64>> = HashMap::new();
        let mut reasons: HashMap<String, u32> = HashMap::new();

        for row in &rows {
            let events = self.store.events(row.id)?;
            let state = ConversationState::replay(&events);
            let mut furthest = funnel_index(Stage::New);
            for e in &events {
                match e {
                    Event::StageChanged { to, .. } => {
                        furthest = furthest.max(funnel_index(*to));
                    }
                    Event::SuggestionRejected { reason, .. } => {
                        *reasons.entry(reason.trim().to_owned()).or_default() += 1;
                    }
                    _ => {}
                }
            }
            furthest = furthest.max(funnel_index(state.stage));
            for r in reached.iter_mut().take(furthest + 1) {
                *r += 1;
            }
            match state.stage {
                Stage::Lost => lost += 1,
                Stage::HandedOff => handed_off += 1,
                s => {
                    if let Some(i) = FUNNEL.iter().position(|f| *f == s) {
                        current[i] += 1;
                    }
                }
            }
            messages += state.messages.len() as u32;
            for t in &state.turns {
                for i in &t.intents {
                    *intents.entry(i.label.clone()).or_default() += 1;
                }
                *sentiment_days
                    .entry(t.at.div_euclid(DAY_MS) * DAY_MS)
                    .or_default()
                    .entry(t.sentiment.label)
                    .or_default() += 1;
            }
            for s in &state.suggestions {
                all.add(s);
                per_version.entry(version_at(s.offered_at)).or_default().add(s);
            }
            let mut waiting_since: Option<i64> = None;
            for m in &state.messages {
                match m.role {
                    Role::Customer => {
                        waiting_since.get_or_insert(m.at);
                    }
                    Role::Salesperson | Role::Ai => {
                        if let Some(since) = waiting_since.take() {
                            let secs = (m.at - since).max(0) as f64 / 1000.0;
                            waits.entry(m.role).or_default().push(secs);
                        }
                    }
                    Role::System => {}
                }
            }
        }

        let funnel = FUNNEL
            .iter()
            .enumerate()
            .map(|(i, stage)| FunnelStepView {
                stage: *stage,
                reached: reached[i],
                current: current[i],
                conversion: if i == 0 { None } else { share(reached[i], reached[i - 1]) },
            })
            .collect();
        let sentiments = [
            Sentiment::Positive,
            Sentiment::Neutral,
            Sentiment::Hesitant,
            Sentiment::Negative,
            Sentiment::Angry,
        ];
        let days: Vec<i64> = sentiment_days.keys().copied().collect();
        let sentiment = sentiments
            .iter()
            .map(|s| SentimentSeriesView {
                sentiment: *s,
                counts: sentiment_days.values().map(|d| d.get(s).copied().unwrap_or(0)).collect(),
            })
            .collect();
        let mut response_times = Vec::new();
        for by in [Role::Salesperson, Role::Ai] {
            let Some(mut w) = waits.remove(&by) else { continue };
            w.sort_by(f64::total_cmp);
            response_times.push(ResponseTimeView {
                by,
                replies: w.len() as u32,
                mean_secs: w.iter().sum::<f64>() / w.len() as f64,
                p50_secs: percentile(&w, 0.5),
                p90_secs: percentile(&w, 0.9),
            });
        }
        Ok(DashboardView {
            conversations: rows.len() as u32,
            messages,
            funnel,
            lost,
            handed_off,
            intents: ranked(intents),
            days,
            sentiment,
            suggestions: all.finish(),
            by_version: per_version
                .into_iter()
                .map(|(version, t)| VersionStatsView { version, stats: t.finish() })
                .collect(),
            response_times,
            reject_reasons: ranked(reasons),
        })
    }

    /// The suggestion model's load state, the remote server's settings and the fetch under way.
    pub fn model_status(&self, _: NoArgs) -> Result<ModelStatusView, ApiError> {
        let (loaded, total) = self.suggester.progress();
        let status = self.suggester.status();
        Ok(ModelStatusView {
            status: status_name(status).to_owned(),
            loaded: loaded as u32,
            total: total as u32,
            chosen: match self.suggester.choice() {
                crate::suggest::ModelChoice::Local(id) => id,
                crate::suggest::ModelChoice::Remote(_)
                | crate::suggest::ModelChoice::Configured(_) => Some("remote".to_owned()),
            },
            running: match status {
                crate::loader::Status::Ready => self.suggester.ready().ok().map(|b| b.describe()),
                _ => None,
            },
            error: self.suggester.failure().map(|e| e.message),
            remote: self.model_settings()?.remote.map(Into::into),
            fetch: self.fetch_view(),
        })
    }
}

/// New suggestions for the conversation's current customer message.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RegeneratedView {
    /// The policy's decision, taken again on the conversation as it stands.
    pub decision: DecisionView,
    pub suggestions: Vec<SuggestionView>,
    /// Suggestions that were still waiting and are now rejected as `regenerated`.
    pub replaced: Vec<String>,
}

/// The reason recorded on suggestions a regeneration replaces.
pub const REGENERATED: &str = "regenerated";

// The CRM, privacy and regeneration as the console reaches them: each wraps the module's API
// with what the window needs back (the status after a change, a file instead of a value).
impl crate::Api {
    /// Sets up (or changes) the CRM and starts its relay on the shell's runtime, if one is
    /// attached (see [`crate::Api::start_background`]); returns the sync status.
    pub fn configure_crm_relay(&self, args: ConfigureCrmArgs) -> Result<CrmStatusView, ApiError> {
        self.configure_crm(args.into())?;
        if let Some(runtime) = self.runtime.get() {
            self.start_crm_relay(runtime)?;
        }
        self.crm_status()
    }

    /// Stores a CRM credential in the OS keyring. The reply is the sync status: the credential
    /// itself never comes back.
    pub fn store_crm_credential(
        &self,
        args: SetCrmCredentialArgs,
    ) -> Result<CrmStatusView, ApiError> {
        self.set_crm_credential(args.secret, &args.value)?;
        self.crm_status()
    }

    /// The relay maps lead fields to CRM fields from the published strategy when it starts: a
    /// newly published strategy restarts a running relay so its mapping applies at once.
    fn remap_crm(&self) {
        let running = self.crm_status().map(|s| s.running).unwrap_or(false);
        if let (true, Some(runtime)) = (running, self.runtime.get())
            && let Err(e) = self.start_crm_relay(runtime)
        {
            tracing::warn!(code = ?e.code, "the CRM relay did not restart: {}", e.message);
        }
    }

    /// Queues a dead-lettered change again; returns the dead letters left.
    pub fn retry_dead_letter(&self, args: DeadLetterArgs) -> Result<Vec<DeadLetterView>, ApiError> {
        self.retry_crm_dead_letter(args.id)?;
        self.crm_dead_letters()
    }

    /// Where exports are written: `exports/` in the data directory.
    pub fn exports_dir(&self) -> std::path::PathBuf {
        self.data_dir.path().join("exports")
    }

    /// The retention setting, and where exports go.
    pub fn retention_view(&self, _: NoArgs) -> Result<RetentionView, ApiError> {
        Ok(RetentionView {
            days: self.retention()?,
            exports_dir: self.exports_dir().display().to_string(),
        })
    }

    /// Sets the retention period and returns it.
    pub fn set_retention_view(&self, args: SetRetentionArgs) -> Result<RetentionView, ApiError> {
        self.set_retention(args)?;
        self.retention_view(NoArgs {})
    }

    /// Sets what is kept of customers' message text from now on, and returns the setting.
    pub fn set_message_storage_view(
        &self,
        args: SetMessageStorageArgs,
    ) -> Result<MessageStorageView, ApiError> {
        self.set_message_storage(args)?;
        self.message_storage()
    }

    /// Erases what the retention period says is due, now (their export files too).
    pub fn purge_now(&self, _: NoArgs) -> Result<PurgeView, ApiError> {
        self.purge()
    }

    /// Writes the lead's export (every table that mentions it, redacted if asked) as a JSON
    /// file in the exports folder, readable by the user only, and says where it is. A file, not
    /// a reply to save: a WebView has no reliable download path, and the file can be handed over
    /// as it is.
    pub fn export_lead_file(&self, args: ExportLeadArgs) -> Result<LeadExportView, ApiError> {
        let redacted = args.redacted;
        let conversation_id = args.conversation_id;
        let export = self.export_lead(args)?;
        let lead = self.store.lead_of_conversation(conversation_id)?;
        let tables = export["tables"]
            .as_object()
            .map(|t| {
                t.iter()
                    .map(|(name, rows)| ExportTableView {
                        table: name.clone(),
                        rows: rows.as_array().map_or(0, |r| r.len() as u32),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let bytes = serde_json::to_vec_pretty(&export)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let folder = self.exports_dir();
        let name = format!(
            "{EXPORT_PREFIX}{lead}-{}{}.json",
            file_stamp((self.clock)()),
            if redacted { "-redacted" } else { "" }
        );
        let path = folder.join(name);
        write_private(&folder, &path, &bytes).map_err(|e| {
            ApiError::new(ErrorCode::Storage, format!("cannot write {}: {e}", path.display()))
        })?;
        tracing::info!(lead, redacted, bytes = bytes.len(), "lead exported");
        Ok(LeadExportView {
            path: path.display().to_string(),
            folder: folder.display().to_string(),
            bytes: bytes.len() as u64,
            redacted,
            tables,
        })
    }

    /// Erases the conversation's lead (after the typed confirmation: the customer's name as
    /// shown) and the lead's export files, which would otherwise keep what was erased.
    pub fn erase_lead_confirmed(
        &self,
        args: EraseLeadConfirmedArgs,
    ) -> Result<ErasureView, ApiError> {
        let (row, _) = self.store.conversation(args.conversation_id)?;
        if !confirmation_matches(&args.confirm, &row.customer_name) {
            return Err(ApiError::invalid(
                "the confirmation does not match the customer's name: nothing was erased",
            ));
        }
        let erasure = self.erase_lead(EraseLeadArgs { conversation_id: args.conversation_id })?;
        self.remove_exports(erasure.lead_id);
        Ok(erasure)
    }

    /// Deletes the export files of one lead (after its erasure).
    pub(crate) fn remove_exports(&self, lead: i64) {
        let prefix = format!("{EXPORT_PREFIX}{lead}-");
        let Ok(entries) = std::fs::read_dir(self.exports_dir()) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(&prefix)
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(lead, error = %e, "an export of an erased lead could not be deleted");
            }
        }
    }

    /// Writes new suggestions for the conversation's last customer message: the policy decides
    /// again on the conversation as it stands (the message's stored NLU reading, the strategy
    /// published now), the model writes (streamed like any turn's), the suggestions still
    /// waiting are rejected as `regenerated`, and the new ones are offered.
    pub fn regenerate_suggestions(
        &self,
        args: ConversationArgs,
        on_stream: &mut dyn FnMut(SuggestionStream),
    ) -> Result<RegeneratedView, ApiError> {
        let conversation_id = args.conversation_id;
        let state = self.store.state(conversation_id)?;
        if state.mode == Mode::Off {
            return Err(ApiError::invalid(
                "the AI is off in this conversation: switch it to draft to get suggestions",
            ));
        }
        let events = self.store.events(conversation_id)?;
        let Some((text, annotation)) = last_customer_turn(&events) else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no customer message to write suggestions for",
            ));
        };
        let document = self.strategy_document()?;
        let decision = policy::decide(&state, &annotation, &document.view());
        let language = Language::parse(&annotation.language).unwrap_or_default();
        self.nlu.wait(crate::NLU_WAIT)?;
        let products = self.store.products()?;
        let facts = self.facts_for(&text, &state, &products, language)?;
        let bus = std::sync::Arc::clone(&self.events);
        let mut on_stream = |stream: SuggestionStream| {
            bus.publish(crate::events::AppEvent::Suggestion {
                conversation_id,
                stream: stream.clone(),
            });
            on_stream(stream);
        };
        let suggestions = self.write_suggestions(
            conversation_id,
            &document,
            &state,
            &decision,
            &facts,
            language,
            &mut on_stream,
        );
        let at = (self.clock)();
        let replaced: Vec<String> = state
            .suggestions
            .iter()
            .filter(|s| matches!(s.status, SuggestionStatus::Offered | SuggestionStatus::Edited))
            .map(|s| s.id.clone())
            .collect();
        let rejected: Vec<Event> = replaced
            .iter()
            .map(|id| Event::SuggestionRejected {
                id: id.clone(),
                reason: REGENERATED.to_owned(),
                at,
            })
            .collect();
        self.store.record_all(conversation_id, &rejected, "salesperson")?;
        let offered: Vec<Event> =
            suggestions.iter().map(|s| decision.offered(&s.id, &s.text, at)).collect();
        self.store.record_all(conversation_id, &offered, "ai")?;
        self.updated(conversation_id);
        Ok(RegeneratedView { decision: DecisionView::from(&decision), suggestions, replaced })
    }
}

/// The customer channels as saved by the console (the webhook secret is in the keyring).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct SavedChannels {
    pub enabled: bool,
    pub port: u16,
    pub lan: bool,
    pub allowed_origins: Vec<String>,
}

/// The channels' settings and state, for the settings page.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChannelsView {
    pub settings: SavedChannels,
    /// Whether a webhook secret is stored (the webhook runs only with one).
    pub webhook_secret_stored: bool,
    pub running: bool,
    /// The chat page's address while the channels run.
    pub url: Option<String>,
    /// Why the channels (or the webhook) could not start.
    pub error: Option<String>,
}

/// The channels this app runs from the saved settings (not the demo channels of `--simulate`).
#[derive(Default)]
pub struct ChannelsRuntime {
    live: Option<crate::live::LiveChannels>,
    error: Option<String>,
}

// By hand: the running channels hold an `Api`, which holds this; a derived Debug would recurse.
impl std::fmt::Debug for ChannelsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelsRuntime")
            .field("running", &self.live.as_ref().map(|l| l.url()))
            .field("error", &self.error)
            .finish()
    }
}

const CHANNELS_KEY: &str = "channels.settings";
const WEBHOOK_SECRET_SET: &str = "channels.webhook_secret_set";
/// The keyring entry of the webhook's shared secret.
pub const WEBHOOK_SECRET_ENTRY: &str = "channels.webhook.secret";

impl crate::Api {
    fn saved_channels(&self) -> Result<SavedChannels, ApiError> {
        match self.store.relay_state(CHANNELS_KEY)? {
            None => Ok(SavedChannels::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("the channel settings are unreadable: {e}"),
                )
            }),
        }
    }

    fn webhook_secret_stored(&self) -> Result<bool, ApiError> {
        Ok(self.store.relay_state(WEBHOOK_SECRET_SET)?.is_some_and(|v| v == "1"))
    }

    /// The channels' saved settings and whether they run.
    pub fn channel_settings(&self, _: NoArgs) -> Result<ChannelsView, ApiError> {
        let settings = self.saved_channels()?;
        let webhook_secret_stored = self.webhook_secret_stored()?;
        let runtime = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ChannelsView {
            settings,
            webhook_secret_stored,
            running: runtime.live.is_some(),
            url: runtime.live.as_ref().map(|l| l.url()),
            error: runtime.error.clone(),
        })
    }

    /// Saves the channel settings and (re)starts or stops the channels accordingly.
    pub fn configure_channels(
        &self,
        args: ConfigureChannelsArgs,
    ) -> Result<ChannelsView, ApiError> {
        let saved = SavedChannels {
            enabled: args.enabled,
            port: args.port,
            lan: args.lan,
            allowed_origins: args.allowed_origins.iter().map(|o| o.trim().to_owned()).collect(),
        };
        let json = serde_json::to_string(&saved)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        self.store.set_relay_state(CHANNELS_KEY, &json)?;
        self.apply_channels();
        self.channel_settings(NoArgs {})
    }

    /// Stores (or removes) the webhook secret in the OS keyring and restarts the channels.
    pub fn set_webhook_secret(&self, args: SetWebhookSecretArgs) -> Result<ChannelsView, ApiError> {
        let ring = closer_crm::Keyring::new(crate::crm::KEYRING_SERVICE);
        match &args.value {
            Some(value) => {
                ring.set(WEBHOOK_SECRET_ENTRY, &closer_crm::secrets::Sensitive::new(value.trim()))?;
                self.store.set_relay_state(WEBHOOK_SECRET_SET, "1")?;
                tracing::info!("webhook secret stored in the keyring");
            }
            None => {
                ring.delete(WEBHOOK_SECRET_ENTRY)?;
                self.store.set_relay_state(WEBHOOK_SECRET_SET, "0")?;
            }
        }
        self.apply_channels();
        self.channel_settings(NoArgs {})
    }

    /// Stops the channels this app runs and starts them again from the saved settings (if
    /// enabled). A failure (a port in use, a locked keyring) is kept for the settings page.
    pub fn apply_channels(&self) {
        let mut runtime = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        runtime.live = None; // dropping it stops the server
        runtime.error = None;
        let saved = match self.saved_channels() {
            Ok(saved) if saved.enabled => saved,
            Ok(_) => return,
            Err(e) => {
                runtime.error = Some(e.message);
                return;
            }
        };
        let mut secret = None;
        if self.webhook_secret_stored().unwrap_or(false) {
            let ring = closer_crm::Keyring::new(crate::crm::KEYRING_SERVICE);
            match ring.get(WEBHOOK_SECRET_ENTRY) {
                Ok(s) => secret = Some(s.expose().as_bytes().to_vec()),
                Err(e) => runtime.error = Some(format!("the webhook is off: {e}")),
            }
        }
        let settings = crate::live::ChannelSettings {
            port: saved.port,
            lan: saved.lan,
            allowed_origins: saved.allowed_origins,
            webhook_secret: secret,
            ..crate::live::ChannelSettings::default()
        };
        match self.start_channels(settings) {
            Ok(live) => {
                tracing::info!(url = %live.url(), "channels started");
                runtime.live = Some(live);
            }
            Err(e) => {
                tracing::warn!(code = ?e.code, "the channels cannot start: {}", e.message);
                runtime.error = Some(e.message);
            }
        }
    }

    /// Stops the channels this app runs (the settings stay).
    pub fn stop_channels(&self) {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).live = None;
    }
}

/// Export files are named `closer-lead-<lead id>-<UTC time>.json`.
const EXPORT_PREFIX: &str = "closer-lead-";

/// Whether a typed confirmation names the customer: the same text, ignoring surrounding space
/// and (for Latin names) case.
fn confirmation_matches(typed: &str, name: &str) -> bool {
    let (typed, name) = (typed.trim(), name.trim());
    !name.is_empty() && typed.to_lowercase() == name.to_lowercase()
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time in milliseconds.
fn file_stamp(at: i64) -> String {
    let secs = at.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Writes a file only its owner can read (an export holds a customer's data).
fn write_private(
    folder: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(folder)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The last customer message and its stored NLU reading.
fn last_customer_turn(events: &[Event]) -> Option<(String, closer_dialogue::Annotation)> {
    let last =
        events.iter().rposition(|e| matches!(e, Event::Message { role: Role::Customer, .. }))?;
    let Event::Message { text, at, .. } = &events[last] else { return None };
    events[last..].iter().find_map(|e| match e {
        Event::Annotated { annotation, at: a } if a == at => {
            Some((text.clone(), annotation.clone()))
        }
        _ => None,
    })
}

fn funnel_index(stage: Stage) -> usize {
    FUNNEL.iter().position(|s| *s == stage).unwrap_or(0)
}

fn details(conversation_id: i64, state: &ConversationState) -> ConversationDetails {
    ConversationDetails {
        conversation_id,
        turns: state
            .turns
            .iter()
            .map(|t| TurnAnnotationView {
                at: t.at,
                intents: t.intents.clone(),
                top_intent: t.top_intent.clone(),
                sentiment: t.sentiment,
                language: t.language.clone(),
            })
            .collect(),
        suggestions: state
            .suggestions
            .iter()
            .map(|s| SuggestionRecordView {
                id: s.id.clone(),
                offered_text: s.offered_text.clone(),
                text: s.text.clone(),
                action: s.action.as_str().to_owned(),
                field: s.field.clone(),
                objection: s.objection.clone(),
                promotion: s.promotion.clone(),
                status: s.status.as_str().to_owned(),
                sent_by: s.sent_by,
                offered_at: s.offered_at,
                decided_at: s.decided_at,
            })
            .collect(),
        handoff: state.handoff.as_ref().map(|h| match h {
            Handoff::Requested { reason, at } => {
                HandoffView { state: "requested".into(), reason: Some(reason.clone()), at: *at }
            }
            Handoff::Taken { at } => HandoffView { state: "taken".into(), reason: None, at: *at },
        }),
        focus: state.focus.as_ref().map(|f| f.plan.clone().unwrap_or_else(|| f.product.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Api, DataDir, Options};

    fn clock() -> i64 {
        1_800_000_000_000
    }

    fn demo_api(dir: &std::path::Path) -> Api {
        Api::open(Options {
            data_dir: DataDir::at(dir.join("data")),
            seed_demo: true,
            clock,
            models_dir: dir.join("models"),
        })
        .expect("open")
    }

    #[test]
    fn take_over_and_hand_back_move_the_stage_and_come_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = demo_api(dir.path());
        let id = api.list_conversations(NoArgs {}).expect("inbox")[0].id;
        let before = api.store.state(id).expect("state").stage;
        let taken = api.take_over(ConversationArgs { conversation_id: id }).expect("take");
        assert_eq!(taken.handoff.as_ref().map(|h| h.state.as_str()), Some("taken"));
        assert_eq!(api.store.state(id).expect("state").stage, Stage::HandedOff);
        let back = api.hand_back(ConversationArgs { conversation_id: id }).expect("back");
        assert!(back.handoff.is_none());
        let after = api.store.state(id).expect("state").stage;
        if before != Stage::HandedOff {
            assert_eq!(after, before);
        }
    }

    #[test]
    fn a_draft_shows_its_diff_and_publishes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = demo_api(dir.path());
        let overview = api.strategy_overview(NoArgs {}).expect("overview");
        assert!(overview.draft.is_none() && overview.changes.is_empty());
        let mut doc = overview.published.clone();
        doc["persona"]["en"] = serde_json::json!("Closer, a terse consultant");
        let saved = api
            .save_strategy_draft(SaveStrategyDraftArgs { document: doc, note: "terse".into() })
            .expect("save");
        assert_eq!(saved.changes.len(), 1, "{:?}", saved.changes);
        assert_eq!(saved.changes[0].path, "persona.en");
        let published = api.publish_strategy(NoArgs {}).expect("publish");
        assert!(published.draft.is_none());
        assert_eq!(published.published["persona"]["en"], "Closer, a terse consultant");
        let first = overview.published_version;
        let rolled = api
            .rollback_strategy(RollbackStrategyArgs { version: first, note: String::new() })
            .expect("rollback");
        assert_eq!(rolled.published, overview.published);
        assert!(
            api.save_strategy_draft(SaveStrategyDraftArgs {
                document: serde_json::json!({ "persona": 3 }),
                note: String::new()
            })
            .is_err()
        );
    }

    #[test]
    fn the_dashboard_counts_the_demo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = demo_api(dir.path());
        let d = api.dashboard(NoArgs {}).expect("dashboard");
        assert!(d.conversations >= 6);
        assert_eq!(d.funnel.len(), FUNNEL.len());
        assert_eq!(d.funnel[0].reached, d.conversations);
        assert!(d.funnel.windows(2).all(|w| w[1].reached <= w[0].reached));
        assert!(d.messages > 0);
        assert_eq!(d.sentiment.len(), 5);
        assert!(d.sentiment.iter().all(|s| s.counts.len() == d.days.len()));
    }

    #[test]
    fn tallies_edit_distance_and_rates() {
        let mut t = Tally::default();
        let mut s = closer_dialogue::Suggestion {
            id: "a".into(),
            offered_text: "您好，有什么可以帮您".into(),
            text: "您好，有什么可以帮您".into(),
            action: closer_dialogue::Action::Answer,
            field: None,
            objection: None,
            promotion: None,
            status: SuggestionStatus::Sent,
            sent_by: Some(Role::Salesperson),
            offered_at: 1,
            decided_at: Some(2),
        };
        t.add(&s);
        s.text = "你好，有什么可以帮你".into();
        t.add(&s);
        s.status = SuggestionStatus::Rejected;
        t.add(&s);
        s.status = SuggestionStatus::Offered;
        t.add(&s);
        let stats = t.finish();
        assert_eq!((stats.offered, stats.sent_as_is, stats.sent_edited), (4, 1, 1));
        assert_eq!((stats.rejected, stats.pending), (1, 1));
        assert_eq!(stats.mean_edit_distance, Some(2.0));
        assert_eq!(stats.reject_rate, Some(1.0 / 3.0));
    }
}
