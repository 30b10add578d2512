//! One test per policy rule, driven through conversations the way the app drives them.

mod common;

use closer_dialogue::policy::{decide, handoff_condition};
use closer_dialogue::{
    Action, AutoSendBlock, DecisionReason, Event, Mode, Proactivity, Promotion,
    PromotionEligibility, Sentiment, Stage, StrategyView,
};
use common::{Chat, annotation, strategy};

const SURE: f32 = 0.95;
use Sentiment::{Angry, Hesitant, Neutral, Positive};

/// A conversation where the customer already got an answer (so fields may be asked).
fn after_an_answer(strategy: StrategyView) -> Chat {
    let mut chat = Chat::new(strategy);
    let d = chat.customer("团队版一年多少钱？", &[("price_inquiry", SURE)], Neutral);
    assert_eq!((d.action, d.reason), (Action::Answer, DecisionReason::QuestionAsked));
    assert_eq!(d.field_to_ask, None, "nothing of value given yet");
    chat.send(&d, "团队版12800元/年。");
    assert!(chat.state.value_given);
    chat
}

#[test]
fn asks_one_missing_required_field_at_a_time_in_schema_order() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("好的，了解了", &[("chit_chat", SURE)], Positive);
    assert_eq!((d.action, d.reason), (Action::AskField, DecisionReason::MissingRequiredField));
    assert_eq!(d.field_to_ask.as_deref(), Some("name"), "the first required field, and only it");
    chat.send(&d, "请问怎么称呼您？");
    chat.field("name", "王先生");
    assert_eq!(chat.state.fields_asked.len(), 1);

    // Proactivity high: the next ask may come two customer turns later, for the next field.
    chat.strategy.proactivity = Proactivity::High;
    let d = chat.customer("我姓王", &[("provide_contact", SURE)], Neutral);
    assert_eq!(d.field_to_ask, None);
    chat.send(&d, "王先生您好！");
    let d = chat.customer("嗯", &[("chit_chat", SURE)], Neutral);
    assert_eq!((d.action, d.field_to_ask.as_deref()), (Action::AskField, Some("phone")));
}

#[test]
fn never_asks_in_two_replies_in_a_row() {
    let mut s = strategy();
    s.proactivity = Proactivity::High;
    let mut chat = after_an_answer(s);
    let d = chat.customer("好", &[("chit_chat", SURE)], Neutral);
    assert_eq!(d.action, Action::AskField);
    chat.send(&d, "请问怎么称呼您？");
    // The customer ignores it and asks something: answered, but no field asked along.
    let d = chat.customer("企业版呢？", &[("price_inquiry", SURE)], Neutral);
    assert_eq!((d.action, d.field_to_ask.as_deref()), (Action::Answer, None));
    chat.send(&d, "企业版48000元/年。");
    let d = chat.customer("嗯嗯", &[("chit_chat", SURE)], Neutral);
    assert_eq!(d.action, Action::AskField, "two turns later it may ask again");
    assert_eq!(d.field_to_ask.as_deref(), Some("phone"), "a field not asked yet comes first");
    chat.send(&d, "方便留个电话吗？");
    // Even a buyer is not asked twice in a row.
    let d = chat.customer("我要买", &[("purchase_intent", SURE)], Positive);
    assert_eq!(d.field_to_ask, None);
    assert_ne!(d.action, Action::AskField);
}

#[test]
fn an_answer_carries_one_ask_when_the_ask_rule_allows() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("入门版呢", &[("price_inquiry", SURE)], Neutral);
    assert_eq!((d.action, d.field_to_ask.as_deref()), (Action::Answer, Some("name")));
}

