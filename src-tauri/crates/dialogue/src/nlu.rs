//! What the NLU says about one customer message: intents, sentiment, entities and the lead-field
//! values they fill. Produced by crate `nlu`, folded into state and read by the policy here.

use serde::{Deserialize, Serialize};

/// One intent of a message with its calibrated confidence (0..=1). A message has a *set* of
/// intents ("cheap server + off-site backup + ERP integration" is three needs); an empty set
/// means the classifier is unsure ("unknown").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IntentScore {
    /// A label of the intent taxonomy, e.g. `price_inquiry` (see design.md).
    pub label: String,
    pub confidence: f32,
}

/// The customer's attitude in one message. Hesitant and angry drive the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Positive,
    #[default]
    Neutral,
    Hesitant,
    Negative,
    Angry,
}

stable_names!(Sentiment {
    Positive => "positive",
    Neutral => "neutral",
    Hesitant => "hesitant",
    Negative => "negative",
    Angry => "angry",
});

/// A sentiment with its confidence.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SentimentScore {
    pub label: Sentiment,
    pub confidence: f32,
}

/// What kind of thing an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A phone number, digits only: a mainland mobile as its 11 digits (`+86 138-1234-5678` →
    /// `13812345678`), a mainland landline with its area code (`010-88886666` → `01088886666`),
    /// an international number as `+` and its digits (`+44 (0) 20 7946 0958` →
    /// `+442079460958`), a domestic number abroad as written (`650 555 0134` → `6505550134`).
    Phone,
    /// An email address, lower-cased.
    Email,
    /// A WeChat ID as written (`zhangsan_88`), recognised only next to a context word (微信 /
    /// WeChat / vx …); a phone number given as the WeChat ID is its 11 digits.
    Wechat,
    /// A mainland resident ID number (GB 11643, check digit verified): 18 characters, `X`
    /// upper-case.
    ResidentId,
    /// A bank card number (Luhn verified), digits only.
    BankCard,
    /// An amount of money or a budget: `<amount> <ISO currency>` (`50000 CNY`, `49.99 USD`) or a
    /// range `<lo>-<hi> <ISO>` (`50000-80000 CNY`). Unstated currency is CNY in a Chinese message
    /// or with 万/w, USD otherwise.
    Money,
    /// A count of something: `<number> <unit>`, the unit being the measure word written after the
    /// number (`三十个账号` → `30 个`, `二十台` → `20 台`, `6个T` → `6 TB`) or the English noun,
    /// lower-cased (`50 users`).
    Quantity,
    /// A date (`YYYY-MM-DD`) or a date and time (`YYYY-MM-DDTHH:MM`) in the customer's local
    /// time, resolved against the message's time; a time alone is on that day.
    DateTime,
    /// An organisation's name as written (`杭州云帆科技有限公司`, `Acme Corp`).
    Company,
    /// A person's name as written, with a title if that is how they were named (`王磊`, `王先生`,
    /// `陈` for 姓陈, `Dr. Patel`).
    Person,
}

stable_names!(EntityKind {
    Phone => "phone",
    Email => "email",
    Wechat => "wechat",
    ResidentId => "resident_id",
    BankCard => "bank_card",
    Money => "money",
    Quantity => "quantity",
    DateTime => "date_time",
    Company => "company",
    Person => "person",
});

impl EntityKind {
    /// Personal data that must be masked in logs, exports and remote prompts.
    pub fn is_pii(self) -> bool {
        matches!(
            self,
            Self::Phone
                | Self::Email
                | Self::Wechat
                | Self::ResidentId
                | Self::BankCard
                | Self::Person
        )
    }
}

/// An entity found in a message. `start..end` are byte offsets into the message text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Entity {
    pub kind: EntityKind,
    /// The text as written.
    pub text: String,
    /// The normalised value (see [`EntityKind`]).
    pub value: String,
    pub start: u32,
    pub end: u32,
    pub confidence: f32,
}

/// A lead-field value the NLU proposes from a message (it becomes an AI-sourced field if the
/// provenance rule accepts it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldProposal {
    /// The schema field's key, e.g. `phone`, `budget`.
    pub field: String,
    pub value: String,
    pub confidence: f32,
}

/// The NLU's reading of one customer message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Annotation {
    /// Intents above the head's threshold, most confident first; empty = unknown.
    pub intents: Vec<IntentScore>,
    /// The most confident intent even when it is below threshold (for the policy's hand-off rule).
    pub top_intent: Option<IntentScore>,
    pub sentiment: SentimentScore,
    pub entities: Vec<Entity>,
    pub fields: Vec<FieldProposal>,
    /// `zh` or `en`: the message's main language.
    pub language: String,
}

