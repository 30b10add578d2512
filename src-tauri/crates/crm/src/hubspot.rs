//! HubSpot-style CRM v3: `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty` =
//! `email` (lower-cased: HubSpot compares emails case-insensitively, and two spellings must not
//! become two contacts). A 207 answer carries results and errors per record; `429` carries
//! `Retry-After`; every answer carries `X-HubSpot-RateLimit-*`. We stay within 190 requests per
//! 10 s on our side (HubSpot's private-app limit is 190/10 s) and pause when the server says
//! none remain in its window. A change's notes are not sent here: HubSpot keeps notes as
//! engagements, outside the contacts API this adapter speaks (they stay in the local outbox
//! row and export).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{Change, Credential, FieldMap, Outcome, check_status, classify, read, transport};

/// HubSpot's documented private-app limit.
pub const MAX_REQUESTS: usize = 190;
pub const WINDOW: Duration = Duration::from_secs(10);
/// The longest the client window pauses for one answer: the relay's own cap on a `Retry-After`
/// ([`crate::relay::MAX_THROTTLE`], a day). A CRM may ask for more (`Retry-After:
/// 10000000000000000000` read as seconds overflowed `Instant` and panicked, found by the
/// property tests).
pub const MAX_PAUSE: Duration = crate::relay::MAX_THROTTLE;

#[derive(Debug, Clone)]
pub struct HubSpot {
    base_url: String,
    token: Credential,
    map: FieldMap,
    client: reqwest::Client,
    window: Arc<Mutex<RequestWindow>>,
}

