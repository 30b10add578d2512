//! One customer message through `turn::customer_message`, and the reply through
//! `turn::reply_sent`: the events come out in the documented order, the decision is the policy's
//! on the updated state, and recording the events then replaying them gives the same state.

mod common;

use closer_dialogue::turn::{self, NEED_FROM_PRODUCTS, TurnInput, TurnOutcome};
use closer_dialogue::{
    Action, Annotation, AttributeTerm, Catalog, CatalogProduct, ConversationState, DecisionReason,
    Event, FieldProposal, FieldSource, FieldValue, FocusChange, Handoff, Millis, Role, Sentiment,
    Stage, StrategyView,
};
use common::{annotation, strategy};
use proptest::prelude::*;

const SURE: f32 = 0.95;

/// The demo-like catalog: the SaaS plans and the fridge of the common catalog, plus cloud
/// servers, off-site backup and the ERP connector.
fn catalog() -> Catalog {
    let mut catalog = common::catalog();
    let product = |id: &str, zh: &str, en: &str, aliases: &[&str]| CatalogProduct {
        id: id.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        plans: Vec::new(),
        attributes: Default::default(),
    };
    catalog.products.extend([
        product("CVM", "云服务器", "Cloud Server", &["云主机", "server"]),
        product("BAK-GEO", "异地备份", "Off-site Backup", &["backup"]),
        product("ERP-LINK", "ERP 对接套件", "ERP Connector", &["ERP"]),
    ]);
    catalog.terms = AttributeTerm::defaults();
    catalog
}

