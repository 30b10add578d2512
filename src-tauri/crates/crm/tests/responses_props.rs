//! Property tests of how the CRM adapters read what a CRM answers: status, headers and body.
//!
//! - `classify` / `check_status`: any status and body gives one typed outcome (delivered, retry
//!   — `Failed` or `Throttled` — or dead letter — `Rejected`), by the status class, with a reason
//!   that names the status; a 429 waits what `Retry-After` said (10 s without one).
//! - `backoff::parse_retry_after` and `retry_after` (the header): any string or header bytes
//!   never panic; a number of seconds gives exactly that many (beyond `Duration`'s range, the
//!   longest `Duration`); an HTTP date gives the time until it (zero once past).
//! - BottleCRM (`intake_reply`, `lead_values`, `exact_email_match`), the generic webhook
//!   (`reply_outcome`) and HubSpot (`upsert_reply`, `contact_values`, `server_pause`): arbitrary
//!   bodies never panic; a 200/201/207 batch answer's `results` and per-record `errors` land on
//!   exactly the records they name (any case), and records it does not mention are retried;
//!   the pause the `X-HubSpot-RateLimit-*` headers or a 429 ask for is applied without panicking,
//!   capped at `hubspot::MAX_PAUSE`.
//! - End to end over a loopback server that answers with random statuses, headers and bodies:
//!   a relay round over each adapter never panics and settles every change exactly once
//!   (delivered, retry, or dead letter with a reason); a 429's numeric Retry-After sets the retry
//!   time (at most `relay::MAX_THROTTLE`, a day).
//!
//! `PROPTEST_CASES` raises the count (the loopback property runs a tenth of it, at least 32).
//! Failures persist under `proptest-regressions/`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use closer_crm::backoff::parse_retry_after;
use closer_crm::bottlecrm::{Intake, exact_email_match, intake_reply, lead_values};
use closer_crm::hubspot::{MAX_PAUSE, RequestWindow, contact_values, server_pause, upsert_reply};
use closer_crm::relay::MAX_THROTTLE;
use closer_crm::webhook::reply_outcome;
use closer_crm::{
    BottleCrm, Change, Credential, Crm, FieldMap, HubSpot, Outbox, OutboxError, Outcome, Relay,
    RelayConfig, Settlement, Webhook, check_status, classify, retry_after,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

const NOW_SECS: u64 = 1_790_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn reason_of(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Delivered { .. } => None,
        Outcome::Rejected { reason }
        | Outcome::Failed { reason }
        | Outcome::Throttled { reason, .. } => Some(reason),
    }
}

fn typed(o: &Outcome) -> Result<(), TestCaseError> {
    if let Some(reason) = reason_of(o) {
        prop_assert!(!reason.trim().is_empty(), "{:?} without a reason", o);
    }
    Ok(())
}

/// What the status alone says, as the crate documents it.
fn expected_class(status: u16, retry_after: Option<Duration>) -> Outcome {
    let reason = String::new();
    match status {
        429 => Outcome::Throttled { after: retry_after.unwrap_or(Duration::from_secs(10)), reason },
        408 | 425 | 500..=599 => Outcome::Failed { reason },
        400..=499 => Outcome::Rejected { reason },
        _ => Outcome::Failed { reason },
    }
}

fn same_class(got: &Outcome, want: &Outcome) -> bool {
    match (got, want) {
        (Outcome::Throttled { after: a, .. }, Outcome::Throttled { after: b, .. }) => a == b,
        (Outcome::Failed { .. }, Outcome::Failed { .. })
        | (Outcome::Rejected { .. }, Outcome::Rejected { .. }) => true,
        (Outcome::Delivered { crm_id: a }, Outcome::Delivered { crm_id: b }) => a == b,
        _ => false,
    }
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![
            200u16, 201, 202, 204, 207, 301, 400, 401, 403, 404, 408, 409, 422, 425, 429, 500,
            502, 503, 504,
        ]),
        1 => 100u16..1000,
        1 => any::<u16>(),
    ]
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        ".{0,400}",
        json_ish().prop_map(|v| v.to_string()),
        json_ish().prop_map(|v| {
            let s = v.to_string();
            s.chars().take(s.chars().count() / 2).collect()
        }),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        "[0-9]{1,8}".prop_map(Value::String),
    ]
}