#[test]
fn no_field_is_asked_before_the_customer_got_something_of_value() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("你好", &[("greeting", SURE)], Positive);
    assert_eq!(
        (d.action, d.reason, d.field_to_ask.as_deref()),
        (Action::Engage, DecisionReason::Greeting, None)
    );
    chat.send(&d, "您好！想了解哪款产品？");
    let d = chat.customer("随便看看", &[("chit_chat", SURE)], Neutral);
    assert_eq!((d.action, d.field_to_ask), (Action::Engage, None), "a greeting is not value");
    assert!(!chat.state.value_given);
}

#[test]
fn proactivity_sets_how_often_fields_are_asked() {
    for (proactivity, turns) in
        [(Proactivity::High, 2), (Proactivity::Balanced, 3), (Proactivity::Low, 4)]
    {
        let mut s = strategy();
        s.proactivity = proactivity;
        let mut chat = after_an_answer(s);
        let d = chat.customer("好", &[("chit_chat", SURE)], Neutral);
        assert_eq!(d.action, Action::AskField);
        chat.send(&d, "请问怎么称呼您？");
        let mut waited = 0;
        loop {
            waited += 1;
            let d = chat.customer("嗯", &[("chit_chat", SURE)], Neutral);
            if d.action == Action::AskField {
                break;
            }
            chat.send(&d, "好的");
            assert!(waited < 10, "{proactivity:?} never asks again");
        }
        assert_eq!(waited, turns, "{proactivity:?}");
    }
}

#[test]
fn hands_off_on_low_confidence() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("那个东西咋弄", &[("after_sales", 0.62)], Neutral);
    assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::LowConfidence));
    assert!(
        matches!(d.handoff_event(&chat.state, 5), Some(Event::HandoffRequested { ref reason, .. }) if reason == "low_confidence")
    );

    // The threshold is the strategy's.
    let mut lenient = strategy();
    lenient.confidence_threshold = 0.6;
    let mut chat = Chat::new(lenient);
    let d = chat.customer("那个东西咋弄", &[("after_sales", 0.62)], Neutral);
    assert_eq!(d.action, Action::Answer);

    // No intent at all is below any threshold.
    let mut chat = Chat::new(strategy());
    let d = chat.customer("？？", &[], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence);
}

#[test]
fn hands_off_on_anger_whatever_else_the_message_says() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer(
        "你们这什么破服务！多少钱？",
        &[("complaint", SURE), ("price_inquiry", SURE)],
        Angry,
    );
    assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::CustomerAngry));
}

#[test]
fn hands_off_on_an_explicit_request_for_a_person() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("I want to talk to a real person", &[("request_human", SURE)], Neutral);
    assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::RequestedHuman));
}

#[test]
fn hands_off_on_repeated_misunderstanding() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("嗯？", &[], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence);
    let d = chat.customer("你听不懂吗", &[("chit_chat", 0.4)], Neutral);
    assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::RepeatedMisunderstanding));
    assert_eq!(chat.state.misunderstood_streak(0.8), 2);

    // One understood turn in between breaks the streak.
    let mut chat = Chat::new(strategy());
    chat.customer("嗯？", &[], Neutral);
    chat.customer("冰箱多少钱", &[("price_inquiry", SURE)], Neutral);
    let d = chat.customer("嗯？", &[], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence);

    // The limit is the strategy's.
    let mut s = strategy();
    s.misunderstanding_limit = 3;
    let mut chat = Chat::new(s);
    chat.customer("嗯？", &[], Neutral);
    let d = chat.customer("？", &[], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence);
    let d = chat.customer("？？", &[], Neutral);
    assert_eq!(d.reason, DecisionReason::RepeatedMisunderstanding);
}

