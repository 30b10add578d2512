//! Strategy versions on a real SQLite file: drafts, publishing, rollback, and the audit rows.

use closer_dialogue::document::{StrategyDocument, diff};
use closer_store::{Store, StoreError, VersionStatus};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    (dir, store)
}

fn demo_with_tone(tone: &str) -> StrategyDocument {
    let mut doc = StrategyDocument::demo();
    doc.tone.en = tone.to_owned();
    doc
}

fn statuses(store: &Store) -> Vec<(i64, VersionStatus)> {
    store
        .strategy_versions("default")
        .expect("versions")
        .into_iter()
        .map(|v| (v.version, v.status))
        .collect()
}

#[test]
fn one_draft_is_saved_updated_and_published() {
    let (_dir, store) = store();
    let v1 = store
        .save_strategy_draft("default", &demo_with_tone("warm"), "first", "manager", 10)
        .expect("draft");
    assert_eq!(v1, 1);
    // Saving again updates the same draft: one draft at a time.
    let again = store
        .save_strategy_draft("default", &demo_with_tone("warmer"), "tweak", "manager", 11)
        .expect("draft");
    assert_eq!(again, 1);
    assert_eq!(statuses(&store), [(1, VersionStatus::Draft)]);
    let draft = store.strategy_draft("default").expect("read").expect("a draft");
    assert_eq!((draft.note.as_str(), draft.created_at, draft.published_at), ("tweak", 10, None));
    assert_eq!(draft.document["tone"]["en"], "warmer");

    assert_eq!(store.publish_strategy_draft("default", "manager", 20).expect("publish"), 1);
    assert!(store.strategy_draft("default").expect("read").is_none());
    let published = store.published_strategy("default").expect("published");
    assert_eq!((published.version, published.published_at), (1, Some(20)));
    assert_eq!(
        StrategyDocument::from_value(published.document).expect("reads"),
        demo_with_tone("warmer")
    );

    // The next draft is a new version; publishing it retires the old one in the same step.
    let v2 = store
        .save_strategy_draft("default", &demo_with_tone("crisp"), "second", "manager", 30)
        .expect("draft");
    assert_eq!(v2, 2);
    assert_eq!(store.published_strategy("default").expect("still v1").version, 1);
    store.publish_strategy_draft("default", "manager", 40).expect("publish");
    assert_eq!(statuses(&store), [(2, VersionStatus::Published), (1, VersionStatus::Retired)]);

    let actions: Vec<String> =
        store.audit_log(10).expect("audit").into_iter().map(|a| a.action).collect();
    assert_eq!(
        actions,
        [
            "strategy.published",
            "strategy.draft_created",
            "strategy.published",
            "strategy.draft_updated",
            "strategy.draft_created"
        ]
    );
}

#[test]
fn rollback_publishes_a_copy_and_keeps_history() {
    let (_dir, store) = store();
    for (i, tone) in ["one", "two", "three"].iter().enumerate() {
        let at = i64::try_from(i).expect("small") * 10;
        store.save_strategy_draft("default", &demo_with_tone(tone), tone, "m", at).expect("draft");
        store.publish_strategy_draft("default", "m", at + 1).expect("publish");
    }
    let before: Vec<_> = store.strategy_versions("default").expect("versions");
    // A draft in progress survives a rollback.
    store.save_strategy_draft("default", &demo_with_tone("four"), "wip", "m", 40).expect("draft");

    let v = store.rollback_strategy("default", 1, "", "m", 50).expect("rollback");
    assert_eq!(v, 5);
    let published = store.published_strategy("default").expect("published");
    assert_eq!(published.version, 5);
    assert_eq!(published.note, "rollback to version 1");
    assert_eq!(published.document, store.strategy_version("default", 1).expect("v1").document);
    assert_eq!(
        statuses(&store),
        [
            (5, VersionStatus::Published),
            (4, VersionStatus::Draft),
            (3, VersionStatus::Retired),
            (2, VersionStatus::Retired),
            (1, VersionStatus::Retired),
        ]
    );
    // Versions 1–3 are as they were, except that 3 is no longer the published one.
    for old in &before {
        let now = store.strategy_version("default", old.version).expect("version");
        assert_eq!(
            (&now.document, &now.note, now.created_at),
            (&old.document, &old.note, old.created_at)
        );
        assert_eq!(now.published_at, old.published_at);
    }
    let log = store.audit_log(1).expect("audit");
    assert_eq!(log[0].action, "strategy.rolled_back");
    assert_eq!(log[0].detail["copy_of"], 1);
    assert_eq!(log[0].detail["retired"], 3);

    // The diff a manager sees between the published version and the draft.
    let draft = store.strategy_draft("default").expect("read").expect("draft");
    let changes = diff(
        &StrategyDocument::from_value(published.document).expect("published reads"),
        &StrategyDocument::from_value(draft.document).expect("draft reads"),
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].path.as_str(), changes[0].before.as_deref(), changes[0].after.as_deref()),
        ("tone.en", Some("one"), Some("four"))
    );
}

