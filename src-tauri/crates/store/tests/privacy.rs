//! Per-lead export and erasure against a real SQLite file: the export covers every table that can
//! mention a lead; erasure leaves 0 occurrences of a canary in the database file, its WAL and the
//! FTS search index.

use closer_dialogue::{Action, Channel, Event, FieldSource, Role};
use closer_store::privacy::{INDEX_TABLES, LEAD_TABLES, UNRELATED_TABLES};
use closer_store::{NewConversation, SearchQuery, Store};

const CANARY_PHONE: &str = "18617094523";
const CANARY_EMAIL: &str = "canary.zhou@example.com";
const CANARY_NAME: &str = "卡纳瑞周";

fn conversation(store: &Store, name: &str, at: i64) -> i64 {
    store
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: name.into(),
            language: "zh".into(),
            at,
        })
        .expect("conversation")
}

/// A conversation full of the canary: messages, a field, a suggestion quoting it, the outbox.
fn seed(store: &Store, name: &str, phone: &str, email: &str, at: i64) -> i64 {
    let id = conversation(store, name, at);
    let events = [
        Event::Message {
            role: Role::Customer,
            text: format!("我是{name}，电话{phone}，邮箱{email}"),
            at: at + 1,
        },
        Event::FieldSet {
            field: "phone".into(),
            value: phone.into(),
            source: FieldSource::Ai,
            confidence: 0.95,
            at: at + 2,
        },
        Event::FieldSet {
            field: "email".into(),
            value: email.into(),
            source: FieldSource::Ai,
            confidence: 0.95,
            at: at + 2,
        },
        Event::SuggestionOffered {
            id: format!("s-{id}-{at}-0"),
            text: format!("好的，我们会打{phone}联系您"),
            action: Action::Answer,
            field: None,
            objection: None,
            promotion: None,
            at: at + 3,
        },
        Event::Message { role: Role::Salesperson, text: format!("已记下{phone}"), at: at + 4 },
        Event::Message { role: Role::Customer, text: "谢谢".into(), at: at + 5 },
    ];
    store.record_all(id, &events, "test").expect("recorded");
    // The salesperson's reply, posted to a platform (as if the conversation were a webhook's).
    store
        .record_webhook_reply(&closer_store::WebhookReplyRow {
            reply_id: format!("r-{id}-{}-0a1b2c", at + 4),
            conversation_id: id,
            message_at: at + 4,
            state: "delivered".into(),
            attempts: 1,
            code: None,
            updated_at: at + 6,
        })
        .expect("reply state");
    id
}

fn occurrences(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count()
}

fn file_bytes(store: &Store) -> (Vec<u8>, Vec<u8>) {
    let db = std::fs::read(store.path()).expect("db file");
    let wal = std::fs::read(store.path().with_extension("sqlite3-wal")).unwrap_or_default();
    (db, wal)
}

fn search(store: &Store, text: &str) -> usize {
    store
        .search_messages(&SearchQuery { text: text.into(), limit: 100, ..Default::default() })
        .expect("search")
        .len()
}