fn input(text: &str, at: Millis, annotation: Annotation) -> TurnInput {
    TurnInput { id: format!("m{at}"), text: text.into(), at, annotation }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

/// The state the outcome claims equals the input state with the events applied.
fn assert_consistent(before: &ConversationState, events: &[Event], after: &ConversationState) {
    let mut folded = before.clone();
    for e in events {
        folded.apply(e);
    }
    assert_eq!(&folded, after);
}

#[test]
fn a_customer_message_records_its_events_in_order_and_decides_on_them() {
    let before = ConversationState::default();
    let mut a =
        annotation(&[("price_inquiry", SURE), ("provide_requirement", SURE)], Sentiment::Neutral);
    a.fields =
        vec![FieldProposal { field: "budget".into(), value: "150000 CNY".into(), confidence: 0.9 }];
    let text = "CRM团队版一年多少钱？预算15万";
    let out = turn::customer_message(&before, &input(text, 10, a), &catalog(), &strategy());
    assert_eq!(
        kinds(&out.events),
        [
            "message",
            "annotated",
            "field_set",
            "field_set",
            "focus_set",
            "stage_changed",
            "stage_changed"
        ],
        "message, annotation, budget, need, focus, engaged, qualified"
    );
    assert!(matches!(&out.events[2], Event::FieldSet { field, value, source: FieldSource::Ai, .. }
        if field == "budget" && value == "150000 CNY"));
    assert!(matches!(&out.events[3], Event::FieldSet { field, value, confidence, .. }
        if field == "need" && value == "CRM 云服务" && (*confidence - NEED_FROM_PRODUCTS).abs() < 1e-6));
    assert!(out.events.iter().all(|e| e.at() == 10), "every event of the turn carries its time");
    assert_eq!(
        (out.decision.action, out.decision.reason),
        (Action::Answer, DecisionReason::QuestionAsked)
    );
    assert_eq!(out.decision.field_to_ask, None, "nothing of value given yet");
    assert_eq!(out.state.stage, Stage::Qualified);
    let focus = out.state.focus.as_ref().expect("focus");
    assert_eq!((focus.plan.as_deref(), focus.asked.as_deref()), (Some("team"), Some("price_year")));
    assert_eq!(out.message_id, "m10");
    assert_consistent(&before, &out.events, &out.state);

    // The reply presents the priced plan: qualified → proposal.
    let offered = out.decision.offered("s1", "团队版12800元/年。", 11);
    let mut state = out.state.clone();
    state.apply(&offered);
    let reply = turn::reply_sent(&state, "s1", "团队版12800元/年。", Role::Salesperson, 11);
    assert_eq!(kinds(&reply.events), ["suggestion_sent", "message", "stage_changed"]);
    assert_eq!(reply.state.stage, Stage::Proposal);
    assert_eq!(reply.state.stage_reason, "product_priced");
    assert!(reply.state.value_given);
    assert_consistent(&state, &reply.events, &reply.state);
}

#[test]
fn the_products_a_customer_names_are_their_need_unless_it_is_known() {
    let strategy = strategy();
    let text = "你好，我想要性价比高的云服务器，还要支持异地备份，最好能对接ERP";
    let a = annotation(&[("provide_requirement", SURE)], Sentiment::Neutral);
    let out = turn::customer_message(
        &ConversationState::default(),
        &input(text, 1, a.clone()),
        &catalog(),
        &strategy,
    );
    assert_eq!(out.state.lead.fields["need"].value, "云服务器 + 异地备份 + ERP 对接套件");
    assert_eq!(
        out.state.focus.as_ref().map(|f| f.product.as_str()),
        Some("CVM"),
        "the first named is the main need"
    );

    let en = "We need a cloud server with off-site backup";
    let out = turn::customer_message(
        &ConversationState::default(),
        &input(en, 1, a.clone()),
        &catalog(),
        &strategy,
    );
    assert_eq!(out.state.lead.fields["need"].value, "Cloud Server + Off-site Backup");

    // A need already stated (here by the salesperson) is left alone, and so is a schema without one.
    let mut known = ConversationState::default();
    known.apply(&Event::FieldSet {
        field: "need".into(),
        value: "ERP 上云".into(),
        source: FieldSource::Salesperson,
        confidence: 1.0,
        at: 0,
    });
    let out = turn::customer_message(&known, &input(text, 1, a.clone()), &catalog(), &strategy);
    assert!(
        !out.events.iter().any(|e| matches!(e, Event::FieldSet { field, .. } if field == "need"))
    );
    let no_need = StrategyView { fields: Vec::new(), ..strategy.clone() };
    let out = turn::customer_message(
        &ConversationState::default(),
        &input(text, 1, a),
        &catalog(),
        &no_need,
    );
    assert!(!out.state.lead.fields.contains_key("need"));
}

#[test]
fn the_provenance_rule_drops_what_a_person_already_set() {
    let mut state = ConversationState::default();
    state.lead.fields.insert(
        "phone".into(),
        FieldValue {
            value: "13800138000".into(),
            source: FieldSource::Salesperson,
            confidence: 1.0,
            at: 0,
        },
    );
    let mut a = annotation(&[("provide_contact", SURE)], Sentiment::Neutral);
    a.fields = vec![
        FieldProposal { field: "phone".into(), value: "13900000000".into(), confidence: 0.99 },
        FieldProposal { field: "name".into(), value: "王磊".into(), confidence: 0.8 },
    ];
    let out = turn::customer_message(
        &state,
        &input("我叫王磊，电话13900000000", 5, a),
        &catalog(),
        &strategy(),
    );
    let set: Vec<&str> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::FieldSet { field, .. } => Some(field.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(set, ["name"]);
    assert_eq!(out.state.lead.fields["phone"].value, "13800138000");
}

#[test]
fn a_hand_off_is_requested_and_moves_the_stage() {
    let a = annotation(&[("complaint", SURE)], Sentiment::Angry);
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("你们的服务器又宕机了！太气人了！", 3, a),
        &catalog(),
        &strategy(),
    );
    assert_eq!(
        (out.decision.action, out.decision.reason),
        (Action::HandOff, DecisionReason::CustomerAngry)
    );
    assert!(matches!(out.state.handoff, Some(Handoff::Requested { .. })));
    assert_eq!(out.state.stage, Stage::HandedOff);
    assert_eq!(kinds(&out.events), ["message", "annotated", "handoff_requested", "stage_changed"]);
    assert!(!out.decision.may_auto_send);

    // While it is under way, a further message requests nothing new.
    let again = turn::customer_message(
        &out.state,
        &input("人呢？", 4, annotation(&[("complaint", SURE)], Sentiment::Angry)),
        &catalog(),
        &strategy(),
    );
    assert!(!again.events.iter().any(|e| e.kind() == "handoff_requested"));
}

#[test]
fn a_correction_is_recorded_as_one() {
    let first = turn::customer_message(
        &ConversationState::default(),
        &input("团队版一年多少钱？", 1, annotation(&[("price_inquiry", SURE)], Sentiment::Neutral)),
        &catalog(),
        &strategy(),
    );
    let out = turn::customer_message(
        &first.state,
        &input("不是这个，是企业版", 2, annotation(&[("price_inquiry", SURE)], Sentiment::Neutral)),
        &catalog(),
        &strategy(),
    );
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::FocusSet { change: FocusChange::Corrected, .. }))
    );
    assert_eq!(out.state.focus_corrections, 1);
    assert_eq!(out.state.focus.as_ref().and_then(|f| f.plan.as_deref()), Some("ent"));
}

