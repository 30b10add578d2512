//! What the API returns: plain data for the console, declared to TypeScript by ts-rs
//! (`ui/src/lib/bindings.ts`, checked fresh by a test).

use closer_dialogue::{
    Channel, Entity, FieldProposal, FieldSource, IntentScore, Mode, Role, SentimentScore, Stage,
};
use closer_store::{ConversationRow, Product};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Where the app keeps its things, and which build it is.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub database: String,
    pub log_dir: String,
    #[ts(type = "number")]
    pub schema_version: i64,
}

/// A row of the inbox.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    #[ts(type = "number")]
    pub id: i64,
    pub customer_name: String,
    pub channel: Channel,
    /// `zh` or `en`: the customer's language.
    pub language: String,
    pub stage: Stage,
    pub mode: Mode,
    pub handoff_requested: bool,
    pub last_message_role: Option<Role>,
    pub last_message_text: String,
    #[ts(type = "number | null")]
    pub last_message_at: Option<i64>,
    /// Since when the customer has been waiting for a reply (Unix ms), if they are.
    #[ts(type = "number | null")]
    pub waiting_since: Option<i64>,
    #[ts(type = "number")]
    pub unread: i64,
}

/// One message in a conversation.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub role: Role,
    pub text: String,
    #[ts(type = "number")]
    pub at: i64,
    /// A reply posted to a webhook platform: where its delivery stands (none for other
    /// channels, whose replies go over the visitor's own connection).
    pub delivery: Option<DeliveryView>,
}

/// Where a reply posted to a webhook platform stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Why it failed: `not_configured`, `refused`, `gave_up`, `expired`.
    pub code: Option<String>,
    pub attempts: u32,
}

/// A lead field with its provenance.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LeadFieldView {
    pub field: String,
    pub value: String,
    pub source: FieldSource,
    pub confidence: f32,
    #[ts(type = "number")]
    pub updated_at: i64,
}

/// The lead panel.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LeadView {
    #[ts(type = "number")]
    pub id: i64,
    /// The stable key the CRM upserts by.
    pub external_key: String,
    pub crm_id: Option<String>,
    /// Changes waiting for the CRM relay.
    #[ts(type = "number")]
    pub pending_sync: i64,
    /// Where the lead stands with the CRM.
    pub sync: LeadSyncView,
    pub fields: Vec<LeadFieldView>,
}

/// One lead's CRM sync state, for the lead panel.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LeadSyncView {
    /// Nothing was ever queued for the CRM.
    NotQueued,
    /// Every change reached the CRM, the last at `at`.
    #[serde(rename_all = "camelCase")]
    Synced {
        #[ts(type = "number")]
        at: i64,
        crm_id: Option<String>,
    },
    /// A change waits for the relay: tried `attempts` times, next at `nextAttemptAt`.
    #[serde(rename_all = "camelCase")]
    Pending {
        #[ts(type = "number")]
        attempts: i64,
        #[ts(type = "number")]
        next_attempt_at: i64,
        last_error: Option<String>,
    },
    /// The CRM refused the last change for good (see the dead letters in the settings).
    #[serde(rename_all = "camelCase")]
    Dead {
        reason: String,
        #[ts(type = "number")]
        at: i64,
    },
}

impl From<closer_store::LeadSyncStatus> for LeadSyncView {
    fn from(s: closer_store::LeadSyncStatus) -> Self {
        use closer_store::LeadSyncStatus as S;
        match s {
            S::NotQueued => Self::NotQueued,
            S::Synced { at, crm_id } => Self::Synced { at, crm_id },
            S::Pending { attempts, next_attempt_at, last_error } => {
                Self::Pending { attempts, next_attempt_at, last_error }
            }
            S::Dead { reason, at } => Self::Dead { reason, at },
        }
    }
}

/// A lead's export, written by the app as a JSON file in the exports folder.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LeadExportView {
    /// The file's absolute path.
    pub path: String,
    /// The folder it is in (shown so the user can find it).
    pub folder: String,
    #[ts(type = "number")]
    pub bytes: u64,
    pub redacted: bool,
    /// Tables the export covers, with their row counts.
    pub tables: Vec<ExportTableView>,
}

/// One table of an export and how many of its rows are about the lead.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportTableView {
    pub table: String,
    pub rows: u32,
}

/// The retention setting: idle conversations are erased after `days` (null: kept for ever).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RetentionView {
    pub days: Option<u32>,
    /// Where exports are written.
    pub exports_dir: String,
}

/// A conversation opened in the console.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub summary: ConversationSummary,
    pub stage_reason: String,
    pub messages: Vec<MessageView>,
    pub lead: LeadView,
}

/// What happened to a salesperson's lead-field edit.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LeadFieldSaved {
    /// False when the value was already stored.
    pub changed: bool,
    pub conversation: ConversationView,
}

