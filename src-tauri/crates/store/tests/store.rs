//! The store against real SQLite files in temporary directories; one module per concern.

use closer_dialogue::{Channel, Event, FieldDecision, FieldSource, Mode, Role, Stage};
use closer_store::{NewConversation, Recorded, Store, StoreError, VersionStatus};

fn conversation(store: &Store, name: &str) -> i64 {
    store
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: name.into(),
            language: "zh".into(),
            at: 1_000,
        })
        .expect("create conversation")
}

fn field(field: &str, value: &str, source: FieldSource, at: i64) -> Event {
    Event::FieldSet { field: field.into(), value: value.into(), source, confidence: 0.9, at }
}

mod schema {
    use super::*;

    #[test]
    fn migrates_from_empty_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fresh.sqlite3");
        let store = Store::open(&path).expect("open new");
        let health = store.health().expect("health");
        assert_eq!(health.schema_version, closer_store::latest_schema_version());
        assert_eq!(health.integrity, ["ok"]);
        assert_eq!(health.journal_mode, "wal");
        assert!(health.foreign_keys);
        assert!(health.is_ok());
        let id = conversation(&store, "王先生");
        drop(store);
        let reopened = Store::open(&path).expect("reopen");
        assert_eq!(
            reopened.health().expect("health").schema_version,
            closer_store::latest_schema_version()
        );
        assert_eq!(reopened.conversation(id).expect("row").0.customer_name, "王先生");
    }

    #[test]
    fn refuses_a_database_from_a_newer_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("future.sqlite3");
        {
            let conn = rusqlite_open(&path);
            conn.pragma_update(None, "user_version", 99).expect("set version");
        }
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn garbage_file_is_reported_as_corrupt_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("garbage.sqlite3");
        let garbage = vec![0x5a_u8; 8192];
        std::fs::write(&path, &garbage).expect("write");
        let err = Store::open(&path).expect_err("corrupt");
        assert!(err.is_corruption(), "{err:?}");
        assert!(err.to_string().contains("garbage.sqlite3"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), garbage);
    }

    #[test]
    fn damaged_pages_fail_the_integrity_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("damaged.sqlite3");
        {
            let store = Store::open(&path).expect("open");
            for i in 0..200 {
                let id = conversation(&store, &format!("customer {i}"));
                store
                    .record(
                        id,
                        &Event::Message { role: Role::Customer, text: "x".repeat(500), at: 2_000 },
                        "test",
                    )
                    .expect("record");
            }
            // Fold the WAL into the main file so the damage below hits real pages.
            store.health().expect("health");
        }
        {
            let conn = rusqlite_open(&path);
            conn.pragma_update(None, "journal_mode", "DELETE").expect("checkpoint");
        }
        let mut bytes = std::fs::read(&path).expect("read");
        let page = 4096;
        for b in &mut bytes[page * 3..page * 6] {
            *b = 0xff;
        }
        std::fs::write(&path, &bytes).expect("write");
        match Store::open(&path).and_then(|s| s.health()) {
            Ok(health) => assert!(!health.is_ok(), "{:?}", health.integrity),
            Err(e) => assert!(e.is_corruption(), "{e:?}"),
        }
    }

    fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
        rusqlite::Connection::open(path).expect("raw open")
    }
}

mod conversations {
    use super::*;

