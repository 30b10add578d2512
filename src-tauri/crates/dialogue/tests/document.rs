//! Strategy documents: the bundled demo, the legacy demo the app seeded, validation, the
//! policy's view and the manager's diff.

use closer_dialogue::document::{
    Bilingual, ChangeKind, Discount, DocumentError, DocumentIssue, Language, SCHEMA,
    StrategyDocument, diff, upgrade_legacy,
};
use closer_dialogue::nlu::intents;
use closer_dialogue::{FieldType, Proactivity};

const DEMO_SKUS: &[&str] = &[
    "CVM-S2",
    "CVM-S4",
    "CVM-S8",
    "BAK-GEO",
    "ERP-LINK",
    "SAAS-STARTER",
    "SAAS-TEAM",
    "SAAS-ENT",
    "HOME-FRIDGE-460",
    "HOME-WASH-10",
    "HOME-AC-15",
];

fn codes(issues: &[DocumentIssue]) -> Vec<&'static str> {
    issues.iter().map(DocumentIssue::code).collect()
}

#[test]
fn the_demo_document_is_complete_and_valid_against_the_demo_catalog() {
    let doc = StrategyDocument::demo();
    assert_eq!(doc.schema, SCHEMA);
    assert_eq!(doc.validate_with_products(DEMO_SKUS), Ok(()));
    for l in Language::ALL {
        assert!(!doc.persona.is_blank(*l) && !doc.tone.is_blank(*l));
    }
    // The playbook covers every objection label the NLU knows.
    for label in [intents::OBJECTION_PRICE, intents::OBJECTION_TIMING, intents::OBJECTION_TRUST] {
        assert!(doc.playbook_entry(label).is_some(), "no playbook entry for {label}");
    }
    // Two or three promotions, each tied to demo products.
    assert!((2..=3).contains(&doc.promotions.len()));
    assert!(doc.promotions.iter().all(|p| !p.eligibility.products.is_empty()));
    // The three call scenarios.
    let mut scenarios: Vec<&str> = doc.scripts.iter().map(|s| s.scenario.as_str()).collect();
    scenarios.sort_unstable();
    assert_eq!(scenarios, ["marketing", "payment_reminder", "satisfaction_survey"]);
    // Examples in both languages.
    for l in Language::ALL {
        assert!(doc.examples.iter().any(|e| e.language == *l));
    }
}

#[test]
fn the_legacy_demo_document_the_app_seeded_parses_through_the_upgrade() {
    let demo: serde_json::Value =
        serde_json::from_str(include_str!("../../app/assets/demo.json")).expect("demo.json");
    let legacy = demo["strategy"]["document"].clone();
    assert!(legacy.get("schema").is_none(), "the seeded document is schema-less");

    // Read directly, the legacy shape is refused (it names `type`, not `field_type`) ...
    assert!(serde_json::from_value::<StrategyDocument>(legacy.clone()).is_err());
    // ... and read through the documented conversion it is a current document.
    let doc = StrategyDocument::from_value(legacy.clone()).expect("legacy document parses");
    assert_eq!(doc.schema, SCHEMA);
    assert_eq!(doc.persona.zh, "Closer，一位热情、专业的销售顾问");
    assert_eq!(
        doc.tone,
        Bilingual::new("warm, concise, never pushy", "warm, concise, never pushy")
    );
    assert_eq!(doc.goals.len(), 3);
    assert_eq!(doc.proactivity, Proactivity::Balanced);
    let quantity = doc.field("quantity").expect("quantity field");
    assert_eq!(quantity.field_type, FieldType::Quantity, "`number` means a quantity");
    assert_eq!(doc.field("budget").map(|f| f.field_type), Some(FieldType::Money));
    let view = doc.view();
    let required: Vec<&str> = view.required_fields().map(|f| f.key.as_str()).collect();
    assert_eq!(required, ["name", "phone", "need", "budget"]);
    assert!((doc.handoff_threshold - 0.8).abs() < f32::EPSILON, "default threshold");

    // The conversion is what from_value applies.
    let mut upgraded = legacy;
    upgrade_legacy(&mut upgraded);
    assert_eq!(upgraded["schema"], 1);
    assert_eq!(upgraded["lead_fields"][7]["field_type"], "quantity");
    assert_eq!(serde_json::from_value::<StrategyDocument>(upgraded).ok(), Some(doc));
}