/// The bytes of every row of the FTS index's shadow tables (index segments, content copy, sizes).
fn index_bytes(store: &Store) -> Vec<u8> {
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    let mut out = Vec::new();
    for (table, column) in [
        ("message_fts_data", "block"),
        ("message_fts_content", "*"),
        ("message_fts_idx", "term"),
        ("message_fts_docsize", "sz"),
    ] {
        let mut stmt = conn.prepare(&format!("SELECT {column} FROM {table}")).expect("shadow");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for i in 0..n {
                match row.get_ref(i).expect("value") {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        out.extend_from_slice(t)
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The index's segment data: total bytes and blocks.
fn index_size(store: &Store) -> (i64, i64) {
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    conn.query_row("SELECT sum(length(block)), count(*) FROM message_fts_data", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("size")
}

/// The index's terms (trigrams), read through an fts5vocab table.
fn index_terms(store: &Store) -> std::collections::BTreeSet<String> {
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    conn.execute_batch("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, message_fts, 'row')")
        .expect("vocab");
    let mut stmt = conn.prepare("SELECT term FROM temp.vocab WHERE doc > 0").expect("terms");
    stmt.query_map([], |r| r.get(0)).expect("q").collect::<Result<_, _>>().expect("rows")
}

/// Every trigram of the messages still stored, lower-cased as the tokenizer folds them.
fn expected_terms(store: &Store) -> std::collections::BTreeSet<String> {
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    let mut stmt = conn
        .prepare("SELECT json_extract(payload, '$.text') FROM conversation_events WHERE kind = 'message'")
        .expect("texts");
    let texts: Vec<String> =
        stmt.query_map([], |r| r.get(0)).expect("q").collect::<Result<_, _>>().expect("rows");
    let mut out = std::collections::BTreeSet::new();
    for t in texts {
        let chars: Vec<char> = t.chars().flat_map(char::to_lowercase).collect();
        for w in chars.windows(3) {
            out.insert(w.iter().collect());
        }
    }
    out
}

#[test]
fn every_table_is_exported_or_declared_unrelated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("tables");
    let tables: Vec<String> =
        stmt.query_map([], |r| r.get(0)).expect("q").collect::<Result<_, _>>().expect("rows");
    assert!(tables.len() >= 10, "{tables:?}");
    for t in &tables {
        assert!(
            LEAD_TABLES.contains(&t.as_str())
                || UNRELATED_TABLES.contains(&t.as_str())
                || INDEX_TABLES.contains(&t.as_str()),
            "table {t} is neither exported nor declared unrelated (privacy.rs)"
        );
    }
}

#[test]
fn export_holds_every_row_about_the_lead_and_nothing_of_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let a = seed(&store, CANARY_NAME, CANARY_PHONE, CANARY_EMAIL, 10_000);
    let b = seed(&store, "别人", "13700001111", "other@example.com", 20_000);
    let lead = store.lead_of_conversation(a).expect("lead");
    let export = store.export_lead(lead, 99_000).expect("export");
    let tables = export["tables"].as_object().expect("tables");
    for t in LEAD_TABLES {
        let rows = tables[*t].as_array().expect("rows");
        // The channel tables hold rows only for conversations that came in through a channel.
        if !t.starts_with("channel_") {
            assert!(!rows.is_empty(), "{t} has no rows in the export");
        }
    }
    assert_eq!(tables["conversation_events"].as_array().map(Vec::len), Some(6));
    assert_eq!(tables["lead_fields"].as_array().map(Vec::len), Some(2));
    // The search index's copy of the lead's messages (3 messages), none of the other lead's.
    assert_eq!(tables["message_fts"].as_array().map(Vec::len), Some(3));
    assert!(tables["message_fts"].to_string().contains(CANARY_PHONE));
    let text = export.to_string();
    assert!(
        text.contains(CANARY_PHONE) && text.contains(CANARY_EMAIL) && text.contains(CANARY_NAME)
    );
    assert!(!text.contains("13700001111") && !text.contains("other@example.com"), "{text}");
    assert_eq!(export["conversation_id"], a);
    // The audit rows record what happened, never the text or the values.
    let audit = tables["audit_log"].to_string();
    for canary in [CANARY_PHONE, CANARY_EMAIL, CANARY_NAME] {
        assert!(!audit.contains(canary), "{canary} in the audit log: {audit}");
    }
    assert!(audit.contains("event.field_set") && audit.contains("\"field\":\"phone\""), "{audit}");
    // JSON columns are JSON.
    assert_eq!(tables["conversation_events"][0]["payload"]["kind"], "message");
    assert!(store.conversation(b).is_ok());
}

#[test]
fn erasure_leaves_no_canary_in_the_file_or_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    // Other customers before and after, so the canary's rows share pages with rows that stay.
    let before = seed(&store, "前一位", "13500002222", "before@example.com", 1_000);
    let a = seed(&store, CANARY_NAME, CANARY_PHONE, CANARY_EMAIL, 10_000);
    let after = seed(&store, "后一位", "13600003333", "after@example.com", 20_000);
    // Many later writes, so the index has several segments (merged at different levels) when
    // the erasure comes.
    for i in 0..24 {
        seed(&store, &format!("客户{i}"), &format!("1390000{:04}", i), "x@example.com", 21_000 + i);
    }
    // Some of it reaches the main file, some stays in the WAL.
    {
        let conn = rusqlite::Connection::open(store.path()).expect("raw");
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).expect("checkpoint");
    }
    store
        .record(
            a,
            &Event::Message {
                role: Role::Customer,
                text: format!("再说一次 {CANARY_PHONE}"),
                at: 30_000,
            },
            "test",
        )
        .expect("more");
    let (db, wal) = file_bytes(&store);
    let found_before = occurrences(&db, CANARY_PHONE) + occurrences(&wal, CANARY_PHONE);
    assert!(found_before > 0, "the canary is in the files before erasure");

    // The index holds the canary before: search finds it, its shadow tables hold its text.
    assert_eq!(search(&store, CANARY_NAME), 1);
    assert_eq!(search(&store, CANARY_PHONE), 3);
    let index = index_bytes(&store);
    assert!(occurrences(&index, CANARY_NAME) > 0 && occurrences(&index, CANARY_PHONE) > 0);
    assert!(index_terms(&store).contains("卡纳瑞"));

    let lead = store.lead_of_conversation(a).expect("lead");
    let size_before = index_size(&store);
    let erasure = store.erase_lead(lead, "manager", 40_000).expect("erase");
    // FTS5 secure-delete removed the entries from the index's segments (they shrink). Without
    // it a delete only appends a tombstone segment (more bytes, one more block: measured), and
    // the erased trigrams stay in the older segment, prefix-compressed, where a byte scan
    // cannot see them.
    let size_after = index_size(&store);
    assert!(
        size_after.0 < size_before.0 && size_after.1 <= size_before.1,
        "index {size_before:?} -> {size_after:?}: deleted entries were not removed"
    );
    let conn = rusqlite::Connection::open(store.path()).expect("raw");
    let secure: i64 = conn
        .query_row("SELECT v FROM message_fts_config WHERE k = 'secure-delete'", [], |r| r.get(0))
        .expect("secure-delete is configured");
    assert_eq!(secure, 1);
    assert!(erasure.wal_truncated);
    assert_eq!(erasure.rows["message_fts"], 4);
    // Nothing of it is left in the index: no hit, no byte in its shadow tables, and its terms
    // are exactly the trigrams of the messages that remain (nothing kept of the erased ones).
    for canary in [CANARY_PHONE, CANARY_EMAIL, CANARY_NAME, "再说一次"] {
        assert_eq!(search(&store, canary), 0, "{canary} still found");
        assert_eq!(occurrences(&index_bytes(&store), canary), 0, "{canary} in the index");
    }
    assert_eq!(index_terms(&store), expected_terms(&store));
    assert_eq!(search(&store, "13500002222"), 2, "the others are still searchable");
    assert_eq!(erasure.rows["conversation_events"], 7);
    assert_eq!(erasure.rows["lead_fields"], 2);
    assert!(erasure.rows["audit_log"] >= 7);

    let (db, wal) = file_bytes(&store);
    for canary in [CANARY_PHONE, CANARY_EMAIL, CANARY_NAME] {
        let n = occurrences(&db, canary) + occurrences(&wal, canary);
        eprintln!("{canary}: {found_before} occurrences before (phone), {n} after erasure");
        assert_eq!(n, 0, "{canary} still in the files");
    }
    // The others are intact; the file is sound; the erasure is audited without personal data.
    assert!(occurrences(&db, "13500002222") + occurrences(&wal, "13500002222") > 0);
    assert_eq!(store.events(before).expect("before").len(), 6);
    assert_eq!(store.events(after).expect("after").len(), 6);
    assert!(store.conversation(a).is_err());
    assert!(store.health().expect("health").is_ok());
    let audit = store.audit_log(5).expect("audit");
    assert_eq!(audit[0].action, "lead.erased");
    assert!(!audit[0].detail.to_string().contains(CANARY_PHONE));
    assert!(store.export_lead(lead, 50_000).is_err(), "nothing left to export");
}

#[test]
fn purge_erases_idle_conversations_past_the_retention_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let day = 86_400_000;
    let old = seed(&store, CANARY_NAME, CANARY_PHONE, CANARY_EMAIL, 1_000);
    let recent = seed(&store, "新客户", "13800005555", "new@example.com", 40 * day);
    // No retention set: nothing goes.
    let p = store.purge(45 * day, "system").expect("purge");
    assert_eq!((p.cutoff, p.erased.len()), (None, 0));
    store.set_retention_days(Some(30), "manager", 45 * day).expect("retention");
    assert_eq!(store.retention_days().expect("days"), Some(30));
    let p = store.purge(45 * day, "system").expect("purge");
    assert_eq!(p.erased.len(), 1);
    assert_eq!(p.erased[0].conversation_id, Some(old));
    assert!(store.conversation(old).is_err());
    assert_eq!(store.events(recent).expect("recent").len(), 6);
    let (db, wal) = file_bytes(&store);
    assert_eq!(occurrences(&db, CANARY_PHONE) + occurrences(&wal, CANARY_PHONE), 0);
    assert_eq!(search(&store, CANARY_PHONE), 0);
    assert_eq!(occurrences(&index_bytes(&store), CANARY_NAME), 0);
    assert_eq!(search(&store, "13800005555"), 2);
    store.set_retention_days(None, "manager", 46 * day).expect("forever");
    assert_eq!(store.retention_days().expect("days"), None);
}