#[test]
fn auto_mode_never_sends_when_a_handoff_condition_holds() {
    let cases: [(&[(&str, f32)], Sentiment); 4] = [
        (&[("price_inquiry", SURE)], Angry),
        (&[("request_human", SURE)], Neutral),
        (&[("price_inquiry", 0.5)], Neutral),
        (&[], Neutral),
    ];
    for (intents, sentiment) in cases {
        let mut chat = Chat::new(strategy());
        chat.mode(Mode::Auto);
        let d = chat.customer("…", intents, sentiment);
        assert!(!d.may_auto_send, "{intents:?} {sentiment:?}");
        assert_eq!(d.auto_send_block, Some(AutoSendBlock::HandoffCondition));
    }
    // Repeated misunderstanding, too.
    let mut chat = Chat::new(strategy());
    chat.mode(Mode::Auto);
    chat.customer("？", &[], Neutral);
    let d = chat.customer("？", &[], Neutral);
    assert_eq!((d.reason, d.may_auto_send), (DecisionReason::RepeatedMisunderstanding, false));

    // handoff_condition is the same check the console can call on its own.
    let state = chat.state.clone();
    let angry = annotation(&[("greeting", SURE)], Angry);
    assert_eq!(handoff_condition(&state, &angry, &strategy()), Some(DecisionReason::CustomerAngry));
}

#[test]
fn auto_mode_sends_a_plain_answer_but_not_while_a_person_is_needed() {
    let mut chat = Chat::new(strategy());
    chat.mode(Mode::Auto);
    let d = chat.customer("冰箱多少钱", &[("price_inquiry", SURE)], Neutral);
    assert!(d.may_auto_send);
    assert_eq!(d.auto_send_block, None);

    chat.record(Event::HandoffRequested { reason: "requested_human".into(), at: chat.at });
    let d = chat.customer("保修几年", &[("feature_question", SURE)], Neutral);
    assert_eq!((d.action, d.may_auto_send), (Action::Answer, false));
    assert_eq!(d.auto_send_block, Some(AutoSendBlock::HandoffActive));
    chat.record(Event::HandoffTaken { at: chat.at });
    let d = chat.customer("好的", &[("chit_chat", SURE)], Neutral);
    assert_eq!(d.auto_send_block, Some(AutoSendBlock::HandoffActive));
    chat.record(Event::HandoffReturned { at: chat.at });
    let d = chat.customer("送货吗", &[("feature_question", SURE)], Neutral);
    assert!(d.may_auto_send);
}

#[test]
fn outside_auto_mode_nothing_is_sent_without_a_person() {
    for mode in [Mode::Draft, Mode::Off] {
        let mut chat = Chat::new(strategy());
        chat.mode(mode);
        let d = chat.customer("冰箱多少钱", &[("price_inquiry", SURE)], Neutral);
        assert_eq!(d.action, Action::Answer);
        assert_eq!((d.may_auto_send, d.auto_send_block), (false, Some(AutoSendBlock::ModeNotAuto)));
    }
}

#[test]
fn offers_a_promotion_to_a_hesitant_customer_once() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("我再考虑考虑吧", &[("chit_chat", SURE)], Hesitant);
    assert_eq!((d.action, d.reason), (Action::OfferPromotion, DecisionReason::HesitantCustomer));
    assert_eq!(d.promotion.as_deref(), Some("spring"));
    chat.send(&d, "本月下单享春季九折。");
    assert_eq!(chat.state.promotions_offered.len(), 1);

    let d = chat.customer("还是有点犹豫", &[("chit_chat", SURE)], Hesitant);
    assert_ne!(d.action, Action::OfferPromotion, "once per conversation");
    assert_eq!(d.promotion, None);
}

#[test]
fn a_rejected_promotion_was_not_offered() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("我再想想", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.action, Action::OfferPromotion);
    let at = chat.at + 1;
    chat.record(d.offered("p1", "九折", at));
    chat.record(Event::SuggestionRejected { id: "p1".into(), reason: String::new(), at });
    let d = chat.customer("再想想", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.action, Action::OfferPromotion, "still not offered to the customer");
}

