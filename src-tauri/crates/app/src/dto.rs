//! What the API returns: plain data for the console, declared to TypeScript by ts-rs
//! (`ui/src/lib/bindings.ts`, checked fresh by a test).

use closer_dialogue::{Channel, FieldSource, Mode, Role, Stage};
use closer_store::{ConversationRow, Product};
use serde::Serialize;
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
    pub fields: Vec<LeadFieldView>,
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
