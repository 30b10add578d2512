//! The CRM adapters and the relay against real parts: a real store, local contract servers for
//! what cannot run here (HubSpot), and a real BottleCRM server (see `support::bottlecrm`).

mod bottlecrm;
mod contract;
mod keyring;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use closer_crm::{Credential, Crm, FieldMap, HubSpot, Relay, RelayConfig, Webhook};
use closer_store::{LeadSyncStatus, Store};

use support::{StoreOutbox, fields_of, new_lead, set_ai_field, set_field};

fn map() -> FieldMap {
    FieldMap::from_pairs([("name", "first_name"), ("email", "email"), ("company", "company_name")])
}

fn config(crm: &Crm) -> RelayConfig {
    RelayConfig {
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(500),
        breaker_cooldown: Duration::from_millis(500),
        breaker_cap: Duration::from_secs(2),
        idle_poll: Duration::from_millis(200),
        ..RelayConfig::for_crm(crm)
    }
}

fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_in(dir.path()).expect("open"));
    (dir, store)
}

#[tokio::test]
async fn hubspot_207_dead_letters_the_bad_record_and_delivers_the_rest() {
    let (router, server) = contract::hubspot_contract("pat-1", 190, Duration::from_secs(10));
    let url = contract::serve(router).await;
    let (_dir, store) = store();
    let mut leads = Vec::new();
    for (name, email) in [("Ann", "Ann@Example.COM"), ("Bob", "not-an-email"), ("Cy", "cy@x.io")] {
        let (c, l) = new_lead(&store, name);
        set_field(&store, c, "name", name);
        set_field(&store, c, "email", email);
        leads.push((c, l));
    }
    let crm =
        Crm::HubSpot(HubSpot::new(&url, Credential::fixed("pat-1"), map(), Duration::from_secs(5)));
    let mut relay = Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!((round.sent, round.delivered, round.dead, round.retried), (3, 2, 1, 0));
    match store.lead_sync_status(leads[1].1).expect("status") {
        LeadSyncStatus::Dead { reason, .. } => {
            assert!(reason.contains("VALIDATION_ERROR"), "{reason}")
        }
        other => panic!("expected a dead letter, got {other:?}"),
    }
    assert!(matches!(
        store.lead_sync_status(leads[0].1).expect("s"),
        LeadSyncStatus::Synced { .. }
    ));
    {
        let st = server.lock().expect("state");
        // Upserted by the lower-cased email.
        assert!(st.contacts.contains_key("ann@example.com"));
        assert_eq!(st.contacts.len(), 2);
    }
    // Same person, email typed in another case: still one contact.
    set_field(&store, leads[0].0, "email", "ANN@example.com");
    set_field(&store, leads[0].0, "name", "Anne");
    relay.round().await.expect("round").expect("sent");
    let st = server.lock().expect("state");
    assert_eq!(st.contacts.len(), 2);
    assert_eq!(st.contacts["ann@example.com"].1["first_name"], "Anne");
}

