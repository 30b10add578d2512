//! Call scripts: each demo scenario walked in Chinese and English, from annotations and from
//! bare transcript text.

use closer_dialogue::document::{Language, StrategyDocument};
use closer_dialogue::nlu::intents;
use closer_dialogue::script::{LeadStatus, ScriptError, ScriptRun, StepKind};
use closer_dialogue::{Annotation, IntentScore, Stage};

fn said(labels: &[&str]) -> Annotation {
    let intents: Vec<IntentScore> =
        labels.iter().map(|l| IntentScore { label: (*l).to_owned(), confidence: 0.92 }).collect();
    Annotation { top_intent: intents.first().cloned(), intents, ..Annotation::default() }
}

fn doc() -> StrategyDocument {
    StrategyDocument::demo()
}

#[test]
fn marketing_call_with_an_objection_returns_to_the_step_it_interrupted() {
    let doc = doc();
    let script = doc.script("marketing_cloud").expect("marketing script");
    for l in [Language::Zh, Language::En] {
        let mut run = ScriptRun::start(script, l).with_playbook(&doc.playbook);
        let opening = run.line();
        assert_eq!(opening.step, StepKind::Opening);
        assert_eq!(opening.text, script.steps[0].text.get(l));

        // "Too expensive" at the opening: the strategy's playbook answers (the script has no
        // price entry of its own).
        let objection = run.on_customer(&said(&[intents::OBJECTION_PRICE]));
        assert_eq!(objection.step, StepKind::ObjectionHandling);
        assert_eq!(objection.objection.as_deref(), Some(intents::OBJECTION_PRICE));
        let playbook = doc.playbook_entry(intents::OBJECTION_PRICE).expect("price entry");
        assert_eq!(Some(objection.text.as_str()), playbook.answer(l));

        // Then back: the opening was interrupted, so the walk moves on to need confirmation.
        let need = run.on_customer(&said(&[intents::PRODUCT_INQUIRY]));
        assert_eq!(need.step, StepKind::NeedConfirmation);
        assert_eq!(need.text, script.steps[1].text.get(l));

        let result = run.on_customer(&said(&[intents::PURCHASE_INTENT]));
        assert_eq!(result.step, StepKind::ResultLogging);
        assert_eq!(result.suggested_outcome, None);

        let outcome = run.finish("interested").expect("known outcome");
        assert_eq!(outcome.lead_status, LeadStatus::Qualified);
        assert_eq!(outcome.lead_status.stage(), Some(Stage::Qualified));
        assert_eq!(outcome.text, script.outcome("interested").expect("o").closing.get(l));
    }
}

#[test]
fn marketing_call_script_entries_win_over_the_playbook_and_text_cues_work() {
    let doc = doc();
    let script = doc.script("marketing_cloud").expect("marketing script");
    let mut run = ScriptRun::start(script, Language::Zh).with_playbook(&doc.playbook);
    let busy = run.on_customer("我现在在开会，没时间");
    assert_eq!(busy.step, StepKind::ObjectionHandling);
    assert_eq!(busy.objection.as_deref(), Some(intents::OBJECTION_TIMING));
    assert_eq!(busy.text, "没关系，您看明天上午还是下午方便？我再打给您。");
    let declined = run.on_customer("算了，不需要");
    assert_eq!(declined.step, StepKind::ResultLogging);
    assert_eq!(declined.suggested_outcome.as_deref(), Some("not_interested"));
    let outcome = run.finish("not_interested").expect("outcome");
    assert_eq!(
        (outcome.lead_status, outcome.lead_status.stage()),
        (LeadStatus::Lost, Some(Stage::Lost))
    );

    let mut run = ScriptRun::start(script, Language::En).with_playbook(&doc.playbook);
    let busy = run.on_customer("Sorry, I'm in a meeting right now");
    assert_eq!(
        busy.text,
        "No problem. Would tomorrow morning or afternoon suit you better? I'll call you back then."
    );
    // Full-width and upper-case text still matches the cue (NFKC, case-insensitive).
    let declined = run.on_customer("ＮＯＴ INTERESTED, thanks");
    assert_eq!(declined.step, StepKind::ResultLogging);
    assert_eq!(run.finish("callback").map(|o| o.lead_status), Ok(LeadStatus::Callback));
}

