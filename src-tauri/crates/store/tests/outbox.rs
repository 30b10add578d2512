//! The CRM outbox as the relay sees it: claims, settlements, dead letters, sync status, and the
//! relay's own state, against real SQLite files.

use closer_dialogue::{Channel, Event, FieldSource};
use closer_store::{LeadSyncStatus, NewConversation, OutboxNote, OutboxSettlement, Store};

fn lead(store: &Store, name: &str) -> (i64, i64) {
    let conversation = store
        .create_conversation(&NewConversation {
            channel: Channel::Widget,
            customer_name: name.into(),
            language: "en".into(),
            at: 1_000,
        })
        .expect("create conversation");
    let lead = store.conversation(conversation).expect("row").0.lead.id;
    (conversation, lead)
}

fn set(store: &Store, conversation: i64, field: &str, value: &str, at: i64) {
    let event = Event::FieldSet {
        field: field.into(),
        value: value.into(),
        source: FieldSource::Salesperson,
        confidence: 1.0,
        at,
    };
    store.record(conversation, &event, "salesperson").expect("record");
}

#[test]
fn a_lead_change_and_its_outbox_row_commit_together_and_coalesce_until_claimed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let (c, lead_id) = lead(&store, "Ann");
    assert_eq!(store.lead_sync_status(lead_id).expect("status"), LeadSyncStatus::NotQueued);
    set(&store, c, "email", "ann@example.com", 2_000);
    set(&store, c, "name", "Ann", 2_001);
    // Two changes before any claim: one queued row with the whole newest record.
    assert_eq!(store.pending_outbox().expect("pending").len(), 1);
    let claims = store.claim_outbox(5_000, 10).expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].attempts, 1);
    assert_eq!(claims[0].fields.get("name").map(String::as_str), Some("Ann"));
    assert!(claims[0].external_key.ends_with(&lead_id.to_string()));
    // A change while that claim is on the wire queues a new row instead of rewriting it.
    set(&store, c, "name", "Annie", 5_001);
    assert_eq!(store.pending_outbox().expect("pending").len(), 2);
    // Delivering the newest row settles the older one with it.
    let newest = store.claim_outbox(6_000, 10).expect("claim");
    assert_eq!(newest.len(), 1, "one claim per lead");
    assert_eq!(newest[0].fields.get("name").map(String::as_str), Some("Annie"));
    store
        .settle_outbox(
            7_000,
            &[OutboxSettlement::Delivered { id: newest[0].id, crm_id: Some("crm-1".into()) }],
        )
        .expect("settle");
    assert!(store.pending_outbox().expect("pending").is_empty());
    assert_eq!(
        store.lead_sync_status(lead_id).expect("status"),
        LeadSyncStatus::Synced { at: 7_000, crm_id: Some("crm-1".into()) }
    );
    assert_eq!(store.conversation(c).expect("row").0.lead.crm_id.as_deref(), Some("crm-1"));
}

#[test]
fn notes_ride_with_the_lead_record_survive_coalescing_and_retries_and_go_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let (c, lead_id) = lead(&store, "Ann");
    let note = |key: &str| OutboxNote { key: key.into(), text: format!("note {key}") };
    set(&store, c, "email", "ann@example.com", 2_000);
    store.add_lead_note(c, &note("call-1"), "salesperson", 2_001).expect("note");
    // A later field change rewrites the waiting row: the note stays; the same key stays once.
    set(&store, c, "name", "Ann", 2_002);
    store.add_lead_note(c, &note("call-1"), "salesperson", 2_003).expect("same note");
    assert_eq!(store.pending_outbox().expect("pending").len(), 1);
    let claims = store.claim_outbox(5_000, 10).expect("claim");
    assert_eq!(claims[0].notes, vec![note("call-1")]);
    assert_eq!(claims[0].fields.get("name").map(String::as_str), Some("Ann"));
    // That attempt fails; a second note queues a new row while it waits.
    store
        .settle_outbox(
            5_100,
            &[OutboxSettlement::Retry { id: claims[0].id, at: 5_200, error: "HTTP 503".into() }],
        )
        .expect("retry");
    store.add_lead_note(c, &note("call-2"), "salesperson", 5_150).expect("second note");
    assert_eq!(store.pending_outbox().expect("pending").len(), 2);
    // The newest row is claimed with the older waiting row's note too, and settles both.
    let claims = store.claim_outbox(6_000, 10).expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].notes, vec![note("call-1"), note("call-2")]);
    store
        .settle_outbox(6_100, &[OutboxSettlement::Delivered { id: claims[0].id, crm_id: None }])
        .expect("settle");
    assert!(store.pending_outbox().expect("pending").is_empty());
    // A note is audited without its text; an unknown conversation is a typed error.
    let audit = store.audit_log(50).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "lead.note_queued" && e.subject == format!("lead:{lead_id}"))
    );
    assert!(!audit.iter().any(|e| e.detail.to_string().contains("note call-")));
    assert!(matches!(
        store.add_lead_note(9_999, &note("x"), "salesperson", 7_000),
        Err(closer_store::StoreError::ConversationNotFound(9_999))
    ));
}