/// Random JSON over the keys CRM answers use.
fn json_ish() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "id", "lead", "result", "lead_obj", "properties", "email", "results", "errors",
            "context", "ids", "category", "message", "open_leads", "close_leads", "status",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{0,8}",
    ];
    leaf().prop_recursive(4, 40, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `Retry-After` values as servers (and broken servers) write them.
fn retry_after_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}",
        "[ \t]{0,2}[0-9]{1,6}[ \t]{0,2}",
        "-?[0-9]{0,4}(\\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?",
        prop::sample::select(vec![
            "-0",
            "-0.0",
            "+5",
            "1e20",
            "1e400",
            "inf",
            "NaN",
            "-1",
            "0x10",
            "",
            " ",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ])
        .prop_map(str::to_owned),
        (0u32..7, 1u32..40, 0u32..12, 0u32..100_000, 0u32..30, 0u32..70, 0u32..70).prop_map(
            |(w, d, m, y, h, mi, s)| {
                const W: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
                const M: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                format!(
                    "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
                    W[w as usize], M[m as usize]
                )
            }
        ),
        "\\PC{0,40}",
    ]
}

fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
    prop_oneof![
        3 => retry_after_text().prop_map(|s| HeaderValue::from_str(&s).ok()),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| HeaderValue::from_bytes(&b).ok()),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(vec![
        "retry-after",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-max",
    ]);
    let small =
        prop_oneof![Just("0".to_owned()), Just(" 0 ".to_owned()), "[0-9]{1,4}", "[0-9]{15,22}",]
            .prop_map(|s| HeaderValue::from_str(&s).ok());
    prop::collection::vec((name, prop_oneof![header_value(), small]), 0..5).prop_map(|kv| {
        let mut h = HeaderMap::new();
        for (name, value) in kv {
            if let Some(v) = value {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    })
}

proptest! {
    #[test]
    fn any_status_and_body_is_one_typed_outcome(
        status in status(),
        body in body(),
        after in prop::option::of(any::<u64>().prop_map(Duration::from_secs)),
    ) {
        let got = classify(status, &body, after);
        typed(&got)?;
        prop_assert!(!matches!(got, Outcome::Delivered { .. }), "classify never delivers");
        prop_assert!(same_class(&got, &expected_class(status, after)), "{} → {:?}", status, got);
        let reason = reason_of(&got).unwrap_or_default();
        let head = format!("HTTP {status}: ");
        prop_assert!(reason.starts_with(&head), "{}", reason);
        prop_assert!(reason[head.len()..].chars().count() <= 300, "the body is cut at 300 chars");
        prop_assert!(body.starts_with(&reason[head.len()..]));
        match check_status(status, &body, after) {
            Ok(()) => prop_assert!((200..300).contains(&status)),
            Err(o) => {
                prop_assert!(!(200..300).contains(&status));
                prop_assert_eq!(o, got);
            }
        }
    }

    #[test]
    fn retry_after_of_any_string_never_panics(s in retry_after_text()) {
        let parsed = parse_retry_after(&s, now());
        if let Ok(n) = s.trim().parse::<u64>() {
            prop_assert_eq!(parsed, Some(Duration::from_secs(n)));
        }
        // As a header too, and never negative-ish or NaN-ish.
        if let Ok(v) = HeaderValue::from_str(&s) {
            let mut h = HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v);
            prop_assert_eq!(retry_after(&h, now()), parsed);
        }
        if ["inf", "NaN", "-1", "", " "].contains(&s.as_str()) {
            prop_assert_eq!(parsed, None);
        }
    }

    #[test]
    fn retry_after_header_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            let mut h = HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v);
            let _ = retry_after(&h, now());
        }
    }

    #[test]
    fn retry_after_seconds_are_that_many_seconds(
        n in prop_oneof![0u64..100_000, any::<u64>()],
        before in "[ \t]{0,3}",
        after in "[ \t]{0,3}",
    ) {
        prop_assert_eq!(
            parse_retry_after(&format!("{before}{n}{after}"), now()),
            Some(Duration::from_secs(n))
        );
    }

    #[test]
    fn retry_after_fractions_and_huge_numbers(
        whole in 0u64..10_000_000,
        frac in 0u32..1000,
        digits in "[1-9][0-9]{20,400}",
        exp in 20u32..=300,
    ) {
        let d = parse_retry_after(&format!("{whole}.{frac:03}"), now()).expect("a fraction");
        let want = whole as f64 + f64::from(frac) / 1000.0;
        prop_assert!((d.as_secs_f64() - want).abs() < 1e-3, "{:?} vs {}", d, want);
        // Beyond u64 seconds: the longest wait there is, not a panic and not "no wait".
        prop_assert_eq!(parse_retry_after(&digits, now()), Some(Duration::MAX));
        prop_assert_eq!(parse_retry_after(&format!("1e{exp}"), now()), Some(Duration::MAX));
        prop_assert_eq!(parse_retry_after(&format!("{whole}.{frac}e{exp}"), now()), Some(
            if whole == 0 && frac == 0 { Duration::ZERO } else { Duration::MAX }
        ));
    }

    #[test]
    fn retry_after_dates_are_the_time_until_them(delta in -400_000_000i64..400_000_000) {
        let at = if delta >= 0 {
            now() + Duration::from_secs(delta.unsigned_abs())
        } else {
            now() - Duration::from_secs(delta.unsigned_abs())
        };
        let text = httpdate::fmt_http_date(at);
        let want = Duration::from_secs(u64::try_from(delta).unwrap_or(0));
        prop_assert_eq!(parse_retry_after(&text, now()), Some(want), "{}", text);
    }

    #[test]
    fn webhook_replies_are_typed(
        status in status(),
        body in body(),
        id in prop::option::of("\\PC{0,20}"),
        after in prop::option::of((0u64..100_000).prop_map(Duration::from_secs)),
    ) {
        let got = reply_outcome(status, &body, after);
        typed(&got)?;
        if (200..300).contains(&status) {
            prop_assert!(matches!(got, Outcome::Delivered { .. }), "{:?}", got);
        } else {
            prop_assert_eq!(&got, &classify(status, &body, after));
        }
        // The receiver's id is kept when it gives one.
        let with_id = json!({ "id": id, "ok": true }).to_string();
        prop_assert_eq!(
            reply_outcome(200, &with_id, None),
            Outcome::Delivered { crm_id: id.clone() }
        );
    }

    #[test]
    fn bottlecrm_intake_replies_are_typed(status in status(), body in body()) {
        match intake_reply(status, &body, None) {
            Ok(Intake::Created { lead } | Intake::Existing { lead }) => {
                prop_assert!((200..300).contains(&status));
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                prop_assert_eq!(v["lead"].as_str(), Some(lead.as_str()));
            }
            Err(o) => {
                typed(&o)?;
                if (200..300).contains(&status) {
                    prop_assert!(
                        matches!(&o, Outcome::Failed { reason } if reason.contains("without a lead")),
                        "{:?}",
                        o
                    );
                } else {
                    prop_assert_eq!(o, classify(status, &body, None));
                }
            }
        }
        let _ = lead_values(&body);
        let _ = contact_values(&body);
        let _ = exact_email_match(&body, "ann@example.com");
    }

    #[test]
    fn bottlecrm_intake_results(
        status in 200u16..300,
        lead in "\\PC{0,20}",
        result in prop_oneof![
            Just("created".to_owned()), Just("duplicate".to_owned()), Just("merged".to_owned()),
            "\\PC{0,8}",
        ],
    ) {
        let body = json!({ "lead": lead, "result": result }).to_string();
        let want = if result == "created" {
            Intake::Created { lead }
        } else {
            Intake::Existing { lead }
        };
        prop_assert_eq!(intake_reply(status, &body, None), Ok(want));
    }

    /// The lead search's substring matches are told apart from the exact email (ASCII case aside).
    #[test]
    fn bottlecrm_finds_only_the_exact_email(
        user in "[a-z]{1,8}",
        leads in prop::collection::vec((0u8..5, any::<bool>(), "[0-9]{1,6}", any::<bool>()), 0..8),
    ) {
        let email = format!("{user}@example.com");
        let mut want = None;
        let (mut open, mut closed) = (Vec::new(), Vec::new());
        for (kind, upper, id, is_open) in &leads {
            let e = match kind {
                0 => email.clone(),
                1 => format!("jo{email}"),
                2 => format!("{email}.cn"),
                3 => format!("{user}@example.co"),
                _ => String::new(),
            };
            let e = if *upper { e.to_ascii_uppercase() } else { e };
            let lead = json!({ "id": id, "email": e });
            if *is_open { open.push(lead) } else { closed.push(lead) }
        }
        // The last exact match, open leads before closed ones.
        for (kind, _, id, _) in leads.iter().filter(|l| l.3).chain(leads.iter().filter(|l| !l.3)) {
            if *kind == 0 {
                want = Some(id.clone());
            }
        }
        let body = json!({
            "open_leads": { "open_leads": open },
            "close_leads": { "close_leads": closed },
        })
        .to_string();
        prop_assert_eq!(exact_email_match(&body, &email), want);
    }

    #[test]
    fn lead_values_keep_text_fields_only(
        fields in prop::collection::btree_map("[a-z_]{1,8}", leaf(), 0..8),
        wrap in 0u8..3,
    ) {
        let lead = Value::Object(fields.clone().into_iter().collect());
        let body = match wrap {
            0 => json!({ "lead_obj": lead }),
            1 => json!({ "lead": lead }),
            _ => lead.clone(),
        };
        let want: BTreeMap<String, String> = fields
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        if wrap < 2 || !fields.contains_key("lead_obj") && !fields.contains_key("lead") {
            prop_assert_eq!(lead_values(&body.to_string()), want.clone());
        }
        prop_assert_eq!(contact_values(&json!({ "properties": lead }).to_string()), want);
    }

    #[test]
    fn hubspot_any_answer_gives_one_typed_outcome_per_record(
        status in status(),
        body in body(),
        n in 0usize..6,
        after in prop::option::of((0u64..100_000).prop_map(Duration::from_secs)),
    ) {
        let emails: Vec<String> = (0..n).map(|i| format!("p{i}@x.io")).collect();
        let got = upsert_reply(status, &body, after, &emails);
        prop_assert_eq!(got.len(), n);
        for o in &got {
            typed(o)?;
        }
        if ![200, 201, 207].contains(&status) {
            for o in &got {
                prop_assert_eq!(o, &classify(status, &body, after));
            }
        }
    }

    /// A batch answer's results and per-record errors land on the records they name.
    #[test]
    fn hubspot_207_maps_each_result_and_error_to_its_record(
        people in prop::collection::btree_set("[a-z]{1,6}@[a-z]{1,4}\\.(io|com)", 1..12),
        fates in prop::collection::vec(
            (0u8..3, prop::option::of("[0-9]{1,10}"), any::<bool>()),
            12,
        ),
        errors in prop::collection::vec(
            (prop::option::of("[A-Z_]{1,20}"), "\\PC{0,400}", 1usize..4, any::<bool>()),
            12,
        ),
        noise in prop::collection::vec(json_ish(), 0..3),
        status in prop::sample::select(vec![200u16, 201, 207]),
        order in any::<u64>(),
    ) {
        let emails: Vec<String> = people.into_iter().collect();
        let mut results = Vec::new();
        let mut want: Vec<Outcome> = Vec::new();
        let mut erring: Vec<(usize, bool)> = Vec::new();
        for (i, email) in emails.iter().enumerate() {
            let (fate, id, upper) = &fates[i];
            let shown = if *upper { email.to_uppercase() } else { email.clone() };
            match fate {
                0 => {
                    results.push(json!({ "id": id, "properties": { "email": shown } }));
                    want.push(Outcome::Delivered { crm_id: id.clone() });
                }
                1 => {
                    erring.push((i, *upper));
                    want.push(Outcome::Failed { reason: String::new() }); // set below
                }
                _ => want.push(Outcome::Failed {
                    reason: "the CRM's answer did not mention this record".into(),
                }),
            }
        }
        // The erring records, a few to an error, named in `context.ids` or `context.email`.
        let mut error_list = Vec::new();
        let mut rest = erring.as_slice();
        let mut k = 0;
        while !rest.is_empty() {
            let (category, message, size, by_ids) = &errors[k % errors.len()];
            k += 1;
            let (group, tail) = rest.split_at((*size).min(rest.len()));
            rest = tail;
            let names: Vec<String> = group
                .iter()
                .map(|(i, upper)| if *upper { emails[*i].to_uppercase() } else { emails[*i].clone() })
                .collect();
            let reason = format!(
                "{}: {}",
                category.as_deref().unwrap_or("ERROR"),
                message.chars().take(300).collect::<String>()
            );
            for (i, _) in group {
                want[*i] = Outcome::Rejected { reason: reason.clone() };
            }
            let context = if *by_ids { json!({ "ids": names }) } else { json!({ "email": names }) };
            let mut e = json!({ "status": "error", "message": message, "context": context });
            if let Some(c) = category {
                e["category"] = json!(c);
            }
            error_list.push(e);
        }
        // Noise: other people, and entries that name nobody.
        results.push(json!({ "id": "1", "properties": { "email": "stranger@else.where" } }));
        error_list.push(json!({ "category": "X", "context": { "ids": ["nobody@else.where"] } }));
        for v in noise {
            results.push(v.clone());
            error_list.push(v);
        }
        // Shuffled: the order of the answer does not matter.
        let rot = usize::try_from(order % 97).unwrap_or(0);
        let (rl, el) = (results.len(), error_list.len());
        results.rotate_left(rot % rl);
        error_list.rotate_left(rot % el);
        let body = json!({ "status": "COMPLETE", "results": results, "errors": error_list });
        let got = upsert_reply(status, &body.to_string(), None, &emails);
        prop_assert_eq!(got, want);
    }

    /// Whatever the headers and status, the pause is applied without panicking and never
    /// exceeds the cap.
    #[test]
    fn hubspot_pauses_never_panic_and_are_capped(
        status in prop_oneof![Just(429u16), status()],
        headers in headers(),
    ) {
        let after = retry_after(&headers, now());
        let pause = server_pause(status, after, &headers);
        if status == 429 {
            prop_assert!(pause.is_some());
        }
        if let Some(p) = pause {
            let t = tokio::time::Instant::now();
            let mut w = RequestWindow::new(5, Duration::from_secs(10));
            w.pause_for(t, p);
            prop_assert!(p <= MAX_PAUSE, "{:?}", p);
            prop_assert_eq!(w.admit(t), p);
        } else {
            prop_assert!(status != 429);
        }
    }

    #[test]
    fn hubspot_rate_limit_headers_ask_for_their_interval(
        remaining in 0u64..3,
        interval in prop::option::of(0u64..100_000),
        status in prop::sample::select(vec![200u16, 207, 429, 500]),
        after in prop::option::of(0u64..100_000),
    ) {
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-remaining", HeaderValue::from(remaining));
        if let Some(ms) = interval {
            h.insert("x-hubspot-ratelimit-interval-milliseconds", HeaderValue::from(ms));
        }
        let after = after.map(Duration::from_secs);
        let limited = (remaining == 0)
            .then(|| Duration::from_millis(interval.unwrap_or(10_000)));
        let throttled = (status == 429).then(|| after.unwrap_or(Duration::from_secs(10)));
        prop_assert_eq!(
            server_pause(status, after, &h),
            limited.max(throttled).map(|p| p.min(MAX_PAUSE))
        );
    }
}

