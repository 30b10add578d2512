//! Replies to webhook platforms: a reply to a webhook customer (a salesperson's, an approved
//! suggestion, an auto-mode answer — whatever the engine stored and handed to the channel) is
//! POSTed as JSON to the callback URL configured for the customer's platform, signed with the
//! webhook's shared secret exactly as inbound requests are (`X-Closer-Timestamp`,
//! `X-Closer-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body))`), with an
//! `Idempotency-Key` that is the reply's id. The format is in the crate's README.md.
//!
//! Key decisions:
//! - This module never decides whether a reply may go out: it only carries what the engine
//!   stored and handed over (the engine's mode and approval rules decide that).
//! - Retries with backoff on what may pass (5xx, 408, 429 — honouring `Retry-After` —, timeouts,
//!   connection failures); a 4xx is final. Every attempt carries the same body and key and a
//!   fresh timestamp and signature, so a platform's replay window holds and a retry after an
//!   unseen success is recognisable.
//! - One queue per platform, in order: a conversation's replies arrive in the order they were
//!   sent. The outcome of every reply — delivered after n attempts, or a typed
//!   [`CallbackError`] — goes back to the [`Inbox`](crate::Inbox).
//! - Retries live in memory; where each reply stands is the app's to keep (it records every state
//!   in its store and hands a reply still pending at a restart to [`Replier::send`] again, with
//!   the same id, unless it is older than a day: [`CallbackError::Expired`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::Inbox;
use crate::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// The header carrying the reply's id; the same on every attempt of one reply.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Where one platform's replies go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The webhook `platform` its customers come from (`default` when they name none).
    pub platform: String,
    /// `http://` or `https://` URL.
    pub url: String,
}

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per reply, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles after each (with jitter).
    pub first_backoff: Duration,
    /// The longest wait between attempts (a `Retry-After` too is capped here).
    pub max_backoff: Duration,
    /// One attempt's limit (connect, send, response).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The reply as the platform receives it (the JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReply {
    /// The reply's id: the `Idempotency-Key`, the same on every attempt.
    pub reply_id: String,
    /// The conversation (as in the inbound webhook's `202` answer).
    pub conversation_id: i64,
    pub platform: String,
    pub recipient: Recipient,
    pub text: String,
    /// `salesperson`, or `ai` (auto mode).
    pub by: String,
    /// When the reply was sent, Unix milliseconds.
    pub at: i64,
}

/// Who the reply is for: the inbound message's `sender.id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub id: String,
}

/// Why a reply did not reach its platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("no callback URL is configured for platform {platform:?}")]
    NotConfigured { platform: String },
    /// A final answer (a 4xx other than 408 / 429, or a redirect): retrying would not help.
    #[error("the platform refused the reply with HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("gave up after {attempts} attempts; the last: {last}")]
    GaveUp { attempts: u32, last: String },
    /// Still waiting when the app stopped, and older than the resend limit when it started
    /// again: a late answer would confuse more than help, so it was not posted.
    #[error("the reply waited {age_secs} s while the app was stopped; it was not posted")]
    Expired { age_secs: u64 },
}

impl CallbackError {
    /// A stable code: `not_configured`, `refused`, `gave_up`, `expired`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured { .. } => "not_configured",
            Self::Refused { .. } => "refused",
            Self::GaveUp { .. } => "gave_up",
            Self::Expired { .. } => "expired",
        }
    }
}

/// What became of one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub reply: WebhookReply,
    /// The attempts it took, or why it failed for good.
    pub outcome: Result<u32, CallbackError>,
}

/// Why a callback setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook callback for {platform:?}: {reason}")]
pub struct BadCallback {
    pub platform: String,
    pub reason: String,
}

/// Checks the callbacks: platforms as the inbound webhook spells them, each once, and absolute
/// `http(s)` URLs.
pub fn check(callbacks: &[Callback]) -> Result<(), BadCallback> {
    let bad = |c: &Callback, reason: &str| BadCallback {
        platform: c.platform.clone(),
        reason: reason.to_owned(),
    };
    for (n, c) in callbacks.iter().enumerate() {
        let ok = (1..=32).contains(&c.platform.len())
            && c.platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad(c, "the platform must be 1-32 of [a-z0-9_-]"));
        }
        if callbacks[..n].iter().any(|o| o.platform == c.platform) {
            return Err(bad(c, "a platform has one callback"));
        }
        match reqwest::Url::parse(&c.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return Err(bad(c, "the URL must be an absolute http:// or https:// URL")),
        }
    }
    Ok(())
}

/// Hands replies to their platform's queue. Cheap to clone; replies queued after the server
/// stopped are dropped.
#[derive(Clone)]
pub struct Replier {
    queues: Arc<BTreeMap<String, mpsc::UnboundedSender<WebhookReply>>>,
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier").field("platforms", &self.queues.keys()).finish()
    }
}