impl Annotation {
    /// Whether `label` is among the intents (above the head's threshold).
    pub fn has_intent(&self, label: &str) -> bool {
        self.intents.iter().any(|i| i.label == label)
    }

    /// Whether `label` is among the intents and the NLU is fairly sure of it
    /// ([`crate::policy::LIKELY`]): what a rule may act on.
    pub fn likely(&self, label: &str) -> bool {
        self.intents.iter().any(|i| i.label == label && i.confidence >= crate::policy::LIKELY)
    }

    /// The confidence of the most confident intent, even below threshold; 0 when there is none.
    pub fn top_confidence(&self) -> f32 {
        self.top_intent.as_ref().or(self.intents.first()).map_or(0.0, |i| i.confidence)
    }
}

/// The labels of the sales intent taxonomy the dialogue core reacts to (design.md). Intents are
/// strings so a manager can add labels; these are the ones with a meaning in policy and stages.
pub mod intents {
    pub const GREETING: &str = "greeting";
    pub const PRODUCT_INQUIRY: &str = "product_inquiry";
    pub const PRICE_INQUIRY: &str = "price_inquiry";
    pub const FEATURE_QUESTION: &str = "feature_question";
    pub const COMPARE_COMPETITOR: &str = "compare_competitor";
    pub const PURCHASE_INTENT: &str = "purchase_intent";
    pub const REQUEST_DEMO_OR_TRIAL: &str = "request_demo_or_trial";
    pub const OBJECTION_PRICE: &str = "objection_price";
    pub const OBJECTION_TIMING: &str = "objection_timing";
    pub const OBJECTION_TRUST: &str = "objection_trust";
    pub const AFTER_SALES: &str = "after_sales";
    pub const COMPLAINT: &str = "complaint";
    pub const REQUEST_HUMAN: &str = "request_human";
    pub const PROVIDE_CONTACT: &str = "provide_contact";
    pub const PROVIDE_REQUIREMENT: &str = "provide_requirement";
    pub const CHIT_CHAT: &str = "chit_chat";
    pub const NOT_INTERESTED: &str = "not_interested";
    pub const GOODBYE: &str = "goodbye";

    /// Questions the customer expects an answer to.
    pub const QUESTIONS: &[&str] = &[
        PRODUCT_INQUIRY,
        PRICE_INQUIRY,
        FEATURE_QUESTION,
        COMPARE_COMPETITOR,
        REQUEST_DEMO_OR_TRIAL,
        AFTER_SALES,
    ];

    /// Intents that show interest in buying (they engage a new conversation).
    pub const INTEREST: &[&str] = &[
        PRODUCT_INQUIRY,
        PRICE_INQUIRY,
        FEATURE_QUESTION,
        COMPARE_COMPETITOR,
        PURCHASE_INTENT,
        REQUEST_DEMO_OR_TRIAL,
        PROVIDE_REQUIREMENT,
        PROVIDE_CONTACT,
    ];

    /// Cooperative steps: the customer gives what a sale needs or orders.
    pub const COOPERATIVE: &[&str] = &[PROVIDE_CONTACT, PROVIDE_REQUIREMENT, PURCHASE_INTENT];

    /// Social intents: they go with any other purpose and say nothing against buying.
    pub const SOCIAL: &[&str] = &[GREETING, CHIT_CHAT];

    /// Whether a label is an objection (`objection_*`); its name is the playbook key.
    pub fn is_objection(label: &str) -> bool {
        label.starts_with("objection_")
    }
}

/// A lead field's type in the manager's schema; it decides which extractor fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Phone,
    Email,
    Wechat,
    Money,
    Quantity,
    Date,
    Company,
    Person,
}

stable_names!(FieldType {
    Text => "text",
    Phone => "phone",
    Email => "email",
    Wechat => "wechat",
    Money => "money",
    Quantity => "quantity",
    Date => "date",
    Company => "company",
    Person => "person",
});

/// One lead field in the manager's schema (part of a strategy document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldSpec {
    /// Stable key, e.g. `budget`.
    pub key: String,
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    /// Display names and how to ask for it, per language.
    #[serde(default)]
    pub label_zh: String,
    #[serde(default)]
    pub label_en: String,
    #[serde(default)]
    pub ask_zh: String,
    #[serde(default)]
    pub ask_en: String,
    /// Cue words that mark a free-text value of this field ("预算", "budget", "行业" …); a
    /// `text` field is only extracted after one of them.
    #[serde(default)]
    pub cues: Vec<String>,
    /// The CRM property this field maps to, if synced.
    #[serde(default)]
    pub crm_field: Option<String>,
}