#[test]
fn an_erased_leads_id_and_crm_key_are_never_handed_out_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let a = seed(&store, CANARY_NAME, CANARY_PHONE, CANARY_EMAIL, 1_000);
    let (row, _) = store.conversation(a).expect("row");
    store.erase_lead(row.lead.id, "manager", 2_000).expect("erase");
    // The erased rows were the newest: a plain rowid would give the next one the same ids.
    let b = conversation(&store, "下一位", 3_000);
    let (next, _) = store.conversation(b).expect("row");
    assert!(b > a, "conversation id {b} reused");
    assert!(next.lead.id > row.lead.id, "lead id {} reused", next.lead.id);
    assert_ne!(next.lead.external_key, row.lead.external_key);
    // Also across a reopen.
    drop(store);
    let store = Store::open_in(dir.path()).expect("reopen");
    store.erase_lead(next.lead.id, "manager", 4_000).expect("erase");
    let c = conversation(&store, "再下一位", 5_000);
    assert!(c > b);
    // The erasure audit rows of both leads are kept (distinct subjects).
    let audit = store.audit_log(20).expect("audit");
    assert_eq!(audit.iter().filter(|e| e.action == "lead.erased").count(), 2);
}

#[test]
fn the_message_storage_setting_persists_and_defaults_to_original() {
    use closer_store::privacy::MessageStorage;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    assert_eq!(store.message_storage().expect("read"), MessageStorage::Original);
    store.set_message_storage(MessageStorage::Redacted, "manager", 1_000).expect("set");
    drop(store);
    let store = Store::open_in(dir.path()).expect("reopen");
    assert_eq!(store.message_storage().expect("read"), MessageStorage::Redacted);
    store.set_message_storage(MessageStorage::Original, "manager", 2_000).expect("set");
    assert_eq!(store.message_storage().expect("read"), MessageStorage::Original);
}
