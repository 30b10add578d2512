//! The strategy document a manager edits: persona, tone, goals, proactivity, the hand-off
//! threshold, the lead-field schema, examples, the objection playbook, promotions and call
//! scripts. Versioned by the store (draft → published → retired); this module only reads,
//! checks and compares documents.
//!
//! Key decisions:
//! - **One document, one view.** The policy never reads the document: [`StrategyDocument::view`]
//!   produces the [`StrategyView`] it needs, so persona and wording can change without touching
//!   the rules.
//! - **Schema-versioned.** A document carries `schema` ([`SCHEMA`]). [`StrategyDocument::from_value`]
//!   reads the current schema and converts a legacy (schema-less) document — the one the first
//!   demo seeded, whose lead fields name their type `type` and use `number` — see
//!   [`upgrade_legacy`].
//! - **Typed findings.** [`StrategyDocument::validate`] returns [`DocumentIssue`]s with stable
//!   codes, and [`diff`] returns readable field-level [`Change`]s (`lead_fields[budget].required`)
//!   for the manager's "compare with the published version" view.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::nlu::intents;
use crate::script::CallScript;
use crate::{FieldSpec, Proactivity, Promotion, PromotionEligibility, StrategyView};

/// The document schema this build writes and reads.
pub const SCHEMA: u32 = 1;

/// The bundled demo strategy (`data/demo_strategy.json`).
const DEMO: &str = include_str!("../data/demo_strategy.json");

/// A language replies and texts are written in. Chinese and English are both first-class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Zh,
    En,
}

stable_names!(Language { Zh => "zh", En => "en" });

impl Language {
    /// The language of an annotation's `language` (`zh` / `en`); anything else is Chinese, the
    /// default market.
    pub fn of(code: &str) -> Language {
        if code.trim().eq_ignore_ascii_case("en") { Language::En } else { Language::Zh }
    }
}

/// A text in both languages. In JSON it is `{"zh": …, "en": …}`; a bare string is read as the
/// same text in both (legacy documents wrote `tone` and `goals` that way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bilingual {
    pub zh: String,
    pub en: String,
}

impl Bilingual {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Bilingual { zh: zh.into(), en: en.into() }
    }

    /// The text in `language`, falling back to the other language when it is empty.
    pub fn get(&self, language: Language) -> &str {
        let (first, second) = match language {
            Language::Zh => (&self.zh, &self.en),
            Language::En => (&self.en, &self.zh),
        };
        if first.trim().is_empty() { second } else { first }
    }

    /// The text written for `language` (no fallback).
    pub fn exact(&self, language: Language) -> &str {
        match language {
            Language::Zh => &self.zh,
            Language::En => &self.en,
        }
    }

    /// Whether the text for `language` is blank.
    pub fn is_blank(&self, language: Language) -> bool {
        self.exact(language).trim().is_empty()
    }
}

impl<'de> Deserialize<'de> for Bilingual {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Both {
                #[serde(default)]
                zh: String,
                #[serde(default)]
                en: String,
            },
            One(String),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Both { zh, en } => Bilingual { zh, en },
            Repr::One(s) => Bilingual { zh: s.clone(), en: s },
        })
    }
}

/// A customer message and the reply the manager wants for it (few-shot guidance).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub language: Language,
    pub customer: String,
    pub reply: String,
}

/// The playbook's answer to one objection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookEntry {
    /// The objection intent (`objection_price`, …: see [`intents::is_objection`]).
    pub objection: String,
    /// Answers, best first (the template uses the first).
    pub responses: Vec<Bilingual>,
    /// Words that mark this objection in an unannotated call transcript ("太贵", "too
    /// expensive"); the chat path relies on the NLU's intent instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cues: Vec<String>,
}

impl PlaybookEntry {
    /// The first answer in `language`.
    pub fn answer(&self, language: Language) -> Option<&str> {
        self.responses.first().map(|r| r.get(language)).filter(|s| !s.trim().is_empty())
    }
}

/// What a promotion grants. The composer's check lets a reply speak of a discount or a free item
/// only when the chosen promotion grants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Discount {
    /// A share off the price: `percent_off: 10` is 10% off, 九折.
    Percent { percent_off: f64 },
    /// A fixed amount off, in the currency's main unit (`500`, `CNY`).
    Amount { amount: f64, currency: String },
    /// Something given for free (a month of backup, installation).
    Free { item: Bilingual },
}