#[test]
fn retries_wait_for_their_time_and_dead_letters_are_kept_until_retried_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let (a, lead_a) = lead(&store, "A");
    let (b, lead_b) = lead(&store, "B");
    set(&store, a, "email", "a@example.com", 2_000);
    set(&store, b, "email", "not an email", 2_000);
    let claims = store.claim_outbox(3_000, 10).expect("claim");
    assert_eq!(claims.len(), 2);
    let (ca, cb) = (&claims[0], &claims[1]);
    store
        .settle_outbox(
            3_100,
            &[
                OutboxSettlement::Retry { id: ca.id, at: 9_000, error: "503".into() },
                OutboxSettlement::Dead { id: cb.id, reason: "400 email: invalid".into() },
            ],
        )
        .expect("settle");
    assert!(store.claim_outbox(8_999, 10).expect("claim").is_empty(), "not due yet");
    assert_eq!(store.next_outbox_due().expect("due"), Some(9_000));
    match store.lead_sync_status(lead_a).expect("status") {
        LeadSyncStatus::Pending { attempts: 1, next_attempt_at: 9_000, last_error } => {
            assert_eq!(last_error.as_deref(), Some("503"));
        }
        other => panic!("expected pending, got {other:?}"),
    }
    assert_eq!(
        store.lead_sync_status(lead_b).expect("status"),
        LeadSyncStatus::Dead { reason: "400 email: invalid".into(), at: 3_100 }
    );
    let summary = store.outbox_summary().expect("summary");
    assert_eq!((summary.pending, summary.dead), (1, 1));
    assert_eq!(summary.last_error.as_deref(), Some("503"));
    let dead = store.dead_letters().expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].lead_id, lead_b);
    // A dead letter is never claimed again by itself ...
    assert_eq!(store.claim_outbox(10_000, 10).expect("claim").len(), 1);
    // ... until someone retries it by hand.
    assert!(store.retry_dead_letter(dead[0].id, 11_000).expect("retry"));
    assert!(!store.retry_dead_letter(dead[0].id, 11_000).expect("retry twice"));
    let again = store.claim_outbox(11_000, 10).expect("claim");
    assert_eq!(again.iter().map(|c| c.lead_id).collect::<Vec<_>>(), [lead_a, lead_b]);
}

#[test]
fn relay_state_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_in(dir.path()).expect("open");
        assert_eq!(store.relay_state("not_before").expect("get"), None);
        store.set_relay_state("not_before", "123").expect("set");
        store.set_relay_state("not_before", "456").expect("overwrite");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    assert_eq!(store.relay_state("not_before").expect("get").as_deref(), Some("456"));
}

#[test]
fn claims_are_bounded_and_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let mut leads = Vec::new();
    for i in 0..5 {
        let (c, l) = lead(&store, &format!("L{i}"));
        set(&store, c, "name", &format!("L{i}"), 2_000 + i);
        leads.push(l);
    }
    let first = store.claim_outbox(3_000, 3).expect("claim");
    assert_eq!(first.iter().map(|c| c.lead_id).collect::<Vec<_>>(), leads[..3]);
}