impl Replier {
    /// Starts one sender task per callback on `runtime`; outcomes go to `inbox`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        callbacks: &[Callback],
        secret: Arc<Vec<u8>>,
        retry: RetryPolicy,
        inbox: Arc<dyn Inbox>,
    ) -> Result<Self, BadCallback> {
        check(callbacks)?;
        let client = reqwest::Client::builder()
            // A signed POST is never re-sent elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("closer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BadCallback { platform: String::new(), reason: e.to_string() })?;
        let mut queues = BTreeMap::new();
        for callback in callbacks {
            let (tx, rx) = mpsc::unbounded_channel();
            let sender = Sender {
                client: client.clone(),
                url: callback.url.clone(),
                secret: Arc::clone(&secret),
                retry,
            };
            runtime.spawn(sender.run(rx, Arc::clone(&inbox)));
            queues.insert(callback.platform.clone(), tx);
        }
        Ok(Self { queues: Arc::new(queues) })
    }

    /// Queues `reply` for its platform; returns at once. `NotConfigured` when the platform has
    /// no callback.
    pub fn send(&self, reply: WebhookReply) -> Result<(), CallbackError> {
        let Some(queue) = self.queues.get(&reply.platform) else {
            return Err(CallbackError::NotConfigured { platform: reply.platform });
        };
        if let Err(e) = queue.send(reply) {
            tracing::warn!(reply_id = %e.0.reply_id, "the channels server stopped: reply not posted");
        }
        Ok(())
    }

    /// Whether `platform` has a callback.
    pub fn has(&self, platform: &str) -> bool {
        self.queues.contains_key(platform)
    }
}

/// One platform's sender.
struct Sender {
    client: reqwest::Client,
    url: String,
    secret: Arc<Vec<u8>>,
    retry: RetryPolicy,
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try (after the platform's `Retry-After`, if it gave one).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Final(CallbackError),
}

impl Sender {
    async fn run(self, mut replies: mpsc::UnboundedReceiver<WebhookReply>, inbox: Arc<dyn Inbox>) {
        while let Some(reply) = replies.recv().await {
            let outcome = self.deliver(&reply).await;
            match &outcome {
                Ok(attempts) => tracing::info!(
                    reply_id = %reply.reply_id,
                    conversation_id = reply.conversation_id,
                    attempts,
                    "reply posted to the platform"
                ),
                Err(e) => tracing::warn!(
                    reply_id = %reply.reply_id,
                    conversation_id = reply.conversation_id,
                    code = e.code(),
                    "reply not delivered: {e}"
                ),
            }
            let inbox = Arc::clone(&inbox);
            let report = DeliveryReport { reply, outcome };
            // The inbox may write to the store: off the async workers.
            let _ = tokio::task::spawn_blocking(move || inbox.reply_delivered(&report)).await;
        }
    }

    async fn deliver(&self, reply: &WebhookReply) -> Result<u32, CallbackError> {
        let body = serde_json::to_vec(reply).map_err(|e| CallbackError::Refused {
            status: 0,
            body: format!("the reply does not serialise: {e}"),
        })?;
        let attempts = self.retry.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.attempt(reply, &body).await {
                Attempt::Delivered => return Ok(attempt),
                Attempt::Final(e) => return Err(e),
                Attempt::Retry { why, after } => {
                    tracing::debug!(reply_id = %reply.reply_id, attempt, "reply attempt failed: {why}");
                    last = why;
                    if attempt < attempts {
                        let wait = after.unwrap_or_else(|| backoff(&self.retry, attempt));
                        tokio::time::sleep(wait.min(self.retry.max_backoff)).await;
                    }
                }
            }
        }
        Err(CallbackError::GaveUp { attempts, last })
    }

    async fn attempt(&self, reply: &WebhookReply, body: &[u8]) -> Attempt {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let sent = self
            .client
            .post(&self.url)
            .timeout(self.retry.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret, timestamp, body))
            .header(IDEMPOTENCY_HEADER, &reply.reply_id)
            .body(body.to_vec())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    why: format!("no answer within {:?}", self.retry.timeout),
                    after: None,
                };
            }
            Err(e) => return Attempt::Retry { why: format!("could not post: {e}"), after: None },
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Attempt::Retry { why: format!("HTTP {}", status.as_u16()), after: retry_after };
        }
        let text = response.text().await.unwrap_or_default();
        Attempt::Final(CallbackError::Refused {
            status: status.as_u16(),
            body: text.chars().take(200).collect(),
        })
    }
}

/// The wait after failed attempt `attempt` (1-based): `first_backoff × 2^(attempt-1)`, capped,
/// then a random point in its upper half (replies to a recovering platform do not arrive in
/// lockstep).
fn backoff(retry: &RetryPolicy, attempt: u32) -> Duration {
    let doubled = retry.first_backoff.saturating_mul(1u32 << (attempt - 1).min(20));
    let capped = doubled.min(retry.max_backoff);
    capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_its_upper_half() {
        let retry = RetryPolicy {
            attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            timeout: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = backoff(&retry, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&retry, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(&retry, 30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn callbacks_are_checked() {
        let c = |platform: &str, url: &str| Callback { platform: platform.into(), url: url.into() };
        assert_eq!(check(&[c("wecom", "https://im.example.com/closer")]), Ok(()));
        assert_eq!(check(&[c("default", "http://127.0.0.1:9000/replies")]), Ok(()));
        assert!(check(&[c("WeCom", "https://x.example")]).is_err());
        assert!(check(&[c("wecom", "ftp://x.example/")]).is_err());
        assert!(check(&[c("wecom", "/relative")]).is_err());
        let twice = [c("wecom", "https://a.example"), c("wecom", "https://b.example")];
        assert!(check(&twice).is_err());
    }

    #[test]
    fn the_reply_body_has_the_documented_shape() {
        let reply = WebhookReply {
            reply_id: "r-12-1790000009000-0a1b2c3d4e5f".into(),
            conversation_id: 12,
            platform: "wecom".into(),
            recipient: Recipient { id: "wx_li".into() },
            text: "您好".into(),
            by: "salesperson".into(),
            at: 1_790_000_009_000,
        };
        assert_eq!(
            serde_json::to_string(&reply).expect("json"),
            r#"{"reply_id":"r-12-1790000009000-0a1b2c3d4e5f","conversation_id":12,"platform":"wecom","recipient":{"id":"wx_li"},"text":"您好","by":"salesperson","at":1790000009000}"#
        );
    }
}