/// A promotion: the policy's part ([`Promotion`]: id and eligibility) and the offer's words.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionEntry {
    pub id: String,
    #[serde(default)]
    pub eligibility: PromotionEligibility,
    /// The offer as the customer should hear it.
    pub offer: Bilingual,
    /// What it grants, if anything beyond the words.
    #[serde(default)]
    pub discount: Option<Discount>,
}

impl PromotionEntry {
    /// The policy's view of it.
    pub fn promotion(&self) -> Promotion {
        Promotion { id: self.id.clone(), eligibility: self.eligibility.clone() }
    }
}

/// A manager's strategy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyDocument {
    /// The document schema ([`SCHEMA`]).
    pub schema: u32,
    /// Who the AI is ("Closer, a friendly and precise sales consultant").
    pub persona: Bilingual,
    #[serde(default)]
    pub tone: Bilingual,
    #[serde(default)]
    pub goals: Vec<Bilingual>,
    #[serde(default)]
    pub proactivity: Proactivity,
    /// Below this top-intent confidence the engine hands off (0.8).
    #[serde(default = "default_threshold")]
    pub handoff_threshold: f32,
    /// Misunderstood customer turns in a row before handing off (2).
    #[serde(default = "default_misunderstanding_limit")]
    pub misunderstanding_limit: u32,
    /// Promotions one conversation may be offered (1).
    #[serde(default = "default_max_promotions")]
    pub max_promotions: u32,
    /// Whether auto mode may send objection replies without a person.
    #[serde(default)]
    pub auto_send_objections: bool,
    /// The lead-field schema: required fields are asked for in this order.
    #[serde(default)]
    pub lead_fields: Vec<FieldSpec>,
    #[serde(default)]
    pub examples: Vec<Example>,
    #[serde(default)]
    pub playbook: Vec<PlaybookEntry>,
    #[serde(default)]
    pub promotions: Vec<PromotionEntry>,
    #[serde(default)]
    pub scripts: Vec<CallScript>,
}

fn default_threshold() -> f32 {
    0.8
}
fn default_misunderstanding_limit() -> u32 {
    2
}
fn default_max_promotions() -> u32 {
    1
}

impl Default for StrategyDocument {
    fn default() -> Self {
        StrategyDocument {
            schema: SCHEMA,
            persona: Bilingual::default(),
            tone: Bilingual::default(),
            goals: Vec::new(),
            proactivity: Proactivity::default(),
            handoff_threshold: default_threshold(),
            misunderstanding_limit: default_misunderstanding_limit(),
            max_promotions: default_max_promotions(),
            auto_send_objections: false,
            lead_fields: Vec::new(),
            examples: Vec::new(),
            playbook: Vec::new(),
            promotions: Vec::new(),
            scripts: Vec::new(),
        }
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the strategy document has schema {found}; this build reads up to {known}")]
    SchemaTooNew { found: u64, known: u32 },
    #[error("the strategy document is not valid: {0}")]
    Malformed(String),
}

impl DocumentError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::SchemaTooNew { .. } => "schema_too_new",
            DocumentError::Malformed(_) => "malformed",
        }
    }
}

/// Converts a legacy (schema-less, "schema 0") document to the current schema, in place:
/// - each lead field's `type` becomes `field_type`; `number` / `count` become `quantity`,
///   `date_time` / `datetime` / `time` become `date`, and an unknown type becomes `text`;
/// - keys this schema does not know at the top level (`name`, `note`) are dropped;
/// - `schema` is set.
///
/// `tone` and `goals` as bare strings need no conversion ([`Bilingual`] reads them).
pub fn upgrade_legacy(document: &mut Value) {
    let Some(object) = document.as_object_mut() else {
        return;
    };
    if let Some(fields) = object.get_mut("lead_fields").and_then(Value::as_array_mut) {
        for field in fields.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(t) = field.remove("type") {
                field.entry("field_type").or_insert(t);
            }
            let kind = field.get("field_type").and_then(Value::as_str).unwrap_or("text");
            let kind = match kind {
                "number" | "count" => crate::FieldType::Quantity,
                "date_time" | "datetime" | "time" => crate::FieldType::Date,
                other => crate::FieldType::parse(other).unwrap_or(crate::FieldType::Text),
            };
            field.insert("field_type".into(), kind.as_str().into());
        }
    }
    const KNOWN: &[&str] = &[
        "persona",
        "tone",
        "goals",
        "proactivity",
        "handoff_threshold",
        "misunderstanding_limit",
        "max_promotions",
        "auto_send_objections",
        "lead_fields",
        "examples",
        "playbook",
        "promotions",
        "scripts",
    ];
    object.retain(|k, _| KNOWN.contains(&k.as_str()));
    object.insert("schema".into(), SCHEMA.into());
}