#[test]
fn the_strategy_may_allow_more_promotions_and_limit_who_gets_them() {
    let mut s = strategy();
    s.max_promotions = 2;
    s.promotions = vec![
        Promotion {
            id: "fridge-gift".into(),
            eligibility: PromotionEligibility { products: vec!["FRIDGE".into()], stages: vec![] },
        },
        Promotion { id: "spring".into(), ..Promotion::default() },
        Promotion {
            id: "late".into(),
            eligibility: PromotionEligibility {
                stages: vec![Stage::Negotiation],
                products: vec![],
            },
        },
    ];
    let mut chat = after_an_answer(s); // the team plan is in focus, not the fridge
    let d = chat.customer("再想想", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.promotion.as_deref(), Some("spring"));
    chat.send(&d, "春季九折");
    let d = chat.customer("还是再想想", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.promotion, None, "the others are for the fridge or for negotiation");
    chat.record(Event::StageChanged {
        to: Stage::Negotiation,
        reason: "price_objection".into(),
        at: chat.at,
    });
    let d = chat.customer("再看看吧", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.promotion.as_deref(), Some("late"));
    chat.send(&d, "…");
    let d = chat.customer("嗯…", &[("chit_chat", SURE)], Hesitant);
    assert_eq!(d.promotion, None, "two at most");
}

#[test]
fn a_price_objection_gets_the_playbook_and_a_promotion_if_one_is_left() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("太贵了", &[("objection_price", SURE)], Hesitant);
    assert_eq!(
        (d.action, d.reason),
        (Action::OfferPromotion, DecisionReason::ObjectionWithPromotion)
    );
    assert_eq!(
        (d.objection.as_deref(), d.promotion.as_deref()),
        (Some("objection_price"), Some("spring"))
    );
    chat.send(&d, "…");
    let d = chat.customer("还是贵", &[("objection_price", SURE)], Neutral);
    assert_eq!(
        (d.action, d.reason),
        (Action::HandleObjection, DecisionReason::ObjectionInPlaybook)
    );
    assert_eq!((d.objection.as_deref(), d.promotion), (Some("objection_price"), None));
}

#[test]
fn objections_go_to_a_person_unless_the_strategy_lets_auto_mode_send_them() {
    let mut chat = Chat::new(strategy());
    chat.mode(Mode::Auto);
    let d = chat.customer("我们现在不急", &[("objection_timing", SURE)], Neutral);
    assert_eq!(d.action, Action::OfferPromotion);
    assert_eq!(d.auto_send_block, Some(AutoSendBlock::ObjectionNeedsPerson));

    let d = chat.customer("你们靠谱吗", &[("objection_trust", SURE)], Neutral);
    assert_eq!(
        (d.action, d.reason),
        (Action::HandleObjection, DecisionReason::ObjectionNotInPlaybook)
    );
    assert_eq!(d.auto_send_block, Some(AutoSendBlock::ObjectionNotInPlaybook));

    let mut s = strategy();
    s.auto_send_objections = true;
    s.promotions.clear();
    let mut chat = Chat::new(s);
    chat.mode(Mode::Auto);
    let d = chat.customer("我们现在不急", &[("objection_timing", SURE)], Neutral);
    assert_eq!((d.action, d.may_auto_send), (Action::HandleObjection, true));
    let d = chat.customer("你们靠谱吗", &[("objection_trust", SURE)], Neutral);
    assert!(!d.may_auto_send, "no playbook entry: a person answers");
}

#[test]
fn closes_when_the_customer_wants_to_buy_and_the_required_fields_are_known() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("团队版我要了", &[("purchase_intent", SURE)], Positive);
    assert_eq!((d.action, d.reason), (Action::AskField, DecisionReason::PurchaseNeedsField));
    assert_eq!(d.field_to_ask.as_deref(), Some("name"), "a buyer is asked even before value");
    chat.send(&d, "好的！请问怎么称呼您？");
    for (key, value) in
        [("name", "王磊"), ("phone", "13812345678"), ("need", "CRM"), ("budget", "15万")]
    {
        chat.field(key, value);
    }
    let d = chat.customer(
        "王磊，13812345678，下单吧",
        &[("purchase_intent", SURE), ("provide_contact", SURE)],
        Positive,
    );
    assert_eq!((d.action, d.reason), (Action::Close, DecisionReason::PurchaseReady));
    assert_eq!(d.field_to_ask, None);
}