// ---- End to end: the relay over each adapter against a loopback server. ----

/// What the loopback server answers every request with.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// An outbox in memory: the changes to claim, what was settled, the relay's saved state.
#[derive(Debug, Default)]
struct MemOutbox {
    pending: Mutex<Vec<Change>>,
    settled: Mutex<Vec<Settlement>>,
    state: Mutex<HashMap<String, String>>,
}

impl Outbox for MemOutbox {
    fn claim(&self, _now: i64, limit: usize) -> Result<Vec<(Change, i64)>, OutboxError> {
        let mut pending = self.pending.lock().expect("lock");
        let n = limit.min(pending.len());
        Ok(pending.drain(..n).map(|c| (c, 1)).collect())
    }

    fn settle(&self, _now: i64, settlements: &[Settlement]) -> Result<(), OutboxError> {
        self.settled.lock().expect("lock").extend_from_slice(settlements);
        Ok(())
    }

    fn next_due(&self) -> Result<Option<i64>, OutboxError> {
        Ok(None)
    }

    fn load(&self, key: &str) -> Result<Option<String>, OutboxError> {
        Ok(self.state.lock().expect("lock").get(key).cloned())
    }

    fn save(&self, key: &str, value: &str) -> Result<(), OutboxError> {
        self.state.lock().expect("lock").insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

async fn serve(answer: Arc<Mutex<Answer>>) -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move || {
        let a = answer.lock().expect("lock").clone();
        async move {
            let status = axum::http::StatusCode::from_u16(a.status)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, a.body).into_response();
            for (name, value) in &a.headers {
                if let Ok(v) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
                    response
                        .headers_mut()
                        .append(name.as_str().parse::<axum::http::HeaderName>().expect("name"), v);
                }
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn wall_ms() -> i64 {
    closer_crm::relay::now_millis()
}

fn answer() -> impl Strategy<Value = Answer> {
    let body = prop_oneof![
        3 => body(),
        1 => ("[0-9]{1,6}", prop::sample::select(vec!["created", "duplicate", "x"]))
            .prop_map(|(lead, r)| json!({ "lead": lead, "result": r, "id": lead }).to_string()),
        1 => Just(json!({ "results": [{ "id": "9", "properties": { "email": "a0@x.io" } }],
            "errors": [{ "category": "VALIDATION_ERROR", "context": { "ids": ["A1@X.IO"] } }] })
            .to_string()),
    ];
    // No 1xx: an informational status is not a final answer over HTTP.
    let status = status().prop_map(|s| if (200..1000).contains(&s) { s } else { 503 });
    (status, headers(), body).prop_map(|(status, headers, body)| Answer { status, headers, body })
}

fn server_cases() -> u32 {
    let asked = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok());
    asked.map_or(32, |n| (n / 10).max(32))
}

#[test]
fn a_relay_round_settles_every_change_whatever_the_crm_answers() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let shared = Arc::new(Mutex::new(Answer::default()));
    let url = rt.block_on(serve(Arc::clone(&shared)));
    let map = FieldMap::from_pairs([("email", "email"), ("name", "first_name")]);
    let mut runner = TestRunner::new(Config {
        cases: server_cases(),
        source_file: Some(file!()),
        ..Config::default()
    });
    let case = (answer(), 1usize..4, 0u8..3);
    let result = runner.run(&case, |(answer, n, which)| {
        *shared.lock().expect("lock") = answer.clone();
        let timeout = Duration::from_secs(10);
        let crm = match which {
            0 => Crm::Webhook(Webhook::new(
                &format!("{url}/hook"),
                Credential::fixed("s"),
                map.clone(),
                timeout,
            )),
            1 => Crm::HubSpot(HubSpot::new(&url, Credential::fixed("t"), map.clone(), timeout)),
            _ => Crm::BottleCrm(BottleCrm::new(
                &url,
                "intake",
                Credential::fixed("k"),
                Credential::fixed("t"),
                map.clone(),
                timeout,
            )),
        };
        let changes: Vec<Change> = (0..n)
            .map(|i| Change {
                id: i as i64 + 1,
                lead_id: i as i64 + 1,
                external_key: format!("install:{i}"),
                crm_id: None,
                fields: BTreeMap::from([
                    ("email".to_owned(), format!("A{i}@x.io")),
                    ("name".to_owned(), format!("P{i}")),
                ]),
                notes: Vec::new(),
            })
            .collect();
        let outbox = Arc::new(MemOutbox::default());
        *outbox.pending.lock().expect("lock") = changes;
        let mut relay = Relay::new(Arc::clone(&outbox), crm.clone(), RelayConfig::for_crm(&crm));
        let before = wall_ms();
        let round = rt
            .block_on(relay.round())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .ok_or_else(|| TestCaseError::fail("nothing was sent"))?;
        let after = wall_ms();
        prop_assert_eq!(round.sent, n);
        let settled = outbox.settled.lock().expect("lock").clone();
        let mut ids: Vec<i64> = settled
            .iter()
            .map(|s| match s {
                Settlement::Delivered { id, .. }
                | Settlement::Retry { id, .. }
                | Settlement::Dead { id, .. } => *id,
            })
            .collect();
        ids.sort_unstable();
        prop_assert_eq!(ids, (1..=n as i64).collect::<Vec<_>>(), "each change settles once");
        let header_after = retry_after(&answer.headers, SystemTime::now());
        for s in &settled {
            match s {
                Settlement::Delivered { .. } => {
                    prop_assert!((200..300).contains(&answer.status), "{:?}", s);
                }
                Settlement::Dead { reason, .. } => prop_assert!(!reason.trim().is_empty()),
                Settlement::Retry { error, at, .. } => {
                    prop_assert!(!error.trim().is_empty());
                    prop_assert!(!error.contains("timed out"), "{}", error);
                    prop_assert!(*at >= before, "{:?}", s);
                    // A 429 waits what Retry-After said (seconds; 10 s without one).
                    let whole = answer
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    if answer.status == 429 && error.starts_with("HTTP 429") {
                        let want = i64::try_from(
                            header_after
                                .unwrap_or(Duration::from_secs(10))
                                .min(MAX_THROTTLE)
                                .as_millis(),
                        )
                        .unwrap_or(i64::MAX / 2);
                        if let Some(secs) = whole
                            .filter(|_| answer.headers.get_all("retry-after").iter().count() == 1)
                        {
                            prop_assert_eq!(
                                want,
                                (i64::from(secs) * 1000)
                                    .min(i64::try_from(MAX_THROTTLE.as_millis()).unwrap_or(0))
                            );
                        }
                        if want < i64::MAX / 4 {
                            prop_assert!(
                                (before + want - 1000..=2 * after - before + want + 1000)
                                    .contains(at),
                                "{} not ~{} after {}",
                                at,
                                want,
                                before
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}
