//! CRM sync: the adapters that deliver lead changes to a team's CRM, and the relay that drains
//! the store's outbox into them.
//!
//! Key decision: local first, CRM second. A lead change and its outbox row are committed
//! together by the store; the relay delivers each change at least once and every adapter upserts
//! by a stable key (our lead's `external_key`, or the lower-cased email for HubSpot), so an
//! outage, a rate limit or a crash loses nothing and duplicates nothing. What can never succeed
//! (400/401/403/409…) is dead-lettered with its reason instead of retried; rate limits and
//! outages wait (Retry-After, full-jitter backoff, a circuit breaker), with all timing state in
//! SQLite so a restart keeps it. Credentials are read from the OS keyring at send time.
//!
//! Values travel back too: [`Crm::pull`] reads a lead's mapped fields from the CRM under our
//! field names; the caller records them as CRM-sourced (salesperson > CRM > AI) without queueing
//! them to the outbox again.
//!
//! This crate does not depend on the store (leaf crates stay apart): the relay drains anything
//! that implements [`Outbox`]; `app` implements it over `closer_store::Store`.

pub mod backoff;
pub mod bottlecrm;
pub mod hubspot;
pub mod mapping;
pub mod relay;
pub mod secrets;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub use bottlecrm::BottleCrm;
pub use hubspot::HubSpot;
pub use mapping::FieldMap;
pub use relay::{Outbox, OutboxError, Relay, RelayConfig, RelayHandle, Settlement};
pub use secrets::{Credential, Keyring, SecretError, Sensitive};
pub use webhook::Webhook;

/// One lead change to deliver: the newest record of one lead, as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The outbox row.
    pub id: i64,
    pub lead_id: i64,
    /// Our stable key for the lead (install id + lead id).
    pub external_key: String,
    /// The CRM's id for the lead, once known.
    pub crm_id: Option<String>,
    /// The lead's fields under our names.
    pub fields: BTreeMap<String, String>,
    /// Notes for the lead's timeline in the CRM (a call's outcome…), each once: an adapter that
    /// keeps notes posts the ones the CRM does not hold yet (found by their key), so a retried
    /// change never posts a note twice.
    pub notes: Vec<Note>,
}

/// A note about a lead, with a key that is stable across retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Unique per note (e.g. `call-<conversation>`); written into the CRM's copy as a marker.
    pub key: String,
    pub text: String,
}

impl Note {
    /// The marker that identifies this note in the CRM's copy of it.
    pub fn marker(&self) -> String {
        format!("[closer:{}]", self.key)
    }

    /// The text as the CRM stores it: the note, then its marker on a line of its own.
    pub fn crm_text(&self) -> String {
        format!("{}\n{}", self.text, self.marker())
    }
}

/// What became of one change at the CRM.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored; the CRM's id for the lead when it told us.
    Delivered { crm_id: Option<String> },
    /// Can never succeed as sent: dead-letter it with the reason.
    Rejected { reason: String },
    /// Rate limited: try again no sooner than `after`.
    Throttled { after: Duration, reason: String },
    /// The CRM is down, slow or broken: retry with backoff.
    Failed { reason: String },
}

/// A configured CRM. An enum over the real variants (no trait: there is one caller, the relay).
#[derive(Debug, Clone)]
pub enum Crm {
    BottleCrm(BottleCrm),
    HubSpot(HubSpot),
    Webhook(Webhook),
}

impl Crm {
    /// Delivers a batch; one outcome per change, in order.
    pub async fn send(&self, batch: &[Change]) -> Vec<Outcome> {
        use tracing::Instrument;
        let span = tracing::info_span!("crm.send", crm = self.name(), n = batch.len());
        async {
            match self {
                Self::BottleCrm(c) => c.send(batch).await,
                Self::HubSpot(c) => c.send(batch).await,
                Self::Webhook(c) => c.send(batch).await,
            }
        }
        .instrument(span)
        .await
    }

    /// The lead's current values in the CRM under our field names (mapped fields only), to be
    /// recorded as CRM-sourced; `Ok(None)` for a CRM that cannot be read back (a generic
    /// webhook only receives). `crm_id` is the CRM's id of the lead, as a delivery reported it.
    pub async fn pull(&self, crm_id: &str) -> Result<Option<BTreeMap<String, String>>, Outcome> {
        match self {
            Self::BottleCrm(c) => c.pull(crm_id).await.map(Some),
            Self::HubSpot(c) => c.pull(crm_id).await.map(Some),
            Self::Webhook(_) => Ok(None),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::BottleCrm(_) => "bottlecrm",
            Self::HubSpot(_) => "hubspot",
            Self::Webhook(_) => "webhook",
        }
    }

    /// How many changes one batch should hold for this CRM.
    pub fn batch_size(&self) -> usize {
        match self {
            Self::BottleCrm(_) => 16,
            // HubSpot's batch endpoints take at most 100 inputs.
            Self::HubSpot(_) => 100,
            Self::Webhook(_) => 16,
        }
    }
}

/// The HTTP client every adapter uses: rustls, a bounded time per request (a hanging CRM is a
/// failure, not a stuck relay), no proxies from the environment.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .no_proxy()
        .user_agent(concat!("closer/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Classifies a non-success HTTP answer. `retry_after` is the parsed header, if any.
pub fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> Outcome {
    let reason = format!("HTTP {status}: {}", truncate(body, 300));
    match status {
        429 => Outcome::Throttled { after: retry_after.unwrap_or(Duration::from_secs(10)), reason },
        408 | 425 | 500..=599 => Outcome::Failed { reason },
        // 400 invalid, 401/403 credentials refused, 404 gone, 409 conflict, 422 unprocessable:
        // sending the same again cannot help.
        400..=499 => Outcome::Rejected { reason },
        _ => Outcome::Failed { reason },
    }
}

/// `Ok` for a 2xx answer; anything else is what [`classify`] makes of it.
pub fn check_status(status: u16, body: &str, retry_after: Option<Duration>) -> Result<(), Outcome> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body, retry_after)) }
}

/// A response's `Retry-After` relative to `now`; `None` when absent or unreadable.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| backoff::parse_retry_after(v, now))
}

/// A transport error (refused, reset, timed out) as a retryable outcome. Never includes headers.
pub(crate) fn transport(e: reqwest::Error) -> Outcome {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    Outcome::Failed { reason: format!("{what}: {}", e.without_url()) }
}

/// A response's status, `Retry-After` and body text.
pub(crate) async fn read(resp: reqwest::Response) -> (u16, Option<Duration>, String) {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers(), SystemTime::now());
    let body = resp.text().await.unwrap_or_default();
    (status, retry_after, body)
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_that_cannot_succeed_are_rejected_the_rest_retried() {
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(matches!(classify(s, "", None), Outcome::Rejected { .. }), "{s}");
        }
        for s in [408, 500, 502, 503, 504] {
            assert!(matches!(classify(s, "", None), Outcome::Failed { .. }), "{s}");
        }
        match classify(429, "", Some(Duration::from_secs(3))) {
            Outcome::Throttled { after, .. } => assert_eq!(after, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
    }
}
