//! Crash safety: a writer process is killed with SIGKILL at random moments while it records
//! conversations, lead fields (and so outbox and audit rows); after each kill the file is
//! reopened and checked. Every write the writer acknowledged (printed after its commit returned)
//! must be there, `integrity_check` must say ok, and no transaction may be half visible: each
//! stored turn has its message, its field, its lead-field row, its outbox row and its audit rows.
//!
//! The writer is this test binary run again with `CLOSER_CRASH_WRITER=<db path>` on the test
//! `writer_process` (which does nothing without that variable). `CLOSER_CRASH_KILLS` (default
//! 200) and `CLOSER_CRASH_MIN_ACKS` (default 10,000) set the size of the run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use closer_dialogue::{Channel, Event, FieldSource, Role};
use closer_store::{NewConversation, Store};

const WRITER_ENV: &str = "CLOSER_CRASH_WRITER";

/// The writer: new conversations, each with turns of (customer message + phone field), one
/// transaction per turn, acknowledged on stdout after the commit.
#[test]
fn writer_process() {
    let Ok(path) = std::env::var(WRITER_ENV) else { return };
    let store = Store::open(&path).expect("open");
    let out = std::io::stdout();
    let mut seed = std::process::id() as u64;
    let mut at = 1_000_000i64;
    loop {
        at += 10;
        let c = store
            .create_conversation(&NewConversation {
                channel: Channel::Widget,
                customer_name: format!("c{seed}"),
                language: "zh".into(),
                at,
            })
            .expect("conversation");
        writeln!(out.lock(), "conv {c}").expect("ack");
        for turn in 1..=5u64 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let phone = format!("13{:09}", seed % 1_000_000_000);
            at += 1;
            let events = [
                Event::Message { role: Role::Customer, text: format!("电话{phone}"), at },
                Event::FieldSet {
                    field: "phone".into(),
                    value: phone.clone(),
                    source: FieldSource::Ai,
                    confidence: 0.9,
                    at,
                },
            ];
            store.record_all(c, &events, "crash-test").expect("record");
            let mut o = out.lock();
            writeln!(o, "ack {c} {turn} {phone}").expect("ack");
            o.flush().expect("flush");
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Acked {
    turns: u64,
    phone: String,
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_write() {
    let kills: usize =
        std::env::var("CLOSER_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let min_acks: usize =
        std::env::var("CLOSER_CRASH_MIN_ACKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.sqlite3");
    drop(Store::open(&path).expect("create"));
    let exe = std::env::current_exe().expect("test binary");
    let mut acked: std::collections::BTreeMap<i64, Acked> = Default::default();
    let mut total_acks = 0usize;
    let mut rng = 0x9E3779B97F4A7C15u64;
    let started = Instant::now();
    let mut round = 0;
    while round < kills || total_acks < min_acks {
        round += 1;
        let mut child = Command::new(&exe)
            .args(["writer_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("writer starts");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>()
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Kill after 20–150 ms: some rounds die while opening, most mid-transaction.
        std::thread::sleep(Duration::from_millis(20 + rng % 130));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        for line in reader.join().expect("reader") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["conv", c] => {
                    acked.entry(c.parse().expect("id")).or_default();
                }
                ["ack", c, turn, phone] => {
                    let a = acked.entry(c.parse().expect("id")).or_default();
                    a.turns = turn.parse().expect("turn");
                    a.phone = (*phone).to_owned();
                    total_acks += 1;
                }
                _ => {} // the line being written when the process died
            }
        }
        // Reopen after every kill, as the app would.
        let store = Store::open(&path).expect("reopens after SIGKILL");
        if round % 50 == 0 {
            check(&store, &acked);
        }
    }
    let store = Store::open(&path).expect("reopen");
    check(&store, &acked);
    eprintln!(
        "crash: {round} SIGKILLs, {total_acks} acknowledged writes over {} conversations, 0 lost, \
         integrity ok, no partial transaction ({:.0} s)",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(round >= kills && total_acks >= min_acks);
}

fn check(store: &Store, acked: &std::collections::BTreeMap<i64, Acked>) {
    let health = store.health().expect("health");
    assert_eq!(health.integrity, ["ok"], "integrity_check");
    let outbox = store.pending_outbox().expect("outbox");
    for (c, a) in acked {
        let events =
            store.events(*c).unwrap_or_else(|e| panic!("acknowledged conversation {c}: {e}"));
        let messages = events.iter().filter(|e| matches!(e, Event::Message { .. })).count() as u64;
        let fields: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::FieldSet { value, .. } => Some(value.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            messages >= a.turns,
            "conversation {c}: {messages} turns stored, {} acknowledged",
            a.turns
        );
        // Whole turns only: every message has its field.
        assert_eq!(messages as usize, fields.len(), "conversation {c}: a half-stored turn");
        if a.turns > 0 && messages == a.turns {
            assert_eq!(
                fields.last().copied(),
                Some(a.phone.as_str()),
                "conversation {c}: the last acknowledged value"
            );
        }
        if !fields.is_empty() {
            let lead = store.lead_of_conversation(*c).expect("lead");
            let export = store.export_lead(lead, 0).expect("export");
            let value = &export["tables"]["lead_fields"][0]["value"];
            assert_eq!(
                value.as_str(),
                fields.last().copied(),
                "conversation {c}: lead field = last event"
            );
            assert!(outbox.iter().any(|o| o.lead_id == lead), "conversation {c}: its outbox row");
            let audited = export["tables"]["audit_log"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with("event.")))
                        .count()
                })
                .unwrap_or(0);
            assert_eq!(audited, events.len(), "conversation {c}: one audit row per event");
        }
    }
}