    #[test]
    fn events_replay_into_the_projection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let id = conversation(&store, "Emily");
        let events = [
            Event::Message { role: Role::Customer, text: "Hi".into(), at: 2_000 },
            Event::StageChanged { to: Stage::Engaged, reason: "replied".into(), at: 2_001 },
            Event::ModeChanged { mode: Mode::Auto, at: 2_002 },
            Event::Message { role: Role::Salesperson, text: "Hello!".into(), at: 3_000 },
            Event::Message { role: Role::Customer, text: "Price?".into(), at: 4_000 },
        ];
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                store.record(id, e, "test").expect("record"),
                Recorded::Stored { seq: i as i64 + 1 }
            );
        }
        let (row, state) = store.conversation(id).expect("load");
        assert_eq!(store.events(id).expect("events"), events);
        assert_eq!((row.stage, row.mode), (Stage::Engaged, Mode::Auto));
        assert_eq!(row.last_message_text, "Price?");
        assert_eq!(row.waiting_since, Some(4_000));
        assert_eq!(row.unread, 2);
        assert_eq!(state.messages.len(), 3);
        store.mark_read(id).expect("read");
        assert_eq!(store.conversation(id).expect("load").0.unread, 0);
    }

    #[test]
    fn unknown_conversation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let e = Event::Message { role: Role::Customer, text: "hi".into(), at: 1 };
        assert!(matches!(store.record(42, &e, "test"), Err(StoreError::ConversationNotFound(42))));
        assert!(store.audit_log(10).expect("audit").is_empty());
    }
}

mod leads {
    use super::*;

    /// The provenance rule, persisted: a person's value survives a later AI value, in the
    /// event log, the lead_fields row, and after reopening.
    #[test]
    fn a_salesperson_value_is_not_overwritten_by_a_later_ai_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let id = conversation(&store, "李阿姨");
        store.record(id, &field("phone", "13812345678", FieldSource::Ai, 10), "ai").expect("ai");
        store
            .record(id, &field("phone", "13800000000", FieldSource::Salesperson, 20), "sales")
            .expect("person");
        let later = store
            .record(id, &field("phone", "13999999999", FieldSource::Ai, 30), "ai")
            .expect("ai again");
        assert_eq!(
            later,
            Recorded::Dropped {
                decision: FieldDecision::KeepExisting { existing: FieldSource::Salesperson }
            }
        );
        drop(store);
        let store = Store::open_in(dir.path()).expect("reopen");
        let (_, state) = store.conversation(id).expect("load");
        let phone = &state.lead.fields["phone"];
        assert_eq!((phone.value.as_str(), phone.source), ("13800000000", FieldSource::Salesperson));
        assert_eq!(store.events(id).expect("events").len(), 2, "the dropped value is not logged");
    }

    #[test]
    fn lead_change_queues_one_outbox_upsert_with_the_whole_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let id = conversation(&store, "赵经理");
        store.record(id, &field("company", "华东智联", FieldSource::Crm, 10), "crm").expect("crm");
        assert!(
            store.pending_outbox().expect("outbox").is_empty(),
            "a CRM value is not echoed back"
        );
        store.record(id, &field("budget", "15万", FieldSource::Ai, 11), "ai").expect("ai");
        let pending = store.pending_outbox().expect("outbox");
        assert_eq!(pending.len(), 1, "unsent upserts of one lead coalesce");
        let payload = &pending[0].payload;
        assert_eq!(payload["fields"]["company"], "华东智联");
        assert_eq!(payload["fields"]["budget"], "15万");
        let key = payload["external_key"].as_str().expect("key");
        assert!(
            key.starts_with("closer-") && key.ends_with(&format!("-{}", pending[0].lead_id)),
            "{key}"
        );
        assert_eq!(store.conversation(id).expect("load").0.lead.pending_sync, 1);
    }
}

mod integrity {
    use super::*;

