//! Message search (FTS5 trigram index, migration 0004) on a real SQLite file: Chinese and English
//! substrings, 1–2 character Chinese queries, FTS syntax typed by a user, filters, ordering, the
//! back-fill of messages stored before the index existed, and nothing found after erasure.

use closer_dialogue::{Channel, Event, FieldSource, Mode, Role, Stage};
use closer_store::{NewConversation, SearchOrder, SearchQuery, Store};

fn conversation(store: &Store, channel: Channel, name: &str, at: i64) -> i64 {
    store
        .create_conversation(&NewConversation {
            channel,
            customer_name: name.into(),
            language: "zh".into(),
            at,
        })
        .expect("conversation")
}

fn say(store: &Store, conversation: i64, role: Role, text: &str, at: i64) {
    store
        .record(conversation, &Event::Message { role, text: text.into(), at }, "test")
        .expect("message");
}

fn find(store: &Store, text: &str) -> Vec<closer_store::SearchHit> {
    store
        .search_messages(&SearchQuery { text: text.into(), limit: 50, ..Default::default() })
        .unwrap_or_else(|e| panic!("search {text:?} failed: {e}"))
}

fn texts(hits: &[closer_store::SearchHit]) -> Vec<String> {
    hits.iter().map(|h| h.snippet.iter().map(|p| p.text.as_str()).collect::<String>()).collect()
}

/// Three conversations in two channels, Chinese and English, with characters FTS5 treats as syntax.
fn seeded() -> (tempfile::TempDir, Store, [i64; 3]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let a = conversation(&store, Channel::Widget, "王女士", 1_000);
    say(&store, a, Role::Customer, "你好，这款扫地机器人多少钱？", 1_001);
    say(&store, a, Role::Salesperson, "您好，标准版价格是2999元，现在有优惠券。", 1_002);
    say(&store, a, Role::Customer, "太贵了，能便宜点吗", 1_003);
    let b = conversation(&store, Channel::Webhook, "Mr. Smith", 2_000);
    say(&store, b, Role::Customer, "What is the PRICE for 50 units? Bulk price please.", 2_001);
    say(
        &store,
        b,
        Role::Salesperson,
        "For 50 units the price is $2,500 (a 50% discount on shipping).",
        2_002,
    );
    say(&store, b, Role::Customer, "Is \"NEAR(price)\" AND *cheap* a thing? a:b ^c (d) -e", 2_003);
    let c = conversation(&store, Channel::Widget, "李先生", 3_000);
    say(&store, c, Role::Customer, "价格能再优惠一点吗？500台的话", 3_001);
    (dir, store, [a, b, c])
}

#[test]
fn chinese_substrings_match_with_and_without_the_trigram_index() {
    let (_dir, store, [a, _b, c]) = seeded();
    // Three characters or more: the trigram index.
    let hits = find(&store, "优惠券");
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].conversation_id, hits[0].message_index, hits[0].role),
        (a, 1, Role::Salesperson)
    );
    let marked: Vec<&str> =
        hits[0].snippet.iter().filter(|p| p.hit).map(|p| p.text.as_str()).collect();
    assert_eq!(marked, ["优惠券"]);
    assert_eq!(find(&store, "扫地机器人").len(), 1);
    assert_eq!(find(&store, "机器狗").len(), 0);
    // Two characters: `价格` is in two messages (a's reply and c's question), newest first.
    let hits = find(&store, "价格");
    assert_eq!(hits.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [c, a]);
    assert!(hits.iter().all(|h| h.snippet.iter().any(|p| p.hit && p.text == "价格")));
    // One character.
    let hits = find(&store, "贵");
    assert_eq!((hits.len(), hits[0].conversation_id, hits[0].message_index), (1, a, 2));
    assert_eq!(find(&store, "优惠").len(), 2);
    // Terms are ANDed; a short and a long term together.
    let hits = find(&store, "优惠 500台");
    assert_eq!(hits.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [c]);
    assert!(find(&store, "优惠 扫地").is_empty(), "no message holds both");
}

#[test]
fn english_is_case_insensitive_substring_search() {
    let (_dir, store, [_a, b, _c]) = seeded();
    let hits = find(&store, "price");
    // "PRICE … price", "the price", "NEAR(price)".
    assert_eq!(hits.len(), 3, "{:?}", texts(&hits));
    assert!(hits.iter().all(|h| h.conversation_id == b));
    assert_eq!(hits[0].message_index, 2, "newest first");
    let first = hits.iter().find(|h| h.message_index == 0).expect("the question");
    let marked: Vec<&str> =
        first.snippet.iter().filter(|p| p.hit).map(|p| p.text.as_str()).collect();
    assert_eq!(marked, ["PRICE", "price"]);
    assert_eq!(find(&store, "BULK pric").len(), 1);
    assert_eq!(find(&store, "units shipping").len(), 1);
    assert!(find(&store, "invoice").is_empty());
}