impl StrategyDocument {
    /// The bundled bilingual demo strategy (`data/demo_strategy.json`), which the app seeds.
    pub fn demo() -> StrategyDocument {
        // The file is part of the build and a test proves it parses and validates; a broken edit
        // still yields a usable (empty) document rather than a panic.
        StrategyDocument::from_json(DEMO).unwrap_or_default()
    }

    /// Reads a document from JSON text (current or legacy schema).
    pub fn from_json(json: &str) -> Result<StrategyDocument, DocumentError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        Self::from_value(value)
    }

    /// Reads a document: the current schema as is, a document without `schema` through
    /// [`upgrade_legacy`], a newer schema refused.
    pub fn from_value(mut value: Value) -> Result<StrategyDocument, DocumentError> {
        match value.get("schema").map(Value::as_u64) {
            None => upgrade_legacy(&mut value),
            Some(Some(found)) if found > u64::from(SCHEMA) => {
                return Err(DocumentError::SchemaTooNew { found, known: SCHEMA });
            }
            Some(_) => {}
        }
        serde_json::from_value(value).map_err(|e| DocumentError::Malformed(e.to_string()))
    }

    /// The document as JSON (always the current schema).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The policy's slice of the document.
    pub fn view(&self) -> StrategyView {
        StrategyView {
            proactivity: self.proactivity,
            confidence_threshold: self.handoff_threshold,
            misunderstanding_limit: self.misunderstanding_limit,
            fields: self.lead_fields.clone(),
            playbook: self
                .playbook
                .iter()
                .filter(|p| p.answer(Language::Zh).is_some())
                .map(|p| p.objection.clone())
                .collect(),
            promotions: self.promotions.iter().map(PromotionEntry::promotion).collect(),
            max_promotions: self.max_promotions,
            auto_send_objections: self.auto_send_objections,
        }
    }

    /// A lead field of the schema.
    pub fn field(&self, key: &str) -> Option<&FieldSpec> {
        self.lead_fields.iter().find(|f| f.key == key)
    }

    /// The playbook's entry for an objection.
    pub fn playbook_entry(&self, objection: &str) -> Option<&PlaybookEntry> {
        self.playbook.iter().find(|p| p.objection == objection)
    }

    /// A promotion by id.
    pub fn promotion(&self, id: &str) -> Option<&PromotionEntry> {
        self.promotions.iter().find(|p| p.id == id)
    }

    /// A call script by id.
    pub fn script(&self, id: &str) -> Option<&CallScript> {
        self.scripts.iter().find(|s| s.id == id)
    }

    /// Checks the document on its own (promotions' products are not checked: see
    /// [`StrategyDocument::validate_with_products`]).
    pub fn validate(&self) -> Result<(), Vec<DocumentIssue>> {
        self.issues(None)
    }

    /// Checks the document and that every product a promotion names is in the catalog.
    pub fn validate_with_products<S: AsRef<str>>(
        &self,
        product_ids: &[S],
    ) -> Result<(), Vec<DocumentIssue>> {
        let ids: BTreeSet<&str> = product_ids.iter().map(AsRef::as_ref).collect();
        self.issues(Some(&ids))
    }

    fn issues(&self, products: Option<&BTreeSet<&str>>) -> Result<(), Vec<DocumentIssue>> {
        let mut issues = Vec::new();
        if self.schema != SCHEMA {
            issues.push(DocumentIssue::UnsupportedSchema { found: self.schema, known: SCHEMA });
        }
        for language in Language::ALL {
            if self.persona.is_blank(*language) {
                issues.push(DocumentIssue::EmptyPersona { language: *language });
            }
        }
        if !(self.handoff_threshold.is_finite() && (0.0..=1.0).contains(&self.handoff_threshold)) {
            issues.push(DocumentIssue::ThresholdOutOfRange { value: self.handoff_threshold });
        }
        if self.max_promotions > 10 {
            issues.push(DocumentIssue::TooManyPromotionsAllowed { value: self.max_promotions });
        }
        self.field_issues(&mut issues);
        for (index, example) in self.examples.iter().enumerate() {
            if example.customer.trim().is_empty() || example.reply.trim().is_empty() {
                issues.push(DocumentIssue::EmptyExample { index });
            }
        }
        self.playbook_issues(&mut issues);
        self.promotion_issues(products, &mut issues);
        let mut script_ids = BTreeSet::new();
        for script in &self.scripts {
            if !script_ids.insert(script.id.as_str()) {
                issues.push(DocumentIssue::DuplicateScript { id: script.id.clone() });
            }
            issues.extend(script.issues());
        }
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }

    fn field_issues(&self, issues: &mut Vec<DocumentIssue>) {
        let mut keys = BTreeSet::new();
        for (index, field) in self.lead_fields.iter().enumerate() {
            if field.key.trim().is_empty() {
                issues.push(DocumentIssue::EmptyFieldKey { index });
                continue;
            }
            if !keys.insert(field.key.as_str()) {
                issues.push(DocumentIssue::DuplicateFieldKey { key: field.key.clone() });
            }
            if field.required {
                for language in Language::ALL {
                    let ask = match language {
                        Language::Zh => &field.ask_zh,
                        Language::En => &field.ask_en,
                    };
                    if ask.trim().is_empty() {
                        issues.push(DocumentIssue::MissingAskText {
                            key: field.key.clone(),
                            language: *language,
                        });
                    }
                }
            }
        }
    }

    fn playbook_issues(&self, issues: &mut Vec<DocumentIssue>) {
        let mut labels = BTreeSet::new();
        for entry in &self.playbook {
            if !intents::is_objection(&entry.objection) {
                issues.push(DocumentIssue::NotAnObjection { label: entry.objection.clone() });
            }
            if !labels.insert(entry.objection.as_str()) {
                issues.push(DocumentIssue::DuplicateObjection { label: entry.objection.clone() });
            }
            if entry.responses.is_empty() {
                issues
                    .push(DocumentIssue::NoPlaybookResponse { objection: entry.objection.clone() });
            }
            for response in &entry.responses {
                for language in Language::ALL {
                    if response.is_blank(*language) {
                        issues.push(DocumentIssue::EmptyPlaybookResponse {
                            objection: entry.objection.clone(),
                            language: *language,
                        });
                    }
                }
            }
        }
    }

    fn promotion_issues(&self, products: Option<&BTreeSet<&str>>, issues: &mut Vec<DocumentIssue>) {
        let mut ids = BTreeSet::new();
        for promotion in &self.promotions {
            if promotion.id.trim().is_empty() {
                issues.push(DocumentIssue::EmptyPromotionId);
            } else if !ids.insert(promotion.id.as_str()) {
                issues.push(DocumentIssue::DuplicatePromotion { id: promotion.id.clone() });
            }
            for language in Language::ALL {
                if promotion.offer.is_blank(*language) {
                    issues.push(DocumentIssue::EmptyPromotionText {
                        id: promotion.id.clone(),
                        language: *language,
                    });
                }
            }
            let bad_discount = match &promotion.discount {
                Some(Discount::Percent { percent_off }) => {
                    !(percent_off.is_finite() && *percent_off > 0.0 && *percent_off < 100.0)
                }
                Some(Discount::Amount { amount, currency }) => {
                    !(amount.is_finite() && *amount > 0.0) || currency.trim().is_empty()
                }
                Some(Discount::Free { item }) => Language::ALL.iter().any(|l| item.is_blank(*l)),
                None => false,
            };
            if bad_discount {
                issues.push(DocumentIssue::InvalidDiscount { id: promotion.id.clone() });
            }
            if let Some(known) = products {
                for product in &promotion.eligibility.products {
                    if !known.contains(product.as_str()) {
                        issues.push(DocumentIssue::UnknownProduct {
                            promotion: promotion.id.clone(),
                            product: product.clone(),
                        });
                    }
                }
            }
        }
    }
}

