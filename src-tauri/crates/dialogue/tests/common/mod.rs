//! A conversation driven the way the app drives one: each customer message is recorded with its
//! annotation and focus change, the policy decides, a suggestion is offered and sent, the stage
//! advances. Every event is kept, so a test can replay them.
#![allow(dead_code)] // each test binary uses part of it

use closer_dialogue::focus::{AttributeTerm, resolve};
use closer_dialogue::policy::decide;
use closer_dialogue::stage::{StageChange, advance};
use closer_dialogue::{
    Annotation, Catalog, CatalogProduct, ConversationState, Decision, Event, FieldSource,
    FieldSpec, FieldType, IntentScore, Millis, Mode, Plan, Promotion, Role, Sentiment,
    SentimentScore, StrategyView,
};

pub fn annotation(intents: &[(&str, f32)], sentiment: Sentiment) -> Annotation {
    let intents: Vec<IntentScore> = intents
        .iter()
        .map(|(label, confidence)| IntentScore {
            label: (*label).to_owned(),
            confidence: *confidence,
        })
        .collect();
    Annotation {
        top_intent: intents.first().cloned(),
        intents,
        sentiment: SentimentScore { label: sentiment, confidence: 0.9 },
        language: "zh".into(),
        ..Annotation::default()
    }
}

fn field(key: &str, field_type: FieldType, required: bool) -> FieldSpec {
    FieldSpec {
        key: key.into(),
        field_type,
        required,
        label_zh: String::new(),
        label_en: String::new(),
        ask_zh: String::new(),
        ask_en: String::new(),
        cues: Vec::new(),
        crm_field: None,
    }
}

/// The demo strategy's schema: name, phone, need and budget required, email optional; a playbook
/// for price and timing objections; one promotion.
pub fn strategy() -> StrategyView {
    StrategyView {
        fields: vec![
            field("name", FieldType::Person, true),
            field("phone", FieldType::Phone, true),
            field("email", FieldType::Email, false),
            field("need", FieldType::Text, true),
            field("budget", FieldType::Money, true),
        ],
        playbook: vec!["objection_price".into(), "objection_timing".into()],
        promotions: vec![Promotion { id: "spring".into(), ..Promotion::default() }],
        ..StrategyView::default()
    }
}

pub fn catalog() -> Catalog {
    let plan = |id: &str, zh: &str, en: &str, price: &str| Plan {
        id: id.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        aliases: Vec::new(),
        attributes: [("price_year".to_owned(), price.to_owned())].into(),
    };
    Catalog {
        products: vec![
            CatalogProduct {
                id: "SAAS".into(),
                name_zh: "CRM 云服务".into(),
                name_en: "CRM SaaS".into(),
                aliases: vec!["CRM".into(), "客服系统".into()],
                plans: vec![
                    plan("starter", "入门版", "Starter", "1999 CNY"),
                    plan("team", "团队版", "Team", "12800 CNY"),
                    plan("ent", "企业版", "Enterprise", "48000 CNY"),
                ],
                attributes: [("concurrency".to_owned(), "20-2000".to_owned())].into(),
            },
            CatalogProduct {
                id: "FRIDGE".into(),
                name_zh: "风冷无霜冰箱".into(),
                name_en: "Frost-free Refrigerator".into(),
                aliases: vec!["冰箱".into(), "fridge".into()],
                plans: Vec::new(),
                attributes: [("price".to_owned(), "5299 CNY".to_owned())].into(),
            },
        ],
        terms: AttributeTerm::defaults(),
    }
}

#[derive(Debug)]
pub struct Chat {
    pub state: ConversationState,
    pub events: Vec<Event>,
    pub catalog: Catalog,
    pub strategy: StrategyView,
    pub at: Millis,
}

impl Chat {
    pub fn new(strategy: StrategyView) -> Self {
        Chat {
            state: ConversationState::default(),
            events: Vec::new(),
            catalog: catalog(),
            strategy,
            at: 1_700_000_000_000,
        }
    }

    pub fn record(&mut self, event: Event) {
        self.state.apply(&event);
        self.events.push(event);
    }

    fn tick(&mut self) -> Millis {
        self.at += 1000;
        self.at
    }

    pub fn mode(&mut self, mode: Mode) {
        let at = self.tick();
        self.record(Event::ModeChanged { mode, at });
    }

    /// A customer message with what the NLU read in it; returns the policy's decision.
    pub fn customer(
        &mut self,
        text: &str,
        intents: &[(&str, f32)],
        sentiment: Sentiment,
    ) -> Decision {
        self.customer_annotated(text, annotation(intents, sentiment))
    }

    pub fn customer_annotated(&mut self, text: &str, annotation: Annotation) -> Decision {
        let at = self.tick();
        self.record(Event::Message { role: Role::Customer, text: text.into(), at });
        self.record(Event::Annotated { annotation: annotation.clone(), at });
        let resolution = resolve(&self.catalog, self.state.focus.as_ref(), text);
        if let Some(event) = resolution.event(self.state.focus.as_ref(), at) {
            self.record(event);
        }
        decide(&self.state, &annotation, &self.strategy)
    }

    /// The decision's suggestion is offered and sent (by the AI when it may auto-send).
    pub fn send(&mut self, decision: &Decision, text: &str) {
        let at = self.tick();
        let id = format!("sugg-{at}");
        self.record(decision.offered(&id, text, at));
        let by = if decision.may_auto_send { Role::Ai } else { Role::Salesperson };
        self.record(Event::SuggestionSent { id, text: text.into(), by, at });
        self.record(Event::Message { role: by, text: text.into(), at });
    }

    pub fn field(&mut self, key: &str, value: &str) {
        let at = self.tick();
        self.record(Event::FieldSet {
            field: key.into(),
            value: value.into(),
            source: FieldSource::Ai,
            confidence: 0.9,
            at,
        });
    }

    /// Moves the stage as far as the rules allow, recording each move.
    pub fn advance(&mut self) -> Vec<StageChange> {
        let changes = advance(&self.state);
        for change in &changes {
            let at = self.tick();
            self.record(change.event(at));
        }
        changes
    }
}