#[test]
fn fts_syntax_in_a_query_is_matched_literally_and_never_fails() {
    let (_dir, store, [_a, b, _c]) = seeded();
    for q in [
        "\"",
        "\"\"",
        "'",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "NEAR(price)",
        "*",
        "price*",
        "^c",
        "a:b",
        "(d)",
        "-e",
        "\"NEAR(price)\"",
        "text:price",
        "message_fts",
        "{text}: x",
        "price\"; DROP TABLE leads; --",
        "%",
        "_",
        "\\",
        "%%%",
        "\u{0}",
        "\u{202e}价格",
        "🙂",
    ] {
        store
            .search_messages(&SearchQuery { text: q.into(), limit: 10, ..Default::default() })
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
    }
    // Operators are text: only the message that contains them literally.
    for q in ["NEAR(price)", "AND *cheap*", "a:b ^c", "(d) -e", "\"NEAR(price)\""] {
        let hits = find(&store, q);
        assert_eq!(hits.len(), 1, "{q}: {:?}", texts(&hits));
        assert_eq!((hits[0].conversation_id, hits[0].message_index), (b, 2), "{q}");
    }
    // LIKE wildcards are text too: `%` finds the one message with a percent sign, `_` none.
    let hits = find(&store, "50%");
    assert_eq!((hits.len(), hits[0].message_index), (1, 1), "{:?}", texts(&hits));
    assert_eq!(find(&store, "%").len(), 1);
    assert!(find(&store, "_").is_empty());
    assert!(find(&store, "2_9").is_empty(), "`_` is not a one-character wildcard");
    // Whitespace only, or control characters only: nothing, not everything.
    assert!(find(&store, "   ").is_empty());
    assert!(find(&store, "\u{0}\u{1}").is_empty());
    // The database is untouched.
    assert!(store.health().expect("health").is_ok());
}

#[test]
fn filters_limit_and_order() {
    let (_dir, store, [a, b, c]) = seeded();
    let q = |text: &str, channel, stage, mode, order, limit| SearchQuery {
        text: String::from(text),
        limit,
        order,
        channel,
        stage,
        mode,
    };
    let widget = store
        .search_messages(&q("价格", Some(Channel::Widget), None, None, SearchOrder::Newest, 50))
        .expect("s");
    assert_eq!(widget.len(), 2);
    let webhook = store
        .search_messages(&q("价格", Some(Channel::Webhook), None, None, SearchOrder::Newest, 50))
        .expect("s");
    assert!(webhook.is_empty());
    assert_eq!(
        store
            .search_messages(&q(
                "price",
                Some(Channel::Webhook),
                None,
                None,
                SearchOrder::Newest,
                50
            ))
            .expect("s")
            .len(),
        3
    );
    // Mode and stage come from the conversation.
    store.record(c, &Event::ModeChanged { mode: Mode::Auto, at: 3_010 }, "test").expect("mode");
    let auto = store
        .search_messages(&q("价格", None, None, Some(Mode::Auto), SearchOrder::Newest, 50))
        .expect("s");
    assert_eq!(auto.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [c]);
    store
        .record(
            a,
            &Event::StageChanged { to: Stage::Qualified, reason: "test".into(), at: 1_010 },
            "test",
        )
        .expect("stage");
    let qualified = store
        .search_messages(&q("价格", None, Some(Stage::Qualified), None, SearchOrder::Newest, 50))
        .expect("s");
    assert_eq!(qualified.iter().map(|h| h.conversation_id).collect::<Vec<_>>(), [a]);
    // Limit.
    assert_eq!(
        store
            .search_messages(&q("price", None, None, None, SearchOrder::Newest, 2))
            .expect("s")
            .len(),
        2
    );
    assert!(
        store
            .search_messages(&q("price", None, None, None, SearchOrder::Newest, 0))
            .expect("s")
            .is_empty()
    );
    // Relevance: the message with "price" twice outranks the ones with it once.
    let ranked = store
        .search_messages(&q("price", None, None, None, SearchOrder::Relevance, 50))
        .expect("s");
    assert_eq!(ranked.len(), 3);
    assert_eq!(ranked[0].message_index, 0, "{:?}", texts(&ranked));
    assert_eq!(ranked[0].conversation_id, b);
}