#[test]
fn a_customer_who_leaves_is_not_asked_for_fields() {
    let mut chat = after_an_answer(strategy());
    let d =
        chat.customer("不需要了，再见", &[("not_interested", SURE), ("goodbye", SURE)], Neutral);
    assert_eq!(
        (d.action, d.reason, d.field_to_ask.as_deref()),
        (Action::Engage, DecisionReason::CustomerLeaving, None)
    );
}

#[test]
fn an_attribute_follow_up_is_a_question_even_if_the_nlu_missed_it() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("那这个的年费是多少", &[("chit_chat", SURE)], Neutral);
    assert_eq!(d.action, Action::Answer);
    assert_eq!(chat.state.focus.as_ref().and_then(|f| f.asked.as_deref()), Some("price_year"));
}

#[test]
fn decide_is_pure() {
    let chat = after_an_answer(strategy());
    let a = annotation(&[("price_inquiry", SURE)], Neutral);
    assert_eq!(decide(&chat.state, &a, &chat.strategy), decide(&chat.state, &a, &chat.strategy));
}

#[test]
fn a_buyer_who_asks_before_getting_anything_is_answered_first() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer(
        "续费提醒收到了，请问怎么付款？",
        &[("purchase_intent", 0.88), ("after_sales", SURE)],
        Neutral,
    );
    assert_eq!((d.action, d.reason), (Action::Answer, DecisionReason::QuestionAsked));
    assert_eq!(d.field_to_ask, None, "the ask waits for the value");
    chat.send(&d, "续费可以在控制台直接支付，也可以对公转账。");
    // Once answered, the buyer is asked for what the order needs.
    let d = chat.customer("好的，那就续费吧", &[("purchase_intent", SURE)], Positive);
    assert_eq!((d.action, d.reason), (Action::AskField, DecisionReason::PurchaseNeedsField));
    assert_eq!(d.field_to_ask.as_deref(), Some("name"));
}

#[test]
fn a_sure_hesitation_gets_the_promotion_even_when_the_intent_is_unclear() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("有点犹豫，不知道值不值", &[("objection_timing", 0.25)], Hesitant);
    assert_eq!((d.action, d.reason), (Action::OfferPromotion, DecisionReason::HesitantCustomer));
    assert_eq!(handoff_condition(&chat.state, &annotation(&[], Hesitant), &chat.strategy), None);
    chat.send(&d, "本月下单享九折。");
    // No promotion left: the unclear message goes to a person as any other would.
    let d = chat.customer("还是犹豫", &[("objection_timing", 0.25)], Hesitant);
    assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::LowConfidence));
    // An unsure hesitation is no reading to act on either.
    let mut chat = after_an_answer(strategy());
    let mut unsure = annotation(&[("objection_timing", 0.25)], Hesitant);
    unsure.sentiment.confidence = 0.6;
    let d = chat.customer_annotated("嗯……", unsure);
    assert_eq!(d.reason, DecisionReason::LowConfidence);
}

#[test]
fn a_lead_field_answer_is_understood_whatever_the_intent_head_says() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("好", &[("chit_chat", SURE)], Neutral);
    assert_eq!(d.field_to_ask.as_deref(), Some("name"));
    chat.send(&d, "请问怎么称呼您？");
    // "我姓刘" read as provide_contact at 0.29, but the name it gives is recorded with the turn.
    let at = chat.at + 1000;
    chat.record(Event::Message {
        role: closer_dialogue::Role::Customer,
        text: "我姓刘".into(),
        at,
    });
    let unsure = annotation(&[("provide_contact", 0.29)], Neutral);
    chat.record(Event::Annotated { annotation: unsure.clone(), at });
    chat.record(Event::FieldSet {
        field: "name".into(),
        value: "刘".into(),
        source: closer_dialogue::FieldSource::Ai,
        confidence: 0.9,
        at,
    });
    let d = decide(&chat.state, &unsure, &chat.strategy);
    assert_ne!(d.action, Action::HandOff, "{d:?}");
    assert_eq!(d.field_to_ask, None, "not asked again right after an ask");
    // The same reading without a value is a guess: a person looks.
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("嗯那个", &[("provide_contact", 0.29)], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence);
}