#[test]
fn payment_reminder_in_both_languages() {
    let doc = doc();
    let script = doc.script("payment_reminder").expect("payment script");
    let cases = [
        (
            Language::Zh,
            "嗯，可以",
            "这个月手头紧，下个月吧",
            "理解，您看最晚哪天可以安排？我记下来，到时再提醒您。",
        ),
        (
            Language::En,
            "Yes, go ahead",
            "Money is tight, can it wait until next month?",
            "I understand. What's the latest date that works for you? I'll note it and remind you then.",
        ),
    ];
    for (l, yes, later, answer) in cases {
        let mut run = ScriptRun::start(script, l).with_playbook(&doc.playbook);
        assert!(run.line().text.contains(if l == Language::Zh { "账单" } else { "bill" }));
        let need = run.on_customer(yes);
        assert_eq!(need.step, StepKind::NeedConfirmation);
        let objection = run.on_customer(later);
        assert_eq!(
            (objection.step, objection.text.as_str()),
            (StepKind::ObjectionHandling, answer)
        );
        // Back to need confirmation's successor: result logging.
        let result =
            run.on_customer(if l == Language::Zh { "那就15号吧" } else { "The 15th then" });
        assert_eq!(result.step, StepKind::ResultLogging);
        let outcome = run.finish("promised_to_pay").expect("outcome");
        assert_eq!(outcome.lead_status, LeadStatus::PromisedToPay);
        assert_eq!(outcome.lead_status.stage(), None, "a payment promise does not move the funnel");
        assert_eq!(run.finish("paid").map(|o| o.lead_status), Ok(LeadStatus::Paid));
        assert_eq!(run.finish("disputed").map(|o| o.lead_status), Ok(LeadStatus::Escalated));
    }
}

#[test]
fn satisfaction_survey_in_both_languages_and_the_objection_limit() {
    let doc = doc();
    let script = doc.script("satisfaction_survey").expect("survey script");
    for l in [Language::Zh, Language::En] {
        let mut run = ScriptRun::start(script, l);
        let trust = run.on_customer(&said(&[intents::OBJECTION_TRUST]));
        assert_eq!(trust.step, StepKind::ObjectionHandling);
        assert!(trust.text.contains(if l == Language::Zh { "官方回访" } else { "official" }));
        // The survey answers one objection; a second one ends the walk at result logging.
        let again = run.on_customer(&said(&[intents::OBJECTION_TRUST]));
        assert_eq!(again.step, StepKind::ResultLogging);
        assert_eq!(run.finish("declined").map(|o| o.lead_status), Ok(LeadStatus::Contacted));

        let mut run = ScriptRun::start(script, l);
        assert_eq!(run.on_customer(&said(&[intents::CHIT_CHAT])).step, StepKind::NeedConfirmation);
        assert_eq!(run.on_customer(&said(&[intents::CHIT_CHAT])).step, StepKind::ResultLogging);
        // At result logging, more talk keeps the walk there.
        assert_eq!(run.on_customer(&said(&[intents::GREETING])).step, StepKind::ResultLogging);
        let done = run.finish("survey_completed").expect("outcome");
        assert_eq!(done.lead_status, LeadStatus::SurveyCompleted);
        assert!(!done.text.is_empty());

        // Declining by intent suggests the script's decline outcome.
        let mut run = ScriptRun::start(script, l);
        let bye = run.on_customer(&said(&[intents::NOT_INTERESTED]));
        assert_eq!(bye.suggested_outcome.as_deref(), Some("declined"));
    }
}

#[test]
fn an_objection_neither_the_script_nor_the_playbook_covers_gets_the_step_text() {
    let doc = doc();
    let script = doc.script("satisfaction_survey").expect("survey script");
    // No playbook given: the script covers only trust.
    let mut run = ScriptRun::start(script, Language::Zh);
    let line = run.on_customer(&said(&[intents::OBJECTION_PRICE]));
    assert_eq!(line.text, script.steps[2].text.zh);
}

#[test]
fn unknown_outcome_codes_are_typed_errors_and_positions_resume() {
    let doc = doc();
    let script = doc.script("marketing_cloud").expect("marketing script");
    let mut run = ScriptRun::start(script, Language::En);
    let err = run.finish("sold_a_yacht").expect_err("unknown");
    assert_eq!(
        err,
        ScriptError::UnknownOutcome {
            script: "marketing_cloud".into(),
            code: "sold_a_yacht".into()
        }
    );
    assert_eq!(err.code(), "unknown_outcome");

    run.on_customer(&said(&[intents::OBJECTION_TIMING]));
    let kept = serde_json::to_string(run.position()).expect("position serialises");
    let position = serde_json::from_str(&kept).expect("position parses");
    let mut resumed = ScriptRun::resume(script, Language::En, position);
    assert_eq!(resumed.line().step, StepKind::ObjectionHandling);
    assert_eq!(resumed.on_customer("ok").step, StepKind::NeedConfirmation);
}