// --- property: whatever the messages, recording then replaying gives the live state ----------

const TEXTS: &[&str] = &[
    "你好",
    "CRM团队版一年多少钱？",
    "那这个的年费是多少",
    "不是这个，是企业版",
    "我想要云服务器，还要异地备份",
    "冰箱多少钱",
    "预算5万，我叫王磊，电话13812345678",
    "有点贵",
    "算了，不需要了",
    "How much is the Team plan per year?",
    "No, I meant the Enterprise plan",
    "I'll take it",
    "收到，谢谢",
    "Okay, makes sense",
    "能不能下周再交费？",
    "发票怎么开？",
    "好的，拜拜",
    "",
];
const LABELS: &[&str] = &[
    "greeting",
    "price_inquiry",
    "feature_question",
    "purchase_intent",
    "objection_price",
    "objection_timing",
    "provide_requirement",
    "provide_contact",
    "not_interested",
    "goodbye",
    "request_human",
    "chit_chat",
];

fn arb_annotation() -> impl Strategy<Value = Annotation> {
    (
        proptest::collection::vec((proptest::sample::select(LABELS), 0.3f32..1.0), 0..3),
        proptest::sample::select(Sentiment::ALL),
        proptest::option::of((
            proptest::sample::select(&["name", "phone", "budget", "need", "email"][..]),
            proptest::sample::select(&["王磊", "13812345678", "50000 CNY", "CRM", ""][..]),
        )),
    )
        .prop_map(|(intents, sentiment, field)| {
            let labels: Vec<(&str, f32)> = intents.iter().map(|(l, c)| (*l, *c)).collect();
            let mut a = annotation(&labels, sentiment);
            a.fields = field
                .map(|(f, v)| FieldProposal { field: f.into(), value: v.into(), confidence: 0.9 })
                .into_iter()
                .collect();
            a
        })
}

#[derive(Debug, Clone)]
enum Step {
    Customer {
        text: &'static str,
        annotation: Annotation,
    },
    /// The decision's reply sent, by the AI or not.
    Reply {
        by_ai: bool,
    },
    Reject,
    HandBack,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (proptest::sample::select(TEXTS), arb_annotation())
            .prop_map(|(text, annotation)| Step::Customer { text, annotation }),
        2 => any::<bool>().prop_map(|by_ai| Step::Reply { by_ai }),
        1 => Just(Step::Reject),
        1 => Just(Step::HandBack),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn recorded_turns_replay_to_the_live_state(steps in proptest::collection::vec(arb_step(), 1..24)) {
        let catalog = catalog();
        let strategy = strategy();
        let mut state = ConversationState::default();
        let mut log: Vec<Event> = Vec::new();
        let mut last: Option<TurnOutcome> = None;
        for (i, step) in steps.into_iter().enumerate() {
            let at = 1_000 * (i as Millis + 1);
            let events = match step {
                Step::Customer { text, annotation } => {
                    let out = turn::customer_message(&state, &input(text, at, annotation), &catalog, &strategy);
                    let events = out.events.clone();
                    last = Some(out);
                    events
                }
                Step::Reply { by_ai } => {
                    let Some(out) = last.take() else { continue };
                    let id = format!("s{at}");
                    let offered = out.decision.offered(&id, "…", at);
                    let mut with_offer = state.clone();
                    with_offer.apply(&offered);
                    let by = if by_ai { Role::Ai } else { Role::Salesperson };
                    let sent = turn::reply_sent(&with_offer, &id, "…", by, at);
                    std::iter::once(offered).chain(sent.events).collect()
                }
                Step::Reject => {
                    let Some(out) = last.take() else { continue };
                    let id = format!("s{at}");
                    vec![out.decision.offered(&id, "…", at), Event::SuggestionRejected { id, reason: String::new(), at }]
                }
                Step::HandBack => match state.handoff {
                    Some(Handoff::Requested { .. }) => vec![Event::HandoffTaken { at }, Event::HandoffReturned { at }],
                    _ => continue,
                },
            };
            for e in &events {
                state.apply(e);
            }
            log.extend(events);
            // Handing back moves the stage, as the app records it.
            for change in closer_dialogue::stage::advance(&state) {
                let e = change.event(at);
                state.apply(&e);
                log.push(e);
            }
            // The state as stored: every event through JSON, folded from nothing.
            let stored: Vec<Event> = log
                .iter()
                .map(|e| serde_json::from_str(&serde_json::to_string(e).expect("json")).expect("parses"))
                .collect();
            prop_assert_eq!(&ConversationState::replay(&stored), &state);
            // And the stage is as far as the rules take it: nothing left to advance.
            prop_assert!(closer_dialogue::stage::advance(&state).is_empty());
        }
    }
}