#[test]
fn weak_secondary_readings_drive_no_rule() {
    let mut chat = after_an_answer(strategy());
    // The head lists request_human and goodbye, but far below "likely".
    let d = chat.customer(
        "企业版呢？",
        &[("price_inquiry", SURE), ("request_human", 0.2), ("goodbye", 0.3)],
        Neutral,
    );
    assert_eq!((d.action, d.reason), (Action::Answer, DecisionReason::QuestionAsked));
    let d = chat.customer("嗯", &[("chit_chat", SURE), ("not_interested", 0.3)], Neutral);
    assert_ne!(d.reason, DecisionReason::CustomerLeaving);
}

#[test]
fn a_likely_anger_contradicted_by_a_sure_cooperative_step_is_no_hand_off() {
    let angry_at = |confidence: f32, intents: &[(&str, f32)]| {
        let mut a = annotation(intents, Angry);
        a.sentiment.confidence = confidence;
        a
    };
    let mut chat = after_an_answer(strategy());
    // "我叫赵磊，电话13700001234，预算5万" read as angry at 0.59.
    let contact = angry_at(0.59, &[("provide_contact", 0.98), ("provide_requirement", 0.42)]);
    let d = chat.customer_annotated("我叫赵磊，电话13700001234，预算5万", contact);
    assert_ne!(d.action, Action::HandOff, "{d:?}");
    // The same reading with a complaint in it, or sure anger, or nothing to contradict it, is.
    for (confidence, intents) in [
        (0.59, &[("provide_contact", 0.98), ("complaint", 0.6)][..]),
        (0.85, &[("provide_contact", 0.98)][..]),
        (0.59, &[("provide_contact", 0.7)][..]),
        (0.59, &[("price_inquiry", SURE)][..]),
    ] {
        let mut chat = after_an_answer(strategy());
        let d = chat.customer_annotated("……", angry_at(confidence, intents));
        assert_eq!((d.action, d.reason), (Action::HandOff, DecisionReason::CustomerAngry));
    }
}

// --- the wording's own reading (closer_dialogue::cues) -----------------------------------------

#[test]
fn an_acknowledgement_is_understood_not_handed_off() {
    for (text, label, confidence) in [
        ("收到，谢谢", "chit_chat", 0.7),
        ("嗯，明白了", "chit_chat", 0.55),
        ("Okay, makes sense", "chit_chat", 0.72),
        ("Cool, thank you", "greeting", 0.4),
    ] {
        let mut chat = after_an_answer(strategy());
        let d = chat.customer(text, &[(label, confidence)], Neutral);
        assert_eq!(
            (d.action, d.reason, d.field_to_ask.as_deref()),
            (Action::AskField, DecisionReason::MissingRequiredField, Some("name")),
            "{text}"
        );
        assert_eq!(chat.state.misunderstood_streak(0.8), 0, "{text}");
    }
    // A weak goodbye reading of an acknowledgement is no leaving ("Fine, got it" as goodbye at
    // 0.6); a sure one is.
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("Fine, got it", &[("goodbye", 0.6)], Neutral);
    assert_eq!(d.action, Action::AskField);
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("Fine, got it", &[("goodbye", SURE)], Neutral);
    assert_eq!(d.reason, DecisionReason::CustomerLeaving);
}