/// Something wrong with a document. [`DocumentIssue::code`] is stable; the console translates it
/// and shows the fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocumentIssue {
    #[error("schema {found} is not the schema this build writes ({known})")]
    UnsupportedSchema { found: u32, known: u32 },
    #[error("the persona is empty in {}", language.as_str())]
    EmptyPersona { language: Language },
    #[error("the hand-off threshold {value} is not between 0 and 1")]
    ThresholdOutOfRange { value: f32 },
    #[error("{value} promotions per conversation is more than 10")]
    TooManyPromotionsAllowed { value: u32 },
    #[error("lead field #{index} has no key")]
    EmptyFieldKey { index: usize },
    #[error("lead field {key:?} appears more than once")]
    DuplicateFieldKey { key: String },
    #[error("required lead field {key:?} has no way to ask for it in {}", language.as_str())]
    MissingAskText { key: String, language: Language },
    #[error("example #{index} lacks the customer's text or the reply")]
    EmptyExample { index: usize },
    #[error("playbook label {label:?} is not an objection (objection_…)")]
    NotAnObjection { label: String },
    #[error("the playbook has {label:?} more than once")]
    DuplicateObjection { label: String },
    #[error("the playbook entry {objection:?} has no response")]
    NoPlaybookResponse { objection: String },
    #[error("a response to {objection:?} is empty in {}", language.as_str())]
    EmptyPlaybookResponse { objection: String, language: Language },
    #[error("a promotion has no id")]
    EmptyPromotionId,
    #[error("promotion {id:?} appears more than once")]
    DuplicatePromotion { id: String },
    #[error("promotion {id:?} has no offer text in {}", language.as_str())]
    EmptyPromotionText { id: String, language: Language },
    #[error("promotion {id:?} grants an invalid discount")]
    InvalidDiscount { id: String },
    #[error("promotion {promotion:?} names product {product:?}, which is not in the catalog")]
    UnknownProduct { promotion: String, product: String },
    #[error("call script {id:?} appears more than once")]
    DuplicateScript { id: String },
    #[error("call script {script:?} has no {} step", step.as_str())]
    MissingScriptStep { script: String, step: crate::script::StepKind },
    #[error("call script {script:?} has its steps out of order")]
    ScriptStepsOutOfOrder { script: String },
    #[error("call script {script:?}: the {} step is empty in {}", step.as_str(), language.as_str())]
    EmptyScriptText { script: String, step: crate::script::StepKind, language: Language },
    #[error("call script {script:?} has no outcome codes")]
    NoOutcomes { script: String },
    #[error("call script {script:?} has outcome {code:?} more than once")]
    DuplicateOutcome { script: String, code: String },
    #[error("call script {script:?} names outcome {code:?}, which it does not define")]
    UnknownOutcome { script: String, code: String },
}