// --- rules first: what the rules understood is not a low-confidence guess ----------------------

#[test]
fn a_message_the_rules_understood_is_answered_not_handed_off() {
    // The head is unsure (0.52), but the message names a product and asks its price.
    let a = annotation(&[], Sentiment::Neutral);
    let a = Annotation {
        top_intent: Some(closer_dialogue::IntentScore {
            label: "price_inquiry".into(),
            confidence: 0.52,
        }),
        ..a
    };
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("异地备份怎么收费？", 1, a.clone()),
        &catalog(),
        &strategy(),
    );
    assert_eq!(
        (out.decision.action, out.decision.reason),
        (Action::Answer, DecisionReason::QuestionAsked)
    );
    assert!(out.state.last_turn().is_some_and(|t| t.resolved));
    assert_eq!(out.state.misunderstood_streak(0.8), 0);

    // A field value the rules read counts too ("预算每个月500以内").
    let mut budget = a.clone();
    budget.fields =
        vec![FieldProposal { field: "budget".into(), value: "500 CNY".into(), confidence: 0.9 }];
    let out2 = turn::customer_message(
        &out.state,
        &input("预算每个月500以内", 2, budget),
        &catalog(),
        &strategy(),
    );
    assert_ne!(out2.decision.action, Action::HandOff);

    // The same unsure reading of a message the rules cannot place still hands off.
    let out3 = turn::customer_message(
        &ConversationState::default(),
        &input("那个咋弄", 1, a),
        &catalog(),
        &strategy(),
    );
    assert_eq!(
        (out3.decision.action, out3.decision.reason),
        (Action::HandOff, DecisionReason::LowConfidence)
    );
}

#[test]
fn a_product_brought_up_with_interest_is_presented() {
    let a = annotation(&[("provide_requirement", SURE)], Sentiment::Neutral);
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("我想给我爸妈买个冰箱，要操作简单的", 1, a),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.decision.action, Action::Answer, "present the fridge");
    // Named without interest (small talk about it), it is not a question.
    let a = annotation(&[("chit_chat", SURE)], Sentiment::Positive);
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("冰箱挺好用的", 1, a),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.decision.action, Action::Engage);
}

#[test]
fn unsure_secondary_readings_drive_no_rule() {
    // A budget statement the head also half-reads as a price objection (0.22): no promotion, no
    // negotiation; the stage moves on the budget.
    let first = turn::customer_message(
        &ConversationState::default(),
        &input(
            "How much is the Team plan per year?",
            1,
            annotation(&[("price_inquiry", SURE)], Sentiment::Neutral),
        ),
        &catalog(),
        &strategy(),
    );
    let mut a =
        annotation(&[("provide_requirement", SURE), ("objection_price", 0.22)], Sentiment::Neutral);
    a.entities = vec![closer_dialogue::Entity {
        kind: closer_dialogue::EntityKind::Money,
        text: "15,000 USD".into(),
        value: "15000 USD".into(),
        start: 0,
        end: 10,
        confidence: 0.9,
    }];
    a.fields =
        vec![FieldProposal { field: "budget".into(), value: "15000 USD".into(), confidence: 0.9 }];
    let out = turn::customer_message(
        &first.state,
        &input("Our budget is 15,000 USD a year", 2, a),
        &catalog(),
        &strategy(),
    );
    assert_ne!(out.decision.action, Action::OfferPromotion);
    assert_eq!(out.decision.objection, None);
    assert!(
        !out.events.iter().any(|e| e.kind() == "focus_set"),
        "a budget per year states an amount, it asks no price"
    );
    // Anger read at 0.45 hands nothing off; hesitation below the threshold earns no promotion.
    let mut angry = annotation(&[("provide_contact", 0.9)], Sentiment::Angry);
    angry.sentiment.confidence = 0.45;
    let out = turn::customer_message(
        &first.state,
        &input("我叫张伟", 2, angry.clone()),
        &catalog(),
        &strategy(),
    );
    assert_ne!(out.decision.action, Action::HandOff);
    angry.sentiment.confidence = 0.9;
    let out =
        turn::customer_message(&first.state, &input("我叫张伟", 2, angry), &catalog(), &strategy());
    assert_eq!(out.decision.reason, DecisionReason::CustomerAngry);
    let mut hesitant = annotation(&[("product_inquiry", 0.9)], Sentiment::Hesitant);
    hesitant.sentiment.confidence = 0.56;
    let out = turn::customer_message(
        &first.state,
        &input("冰箱有推荐吗", 2, hesitant),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.decision.action, Action::Answer);
}