/// A language model: from the catalog (installed or not) or imported by the user.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ModelView {
    pub id: String,
    pub name: String,
    pub architecture: String,
    pub installed: bool,
    /// The demo default from the catalog.
    pub is_default: bool,
    /// `catalog` or `imported`.
    pub source: String,
    /// Installed file size, else the catalog's expected size.
    #[ts(type = "number")]
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub requantization: Option<String>,
    pub path: Option<String>,
}

/// A product in the catalog.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    #[ts(type = "number")]
    pub id: i64,
    pub sku: String,
    pub category: String,
    pub name_en: String,
    pub name_zh: String,
    pub description_en: String,
    pub description_zh: String,
    #[ts(type = "number")]
    pub price_cents: i64,
    pub currency: String,
    pub unit: String,
}

impl From<ConversationRow> for ConversationSummary {
    fn from(r: ConversationRow) -> Self {
        Self {
            id: r.id,
            customer_name: r.customer_name,
            channel: r.channel,
            language: r.language,
            stage: r.stage,
            mode: r.mode,
            handoff_requested: r.handoff_requested,
            last_message_role: r.last_message_role,
            last_message_text: r.last_message_text,
            last_message_at: r.last_message_at,
            waiting_since: r.waiting_since,
            unread: r.unread,
        }
    }
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            category: p.category,
            name_en: p.name_en,
            name_zh: p.name_zh,
            description_en: p.description_en,
            description_zh: p.description_zh,
            price_cents: p.price_cents,
            currency: p.currency,
            unit: p.unit,
        }
    }
}

/// The NLU's reading of one customer message.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisView {
    /// Intents above their thresholds, most confident first; empty means unknown.
    pub intents: Vec<IntentScore>,
    /// The most confident intent, even below its threshold.
    pub top_intent: Option<IntentScore>,
    pub sentiment: SentimentScore,
    /// Entities found by the rules; `start..end` are UTF-8 byte offsets into the text.
    pub entities: Vec<Entity>,
    /// Values proposed for the lead fields of the active strategy (or the default schema).
    pub fields: Vec<FieldProposal>,
    /// `zh` or `en`.
    pub language: String,
    /// The encoder used (`none`: n-gram-only heads).
    pub encoder: String,
    /// The adopted intent head's id; null for the head trained on the bundled set.
    #[ts(type = "number | null")]
    pub intent_head_id: Option<i64>,
    pub elapsed_ms: f64,
}

/// Whether the NLU can analyse messages yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NluStatus {
    /// Not started (it starts on first use).
    Idle,
    /// Loading the encoder and heads (training them on a first start).
    Loading,
    Ready,
    Failed,
}

/// One intent label with its training examples.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntentLabelView {
    pub label: String,
    /// Part of the bundled taxonomy (else a label a manager added).
    pub in_taxonomy: bool,
    pub bundled_examples: u32,
    pub added_examples: u32,
}

/// One label's scores on a test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LabelScoreView {
    pub label: String,
    /// Test messages that carry the label.
    pub support: u32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// A multi-label head's scores on (part of) a test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScoreSummary {
    /// Test messages.
    pub n: u32,
    pub micro_f1: f64,
    pub macro_f1: f64,
    /// Share of messages whose predicted set equals the labelled set.
    pub subset_accuracy: f64,
    pub per_label: Vec<LabelScoreView>,
}

/// An intent head's scores on the bundled sales test set, whole and per language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntentTestScores {
    pub all: ScoreSummary,
    pub zh: ScoreSummary,
    pub en: ScoreSummary,
}

/// An intent head: the bundled one or one trained in the app.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntentHeadView {
    /// Its id (to adopt it); null for the head trained on the bundled set.
    #[ts(type = "number | null")]
    pub id: Option<i64>,
    /// The encoder it reads (`none`: n-grams only).
    pub encoder: String,
    /// Training messages.
    pub examples: u32,
    pub labels: Vec<String>,
    #[ts(type = "number | null")]
    pub trained_at: Option<i64>,
    /// Since when it is active; null if it is not adopted.
    #[ts(type = "number | null")]
    pub adopted_at: Option<i64>,
    /// Its scores on the bundled test set, if measured.
    pub scores: Option<IntentTestScores>,
}

/// The intent labels and the head in use.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntentsView {
    pub status: NluStatus,
    pub labels: Vec<IntentLabelView>,
    /// The head analyses use; null until the NLU is ready.
    pub active_head: Option<IntentHeadView>,
}

/// What adding an example did.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntentExampleAdded {
    /// False when the label already had this text as an example.
    pub added: bool,
    pub label: String,
    pub added_examples: u32,
    pub bundled_examples: u32,
}

/// A candidate intent head, measured beside the active one. Adopt it with `adopt_intent_head`.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RetrainResult {
    pub candidate: IntentHeadView,
    pub candidate_scores: IntentTestScores,
    pub active: IntentHeadView,
    pub active_scores: IntentTestScores,
    /// Labels the candidate knows that the test set has no messages of (not measured).
    pub unmeasured_labels: Vec<String>,
    /// Manager-added examples in its training set.
    pub manager_examples: u32,
    pub train_secs: f64,
}