#[test]
fn refusals_are_typed() {
    let (_dir, store) = store();
    assert_eq!(
        store.strategy_versions("nope").map_err(|e| e.code()).err(),
        Some("strategy_not_found")
    );
    assert_eq!(
        store.publish_strategy_draft("nope", "m", 1).map_err(|e| e.code()).err(),
        Some("strategy_not_found")
    );

    store.save_strategy_draft("default", &StrategyDocument::demo(), "", "m", 1).expect("draft");
    assert_eq!(
        store.rollback_strategy("default", 1, "", "m", 2).map_err(|e| e.code()).err(),
        Some("never_published")
    );
    assert_eq!(
        store.rollback_strategy("default", 9, "", "m", 2).map_err(|e| e.code()).err(),
        Some("version_not_found")
    );
    assert_eq!(
        store.strategy_version("default", 9).map_err(|e| e.code()).err(),
        Some("version_not_found")
    );
    store.publish_strategy_draft("default", "m", 3).expect("publish");
    assert_eq!(
        store.publish_strategy_draft("default", "m", 4).map_err(|e| e.code()).err(),
        Some("no_draft")
    );
    assert_eq!(
        store.rollback_strategy("default", 1, "", "m", 5).map_err(|e| e.code()).err(),
        Some("already_published")
    );
}

#[test]
fn an_invalid_draft_is_not_published_and_nothing_changes() {
    let (_dir, store) = store();
    store.save_strategy_draft("default", &StrategyDocument::demo(), "ok", "m", 1).expect("draft");
    store.publish_strategy_draft("default", "m", 2).expect("publish");
    let mut bad = StrategyDocument::demo();
    bad.handoff_threshold = 3.0;
    bad.lead_fields.push(bad.lead_fields[0].clone());
    store.save_strategy_draft("default", &bad, "bad", "m", 3).expect("drafts may be invalid");
    let err = store.publish_strategy_draft("default", "m", 4).expect_err("invalid");
    assert_eq!(err.code(), "invalid_document");
    let message = err.to_string();
    assert!(message.contains("version 2") && message.contains("2 issues"), "{message}");
    assert_eq!(statuses(&store), [(2, VersionStatus::Draft), (1, VersionStatus::Published)]);
    assert_eq!(store.audit_log(1).expect("audit")[0].action, "strategy.draft_created");
}

#[test]
fn the_seeding_path_keeps_one_draft_and_reads_legacy_documents() {
    let (_dir, store) = store();
    let legacy = serde_json::json!({
        "persona": { "zh": "顾问", "en": "consultant" },
        "tone": "warm",
        "lead_fields": [{ "key": "quantity", "type": "number", "required": false }]
    });
    store
        .save_strategy_version("default", &legacy, "seed", VersionStatus::Published, "demo", 1)
        .expect("seed");
    let a = store
        .save_strategy_version("default", &legacy, "d1", VersionStatus::Draft, "m", 2)
        .expect("draft");
    let b = store
        .save_strategy_version("default", &legacy, "d2", VersionStatus::Draft, "m", 3)
        .expect("draft");
    assert_eq!((a, b), (2, 2), "a second draft replaces the first");
    let seeded = store.published_strategy("default").expect("published");
    let doc = StrategyDocument::from_value(seeded.document).expect("legacy reads");
    assert_eq!(doc.tone.en, "warm");
    assert!(matches!(store.published_strategy("nope"), Err(StoreError::StrategyNotFound(_))));
    // A legacy draft publishes through the same conversion.
    assert_eq!(store.publish_strategy_draft("default", "m", 4).expect("publish"), 2);
}
