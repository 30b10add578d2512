//! Against a real BottleCRM (django-crm 1.35.0 under gunicorn, PostgreSQL): upserts, a dead
//! letter, a rotated token, and the outage drill — 1,000 lead changes while the CRM refuses
//! connections, then answers 5xx, then hangs, with the relay process SIGKILLed at 20 random
//! moments — after which every lead is in the CRM exactly once with its latest values; notes
//! reach the lead's comments once, also when a change is sent again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use closer_crm::{BottleCrm, Credential, Crm, Relay, RelayConfig};
use closer_store::{LeadSyncStatus, Store};
use rand::Rng;

use crate::support::{self, StoreOutbox, bottlecrm, fields_of, new_lead, set_ai_field, set_field};

fn adapter(env: &support::BottleCrmServer, base: &str, token: Credential) -> Crm {
    Crm::BottleCrm(BottleCrm::new(
        base,
        &env.get("BOTTLECRM_INTAKE_ID"),
        Credential::fixed(&env.get("BOTTLECRM_INTAKE_KEY")),
        token,
        crate::map(),
        Duration::from_secs(3),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bottlecrm_upserts_once_dead_letters_invalid_and_takes_a_rotated_token() {
    let env = bottlecrm();
    let (_dir, store) = crate::store();
    let tag = format!("t{}", closer_crm::relay::now_millis());
    let (a, lead_a) = new_lead(&store, "Ann");
    set_field(&store, a, "name", "Ann");
    set_field(&store, a, "email", &format!("ann.{tag}@example.com"));
    let (b, lead_b) = new_lead(&store, "Bob");
    set_field(&store, b, "email", "not an email");
    let token = Credential::fixed(&env.get("BOTTLECRM_TOKEN"));
    let crm = adapter(&env, &env.get("BOTTLECRM_URL"), token.clone());
    let outbox = Arc::new(StoreOutbox(store.clone()));
    let mut relay = Relay::new(outbox.clone(), crm.clone(), crate::config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!((round.delivered, round.dead), (1, 1), "{round:?}");
    match store.lead_sync_status(lead_b).expect("status") {
        LeadSyncStatus::Dead { reason, .. } => assert!(reason.contains("HTTP 400"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let LeadSyncStatus::Synced { crm_id: Some(crm_id), .. } =
        store.lead_sync_status(lead_a).expect("s")
    else {
        panic!("lead A not synced");
    };
    // The API's email search is a substring match; the adapter's check is exact.
    let Crm::BottleCrm(bottle) = &crm else { unreachable!() };
    let found = bottle.find_by_email(&format!("ANN.{tag}@example.com")).await.expect("search");
    assert_eq!(found.as_deref(), Some(crm_id.as_str()));
    assert_eq!(bottle.find_by_email(&format!("nn.{tag}@example.com")).await.expect("s"), None);

    // A revoked token: 403 → dead letter (not retried); after rotation, retried by hand.
    token.rotate_fixed("bcrm_pat_revoked");
    set_field(&store, a, "name", "Annie");
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.dead, 1);
    let dead = store.dead_letters().expect("dead");
    let revoked = dead.iter().find(|d| d.lead_id == lead_a).expect("dead letter for A");
    assert!(revoked.reason.contains("HTTP 403"), "{}", revoked.reason);
    assert!(!revoked.reason.contains("bcrm_pat"), "no token in the reason");
    token.rotate_fixed(&env.get("BOTTLECRM_TOKEN"));
    assert!(store.retry_dead_letter(revoked.id, closer_crm::relay::now_millis()).expect("retry"));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.delivered, 1);
    let rows = env.sql(&format!(
        "SELECT count(*), max(first_name) FROM lead WHERE email ILIKE 'ann.{tag}@example.com'"
    ));
    assert_eq!(rows, [["1", "Annie"]]);
    // Values read back from the CRM come under our field names (the app records them as CRM).
    let pulled = bottle.pull(&crm_id).await.expect("pull");
    assert_eq!(pulled.get("name").map(String::as_str), Some("Annie"));
}

/// Notes (a call's outcome…) reach the lead's comments in the real BottleCRM with the lead's
/// record, once each: the same change sent again — as after a crash between the CRM's answer and
/// the settlement — posts no note twice; a later note on the same lead is added beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bottlecrm_notes_reach_the_lead_comments_once_even_when_a_change_is_sent_again() {
    use closer_crm::Outbox;
    let env = bottlecrm();
    let (_dir, store) = crate::store();
    let tag = format!("n{}", closer_crm::relay::now_millis());
    let (c, _lead) = new_lead(&store, "Nora");
    set_field(&store, c, "email", &format!("nora.{tag}@example.com"));
    let note = |k: u32| closer_store::OutboxNote {
        key: format!("call-{tag}-{k}"),
        text: format!("外呼（营销）：结果 interested，线索状态 qualified — {k}"),
    };
    let now = closer_crm::relay::now_millis();
    store.add_lead_note(c, &note(1), "salesperson", now).expect("note 1");
    store.add_lead_note(c, &note(2), "salesperson", now + 1).expect("note 2");
    let crm =
        adapter(&env, &env.get("BOTTLECRM_URL"), Credential::fixed(&env.get("BOTTLECRM_TOKEN")));
    let outbox = StoreOutbox(store.clone());
    let claimed = outbox.claim(now + 10, 10).expect("claim");
    assert_eq!(claimed.len(), 1);
    let change = claimed[0].0.clone();
    assert_eq!(change.notes.len(), 2);
    let count = |k: u32| {
        env.sql(&format!(
            "SELECT count(*) FROM comment WHERE comment LIKE '%[closer:call-{tag}-{k}]%'"
        ))[0][0]
            .clone()
    };
    for attempt in 0..2 {
        let out = crm.send(std::slice::from_ref(&change)).await;
        assert!(matches!(out[0], closer_crm::Outcome::Delivered { crm_id: Some(_) }), "{out:?}");
        assert_eq!((count(1), count(2)), ("1".to_owned(), "1".to_owned()), "attempt {attempt}");
    }
    let rows = env
        .sql(&format!("SELECT comment FROM comment WHERE comment LIKE '%[closer:call-{tag}-1]%'"));
    assert!(rows[0][0].starts_with("外呼（营销）：结果 interested"), "{rows:?}");
    // Settled; a third note later goes with the next change, and only it is posted.
    outbox
        .settle(now + 20, &[closer_crm::Settlement::Delivered { id: change.id, crm_id: None }])
        .expect("settle");
    store.add_lead_note(c, &note(3), "salesperson", now + 30).expect("note 3");
    let mut relay =
        Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), crate::config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.delivered, 1, "{round:?}");
    assert_eq!((count(1), count(2), count(3)), ("1".into(), "1".into(), "1".into()));
}

/// A value edited in the real BottleCRM comes back as a CRM-sourced lead field (its event and
/// audit rows), beats the AI's value, loses to the salesperson's, and is not sent back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bottlecrm_values_edited_in_the_crm_come_back_crm_sourced_and_are_not_resent() {
    use closer_dialogue::{Event, FieldSource};
    let env = bottlecrm();
    let (_dir, store) = crate::store();
    let tag = format!("p{}", closer_crm::relay::now_millis());
    let email = format!("li.{tag}@example.com");
    let (c, lead) = new_lead(&store, "李雷");
    set_field(&store, c, "name", "李雷");
    set_ai_field(&store, c, "email", &email);
    set_ai_field(&store, c, "company", "韩梅梅贸易");
    let crm =
        adapter(&env, &env.get("BOTTLECRM_URL"), Credential::fixed(&env.get("BOTTLECRM_TOKEN")));
    let mut relay =
        Relay::new(Arc::new(StoreOutbox(store.clone())), crm.clone(), crate::config(&crm));
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.delivered, 1, "{round:?}");
    let LeadSyncStatus::Synced { crm_id: Some(crm_id), .. } =
        store.lead_sync_status(lead).expect("status")
    else {
        panic!("not synced");
    };
    // A colleague edits the lead in the CRM (straight in its database, as its UI would).
    let edited = env.sql(&format!(
        "UPDATE lead SET company_name = '韩梅梅国际贸易有限公司', first_name = 'Lei' \
         WHERE id = '{crm_id}' RETURNING first_name"
    ));
    assert_eq!(edited[0], ["Lei"]);
    let pulled = crm.pull(&crm_id).await.expect("pull").expect("BottleCRM reads back");
    assert_eq!(pulled.get("company").map(String::as_str), Some("韩梅梅国际贸易有限公司"));
    assert_eq!(pulled.get("email").map(|e| e.to_lowercase()), Some(email.to_lowercase()));
    let pull =
        store.record_crm_values(lead, &pulled, closer_crm::relay::now_millis()).expect("record");
    assert_eq!(
        (pull.applied.as_slice(), pull.kept.as_slice()),
        (&["company".to_owned()][..], &["name".to_owned()][..])
    );
    let fields = fields_of(&store, c);
    assert_eq!(fields["company"], ("韩梅梅国际贸易有限公司".to_owned(), FieldSource::Crm));
    assert_eq!(fields["name"], ("李雷".to_owned(), FieldSource::Salesperson));
    assert!(matches!(
        store.events(c).expect("events").last(),
        Some(Event::FieldSet { field, source: FieldSource::Crm, .. }) if field == "company"
    ));
    let audit = store.audit_log(3).expect("audit");
    assert_eq!(audit[0].action, "crm.pulled");
    assert_eq!(audit[1].actor, "crm");
    // Nothing is queued back; the CRM keeps its edit and holds the lead once.
    assert!(store.pending_outbox().expect("outbox").is_empty());
    assert!(relay.round().await.expect("round").is_none());
    let rows = env.sql(&format!(
        "SELECT count(*), max(company_name), max(first_name) FROM lead WHERE email ILIKE '{email}'"
    ));
    assert_eq!(rows, [["1", "韩梅梅国际贸易有限公司", "Lei"]]);
    // The AI cannot overwrite it; the next salesperson edit goes out and wins there too.
    set_ai_field(&store, c, "company", "韩梅梅贸易");
    assert_eq!(fields_of(&store, c)["company"].1, FieldSource::Crm);
    set_field(&store, c, "name", "Li Lei");
    let round = relay.round().await.expect("round").expect("sent");
    assert_eq!(round.delivered, 1);
    let rows = env.sql(&format!(
        "SELECT max(company_name), max(first_name) FROM lead WHERE email ILIKE '{email}'"
    ));
    assert_eq!(rows, [["韩梅梅国际贸易有限公司", "Li Lei"]]);
}

