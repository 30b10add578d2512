//! The demo data seeded on a first run: a bilingual catalog (cloud servers, backup, ERP
//! integration, SaaS plans, home appliances), a published default strategy, and conversations in
//! Chinese and English at every funnel stage with lead fields from every source.

use closer_dialogue::{Channel, Event, FieldSource, Millis, Mode, Role, Stage};
use closer_store::{NewConversation, Product, Store, VersionStatus};
use serde::Deserialize;

use crate::ApiError;

const DEMO: &str = include_str!("../assets/demo.json");

#[derive(Deserialize)]
struct Demo {
    products: Vec<DemoProduct>,
    strategy: DemoStrategy,
    conversations: Vec<DemoConversation>,
}

#[derive(Deserialize)]
struct DemoProduct {
    sku: String,
    category: String,
    name_en: String,
    name_zh: String,
    description_en: String,
    description_zh: String,
    price_cents: i64,
    currency: String,
    unit: String,
    attributes: serde_json::Value,
}

#[derive(Deserialize)]
struct DemoStrategy {
    name: String,
    note: String,
}

#[derive(Deserialize)]
struct DemoConversation {
    customer_name: String,
    channel: Channel,
    language: String,
    mode: Mode,
    events: Vec<DemoEvent>,
    /// A webhook conversation's replies were posted to its platform (delivered); with a code
    /// here, the last one failed with it (`gave_up`, …), to show what the console shows then.
    #[serde(default)]
    last_reply_failed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoEvent {
    min_ago: i64,
    message: Option<(Role, String)>,
    field: Option<(String, String, FieldSource, f32)>,
    stage: Option<(Stage, String)>,
    handoff: Option<String>,
}

/// What the seeding wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedReport {
    pub products: usize,
    pub conversations: usize,
    pub events: usize,
}

/// Writes the demo data with times relative to `now`. Products are upserted by SKU; the
/// conversations are added each time it runs, so callers seed only an empty store.
pub fn seed(store: &Store, now: Millis) -> Result<SeedReport, ApiError> {
    let demo: Demo = serde_json::from_str(DEMO)
        .map_err(|e| ApiError::new(crate::ErrorCode::Internal, format!("demo data: {e}")))?;
    let mut report = SeedReport::default();
    for p in demo.products {
        store.upsert_product(&Product {
            id: 0,
            sku: p.sku,
            category: p.category,
            name_en: p.name_en,
            name_zh: p.name_zh,
            description_en: p.description_en,
            description_zh: p.description_zh,
            price_cents: p.price_cents,
            currency: p.currency,
            unit: p.unit,
            attributes: p.attributes,
        })?;
        report.products += 1;
    }
    // The full bilingual strategy document (persona, playbook, promotions, call scripts) from
    // the dialogue crate; demo.json's own short document is only its legacy form.
    store.save_strategy_version(
        &demo.strategy.name,
        &closer_dialogue::document::StrategyDocument::demo().to_value(),
        &demo.strategy.note,
        VersionStatus::Published,
        "demo",
        now,
    )?;
    let minutes = |m: i64| now - m * 60_000;
    for c in demo.conversations {
        let start = c.events.first().map_or(now, |e| minutes(e.min_ago));
        let id = store.create_conversation(&NewConversation {
            channel: c.channel,
            customer_name: c.customer_name,
            language: c.language,
            at: start,
        })?;
        if c.mode != Mode::default() {
            store.record(id, &Event::ModeChanged { mode: c.mode, at: start }, "demo")?;
            report.events += 1;
        }
        let mut replies = Vec::new();
        for e in c.events {
            let at = minutes(e.min_ago);
            let event = match (e.message, e.field, e.stage, e.handoff) {
                (Some((role, text)), None, None, None) => Event::Message { role, text, at },
                (None, Some((field, value, source, confidence)), None, None) => {
                    Event::FieldSet { field, value, source, confidence, at }
                }
                (None, None, Some((to, reason)), None) => Event::StageChanged { to, reason, at },
                (None, None, None, Some(reason)) => Event::HandoffRequested { reason, at },
                _ => {
                    return Err(ApiError::new(
                        crate::ErrorCode::Internal,
                        "demo event must have exactly one of message, field, stage, handoff",
                    ));
                }
            };
            if let Event::Message { role, text, at } = &event {
                let message = closer_dialogue::Message { role: *role, text: text.clone(), at: *at };
                replies.extend(crate::deliver::Outgoing::of(id, &message));
            }
            store.record(id, &event, "demo")?;
            report.events += 1;
        }
        if c.channel == Channel::Webhook {
            let last = replies.len().saturating_sub(1);
            for (i, reply) in replies.iter().enumerate() {
                let failed = c.last_reply_failed.as_ref().filter(|_| i == last);
                store.record_webhook_reply(&closer_store::WebhookReplyRow {
                    reply_id: reply.reply_id(),
                    conversation_id: id,
                    message_at: reply.at,
                    state: if failed.is_some() { "failed" } else { "delivered" }.into(),
                    attempts: if failed.is_some() { 6 } else { 1 },
                    code: failed.cloned(),
                    updated_at: reply.at + 60_000,
                })?;
            }
        }
        report.conversations += 1;
    }
    Ok(report)
}

/// Adds `conversations` synthetic conversations of `messages` messages each (customer and
/// salesperson taking turns, texts drawn from the demo conversations, Chinese and English
/// alternating), for measuring the console at scale. Each conversation is one transaction.
pub fn seed_scale(
    store: &Store,
    conversations: usize,
    messages: usize,
    now: Millis,
) -> Result<SeedReport, ApiError> {
    let demo: Demo = serde_json::from_str(DEMO)
        .map_err(|e| ApiError::new(crate::ErrorCode::Internal, format!("demo data: {e}")))?;
    // The demo's own lines, by language and role, to cycle through.
    let mut lines: std::collections::BTreeMap<(String, bool), Vec<String>> = Default::default();
    for c in &demo.conversations {
        for e in &c.events {
            if let Some((role, text)) = &e.message {
                let customer = *role == Role::Customer;
                lines.entry((c.language.clone(), customer)).or_default().push(text.clone());
            }
        }
    }
    let pick = |language: &str, customer: bool, i: usize| -> String {
        let pool = &lines[&(language.to_owned(), customer)];
        pool[i % pool.len()].clone()
    };
    let channels = [Channel::Widget, Channel::Webhook, Channel::Simulator];
    let mut report = SeedReport::default();
    for n in 0..conversations {
        let language = if n % 2 == 0 { "zh" } else { "en" };
        let start = now - ((conversations - n) as i64) * 3_600_000;
        let name =
            if language == "zh" { format!("客户{n:04}") } else { format!("Customer {n:04}") };
        let id = store.create_conversation(&NewConversation {
            channel: channels[n % channels.len()],
            customer_name: name,
            language: language.to_owned(),
            at: start,
        })?;
        let events: Vec<Event> = (0..messages)
            .map(|m| {
                let customer = m % 2 == 0;
                Event::Message {
                    role: if customer { Role::Customer } else { Role::Salesperson },
                    text: pick(language, customer, n + m),
                    at: start + (m as i64) * 30_000,
                }
            })
            .collect();
        store.record_all(id, &events, "demo")?;
        report.conversations += 1;
        report.events += events.len();
    }
    Ok(report)
}