impl DocumentIssue {
    /// The issue's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentIssue::UnsupportedSchema { .. } => "unsupported_schema",
            DocumentIssue::EmptyPersona { .. } => "empty_persona",
            DocumentIssue::ThresholdOutOfRange { .. } => "threshold_out_of_range",
            DocumentIssue::TooManyPromotionsAllowed { .. } => "too_many_promotions_allowed",
            DocumentIssue::EmptyFieldKey { .. } => "empty_field_key",
            DocumentIssue::DuplicateFieldKey { .. } => "duplicate_field_key",
            DocumentIssue::MissingAskText { .. } => "missing_ask_text",
            DocumentIssue::EmptyExample { .. } => "empty_example",
            DocumentIssue::NotAnObjection { .. } => "not_an_objection",
            DocumentIssue::DuplicateObjection { .. } => "duplicate_objection",
            DocumentIssue::NoPlaybookResponse { .. } => "no_playbook_response",
            DocumentIssue::EmptyPlaybookResponse { .. } => "empty_playbook_response",
            DocumentIssue::EmptyPromotionId => "empty_promotion_id",
            DocumentIssue::DuplicatePromotion { .. } => "duplicate_promotion",
            DocumentIssue::EmptyPromotionText { .. } => "empty_promotion_text",
            DocumentIssue::InvalidDiscount { .. } => "invalid_discount",
            DocumentIssue::UnknownProduct { .. } => "unknown_product",
            DocumentIssue::DuplicateScript { .. } => "duplicate_script",
            DocumentIssue::MissingScriptStep { .. } => "missing_script_step",
            DocumentIssue::ScriptStepsOutOfOrder { .. } => "script_steps_out_of_order",
            DocumentIssue::EmptyScriptText { .. } => "empty_script_text",
            DocumentIssue::NoOutcomes { .. } => "no_outcomes",
            DocumentIssue::DuplicateOutcome { .. } => "duplicate_outcome",
            DocumentIssue::UnknownOutcome { .. } => "unknown_outcome",
        }
    }
}

/// How a value changed between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    /// The same entries in another order (`before` / `after` list their keys).
    Reordered,
}

stable_names!(ChangeKind {
    Added => "added",
    Removed => "removed",
    Changed => "changed",
    Reordered => "reordered",
});