#[test]
fn an_acknowledgement_does_not_explain_away_anger_a_request_or_an_unclear_message() {
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("好的", &[("chit_chat", 0.7)], Angry);
    assert_eq!(d.reason, DecisionReason::CustomerAngry);
    let d = chat.customer("好的，转人工", &[("chit_chat", 0.7)], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence, "a request is no acknowledgement");
    for text in ["好的，那个咋弄", "ok, and the other thing", "嗯……", "不行"] {
        let mut chat = after_an_answer(strategy());
        let d = chat.customer(text, &[("chit_chat", 0.7)], Neutral);
        assert_eq!(d.reason, DecisionReason::LowConfidence, "{text}");
    }
}

#[test]
fn greetings_and_farewells_in_the_wording() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("您好", &[("greeting", 0.7)], Neutral);
    assert_eq!((d.action, d.reason), (Action::Engage, DecisionReason::Greeting));
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("好的，拜拜", &[("chit_chat", 0.6)], Positive);
    assert_eq!((d.action, d.reason), (Action::Engage, DecisionReason::CustomerLeaving));
    assert_eq!(d.field_to_ask, None);
}

#[test]
fn a_deferral_is_a_timing_objection() {
    // Read as nothing sure, or as a weak purchase.
    for intents in [
        &[("objection_timing", 0.3)][..],
        &[][..],
        &[("purchase_intent", 0.6)][..],
        &[("after_sales", 0.7)][..],
    ] {
        let mut chat = after_an_answer(strategy());
        let d = chat.customer("能不能下周再交费？", intents, Neutral);
        assert_eq!(
            (d.action, d.reason, d.objection.as_deref(), d.promotion.as_deref()),
            (
                Action::OfferPromotion,
                DecisionReason::ObjectionWithPromotion,
                Some("objection_timing"),
                Some("spring")
            ),
            "{intents:?}"
        );
        chat.send(&d, "本周续费享九折。");
        // The promotion spent, the playbook handles it.
        let d = chat.customer("We'll decide next quarter.", &[("chit_chat", 0.4)], Neutral);
        assert_eq!(
            (d.action, d.reason),
            (Action::HandleObjection, DecisionReason::ObjectionInPlaybook)
        );
    }
    // The NLU's own objection, or a sure purchase, comes first.
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("太贵了，下个月再买", &[("objection_price", 0.7)], Neutral);
    assert_eq!(d.objection.as_deref(), Some("objection_price"));
    let mut chat = after_an_answer(strategy());
    let d = chat.customer("下个月再付可以，先帮我下单", &[("purchase_intent", SURE)], Positive);
    assert_eq!(d.reason, DecisionReason::PurchaseNeedsField);
}

#[test]
fn a_payment_question_is_answered() {
    let mut chat = Chat::new(strategy());
    let d = chat.customer("发票怎么开？", &[("after_sales", 0.4)], Neutral);
    assert_eq!((d.action, d.reason), (Action::Answer, DecisionReason::QuestionAsked));
    let mut chat = Chat::new(strategy());
    let d = chat.customer(
        "Do you accept credit cards for payment?",
        &[("purchase_intent", 0.55), ("after_sales", 0.52)],
        Neutral,
    );
    assert_eq!((d.action, d.reason), (Action::Answer, DecisionReason::QuestionAsked));
}

#[test]
fn satisfaction_feedback_is_understood() {
    let mut chat = Chat::new(strategy());
    let d =
        chat.customer("有点失望，颜色和图片不一样", &[("complaint", 0.65)], Sentiment::Negative);
    assert_eq!((d.action, d.reason), (Action::Engage, DecisionReason::KeepEngaging));
    // Angry feedback is anger.
    let mut chat = Chat::new(strategy());
    let d = chat.customer("非常不满意，垃圾产品", &[("complaint", 0.65)], Neutral);
    assert_eq!(d.reason, DecisionReason::LowConfidence, "no cue in an angry message");
}