#[test]
fn only_messages_are_indexed_and_a_field_value_is_not_a_hit() {
    let (_dir, store, [a, ..]) = seeded();
    store
        .record(
            a,
            &Event::FieldSet {
                field: "budget".into(),
                value: "独一无二的预算值".into(),
                source: FieldSource::Salesperson,
                confidence: 1.0,
                at: 1_020,
            },
            "test",
        )
        .expect("field");
    assert!(find(&store, "独一无二").is_empty());
}

#[test]
fn messages_stored_before_the_index_are_back_filled_by_the_migration() {
    let (dir, store, [a, ..]) = seeded();
    let path = store.path().to_path_buf();
    drop(store);
    // Put the file back to schema 3: no index, no triggers, no later tables; then store one more
    // message.
    {
        let conn = rusqlite::Connection::open(&path).expect("raw");
        conn.execute_batch(
            "DROP TRIGGER conversation_events_fts_insert;
             DROP TRIGGER conversation_events_fts_delete;
             DROP TRIGGER conversation_events_fts_update;
             DROP TABLE message_fts;
             DROP TABLE webhook_replies;
             DELETE FROM meta WHERE key IN ('conversation_id_high', 'lead_id_high');
             PRAGMA user_version = 3;",
        )
        .expect("downgrade");
        conn.execute(
            "INSERT INTO conversation_events (conversation_id, seq, kind, at, payload)
             VALUES (?1, 4, 'message', 1004, json_object('kind', 'message', 'role', 'customer',
                     'text', '旧消息里的关键词', 'at', 1004))",
            [a],
        )
        .expect("old message");
    }
    let store = Store::open_in(dir.path()).expect("migrate");
    assert_eq!(
        store.health().expect("health").schema_version,
        closer_store::latest_schema_version()
    );
    let hits = find(&store, "关键词");
    assert_eq!((hits.len(), hits[0].conversation_id, hits[0].message_index), (1, a, 3));
    assert_eq!(find(&store, "优惠券").len(), 1);
    assert_eq!(find(&store, "price").len(), 3);
}

#[test]
fn erased_conversations_are_not_found() {
    let (_dir, store, [a, b, _c]) = seeded();
    let lead = store.lead_of_conversation(a).expect("lead");
    store.erase_lead(lead, "manager", 9_000).expect("erase");
    assert!(find(&store, "扫地机器人").is_empty());
    assert!(find(&store, "贵").is_empty());
    assert_eq!(find(&store, "价格").len(), 1, "c's message stays");
    let lead = store.lead_of_conversation(b).expect("lead");
    store.erase_lead(lead, "manager", 9_001).expect("erase");
    assert!(find(&store, "price").is_empty());
    assert!(find(&store, "%").is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Letters, digits, CJK, FTS5 and LIKE syntax characters, spaces.
    fn text() -> impl Strategy<Value = String> {
        let alphabet: Vec<char> =
            "aBcXyz019价格优惠券扫地机器人贵\"*:^()-+%_\\'.,，？NEARORAND ".chars().collect();
        proptest::collection::vec(proptest::sample::select(alphabet), 1..40)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Any substring of a stored message (without whitespace: terms split there), 1 to 6
        /// characters, finds that message; whatever it contains.
        #[test]
        fn every_substring_of_a_message_finds_it(text in text(), start in 0usize..40, len in 1usize..7) {
            let chars: Vec<char> = text.chars().collect();
            let start = start % chars.len();
            let term: String = chars[start..(start + len).min(chars.len())]
                .iter()
                .take_while(|c| !c.is_whitespace())
                .collect();
            prop_assume!(!term.is_empty());
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open_in(dir.path()).expect("open");
            let c = conversation(&store, Channel::Widget, "客户", 1_000);
            say(&store, c, Role::Customer, "无关的一句话 unrelated", 1_001);
            say(&store, c, Role::Customer, &text, 1_002);
            let hits = find(&store, &term);
            prop_assert!(
                hits.iter().any(|h| h.message_index == 1),
                "{term:?} did not find {text:?}: {:?}", texts(&hits)
            );
        }

        /// No query fails, whatever it holds.
        #[test]
        fn no_query_fails(query in "\\PC{0,60}") {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open_in(dir.path()).expect("open");
            let c = conversation(&store, Channel::Widget, "客户", 1_000);
            say(&store, c, Role::Customer, "价格 price \"NEAR\" 50%", 1_001);
            let result = store.search_messages(&SearchQuery {
                text: query,
                limit: 10,
                ..Default::default()
            });
            prop_assert!(result.is_ok(), "{:?}", result.err());
        }
    }
}