    #[test]
    fn foreign_keys_are_enforced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fk.sqlite3");
        drop(Store::open(&path).expect("create"));
        // A second connection, configured as the store configures its own.
        let store = Store::open(&path).expect("open");
        let health = store.health().expect("health");
        assert!(health.foreign_keys);
        drop(store);
        let conn = rusqlite::Connection::open(&path).expect("raw");
        conn.pragma_update(None, "foreign_keys", true).expect("fk on");
        let err = conn
            .execute(
                "INSERT INTO conversation_events (conversation_id, seq, kind, at, payload) VALUES (777, 1, 'message', 0, '{}')",
                [],
            )
            .expect_err("orphan event");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{err}"
        );
    }

    #[test]
    fn check_constraints_reject_bad_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let err = store
            .create_conversation(&NewConversation {
                channel: Channel::Call,
                customer_name: "x".into(),
                language: "fr".into(),
                at: 0,
            })
            .expect_err("language");
        assert!(matches!(err, StoreError::BadValue(_)));
    }

    #[test]
    fn every_change_is_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let id = conversation(&store, "Daniel");
        store
            .record(id, &Event::ModeChanged { mode: Mode::Off, at: 5 }, "salesperson")
            .expect("mode");
        let log = store.audit_log(10).expect("audit");
        assert_eq!(log[0].action, "event.mode_changed");
        assert_eq!(log[0].actor, "salesperson");
        assert_eq!(log[1].action, "conversation.create");
    }
}

mod strategies {
    use super::*;

    #[test]
    fn publishing_keeps_every_version_and_one_published() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let v1 = serde_json::json!({ "tone": "warm" });
        let v2 = serde_json::json!({ "tone": "crisp" });
        assert_eq!(
            store
                .save_strategy_version("default", &v1, "first", VersionStatus::Published, "m", 1)
                .expect("v1"),
            1
        );
        assert_eq!(
            store
                .save_strategy_version("default", &v2, "draft", VersionStatus::Draft, "m", 2)
                .expect("v2"),
            2
        );
        assert_eq!(store.published_strategy("default").expect("published").document, v1);
        assert_eq!(
            store
                .save_strategy_version("default", &v2, "go", VersionStatus::Published, "m", 3)
                .expect("v3"),
            3
        );
        let published = store.published_strategy("default").expect("published");
        assert_eq!((published.version, published.document), (3, v2));
        assert!(matches!(store.published_strategy("nope"), Err(StoreError::StrategyNotFound(_))));
    }
}

mod products {
    use super::*;
    use closer_store::Product;

    #[test]
    fn upsert_by_sku() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        let mut p = Product {
            id: 0,
            sku: "CVM-S2".into(),
            category: "cloud_server".into(),
            name_en: "S2".into(),
            name_zh: "云服务器 S2".into(),
            description_en: String::new(),
            description_zh: String::new(),
            price_cents: 9900,
            currency: "CNY".into(),
            unit: "month".into(),
            attributes: serde_json::json!({ "vcpu": 2 }),
        };
        let id = store.upsert_product(&p).expect("insert");
        p.price_cents = 8900;
        assert_eq!(store.upsert_product(&p).expect("update"), id);
        let all = store.products().expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].price_cents, 8900);
        assert_eq!(all[0].attributes["vcpu"], 2);
    }
}

/// Two connections to one file (the app and the CRM relay's process, or the CLI beside the app)
/// writing at once: every write lands, none fails with "database is locked". A transaction that
/// reads before it writes must take the write lock when it begins — a deferred one whose snapshot
/// another connection moved past cannot wait for the lock and fails at once (SQLITE_BUSY_SNAPSHOT,
/// which `busy_timeout` does not retry).
#[test]
fn two_connections_writing_at_once_both_succeed() {
    let dir = tempfile::tempdir().expect("dir");
    let a = Store::open_in(dir.path()).expect("a");
    let b = Store::open_in(dir.path()).expect("b");
    let (ca, cb) = (conversation(&a, "甲"), conversation(&b, "乙"));
    let write = |store: &Store, id: i64, tag: &str| {
        for i in 0..300i64 {
            let event = field("budget", &format!("{tag}{i}"), FieldSource::Salesperson, 10 + i);
            store.record(id, &event, "test").unwrap_or_else(|e| panic!("{tag} write {i}: {e}"));
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| write(&a, ca, "a"));
        s.spawn(|| write(&b, cb, "b"));
    });
    for (store, id, last) in [(&a, ca, "a299"), (&b, cb, "b299")] {
        let state = store.state(id).expect("state");
        assert_eq!(state.lead.fields.get("budget").map(|v| v.value.as_str()), Some(last));
    }
}