// --- the outage drill ---------------------------------------------------------------------

const CHILD_DB: &str = "CLOSER_CRM_RELAY_CHILD_DB";
const PASS: u8 = 0;
const FAIL_5XX: u8 = 1;
const HANG: u8 = 2;

/// The relay as its own process, so it can be SIGKILLed: runs only when the drill starts it.
#[test]
fn relay_child() {
    let Some(db) = std::env::var_os(CHILD_DB) else { return };
    let env = bottlecrm();
    let base = std::env::var("CLOSER_CRM_RELAY_CHILD_URL").expect("url");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Arc::new(Store::open(db).expect("open"));
        let crm = adapter(&env, &base, Credential::fixed(&env.get("BOTTLECRM_TOKEN")));
        let config = RelayConfig { batch_size: 16, ..crate::config(&crm) };
        let (_handle, task) = Relay::new(Arc::new(StoreOutbox(store)), crm, config).spawn();
        let _ = task.await;
    });
}

/// A fault-injecting proxy in front of the real server.
async fn proxy(
    State((mode, upstream, client)): State<(Arc<AtomicU8>, String, reqwest::Client)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match mode.load(Ordering::SeqCst) {
        FAIL_5XX => return (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        HANG => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        _ => {}
    }
    let url = format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut req = client.request(method, url).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
            let bytes = r.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn spawn_child(db: &std::path::Path, url: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "bottlecrm::relay_child", "--nocapture"])
        .env(CHILD_DB, db)
        .env("CLOSER_CRM_RELAY_CHILD_URL", url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn relay child")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bottlecrm_outage_drill_1200_changes_20_sigkills_nothing_lost_nothing_duplicated() {
    // 1,000 leads queued while the CRM is down (the drain figure is for 1,000 queued changes),
    // then a second change to 200 of them after recovery: 1,200 lead changes.
    const LEADS: usize = 1000;
    const SECOND_CHANGES: usize = 200;
    const KILLS: usize = 20;
    let env = bottlecrm();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("closer.sqlite3");
    let store = Arc::new(Store::open(&db).expect("open"));
    let tag = format!("d{}", closer_crm::relay::now_millis());
    let leads: Vec<(i64, i64)> = (0..LEADS).map(|i| new_lead(&store, &format!("L{i}"))).collect();

    // Phase 1: nothing listens on the CRM's port (connection refused).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mode = Arc::new(AtomicU8::new(FAIL_5XX));
    let mut child = spawn_child(&db, &url);
    let mut rng = rand::rng();
    let mut kills = 0;
    let kill_and_restart = |child: &mut std::process::Child, kills: &mut usize| {
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        let _ = child.wait();
        *kills += 1;
        *child = spawn_child(&db, &url);
    };
    let mut written = 0;
    let write_some = |n: usize, written: &mut usize| {
        for _ in 0..n {
            if *written < LEADS {
                let (c, _) = leads[*written];
                set_field(&store, c, "name", &format!("first-{}", *written));
                set_field(&store, c, "email", &format!("l{}.{tag}@example.com", *written));
                *written += 1;
            }
        }
    };
    let phase = |secs: u64| Instant::now() + Duration::from_secs(secs);
    for (until, next_mode) in [(phase(3), None), (phase(3), Some(FAIL_5XX)), (phase(4), Some(HANG))]
    {
        if let Some(m) = next_mode {
            mode.store(m, Ordering::SeqCst);
            if m == FAIL_5XX {
                // Phase 2: the proxy starts on the port, answering 502.
                let client = closer_crm::http_client(Duration::from_secs(30));
                let router = axum::Router::new().fallback(proxy).with_state((
                    mode.clone(),
                    env.get("BOTTLECRM_URL"),
                    client,
                ));
                let listener =
                    tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("rebind");
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
        }
        while Instant::now() < until {
            write_some(30, &mut written);
            if kills < KILLS - 2 && rng.random_bool(0.5) {
                kill_and_restart(&mut child, &mut kills);
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
        }
    }
    write_some(LEADS, &mut written);
    assert_eq!(written, LEADS);
    let queued = store.outbox_summary().expect("summary").pending;
    // Recovery: the proxy passes through; a second change to 200 leads, and the remaining kills.
    mode.store(PASS, Ordering::SeqCst);
    let recovered = Instant::now();
    for i in 0..SECOND_CHANGES {
        let (c, _) = leads[i * (LEADS / SECOND_CHANGES)];
        set_field(&store, c, "name", &format!("second-{}", i * (LEADS / SECOND_CHANGES)));
    }
    while kills < KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1200))).await;
        kill_and_restart(&mut child, &mut kills);
    }
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        let s = store.outbox_summary().expect("summary");
        if s.pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not drained: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain = recovered.elapsed();
    child.kill().expect("stop child");
    let _ = child.wait();
    let summary = store.outbox_summary().expect("summary");
    assert_eq!(summary.dead, 0, "{:?}", store.dead_letters());

    // Exact checks in the CRM's own database.
    let rows = env.sql(&format!(
        "SELECT external_id, count(*), max(first_name), max(email) FROM lead
         WHERE email LIKE '%.{tag}@example.com' GROUP BY external_id"
    ));
    assert_eq!(rows.len(), LEADS, "every lead present");
    let mut duplicates = 0;
    for (i, &(_, lead_id)) in leads.iter().enumerate() {
        let key = store
            .lead_sync_status(lead_id)
            .map(|s| matches!(s, LeadSyncStatus::Synced { .. }))
            .expect("status");
        assert!(key, "lead {i} synced");
        let email = format!("l{i}.{tag}@example.com");
        let row = rows.iter().find(|r| r[3] == email).unwrap_or_else(|| panic!("lead {i} missing"));
        if row[1] != "1" {
            duplicates += 1;
        }
        let expected = if i % (LEADS / SECOND_CHANGES) == 0 {
            format!("second-{i}")
        } else {
            format!("first-{i}")
        };
        assert_eq!(row[2], expected, "lead {i} has its latest name");
    }
    assert_eq!(duplicates, 0);
    eprintln!(
        "drill: {LEADS} leads, {} changes, {kills} SIGKILLs, {queued} queued at recovery, \
         drained in {:.1} s",
        LEADS + SECOND_CHANGES,
        drain.as_secs_f64()
    );
}