/// A sliding window of request start times, plus a pause the server asked for.
#[derive(Debug)]
pub struct RequestWindow {
    max: usize,
    span: Duration,
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl RequestWindow {
    pub fn new(max: usize, span: Duration) -> Self {
        Self { max, span, sent: VecDeque::new(), paused_until: None }
    }

    /// How long to wait before the next request may start (zero: go now, and it is counted).
    pub fn admit(&mut self, now: Instant) -> Duration {
        if let Some(until) = self.paused_until {
            if now < until {
                return until - now;
            }
            self.paused_until = None;
        }
        while self.sent.front().is_some_and(|t| now.duration_since(*t) >= self.span) {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.max {
            return self
                .sent
                .front()
                .map_or(Duration::ZERO, |t| self.span - now.duration_since(*t));
        }
        self.sent.push_back(now);
        Duration::ZERO
    }

    pub fn pause(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Pauses for `wait` from `now` (what [`server_pause`] asked for), at most [`MAX_PAUSE`].
    pub fn pause_for(&mut self, now: Instant, wait: Duration) {
        self.pause(now + wait.min(MAX_PAUSE));
    }
}

impl HubSpot {
    pub fn new(base_url: &str, token: Credential, map: FieldMap, timeout: Duration) -> Self {
        Self::with_window(base_url, token, map, timeout, MAX_REQUESTS, WINDOW)
    }

    /// With a different request window (tests use a small one to see it hold).
    pub fn with_window(
        base_url: &str,
        token: Credential,
        map: FieldMap,
        timeout: Duration,
        max: usize,
        span: Duration,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            map,
            client: crate::http_client(timeout),
            window: Arc::new(Mutex::new(RequestWindow::new(max, span))),
        }
    }

    async fn wait_turn(&self) {
        loop {
            let wait = self.window.lock().await.admit(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn send(&self, batch: &[Change]) -> Vec<Outcome> {
        let token = match self.token.read() {
            Ok(t) => t,
            Err(e) => {
                let reason = crate::bottlecrm::secret_reason(&e);
                return batch.iter().map(|_| Outcome::Failed { reason: reason.clone() }).collect();
            }
        };
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        // The emails sent (lower-cased) and their batch positions. One input per email: a second
        // lead with the same email waits for the next batch.
        let (mut emails, mut positions, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
        let mut inputs = Vec::new();
        for (i, change) in batch.iter().enumerate() {
            let mut props = self.map.to_crm(&change.fields);
            let Some(email) = props.get("email").map(|e| e.trim().to_lowercase()) else {
                outcomes[i] = Some(Outcome::Rejected {
                    reason: "no email: HubSpot upserts contacts by email".into(),
                });
                continue;
            };
            if !seen.insert(email.clone()) {
                outcomes[i] = Some(Outcome::Failed { reason: "same email later in batch".into() });
                continue;
            }
            props.insert("email".into(), email.clone());
            inputs.push(json!({ "idProperty": "email", "id": email, "properties": props }));
            emails.push(email);
            positions.push(i);
        }
        if !inputs.is_empty() {
            self.wait_turn().await;
            let url = format!("{}/crm/v3/objects/contacts/batch/upsert", self.base_url);
            let sent = self
                .client
                .post(&url)
                .bearer_auth(token.expose())
                .json(&json!({ "inputs": inputs }))
                .send()
                .await;
            let replies = match sent {
                Err(e) => vec![transport(e); emails.len()],
                Ok(resp) => {
                    let headers = resp.headers().clone();
                    let (status, retry_after, text) = read(resp).await;
                    self.honour(status, retry_after, &headers).await;
                    upsert_reply(status, &text, retry_after, &emails)
                }
            };
            for (&i, outcome) in positions.iter().zip(replies) {
                outcomes[i] = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Failed { reason: "not sent".into() }))
            .collect()
    }

    /// The contact's mapped properties under our field names (`GET
    /// /crm/v3/objects/contacts/{id}?properties=…`), within the same request window as upserts.
    pub async fn pull(&self, crm_id: &str) -> Result<BTreeMap<String, String>, Outcome> {
        let token = self
            .token
            .read()
            .map_err(|e| Outcome::Failed { reason: crate::bottlecrm::secret_reason(&e) })?;
        let properties = self.map.crm_names().collect::<Vec<_>>().join(",");
        self.wait_turn().await;
        let url = format!("{}/crm/v3/objects/contacts/{}", self.base_url, urlencode(crm_id));
        let resp = self
            .client
            .get(&url)
            .bearer_auth(token.expose())
            .query(&[("properties", properties.as_str())])
            .send()
            .await
            .map_err(transport)?;
        let headers = resp.headers().clone();
        let (status, retry_after, text) = read(resp).await;
        self.honour(status, retry_after, &headers).await;
        check_status(status, &text, retry_after)?;
        Ok(self.map.from_crm(&contact_values(&text)))
    }

    /// Holds back the next requests as long as the answer asks ([`server_pause`]).
    async fn honour(&self, status: u16, retry_after: Option<Duration>, headers: &HeaderMap) {
        if let Some(wait) = server_pause(status, retry_after, headers) {
            self.window.lock().await.pause_for(Instant::now(), wait);
        }
    }
}

/// How long an answer asks us to send nothing more: a 429's `Retry-After` (10 s without one),
/// and `X-HubSpot-RateLimit-Remaining: 0` → `X-HubSpot-RateLimit-Interval-Milliseconds` (10 s
/// without one); the longer of the two, at most [`MAX_PAUSE`]. `None`: no pause.
pub fn server_pause(
    status: u16,
    retry_after: Option<Duration>,
    headers: &HeaderMap,
) -> Option<Duration> {
    let num = |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let limited = (num("x-hubspot-ratelimit-remaining") == Some(0)).then(|| {
        Duration::from_millis(num("x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000))
    });
    let throttled = (status == 429).then(|| retry_after.unwrap_or(Duration::from_secs(10)));
    limited.max(throttled).map(|wait| wait.min(MAX_PAUSE))
}

/// What a batch upsert's answer means for each email sent (distinct, lower-cased), in order:
/// a 200/201/207 body's `results` are delivered and its `errors` rejected (per record, below);
/// a record it does not mention is a failure to retry; any other status is [`classify`]'d for
/// every record.
pub fn upsert_reply(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    emails: &[String],
) -> Vec<Outcome> {
    let mut outcomes = vec![None; emails.len()];
    let batch_outcome = if status == 200 || status == 201 || status == 207 {
        let by_email: HashMap<String, usize> =
            emails.iter().enumerate().map(|(i, e)| (e.clone(), i)).collect();
        per_record(body, &by_email, &mut outcomes);
        None
    } else {
        Some(classify(status, body, retry_after))
    };
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                batch_outcome.clone().unwrap_or(Outcome::Failed {
                    reason: "the CRM's answer did not mention this record".into(),
                })
            })
        })
        .collect()
}

/// A contact's text properties under the CRM's names, from `GET /crm/v3/objects/contacts/{id}`.
pub fn contact_values(body: &str) -> BTreeMap<String, String> {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    body["properties"]
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// An id as one URL path segment (HubSpot ids are digits; anything else is escaped).
fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads a 200/207 body: `results[]` (each with `id` and `properties.email`) are delivered;
/// `errors[]` name their records in `context.ids` (or `context.email`).
fn per_record(text: &str, by_email: &HashMap<String, usize>, outcomes: &mut [Option<Outcome>]) {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    for r in body["results"].as_array().into_iter().flatten() {
        let email = r["properties"]["email"].as_str().map(str::to_lowercase);
        if let Some(&i) = email.as_ref().and_then(|e| by_email.get(e)) {
            let crm_id = r["id"].as_str().map(str::to_owned);
            outcomes[i] = Some(Outcome::Delivered { crm_id });
        }
    }
    for e in body["errors"].as_array().into_iter().flatten() {
        let reason = format!(
            "{}: {}",
            e["category"].as_str().unwrap_or("ERROR"),
            crate::truncate(e["message"].as_str().unwrap_or(""), 300)
        );
        let ids = e["context"]["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(e["context"]["email"].as_array().into_iter().flatten());
        for id in ids.filter_map(Value::as_str) {
            if let Some(&i) = by_email.get(&id.to_lowercase()) {
                // HubSpot's per-record errors are validation and conflict errors.
                outcomes[i] = Some(Outcome::Rejected { reason: reason.clone() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_max_then_waits_for_the_oldest_to_age_out() {
        let mut w = RequestWindow::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(w.admit(t0), Duration::ZERO);
        }
        assert_eq!(w.admit(t0 + Duration::from_secs(4)), Duration::from_secs(6));
        assert_eq!(w.admit(t0 + Duration::from_secs(10)), Duration::ZERO);
        w.pause(t0 + Duration::from_secs(20));
        assert_eq!(w.admit(t0 + Duration::from_secs(15)), Duration::from_secs(5));
    }
}