#[tokio::test]
async fn hubspot_429_retry_after_is_honoured_even_across_a_restart() {
    let (router, server) = contract::hubspot_contract("pat-1", 190, Duration::from_secs(10));
    server.lock().expect("state").throttle_next = vec![2];
    let url = contract::serve(router).await;
    let (_dir, store) = store();
    let (c, _) = new_lead(&store, "Ann");
    set_field(&store, c, "email", "ann@example.com");
    let crm =
        Crm::HubSpot(HubSpot::new(&url, Credential::fixed("pat-1"), map(), Duration::from_secs(5)));
    let outbox = Arc::new(StoreOutbox(store.clone()));
    let mut relay = Relay::new(outbox.clone(), crm.clone(), config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert!(round.throttled);
    // A new relay (as after a restart, with a fresh adapter) also waits: nothing is sent.
    let crm2 =
        Crm::HubSpot(HubSpot::new(&url, Credential::fixed("pat-1"), map(), Duration::from_secs(5)));
    let mut restarted = Relay::new(outbox.clone(), crm2.clone(), config(&crm2));
    assert_eq!(restarted.round().await.expect("round"), None);
    let (handle, task) = restarted.spawn();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.outbox_summary().expect("summary").pending > 0 {
        assert!(Instant::now() < deadline, "not delivered after Retry-After");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop();
    let _ = task.await;
    let st = server.lock().expect("state");
    assert_eq!(st.requests.len(), 2, "one throttled request, one delivery");
    let gap = st.requests[1].duration_since(st.requests[0]);
    assert!(gap >= Duration::from_secs(2), "second request after {gap:?}, Retry-After was 2 s");
}

#[tokio::test]
async fn hubspot_client_window_keeps_under_the_server_limit() {
    // A small window (5 per second) stands in for 190 per 10 s so the test runs in seconds.
    let (router, server) = contract::hubspot_contract("pat-1", 5, Duration::from_secs(1));
    let url = contract::serve(router).await;
    let hub = HubSpot::with_window(
        &url,
        Credential::fixed("pat-1"),
        map(),
        Duration::from_secs(5),
        5,
        Duration::from_secs(1),
    );
    let started = Instant::now();
    for i in 0..12 {
        let change = closer_crm::Change {
            id: i,
            lead_id: i,
            external_key: format!("k{i}"),
            crm_id: None,
            fields: [("email".to_owned(), format!("p{i}@x.io"))].into_iter().collect(),
            notes: Vec::new(),
        };
        let out = hub.send(&[change]).await;
        assert!(matches!(out[0], closer_crm::Outcome::Delivered { .. }), "{out:?}");
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "12 requests at 5/s take over 2 s");
    assert_eq!(server.lock().expect("state").over_limit, 0);
}

#[tokio::test]
async fn hubspot_bad_token_is_dead_lettered_not_retried() {
    let (router, server) = contract::hubspot_contract("pat-1", 190, Duration::from_secs(10));
    let url = contract::serve(router).await;
    let (_dir, store) = store();
    let (c, _) = new_lead(&store, "Ann");
    set_field(&store, c, "email", "ann@example.com");
    let crm =
        Crm::HubSpot(HubSpot::new(&url, Credential::fixed("wrong"), map(), Duration::from_secs(5)));
    let mut relay = Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.dead, 1);
    assert_eq!(relay.round().await.expect("round"), None, "nothing left to retry");
    assert_eq!(server.lock().expect("state").requests.len(), 1);
    let dead = store.dead_letters().expect("dead");
    assert!(dead[0].reason.starts_with("HTTP 401"), "{}", dead[0].reason);
}

#[tokio::test]
async fn webhook_signs_each_change_and_keeps_its_idempotency_key_across_retries() {
    static SECRET: &[u8] = b"whsec-test";
    let (router, server) = contract::webhook_receiver(SECRET);
    server.lock().expect("state").script = vec![503];
    let url = contract::serve(router).await;
    let (_dir, store) = store();
    for name in ["Ann", "Bob"] {
        let (c, _) = new_lead(&store, name);
        set_field(&store, c, "name", name);
    }
    let secret = Credential::fixed(std::str::from_utf8(SECRET).expect("utf8"));
    let crm =
        Crm::Webhook(Webhook::new(&format!("{url}/hook"), secret, map(), Duration::from_secs(5)));
    let (handle, task) =
        Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), config(&crm)).spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.outbox_summary().expect("summary").pending > 0 {
        assert!(Instant::now() < deadline, "webhook not drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop();
    let _ = task.await;
    let st = server.lock().expect("state");
    assert_eq!(st.bad_signatures, 0);
    assert_eq!(st.deliveries.len(), 2);
    let keys: std::collections::BTreeSet<_> = st.deliveries.iter().map(|d| d.0.clone()).collect();
    assert_eq!(keys.len(), 2, "one key per change");
    // Three signed requests (one answered 503), two keys: the retry reused its key.
    assert_eq!(st.attempts.len(), 3);
    let tried: std::collections::BTreeSet<_> = st.attempts.iter().cloned().collect();
    assert_eq!(tried, keys);
    for (key, body) in &st.deliveries {
        assert_eq!(body["idempotency_key"].as_str(), Some(key.as_str()));
        assert!(key.starts_with(body["external_key"].as_str().expect("key")));
    }
}

#[tokio::test]
async fn a_canary_token_never_reaches_the_database_or_its_wal() {
    const CANARY: &str = "pat-canary-7f3a9c";
    let (router, _server) = contract::hubspot_contract(CANARY, 190, Duration::from_secs(10));
    let url = contract::serve(router).await;
    let (dir, store) = store();
    for (name, email) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")] {
        let (c, _) = new_lead(&store, name);
        set_field(&store, c, "email", email);
    }
    let token = Credential::fixed(CANARY);
    let crm = Crm::HubSpot(HubSpot::new(&url, token.clone(), map(), Duration::from_secs(5)));
    let mut relay = Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), config(&crm));
    assert_eq!(relay.round().await.expect("round").expect("sent").delivered, 2);
    // A refused token is dead-lettered with a reason that must not quote it either.
    token.rotate_fixed("pat-canary-wrong");
    let (c, _) = new_lead(&store, "Cy");
    set_field(&store, c, "email", "cy@example.com");
    assert_eq!(relay.round().await.expect("round").expect("sent").dead, 1);
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        scanned += 1;
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains("pat-canary"), "token found in {}", path.display());
    }
    assert!(scanned >= 2, "the database and its WAL were scanned");
}