#[test]
fn a_current_document_round_trips_and_a_newer_schema_is_refused() {
    let doc = StrategyDocument::demo();
    let json = serde_json::to_string(&doc).expect("serialises");
    assert_eq!(StrategyDocument::from_json(&json), Ok(doc.clone()));
    let mut newer = doc.to_value();
    newer["schema"] = 99.into();
    let err = StrategyDocument::from_value(newer).expect_err("schema 99");
    assert_eq!(err, DocumentError::SchemaTooNew { found: 99, known: SCHEMA });
    assert_eq!(err.code(), "schema_too_new");
    let mut typo = doc.to_value();
    typo["persnoa"] = "x".into();
    assert_eq!(StrategyDocument::from_value(typo).map_err(|e| e.code()), Err("malformed"));
}

#[test]
fn the_view_carries_what_the_policy_needs() {
    let mut doc = StrategyDocument::demo();
    doc.handoff_threshold = 0.65;
    doc.proactivity = Proactivity::High;
    doc.auto_send_objections = true;
    let view = doc.view();
    assert!((view.confidence_threshold - 0.65).abs() < f32::EPSILON);
    assert_eq!(view.proactivity, Proactivity::High);
    assert!(view.auto_send_objections);
    assert!(view.covers(intents::OBJECTION_PRICE) && !view.covers("objection_quality"));
    let ids: Vec<&str> = view.promotions.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["cloud_first_year", "saas_annual", "appliance_install"]);
    assert_eq!(view.promotions[0].eligibility.products, ["CVM-S2", "CVM-S4", "CVM-S8"]);
    assert_eq!(view.fields.len(), doc.lead_fields.len());
    assert_eq!(view.max_promotions, 1);
}

#[test]
fn validation_reports_typed_issues() {
    let mut doc = StrategyDocument::demo();
    doc.persona.en = "  ".into();
    doc.handoff_threshold = 1.5;
    let mut dup = doc.lead_fields[0].clone();
    dup.ask_en.clear();
    doc.lead_fields.push(dup);
    doc.playbook[0].objection = "price_too_high".into();
    doc.promotions[1].eligibility.products.push("SAAS-GOLD".into());
    doc.promotions[0].discount = Some(Discount::Percent { percent_off: 120.0 });
    doc.scripts[0].steps.retain(|s| s.kind.as_str() != "need_confirmation");
    doc.scripts[1].decline_outcome = Some("vanished".into());
    doc.scripts[2].outcomes.clear();

    let issues = doc.validate_with_products(DEMO_SKUS).expect_err("invalid");
    let codes = codes(&issues);
    for code in [
        "empty_persona",
        "threshold_out_of_range",
        "duplicate_field_key",
        "missing_ask_text",
        "not_an_objection",
        "unknown_product",
        "invalid_discount",
        "missing_script_step",
        "unknown_outcome",
        "no_outcomes",
    ] {
        assert!(codes.contains(&code), "{code} not reported in {codes:?}");
    }
    assert!(issues.contains(&DocumentIssue::EmptyPersona { language: Language::En }));
    assert!(issues.contains(&DocumentIssue::UnknownProduct {
        promotion: "saas_annual".into(),
        product: "SAAS-GOLD".into()
    }));
    assert!(issues.contains(&DocumentIssue::DuplicateFieldKey { key: "name".into() }));

    // Without a catalog the product is not checked.
    let codes_alone = doc.validate().expect_err("still invalid");
    assert!(!codes_alone.iter().any(|i| i.code() == "unknown_product"));
}