/// One field-level difference between two documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Where: `persona.zh`, `lead_fields[budget].required`, `playbook[objection_price]`,
    /// `scripts[marketing_cloud].steps[opening].text.en`.
    pub path: String,
    pub kind: ChangeKind,
    /// The old value as text (strings as written, others as compact JSON); `None` when added.
    pub before: Option<String>,
    /// The new value; `None` when removed.
    pub after: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "∅".to_owned());
        write!(f, "{}: {} → {}", self.path, show(&self.before), show(&self.after))
    }
}

/// The field-level differences from `old` to `new`, in document order. Lists of entries with an
/// identity (`key`, `id`, `objection`, `code`, a script step's `kind`) are compared entry by entry by that identity, so
/// inserting a lead field reports one addition, not a shifted list.
pub fn diff(old: &StrategyDocument, new: &StrategyDocument) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_values("", &old.to_value(), &new.to_value(), &mut changes);
    changes
}

const IDENTITIES: &[&str] = &["key", "id", "objection", "code", "kind"];

fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(path, k);
                match b.get(k) {
                    Some(vb) => diff_values(&p, va, vb, out),
                    None if !va.is_null() => out.push(removed(p, va)),
                    None => {}
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) && !vb.is_null() {
                    out.push(added(join(path, k), vb));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => match identity(a, b) {
            Some(id) => diff_keyed(path, id, a, b, out),
            None => {
                for i in 0..a.len().max(b.len()) {
                    let p = format!("{path}[{i}]");
                    match (a.get(i), b.get(i)) {
                        (Some(va), Some(vb)) => diff_values(&p, va, vb, out),
                        (Some(va), None) => out.push(removed(p, va)),
                        (None, Some(vb)) => out.push(added(p, vb)),
                        (None, None) => {}
                    }
                }
            }
        },
        _ if same(old, new) => {}
        (Value::Null, _) => out.push(added(path.to_owned(), new)),
        (_, Value::Null) => out.push(removed(path.to_owned(), old)),
        _ => out.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Changed,
            before: Some(show(old)),
            after: Some(show(new)),
        }),
    }
}

fn diff_keyed(path: &str, id: &str, a: &[Value], b: &[Value], out: &mut Vec<Change>) {
    let key_of = |v: &Value| v.get(id).and_then(Value::as_str).unwrap_or_default().to_owned();
    let find = |list: &[Value], key: &str| list.iter().find(|v| key_of(v) == key).cloned();
    for va in a {
        let key = key_of(va);
        let p = format!("{path}[{key}]");
        match find(b, &key) {
            Some(vb) => diff_values(&p, va, &vb, out),
            None => out.push(removed(p, va)),
        }
    }
    for vb in b {
        let key = key_of(vb);
        if find(a, &key).is_none() {
            out.push(added(format!("{path}[{key}]"), vb));
        }
    }
    let common = |from: &[Value], other: &[Value]| -> Vec<String> {
        from.iter().map(key_of).filter(|k| find(other, k).is_some()).collect()
    };
    let (order_a, order_b) = (common(a, b), common(b, a));
    if order_a != order_b {
        out.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Reordered,
            before: Some(order_a.join(", ")),
            after: Some(order_b.join(", ")),
        });
    }
}

/// The identity field shared by every entry of both lists (unique in each), if any.
fn identity(a: &[Value], b: &[Value]) -> Option<&'static str> {
    if a.is_empty() && b.is_empty() {
        return None;
    }
    IDENTITIES.iter().copied().find(|id| {
        [a, b].iter().all(|list| {
            let keys: Option<Vec<&str>> =
                list.iter().map(|v| v.get(*id).and_then(Value::as_str)).collect();
            keys.is_some_and(|keys| keys.iter().collect::<BTreeSet<_>>().len() == keys.len())
        })
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn added(path: String, v: &Value) -> Change {
    Change { path, kind: ChangeKind::Added, before: None, after: Some(show(v)) }
}

fn removed(path: String, v: &Value) -> Change {
    Change { path, kind: ChangeKind::Removed, before: Some(show(v)), after: None }
}

/// Numbers compare by value at f32 precision (thresholds are f32: 0.8 must equal 0.8).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::from(f32::EPSILON) * x.abs().max(1.0),
        _ => a == b,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            // Shortest text that reads back as the same f32 (0.8, not 0.800000011920929).
            (None, Some(x)) => {
                #[allow(clippy::cast_possible_truncation)]
                let short = x as f32;
                short.to_string()
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