/// Values read back from the CRM land as CRM-sourced lead fields (salesperson > CRM > AI), with
/// their event and audit rows, and are never queued back to the CRM.
#[tokio::test]
async fn hubspot_values_read_back_are_recorded_as_crm_sourced_and_not_requeued() {
    use closer_dialogue::{Event, FieldSource};
    let (router, server) = contract::hubspot_contract("pat-1", 190, Duration::from_secs(10));
    let url = contract::serve(router).await;
    let (_dir, store) = store();
    let (c, lead) = new_lead(&store, "Ann");
    set_field(&store, c, "name", "Ann");
    set_ai_field(&store, c, "email", "ann@example.com");
    set_ai_field(&store, c, "company", "Acme");
    let crm =
        Crm::HubSpot(HubSpot::new(&url, Credential::fixed("pat-1"), map(), Duration::from_secs(5)));
    let mut relay = Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.delivered, 1);
    let LeadSyncStatus::Synced { crm_id: Some(crm_id), .. } =
        store.lead_sync_status(lead).expect("status")
    else {
        panic!("not synced");
    };
    // Someone edits the contact in the CRM: a new company, and a new first name.
    {
        let mut st = server.lock().expect("state");
        let props = &mut st.contacts.get_mut("ann@example.com").expect("contact").1;
        props["company_name"] = "Acme Robotics 深圳".into();
        props["first_name"] = "Anna".into();
    }
    let pulled = crm.pull(&crm_id).await.expect("pull").expect("hubspot reads back");
    assert_eq!(pulled.get("company").map(String::as_str), Some("Acme Robotics 深圳"));
    let events_before = store.events(c).expect("events").len();
    let pull = store.record_crm_values(lead, &pulled, 5_000).expect("record");
    assert!(!pull.deferred);
    assert_eq!(pull.applied, ["company"], "the CRM's value beats the AI's");
    assert_eq!(pull.kept, ["name"], "the salesperson's value beats the CRM's");
    assert_eq!(pull.unchanged, ["email"], "our own value coming back is an echo");
    let fields = fields_of(&store, c);
    assert_eq!(fields["company"], ("Acme Robotics 深圳".to_owned(), FieldSource::Crm));
    assert_eq!(fields["name"], ("Ann".to_owned(), FieldSource::Salesperson));
    assert_eq!(fields["email"], ("ann@example.com".to_owned(), FieldSource::Ai));
    // One event, CRM-sourced; audited by the CRM; nothing queued back.
    let events = store.events(c).expect("events");
    assert_eq!(events.len(), events_before + 1);
    assert!(matches!(
        events.last(),
        Some(Event::FieldSet { field, source: FieldSource::Crm, .. }) if field == "company"
    ));
    let audit = store.audit_log(5).expect("audit");
    assert_eq!(audit[0].action, "crm.pulled");
    assert_eq!((audit[1].action.as_str(), audit[1].actor.as_str()), ("event.field_set", "crm"));
    assert!(store.pending_outbox().expect("outbox").is_empty(), "a CRM value is not re-enqueued");
    assert!(relay.round().await.expect("round").is_none(), "nothing to send");
    // Pulling again changes nothing; the AI cannot overwrite the CRM's value.
    let again = store.record_crm_values(lead, &pulled, 6_000).expect("again");
    assert!(again.applied.is_empty() && again.unchanged.contains(&"company".to_owned()));
    set_ai_field(&store, c, "company", "Acme");
    assert_eq!(fields_of(&store, c)["company"].1, FieldSource::Crm);
    // A local change not yet delivered: the CRM's values are older, so a pull waits.
    set_field(&store, c, "company", "Acme Robotics Shenzhen Ltd");
    {
        let mut st = server.lock().expect("state");
        st.contacts.get_mut("ann@example.com").expect("contact").1["company_name"] = "stale".into();
    }
    let pulled = crm.pull(&crm_id).await.expect("pull").expect("values");
    let deferred = store.record_crm_values(lead, &pulled, 7_000).expect("deferred");
    assert!(deferred.deferred && deferred.applied.is_empty());
    assert_eq!(fields_of(&store, c)["company"].0, "Acme Robotics Shenzhen Ltd");
    // An unknown contact is a 404, not an empty record.
    assert!(matches!(crm.pull("999999").await, Err(closer_crm::Outcome::Rejected { .. })));
    // A webhook cannot be read back.
    let hook =
        Crm::Webhook(Webhook::new(&url, Credential::fixed("s"), map(), Duration::from_secs(1)));
    assert_eq!(hook.pull("1").await.expect("webhook"), None);
}