#[test]
fn a_product_question_shows_interest_unless_it_is_after_sales() {
    let unsure = Annotation {
        top_intent: Some(closer_dialogue::IntentScore {
            label: "price_inquiry".into(),
            confidence: 0.29,
        }),
        ..annotation(&[], Sentiment::Neutral)
    };
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("How much is the fridge?", 1, unsure),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.state.stage, Stage::Engaged);
    let after_sales = annotation(&[("after_sales", 0.86)], Sentiment::Negative);
    let out = turn::customer_message(
        &ConversationState::default(),
        &input("我上周买的冰箱到现在还没送到", 1, after_sales),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.state.stage, Stage::New);
    assert_eq!(out.decision.action, Action::Answer);
}

// --- the wording's own reading (crate::cues) ---------------------------------------------------

#[test]
fn lead_field_values_in_a_calm_message_contradict_a_likely_anger() {
    let angry_at = |confidence: f32, fields: &[(&str, &str)]| {
        let mut a = annotation(&[("provide_contact", 0.7)], Sentiment::Angry);
        a.sentiment.confidence = confidence;
        a.fields = fields
            .iter()
            .map(|(f, v)| FieldProposal { field: (*f).into(), value: (*v).into(), confidence: 0.9 })
            .collect();
        a
    };
    let contact = [("name", "Ann Chen"), ("phone", "13900002222")];
    let calm = "This is Ann Chen, you can reach me on 13900002222";
    let out = turn::customer_message(
        &ConversationState::default(),
        &input(calm, 1, angry_at(0.6, &contact)),
        &catalog(),
        &strategy(),
    );
    assert_ne!(out.decision.reason, DecisionReason::CustomerAngry, "{:?}", out.decision);
    assert_eq!(out.state.lead.fields["phone"].value, "13900002222");

    // An angry word in it, a sure anger, or no value recorded: the anger stands.
    for (text, confidence, fields) in [
        ("Ann Chen, 13900002222. This is ridiculous", 0.6, &contact[..]),
        (calm, 0.9, &contact[..]),
        (calm, 0.6, &[][..]),
    ] {
        let out = turn::customer_message(
            &ConversationState::default(),
            &input(text, 1, angry_at(confidence, fields)),
            &catalog(),
            &strategy(),
        );
        assert_eq!(out.decision.reason, DecisionReason::CustomerAngry, "{text} {confidence}");
    }
    // A value a person already set is not one the rules took from this message.
    let mut before = ConversationState::default();
    before.apply(&Event::FieldSet {
        field: "phone".into(),
        value: "13900002222".into(),
        source: FieldSource::Salesperson,
        confidence: 1.0,
        at: 0,
    });
    let out = turn::customer_message(
        &before,
        &input("13900002222", 1, angry_at(0.6, &[("phone", "13900002222")])),
        &catalog(),
        &strategy(),
    );
    assert_eq!(out.decision.reason, DecisionReason::CustomerAngry);
}

#[test]
fn the_cue_is_folded_from_the_message_and_replays() {
    let out = turn::customer_message(
        &ConversationState::default(),
        &input(
            "对公转账需要提供哪些信息？",
            7,
            annotation(&[("after_sales", 0.4)], Sentiment::Neutral),
        ),
        &catalog(),
        &strategy(),
    );
    let last = out.state.last_turn().expect("a turn");
    assert_eq!(last.cue, Some(closer_dialogue::Cue::PaymentQuestion));
    assert!(last.resolved);
    assert_eq!(out.state.open_questions.len(), 1, "a payment question is open");
    assert_eq!(
        (out.decision.action, out.decision.reason),
        (Action::Answer, DecisionReason::QuestionAsked)
    );
    assert_eq!(ConversationState::replay(&out.events), out.state);
}