#[test]
fn steps_out_of_order_and_duplicate_ids_are_issues() {
    let mut doc = StrategyDocument::demo();
    doc.scripts[0].steps.swap(0, 1);
    doc.scripts.push(doc.scripts[1].clone());
    doc.promotions.push(doc.promotions[0].clone());
    doc.playbook.push(doc.playbook[0].clone());
    let codes = codes(&doc.validate().expect_err("invalid"));
    for code in [
        "script_steps_out_of_order",
        "duplicate_script",
        "duplicate_promotion",
        "duplicate_objection",
    ] {
        assert!(codes.contains(&code), "{code} not reported in {codes:?}");
    }
}

#[test]
fn the_diff_is_field_level_and_readable() {
    let old = StrategyDocument::demo();
    let mut new = old.clone();
    new.lead_fields.iter_mut().find(|f| f.key == "budget").expect("budget").required = false;
    new.persona.zh = "Closer，资深销售顾问".into();
    new.handoff_threshold = 0.7;
    new.promotions.retain(|p| p.id != "saas_annual");
    new.playbook[1].responses[0].en = "Take your time.".into();
    new.scripts[0].steps[0].text.en = "Hi, this is Closer.".into();
    new.scripts[1].outcomes.retain(|o| o.code != "paid");

    let changes = diff(&old, &new);
    let find = |path: &str| changes.iter().find(|c| c.path == path);
    let budget = find("lead_fields[budget].required").expect("budget change");
    assert_eq!(
        (budget.kind, budget.before.as_deref(), budget.after.as_deref()),
        (ChangeKind::Changed, Some("true"), Some("false"))
    );
    let persona = find("persona.zh").expect("persona change");
    assert_eq!(persona.after.as_deref(), Some("Closer，资深销售顾问"));
    let threshold = find("handoff_threshold").expect("threshold change");
    assert_eq!(
        (threshold.before.as_deref(), threshold.after.as_deref()),
        (Some("0.8"), Some("0.7"))
    );
    let removed = find("promotions[saas_annual]").expect("promotion removed");
    assert_eq!(removed.kind, ChangeKind::Removed);
    assert!(removed.before.as_deref().is_some_and(|b| b.contains("1000")));
    assert!(find("playbook[objection_timing].responses[0].en").is_some());
    let step = find("scripts[marketing_cloud].steps[opening].text.en").expect("script step");
    assert_eq!(step.after.as_deref(), Some("Hi, this is Closer."));
    let outcome = find("scripts[payment_reminder].outcomes[paid]").expect("outcome removed");
    assert_eq!(outcome.kind, ChangeKind::Removed);
    assert_eq!(changes.len(), 7, "{changes:#?}");
    assert_eq!(budget.to_string(), "lead_fields[budget].required: true → false");

    assert!(diff(&old, &old).is_empty(), "no change, no diff");
}

#[test]
fn inserting_a_field_is_one_addition_and_moving_one_is_a_reorder() {
    let old = StrategyDocument::demo();
    let mut added = old.clone();
    let mut timeline = added.lead_fields[0].clone();
    timeline.key = "timeline".into();
    timeline.field_type = FieldType::Date;
    added.lead_fields.insert(0, timeline);
    let changes = diff(&old, &added);
    assert_eq!(changes.len(), 1, "the other fields are not reported as shifted: {changes:#?}");
    assert_eq!(changes[0].path, "lead_fields[timeline]");
    assert_eq!((changes[0].kind, changes[0].before.as_deref()), (ChangeKind::Added, None));

    let mut moved = old.clone();
    moved.lead_fields.swap(0, 1);
    let changes = diff(&old, &moved);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].kind, ChangeKind::Reordered);
    assert!(changes[0].before.as_deref().is_some_and(|b| b.starts_with("name, phone")));
    assert!(changes[0].after.as_deref().is_some_and(|a| a.starts_with("phone, name")));
}
